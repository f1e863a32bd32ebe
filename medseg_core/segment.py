"""The public segmentation entry points: :func:`segment_iter` and :func:`segment`."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from .device import resolve_device
from .errors import InputError
from .model import ModelInfo, SegmentationModel, load_model_file
from .normalize import check_image, normalized_channels, select_channel
from .postprocess import (
    instances_from_maps,
    label_dtype,
    semantic_from_probabilities,
)
from .progress import Progress, drain
from .registry import resolve_model
from .semantic_summary import SemanticObjects, count_description, semantic_objects
from .tiling import predict_tiled

SPATIAL_AXES = ("YX", "YXC", "ZYX", "ZYXC")


@dataclass
class Segmentation:
    """Result of :func:`segment`.

    Attributes
    ----------
    labels : ndarray
        ``(H, W)`` or ``(Z, H, W)``: instance labels (0 = background,
        1..N = objects, unique across slices) for instance models, class
        indices for semantic ones.
    probabilities : ndarray
        float32; ``(H, W)`` foreground probability for instance models,
        ``(C, H, W)`` class probabilities for semantic ones (a leading
        ``Z`` axis for stacks).
    count : int
        Objects found (instance models); for semantic models the cells that
        the ``encloses`` class draws around, or else the connected regions of
        the non-background classes (:mod:`medseg_core.semantic_summary`).
    model_name : str
        The model used.
    task : str
        ``"instance"`` or ``"semantic"``.
    classes : list of str
        Class names of the model.
    encloses : str or None
        The model's boundary class whose enclosed regions are counted.
    objects : list of SemanticObjects
        Semantic models: the counted objects of each plane, so that
        measuring them (:func:`~medseg_core.measure.measure_semantic`) does
        not find them again. Empty for instance models.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    count: int
    model_name: str
    task: str
    classes: list[str] = field(default_factory=list)
    encloses: str | None = None
    objects: list[SemanticObjects] = field(default_factory=list, repr=False)

    @property
    def counted(self) -> str:
        """What :attr:`count` counts, e.g. ``"cells (regions enclosed by membrane)"``."""
        return count_description(self.task, self.encloses)


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "auto") -> SegmentationModel:
    """Load a shipped or user model by name, or a model file by path.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"nuclei"``, ``"em-membranes"``, ``"cxr-lungs"``, a user model's
        name, or a ``.safetensors`` path.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    """
    return load_model_file(resolve_model(name_or_path), device=resolve_device(device))


def guess_axes(image: np.ndarray) -> str:
    """Axes of an array that came without metadata.

    2-D is ``"YX"``; 3-D with 3 or 4 entries last is ``"YXC"``, else a
    stack ``"ZYX"``; 4-D with 3 or 4 entries last is ``"ZYXC"``.
    """
    if image.ndim == 2:
        return "YX"
    if image.ndim == 3:
        return "YXC" if image.shape[-1] in (3, 4) else "ZYX"
    if image.ndim == 4 and image.shape[-1] in (1, 3, 4):
        return "ZYXC"
    raise InputError(
        f"cannot segment an array of shape {image.shape}: expected 2-D (YX), "
        "colour (YXC) or a stack of slices (ZYX / ZYXC)"
    )


def segment_iter(
    image: np.ndarray,
    model: SegmentationModel,
    *,
    axes: str | None = None,
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    threshold: float | None = None,
    min_size: int | None = None,
    seed_threshold: float | None = None,
    channel: int | None = None,
) -> Generator[Progress, None, Segmentation]:
    """Segment an image, yielding :class:`Progress` and returning a :class:`Segmentation`.

    Parameters
    ----------
    image : ndarray
        2-D image, colour image or stack of slices (see ``axes``).
    model : SegmentationModel
        From :func:`load_model`.
    axes : str, optional
        One of ``"YX"``, ``"YXC"``, ``"ZYX"``, ``"ZYXC"``; guessed from the
        shape when omitted (see :func:`guess_axes`).
    tile, overlap, batch_size : int
        Tiling of the network input (pixels, pixels, tiles per call).
    threshold : float, optional
        Probability threshold (default: the model's, usually 0.5).
    min_size : int, optional
        Smallest object kept, in pixels (default: the model's).
    seed_threshold : float, optional
        Instance models only: distance threshold for object cores
        (see :func:`postprocess_options`).
    channel : int, optional
        Which channel of a multichannel image to segment; by default the
        rule of :func:`~medseg_core.normalize.select_channel` (colour images
        and images with the model's channel count whole, others channel 0).

    Notes
    -----
    Closing the generator early (cancel) discards everything: no partial
    result is returned and the model is left as it was.
    """
    image = np.asarray(image)
    axes = axes or guess_axes(image)
    if axes not in SPATIAL_AXES:
        raise InputError(f"unsupported axes '{axes}'; expected one of {', '.join(SPATIAL_AXES)}")
    if image.ndim != len(axes):
        raise InputError(f"axes '{axes}' do not match an array of shape {image.shape}")
    image, axes = select_channel(image, axes, model.info.in_channels, channel)
    slices = image if axes.startswith("Z") else image[None]
    info = model.info
    options = postprocess_options(info, threshold=threshold, min_size=min_size, seed_threshold=seed_threshold)
    check_image(slices[0])

    labels_out, probs_out, objects, offset, count = [], [], [], 0, 0
    for z, plane in enumerate(slices):
        prefix = f"slice {z + 1}/{len(slices)}: " if len(slices) > 1 else ""
        yield Progress("normalise", z, len(slices), f"{prefix}normalising")
        probs = yield from predict_plane(plane, model, tile, overlap, batch_size)
        yield Progress("postprocess", z, len(slices), f"{prefix}finding objects")
        labels = labels_from_probabilities(probs, info.task, options)
        if info.task == "instance":
            labels = labels.astype(np.uint32)
            n = int(labels.max(initial=0))
            labels[labels > 0] += offset
            offset += n
            count += n
            probs_out.append(probs[0])
        else:
            objects.append(semantic_objects(labels, info.classes, info.encloses))
            count += objects[-1].count
            probs_out.append(probs)
        labels_out.append(labels)
    yield Progress("postprocess", len(slices), len(slices), "done")
    dtype = label_dtype(offset) if info.task == "instance" else np.uint16
    labels = np.stack(labels_out).astype(dtype, copy=False)
    probabilities = np.stack(probs_out)
    if not axes.startswith("Z"):
        labels, probabilities = labels[0], probabilities[0]
    return Segmentation(
        labels=labels,
        probabilities=probabilities,
        count=count,
        model_name=info.name,
        task=info.task,
        classes=list(info.classes),
        encloses=info.encloses,
        objects=objects,
    )


