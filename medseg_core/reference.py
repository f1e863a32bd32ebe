"""Refuse reference masks that do not hold what a model predicts, before scoring.

A 0/255 mask scored against a 2-class model, or a binary mask scored as
instance labels, gives numbers that look plausible and mean nothing.
:class:`ReferenceSamples` reads image/mask pairs for scoring with these
checks, for ``medseg evaluate`` and the model cards alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from .errors import InputError, MedsegError
from .io import read_image, read_labels
from .model import ModelInfo
from .normalize import select_channel
from .scoring import Sample
from .training.data import apply_class_map, file_stem


def check_reference(mask: np.ndarray, info: ModelInfo, name: str = "mask", *, mapped: bool = False) -> None:
    """Check that ``mask`` holds the model's classes, or instance labels.

    Parameters
    ----------
    mask : ndarray
        Non-negative integer reference labels.
    info : ModelInfo
        The model scored against them.
    name : str
        Shown in the message.
    mapped : bool
        Whether ``mask`` already went through a ``--class-map``.

    Raises
    ------
    InputError
        Semantic models: a value is not a class index (the message suggests
        the ``--class-map`` to use). Instance models: the mask is binary, one
        value for many separate regions, rather than one number per object.
    """
    values = np.unique(mask)
    if info.task == "semantic":
        n_classes = len(info.classes)
        if values.size == 0 or values[-1] < n_classes:
            return
        classes = ", ".join(f"{i} = {c}" for i, c in enumerate(info.classes))
        shown = ", ".join(str(v) for v in values[:8]) + (", ..." if values.size > 8 else "")
        if mapped:
            fix = "fix the --class-map"
        elif values.size <= n_classes:
            fix = "map them with --class-map, e.g. --class-map " + ",".join(f"{v}:{i}" for i, v in enumerate(values))
        else:
            fix = f"give --class-map VALUE:CLASS for each of the {values.size} values"
        raise InputError(f"{name}: mask values {shown} are not classes of model '{info.name}' ({classes}); {fix}")
    objects = values[values > 0]
    if objects.size != 1:
        return
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    regions = ndimage.label(mask == objects[0], structure)[1]
    if regions > 1:
        raise InputError(
            f"{name}: a binary mask (value {objects[0]} for {regions} separate regions), not instance labels; "
            f"model '{info.name}' is scored against one number per object (0 = background), so label the objects first"
        )


class ReferenceSamples(Sequence):
    """Image/mask file pairs as :class:`~medseg_core.scoring.Sample` items, read one at a time.

    Each mask is class-mapped and checked (:func:`check_reference`), and the
    image gets the model's channel rule
    (:func:`~medseg_core.normalize.select_channel`), as in ``medseg evaluate``.

    Parameters
    ----------
    pairs : list of (Path, Path)
        Image and mask files.
    info : ModelInfo
        The model to be scored.
    class_map : mapping, optional
        Mask value to class index (``--class-map``).
    channel : int, optional
        Channel of a multi-channel image for a one-channel model.
    """

    def __init__(self, pairs: list[tuple[Path, Path]], info, class_map: Mapping[int, int] | None, channel: int | None) -> None:
        self.pairs, self.info, self.class_map, self.channel = pairs, info, class_map, channel
        self.reported = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        image_path, mask_path = self.pairs[index]
        data = read_image(image_path)
        truth = read_labels(mask_path)
        if self.class_map:
            truth = apply_class_map(truth, self.class_map, mask_path.name)
        check_reference(truth, self.info, mask_path.name, mapped=bool(self.class_map))
        image, axes = select_channel(data.array, data.meta.axes, self.info.in_channels, self.channel)
        spatial = tuple(n for n, axis in zip(image.shape, axes) if axis != "C")
        if spatial != truth.shape:
            raise MedsegError(f"{mask_path.name}: mask {truth.shape} and image {spatial} differ in size")
        return Sample(image, truth, file_stem(image_path), axes)
