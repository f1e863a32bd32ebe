"""Training data: image/mask pairs from folders or arrays, and validation splits."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import InputError
from ..model import ModelInfo
from ..normalize import normalized_channels, select_channel
from ..scoring import Sample
from .targets import instance_targets


@dataclass
class Pair:
    """One training example, prepared for a model.

    Attributes
    ----------
    image : ndarray
        ``(C, H, W)`` float32, normalised as the model expects.
    labels : ndarray
        ``(H, W)`` int64: instance labels or class indices, after resizing.
    target : ndarray
        ``(T, H, W)`` float32 network target (instance: foreground and
        distance; semantic: the class index as a float, in one channel).
    name : str
        Where it came from (file stem or layer name).
    sample : Sample
        The original image and labels (class-mapped, not resized): what
        validation segments and scores (:mod:`medseg_core.scoring`).
    """

    image: np.ndarray
    labels: np.ndarray
    target: np.ndarray
    name: str
    sample: Sample

    @property
    def n_objects(self) -> int:
        """Objects (instance) or labelled pixels' classes (semantic) present."""
        return count_objects(self.labels)


def count_objects(labels: np.ndarray) -> int:
    """Number of distinct non-zero values of a label image.

    Examples
    --------
    >>> count_objects(np.array([[0, 1], [2, 2]]))
    2
    """
    return int(np.count_nonzero(np.unique(np.asarray(labels))))


def apply_class_map(mask: np.ndarray, class_map: Mapping[int, int], name: str = "") -> np.ndarray:
    """Map stored mask values to class indices (``{0: 1, 255: 0}``...).

    Raises
    ------
    InputError
        The mask holds a value the map does not name.
    """
    mapped = np.full(mask.shape, -1, dtype=np.int64)
    for value, cls in class_map.items():
        mapped[mask == value] = cls
    if (mapped < 0).any():
        bad = sorted(set(np.unique(mask[mapped < 0]).tolist()))[:5]
        raise InputError(f"{name}: mask values {bad} are not in the class map")
    return mapped


def prepare_pair(
    image: np.ndarray,
    labels: np.ndarray,
    info: ModelInfo,
    name: str = "",
    class_map: Mapping[int, int] | None = None,
) -> Pair:
    """Turn a raw image and its label image into a :class:`Pair` for ``info``.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` raw image.
    labels : ndarray
        ``(H, W)`` instance labels (instance models) or class values
        (semantic models).
    info : ModelInfo
        The model to be trained (channels, normalisation, input scale, task).
    name : str
        Label for messages.
    class_map : mapping, optional
        Semantic models: maps stored mask values to class indices
        (e.g. ``{0: 1, 255: 0}``); unmapped values are refused.
    """
    labels = np.asarray(labels)
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        labels = labels[..., 0]
    spatial = image.shape[:2]
    if labels.shape != spatial:
        raise InputError(f"{name}: labels {labels.shape} and image {spatial} differ in size")
    if class_map:
        labels = apply_class_map(labels, class_map, name)
    labels = labels.astype(np.int64)
    image, _ = select_channel(np.asarray(image), "YXC" if np.ndim(image) == 3 else "YX", info.in_channels)
    sample = Sample(image, labels, name)
    if info.task == "semantic" and labels.max(initial=0) >= len(info.classes):
        raise InputError(
            f"{name}: mask value {labels.max()} is not a class of this model "
            f"({len(info.classes)} classes: {', '.join(info.classes)})"
        )
    norm = info.normalization
    chw = normalized_channels(image, info.in_channels, norm.get("low", 1.0), norm.get("high", 99.8))
    if info.input_scale != 1.0:
        size = tuple(max(8, round(s * info.input_scale)) for s in spatial)
        chw = F.interpolate(torch.from_numpy(chw)[None], size=size, mode="bilinear", antialias=True)[0].numpy()
        labels = F.interpolate(torch.from_numpy(labels)[None, None].float(), size=size, mode="nearest")[0, 0]
        labels = labels.long().numpy()
    if info.task == "instance":
        target = instance_targets(labels)
    else:
        target = labels[None].astype(np.float32)
    return Pair(image=np.ascontiguousarray(chw), labels=labels, target=target, name=name, sample=sample)


def find_pairs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Image/mask file pairs of a folder with ``images/`` and ``masks/`` subfolders."""
    folder = Path(folder)
    return pair_files(folder / "images", folder / "masks")


def pair_files(images_dir: str | os.PathLike, masks_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Match image files to mask files by file stem.

    Images without a mask are ignored; hidden files are skipped.

    Raises
    ------
    InputError
        A folder is missing or no pair matches.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise InputError(f"image folder {images_dir} and mask folder {masks_dir} must both exist")
    masks = {file_stem(p): p for p in sorted(masks_dir.iterdir()) if p.is_file() and not p.name.startswith(".")}
    pairs = [
        (p, masks[file_stem(p)])
        for p in sorted(images_dir.iterdir())
        if p.is_file() and not p.name.startswith(".") and file_stem(p) in masks
    ]
    if not pairs:
        raise InputError(f"no image in {images_dir} has a mask of the same name in {masks_dir}")
    return pairs


def file_stem(path: Path) -> str:
    """File name without its (possibly double) suffix: ``a.nii.gz`` -> ``a``."""
    name = path.name
    for suffix in (".nii.gz", ".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def load_folder(
    folder: str | os.PathLike,
    info: ModelInfo,
    class_map: Mapping[int, int] | None = None,
    names: Sequence[str] | None = None,
) -> list[Pair]:
    """Load and prepare every pair of a folder (optionally only ``names``)."""
    from ..io import read_image, read_labels

    pairs = []
    wanted = set(names) if names is not None else None
    for image_path, mask_path in find_pairs(folder):
        stem = file_stem(image_path)
        if wanted is not None and stem not in wanted:
            continue
        image = read_image(image_path).array
        labels = read_labels(mask_path)
        pairs.append(prepare_pair(image, labels, info, name=stem, class_map=class_map))
    return pairs


def split_pairs(
    items: Sequence, val_fraction: float, seed: int = 0, groups: Sequence[str] | None = None
) -> tuple[list, list]:
    """Seeded train/validation split; never puts an item (or group) in both.

    Parameters
    ----------
    items : sequence
        Anything (pairs, names).
    val_fraction : float
        Fraction held back for validation, in ``[0, 1)``. With fewer than
        two items (or groups) nothing is held back.
    seed : int
        Random seed.
    groups : sequence of str, optional
        Group key per item (e.g. patient id): a group goes wholly to one side.
    """
    if not 0 <= val_fraction < 1:
        raise InputError(f"validation fraction must be in [0, 1), got {val_fraction}")
    keys = list(groups) if groups is not None else list(range(len(items)))
    unique = sorted(set(keys), key=str)
    if len(unique) < 2 or val_fraction == 0:
        return list(items), []
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    n_val = min(len(unique) - 1, max(1, round(val_fraction * len(unique))))
    val_keys = {unique[i] for i in order[:n_val]}
    train = [item for item, key in zip(items, keys) if key not in val_keys]
    val = [item for item, key in zip(items, keys) if key in val_keys]
    return train, val