def postprocess_options(info: ModelInfo, **overrides: float | int | None) -> dict:
    """The post-processing options of a model, with the caller's overrides (None keeps the model's).

    Returns
    -------
    dict
        ``threshold``, ``min_size`` and, for instance models,
        ``seed_threshold`` and ``prominence``; for semantic ones
        ``single_region``. These are the keyword arguments of
        :func:`labels_from_probabilities`.

    Raises
    ------
    InputError
        A threshold outside 0..1 or a negative ``min_size``.
    """
    defaults = info.postprocess
    options = {"threshold": defaults.get("threshold", 0.5), "min_size": defaults.get("min_size", 0)}
    if info.task == "instance":
        options["seed_threshold"] = defaults.get("seed_threshold", 0.5)
        options["prominence"] = defaults.get("prominence", 0.0)
    else:
        options["single_region"] = defaults.get("single_region", False)
    for key, value in overrides.items():
        if value is not None:
            if key not in options:
                raise InputError(f"'{key}' is not an option of a {info.task} model")
            options[key] = value
    if not 0.0 <= options["threshold"] <= 1.0:
        raise InputError(f"threshold must be between 0 and 1, got {options['threshold']}")
    if options["min_size"] < 0:
        raise InputError(f"the smallest object size cannot be negative, got {options['min_size']}")
    return options


def labels_from_probabilities(probs: np.ndarray, task: str, options: dict) -> np.ndarray:
    """Labels of one plane from the network's activations (see :func:`predict_plane`).

    Instance models: objects from the foreground and distance maps
    (:func:`~medseg_core.postprocess.instances_from_maps`); semantic ones:
    class indices (:func:`~medseg_core.postprocess.semantic_from_probabilities`).
    ``options`` comes from :func:`postprocess_options`. Segmentation,
    validation during training, evaluation and calibration all turn maps into
    labels here, so their numbers agree.
    """
    if task == "instance":
        return instances_from_maps(probs[0], probs[1], **options)
    return semantic_from_probabilities(probs, **options)


def predict_plane(
    plane: np.ndarray,
    model: SegmentationModel,
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    *,
    levels: np.ndarray | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """Normalise one 2-D plane, run the network tiled, return activations.

    Parameters
    ----------
    plane : ndarray
        ``(H, W)`` or ``(H, W, C)`` image.
    model : SegmentationModel
        The network and its input conventions.
    tile, overlap, batch_size : int
        Tiling, as in :func:`segment_iter`.
    levels : ndarray, optional
        ``(C, 2)`` intensity levels to normalise with instead of the plane's
        own percentiles (the block runner passes the whole image's, see
        :mod:`medseg_core.large.levels`).

    Returns
    -------
    ndarray
        float32 ``(C, H, W)``: foreground probability and distance for
        instance models, class probabilities for semantic ones.
    """
    info = model.info
    check_image(plane)
    norm = info.normalization
    chw = normalized_channels(plane, info.in_channels, norm.get("low", 1.0), norm.get("high", 99.8), levels=levels)
    height, width = chw.shape[1:]
    scale = float(info.input_scale)
    if scale != 1.0:
        chw = _resize(chw, (max(2, round(height * scale)), max(2, round(width * scale))))
    activation = (lambda t: torch.sigmoid(t)) if info.task == "instance" else (lambda t: torch.softmax(t, 1))
    probs = yield from predict_tiled(
        chw,
        model.inference_net(),
        out_channels=info.config.out_channels,
        activation=activation,
        size_multiple=info.config.size_multiple,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        device=model.device,
    )
    if scale != 1.0:
        probs = _resize(probs, (height, width))
    return np.ascontiguousarray(probs)


def _resize(chw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    tensor = torch.from_numpy(np.ascontiguousarray(chw))[None]
    down = size[0] < chw.shape[1]
    out = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=down)
    return out[0].numpy()


def segment(
    image: np.ndarray,
    model: SegmentationModel | str | os.PathLike,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **options,
) -> Segmentation:
    """Segment an image (see :func:`segment_iter` for the options).

    Parameters
    ----------
    image : ndarray
        The image.
    model : SegmentationModel or str
        A loaded model, or a name/path for :func:`load_model`.
    progress : callable, optional
        Receives every :class:`Progress` record.
    cancel : callable, optional
        Polled between steps; returning True raises
        :class:`~medseg_core.errors.Cancelled`.

    Examples
    --------
    >>> import numpy as np, medseg_core
    >>> result = medseg_core.segment(np.zeros((64, 64)), "nuclei")  # doctest: +SKIP
    >>> result.count  # doctest: +SKIP
    0
    """
    if not isinstance(model, SegmentationModel):
        model = load_model(model)
    return drain(segment_iter(image, model, **options), progress, cancel)
