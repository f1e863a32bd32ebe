"""Validation of a model on prepared pairs: pixel and object metrics."""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
import torch

from ..metrics import ObjectMetricAccumulator, PixelMetricAccumulator
from ..model import SegmentationModel
from ..postprocess import instances_from_maps, semantic_from_probabilities
from ..progress import Progress, drain
from ..tiling import predict_tiled
from .data import Pair


def predict_pair(model: SegmentationModel, pair: Pair, *, tile: int = 512) -> np.ndarray:
    """Network activations on a prepared pair's image.

    Runs :meth:`SegmentationModel.inference_net` (an eval-mode copy with
    batch norms folded), so ``model.net``'s training state is left alone.

    Returns
    -------
    ndarray
        float32 ``(C, H, W)``: foreground probability and distance (instance
        models) or class probabilities (semantic ones).
    """
    info = model.info
    activation = torch.sigmoid if info.task == "instance" else (lambda t: torch.softmax(t, 1))
    return drain(
        predict_tiled(
            pair.image,
            model.inference_net(),
            out_channels=info.config.out_channels,
            activation=activation,
            size_multiple=info.config.size_multiple,
            tile=tile,
            device=model.device,
        )
    )


def validate_iter(
    model: SegmentationModel, pairs: Sequence[Pair], *, tile: int = 512
) -> Generator[Progress, None, dict[str, float]]:
    """Metrics of ``model`` on ``pairs``; yields progress per image.

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``f1``, ``iou`` (foreground
        vs background for instance models, mean over foreground classes for
        semantic ones), plus ``ap50`` and ``map`` (mean AP over IoU
        0.5:0.95) for instance models and ``dice_<class>`` per class for
        semantic ones.
    """
    info = model.info
    instance = info.task == "instance"
    n_classes = 2 if instance else len(info.classes)
    pixels = PixelMetricAccumulator(n_classes)
    objects = ObjectMetricAccumulator() if instance else None
    post = info.postprocess
    for i, pair in enumerate(pairs):
        probs = predict_pair(model, pair, tile=tile)
        if instance:
            pred = instances_from_maps(
                probs[0],
                probs[1],
                threshold=post.get("threshold", 0.5),
                seed_threshold=post.get("seed_threshold", 0.5),
                min_size=post.get("min_size", 0),
                prominence=post.get("prominence", 0.0),
            )
            pixels.add(pred > 0, pair.labels > 0)
            objects.add(pred, pair.labels)
        else:
            pred = semantic_from_probabilities(probs, threshold=0.0)
            pixels.add(pred, pair.labels)
        yield Progress("validate", i + 1, len(pairs), f"validation image {i + 1}/{len(pairs)}")
    return summarize(pixels.result(), objects.result() if objects else None, info.classes)


def summarize(pixel: dict, objects: dict | None, classes: Sequence[str]) -> dict[str, float]:
    """Flatten accumulator results into the metric names used everywhere."""
    if objects is None and len(classes) > 2:
        fg = [pixel["per_class"][c] for c in range(1, len(classes))]
        flat = {k: float(np.mean([m[k] for m in fg])) for k in ("precision", "recall", "f1", "iou")}
    else:
        flat = {k: float(pixel[k]) for k in ("precision", "recall", "f1", "iou")}
    flat["accuracy"] = float(pixel["accuracy"])
    if objects is not None:
        flat["ap50"] = float(objects["thresholds"][0.5]["ap"])
        flat["map"] = float(objects["map_50_95"])
    else:
        for c, name in enumerate(classes):
            flat[f"dice_{name}"] = float(pixel["per_class"][c]["f1"])
    return flat

