"""Refuse reference masks that do not hold what a model predicts, before scoring.

A 0/255 mask scored against a 2-class model, or a binary mask scored as
instance labels, gives numbers that look plausible and mean nothing.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .errors import InputError
from .model import ModelInfo


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
