"""Choose an instance model's post-processing on annotated images.

The seeding of touching objects (core threshold or peak prominence) and the
smallest object kept depend on how the annotator drew the objects as much
as on the network. :func:`calibrate_instances_iter` runs the network once per
annotated image, then scores every combination of a small grid of
post-processing options by pooled object AP@0.5 (the maps are reused, so
the grid costs only post-processing time) and returns the best. The maps
and labels come from the functions :func:`~medseg_core.segment.segment` uses,
at each image's own resolution, so a score here is what ``medseg evaluate``
gives with the same options.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from .errors import InputError
from .metrics import ObjectMetricAccumulator
from .model import SegmentationModel
from .progress import Progress, drain
from .segment import labels_from_probabilities, postprocess_options, predict_plane
from .training.data import Pair

PROMINENCE_GRID = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
MIN_SIZE_GRID = (10, 20)


@dataclass
class Calibration:
    """Result of :func:`calibrate_instances_iter`.

    Attributes
    ----------
    options : dict
        Best post-processing options: ``threshold``, ``seed_threshold``,
        ``prominence``, ``min_size`` (a model's ``postprocess`` entry).
    score : float
        Pooled AP@0.5 of ``options`` on the images.
    scores : dict
        AP@0.5 of every ``(prominence, min_size)`` tried.
    """

    options: dict
    score: float
    scores: dict[tuple[float, int], float]


def instance_options(prominence: float, min_size: int, threshold: float = 0.5) -> dict:
    """Post-processing options for one grid point.

    ``prominence`` 0 means seeds are cores above a distance of 0.5;
    otherwise seeds are peaks of that prominence higher than 0.3.
    """
    seed_threshold = 0.5 if prominence == 0 else 0.3
    return {"threshold": threshold, "seed_threshold": seed_threshold, "prominence": prominence, "min_size": min_size}


def calibrate_instances_iter(
    model: SegmentationModel,
    pairs: Sequence[Pair],
    prominences: Sequence[float] = PROMINENCE_GRID,
    min_sizes: Sequence[int] = MIN_SIZE_GRID,
) -> Generator[Progress, None, Calibration]:
    """Pick the post-processing options that best match annotated images.

    Parameters
    ----------
    model : SegmentationModel
        An instance model.
    pairs : sequence of Pair
        Annotated images prepared for the model
        (:func:`medseg_core.training.prepare_pair`, ``load_folder``).
    prominences, min_sizes : sequence
        The grid searched.

    Yields
    ------
    Progress
        One record per image predicted, then one per grid point scored.

    Returns
    -------
    Calibration
        The best options (the first of equal scores, in grid order, so
        ties keep the simpler core-threshold seeding).
    """
    if model.info.task != "instance":
        raise InputError(f"model '{model.info.name}' is {model.info.task}; only instance models are calibrated")
    if not pairs:
        raise InputError("calibration needs at least one annotated image")
    maps = []
    for i, pair in enumerate(pairs):
        maps.append(drain(predict_plane(pair.sample.image, model)))
        yield Progress("predict", i + 1, len(pairs), f"network on image {i + 1}/{len(pairs)}")
    grid = list(itertools.product(prominences, min_sizes))
    scores: dict[tuple[float, int], float] = {}
    for k, (prominence, min_size) in enumerate(grid):
        options = postprocess_options(model.info, **instance_options(prominence, min_size))
        acc = ObjectMetricAccumulator((0.5,))
        for probs, pair in zip(maps, pairs):
            acc.add(labels_from_probabilities(probs, "instance", options), pair.sample.truth)
        scores[(prominence, min_size)] = acc.result()["thresholds"][0.5]["ap"]
        yield Progress("calibrate", k + 1, len(grid), f"option {k + 1}/{len(grid)}")
    best = max(grid, key=lambda key: scores[key])  # max keeps the first of ties
    return Calibration(instance_options(*best), scores[best], scores)

