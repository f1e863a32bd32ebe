"""Fine-tuning data from in-memory arrays and folders: pairs, splits, names.

These Qt-free helpers sit between a user interface (viewer layers, a chosen
folder) and :mod:`medseg_core.training`. The typical flow is::

    sources = sources_from_arrays("cells", image, labels)
    plan = plan_validation(sources, val_fraction=0.2)
    print(plan.summary())              # "1 pair, 12 objects: ..."
    pairs = drain(prepare_sources(plan.train, model.info))

A :class:`PairSource` is cheap (arrays in memory, or two paths); preparing
it (:func:`prepare_sources`) is the slow part, which yields progress.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from .errors import InputError
from .model import ModelInfo
from .progress import Progress
from .training.data import Pair, count_objects, file_stem, find_pairs, prepare_pair, split_pairs

#: Fraction of the pairs held back for validation unless told otherwise.
DEFAULT_VAL_FRACTION = 0.2
#: From this many groups (images or volumes) on, at least two are held back: one held-back image
#: of one tissue picked epochs that scored worse on other tissues (``benchmarks/finetune.py``).
TWO_HELD_BACK_FROM = 5

#: Display names of validation metrics, in display order.
METRIC_LABELS: dict[str, str] = dict(
    accuracy="Accuracy", precision="Precision", recall="Recall", f1="F1", iou="IoU", ap50="AP@0.5", map="mAP"
)

_LABEL_SUFFIXES = ("labels", "label", "masks", "mask")


@dataclass
class PairSource:
    """One image with its labels, not yet prepared for a model.

    Parameters
    ----------
    name : str
        Shown in messages and recorded in the model's metadata.
    group : str
        Items of one group go wholly to training or to validation (the
        slices of one volume, for instance).
    n_objects : int
        Distinct non-zero labels.
    image, labels : ndarray, optional
        In-memory data: ``(H, W)`` or ``(H, W, C)`` image, ``(H, W)`` labels.
    image_path, mask_path : Path, optional
        On-disk data, read by :meth:`load`.
    """

    name: str
    group: str
    n_objects: int
    image: np.ndarray | None = field(default=None, repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    image_path: Path | None = None
    mask_path: Path | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """The image and labels arrays (read from disk for folder sources)."""
        if self.image is not None and self.labels is not None:
            return self.image, self.labels
        from .io import read_image, read_labels

        return read_image(self.image_path).array, read_labels(self.mask_path)


@dataclass
class ValidationPlan:
    """Which sources train and which validate.

    Attributes
    ----------
    train, val : list of PairSource
        The two sides. When ``reuses_training`` is True, ``val`` is ``train``.
    reuses_training : bool
        No image could be held back: validation scores the training images.
    note : str
        One line explaining the choice, for the user.
    """

    train: list[PairSource]
    val: list[PairSource]
    reuses_training: bool = False
    note: str = ""

    def summary(self) -> str:
        """``"3 pairs, 120 objects: 2 training / 1 validation images"``."""
        everything = self.train if self.reuses_training else self.train + self.val
        pairs = _plural(len(everything), "pair")
        objects = _plural(sum(s.n_objects for s in everything), "object")
        if self.reuses_training:
            return f"{pairs}, {objects}: {len(self.train)} training images, validated on the same images"
        return f"{pairs}, {objects}: {len(self.train)} training / {len(self.val)} validation images"


def match_labels_name(image_name: str, labels_names: Iterable[str]) -> str | None:
    """The labels layer that belongs to an image layer, by naming convention.

    ``"<image> labels"`` is preferred; ``"<image>_labels"``, ``"<image> mask"``
    and similar (any case, separators space, ``_`` or ``-``) also match.

    Examples
    --------
    >>> match_labels_name("cells", ["other", "cells labels"])
    'cells labels'
    >>> match_labels_name("cells", ["cells_mask"])
    'cells_mask'
    >>> match_labels_name("cells", ["cells2 labels"]) is None
    True
    """
    names = list(labels_names)
    preferred = f"{image_name} labels"
    if preferred in names:
        return preferred
    wanted = {f"{image_name}{sep}{suffix}".lower() for sep in (" ", "_", "-") for suffix in _LABEL_SUFFIXES}
    for name in names:
        if name.lower() in wanted:
            return name
    return None


def check_pair_shapes(
    image_shape: Sequence[int],
    labels_shape: Sequence[int],
    *,
    rgb: bool = False,
    name: str = "",
    labels_name: str = "",
) -> tuple[int, ...]:
    """Refuse an image and labels whose pixel grids differ; return the spatial shape.

    Raises
    ------
    InputError
        The spatial shapes differ, or the image is not 2-D or a stack of
        2-D slices.
    """
    spatial = tuple(image_shape[:-1]) if rgb else tuple(image_shape)
    what = f"'{name}'" if name else "the image"
    if len(spatial) not in (2, 3):
        raise InputError(
            f"{what} has shape {tuple(image_shape)}: only 2-D images or stacks of slices can be used"
        )
    if tuple(labels_shape) != spatial:
        lab = f"labels '{labels_name}'" if labels_name else "its labels"
        raise InputError(
            f"{what} is {_shape_text(spatial)} but {lab} are {_shape_text(labels_shape)}: shapes must match"
        )
    return spatial


def sources_from_arrays(
    name: str,
    image: np.ndarray,
    labels: np.ndarray,
    *,
    rgb: bool = False,
    labels_name: str = "",
    copy: bool = True,
) -> list[PairSource]:
    """Training sources from an image and its labels (copies are taken).

    Parameters
    ----------
    name : str
        Name of the image (layer name).
    image : ndarray
        ``(H, W)``, ``(H, W, C)`` when ``rgb``, or a stack ``(Z, H, W[, C])``.
    labels : ndarray
        Labels with the image's spatial shape.
    rgb : bool
        The last image axis holds colours.
    labels_name : str
        Name of the labels, for messages.
    copy : bool
        Keep copies of the arrays (so later edits of the originals do not
        reach a training run). False only for counting.

    Returns
    -------
    list of PairSource
        One per 2-D image; for a stack, one per slice that has labels (all
        in one group, so a volume is never split between training and
        validation).
    """
    image, labels = np.asarray(image), np.asarray(labels)
    spatial = check_pair_shapes(image.shape, labels.shape, rgb=rgb, name=name, labels_name=labels_name)
    if labels.dtype.kind not in "uib":
        raise InputError(f"labels '{labels_name or name}' must hold integers, not {labels.dtype}")
    take = np.array if copy else np.asarray
    if len(spatial) == 2:
        return [PairSource(name, name, count_objects(labels), take(image), take(labels))]
    sources = []
    for z in range(labels.shape[0]):
        n = count_objects(labels[z])
        if n:
            sources.append(PairSource(f"{name} [z={z}]", name, n, take(image[z]), take(labels[z])))
    return sources


def sources_from_folder(folder: str | os.PathLike, *, count: bool = True) -> list[PairSource]:
    """Training sources of a folder with ``images/`` and ``masks/`` matched by stem.

    Parameters
    ----------
    folder : path-like
        The folder.
    count : bool
        Read every mask to count its objects (else ``n_objects`` is 0).

    Raises
    ------
    InputError
        The subfolders are missing or no image has a mask.
    """
    from .io import read_labels

    sources = []
    for image_path, mask_path in find_pairs(folder):
        stem = file_stem(image_path)
        n = count_objects(read_labels(mask_path)) if count else 0
        sources.append(PairSource(stem, stem, n, image_path=image_path, mask_path=mask_path))
    return sources


def plan_validation(
    sources: Sequence[PairSource],
    val_fraction: float = DEFAULT_VAL_FRACTION,
    val_sources: Sequence[PairSource] | None = None,
    seed: int = 0,
) -> ValidationPlan:
    """Decide the validation images.

    Parameters
    ----------
    sources : sequence of PairSource
        All training candidates.
    val_fraction : float
        Fraction held back (by group) when no ``val_sources`` are given;
        at least two groups from :data:`TWO_HELD_BACK_FROM` groups on.
    val_sources : sequence of PairSource, optional
        A separate validation set (a folder): every source then trains.
    seed : int
        Seed of the split.

    Notes
    -----
    With fewer than two groups (one image, or one volume), nothing can be
    held back: validation then scores the training images themselves, so
    the curves still show progress, but the scores are optimistic. The plan's
    ``note`` says so.
    """
    sources = list(sources)
    if not sources:
        raise InputError(
            "no training data: tick an image layer that has a labels layer, "
            "or choose a folder of image/mask pairs"
        )
    if val_sources:
        return ValidationPlan(
            sources,
            list(val_sources),
            note=f"validation: {_plural(len(val_sources), 'image')} from the folder",
        )
    groups = [s.group for s in sources]
    n_groups = len(set(groups))
    if val_fraction > 0 and n_groups >= TWO_HELD_BACK_FROM:
        val_fraction = max(val_fraction, 2 / n_groups)
    train, val = split_pairs(sources, val_fraction, seed, groups=groups)
    if not val:
        note = "too few images to hold any back: validation scores the training images (optimistic)"
        return ValidationPlan(sources, sources, reuses_training=True, note=note)
    return ValidationPlan(
        train, val, note=f"validation: {_plural(len(val), 'image')} held back ({val_fraction:.0%})"
    )


def prepare_sources(
    sources: Sequence[PairSource], info: ModelInfo, class_map: Mapping[int, int] | None = None
) -> Generator[Progress, None, list[Pair]]:
    """Prepare sources for a model, yielding one :class:`Progress` per image.

    Returns
    -------
    list of Pair
        Ready for :func:`medseg_core.training.train_iter`.
    """
    pairs = []
    for i, source in enumerate(sources):
        image, labels = source.load()
        pairs.append(prepare_pair(image, labels, info, name=source.name, class_map=class_map))
        yield Progress("prepare", i + 1, len(sources), f"preparing image {i + 1}/{len(sources)}")
    return pairs


def default_model_name(base: str, existing: Iterable[str] = (), today: date | None = None) -> str:
    """``"<base>-<YYYY-MM-DD>"``, with ``-2``, ``-3``... if that name is taken.

    Examples
    --------
    >>> default_model_name("nuclei", today=date(2026, 11, 26))
    'nuclei-2026-11-26'
    >>> default_model_name("nuclei", ["nuclei-2026-11-26"], today=date(2026, 11, 26))
    'nuclei-2026-11-26-2'
    """
    taken = set(existing)
    stem = f"{base}-{(today or date.today()).isoformat()}"
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    return name


def plotted_metrics(task: str) -> list[str]:
    """Metric keys worth plotting for a model task."""
    keys = ["accuracy", "precision", "recall", "f1", "iou"]
    return keys + ["ap50"] if task == "instance" else keys


def compare_metrics(
    before: Mapping[str, float], after: Mapping[str, float]
) -> list[tuple[str, float | None, float | None]]:
    """Rows ``(label, before, after)`` for the metrics either side has.

    Examples
    --------
    >>> compare_metrics({"f1": 0.5}, {"f1": 0.75, "iou": 0.6})
    [('F1', 0.5, 0.75), ('IoU', None, 0.6)]
    """
    keys = [k for k in METRIC_LABELS if k in before or k in after]
    return [(METRIC_LABELS[k], before.get(k), after.get(k)) for k in keys]


def verdict(before: Mapping[str, float], after: Mapping[str, float]) -> str:
    """One sentence comparing the new model with its base on the main metric.

    The main metric is AP@0.5 when present (instance models), else F1.

    Examples
    --------
    >>> verdict({"f1": 0.5}, {"f1": 0.75})
    'F1 on the validation images: 0.500 -> 0.750.'
    """
    key = "ap50" if "ap50" in after else "f1"
    if key not in before or key not in after:
        return ""
    label, old, new = METRIC_LABELS[key], before[key], after[key]
    if new + 1e-3 < old:
        return (
            f"The new model scores lower than the base model ({label} {new:.3f} vs {old:.3f}): "
            "train longer or on more images, or keep using the base model."
        )
    if new > old + 1e-3:
        return f"{label} on the validation images: {old:.3f} -> {new:.3f}."
    return f"{label} on the validation images is unchanged ({new:.3f})."


def format_seconds(seconds: float | None) -> str:
    """Short duration text: ``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

    Examples
    --------
    >>> format_seconds(185)
    '3 min 05 s'
    """
    if seconds is None:
        return "?"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape)
