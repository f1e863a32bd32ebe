"""Label-image editing operations: pure functions on integer arrays.

Every function takes a label image (0 = background), leaves it untouched and
returns a new array of the same shape and dtype, so callers (the desktop
app) can diff old and new to record an undo step. :func:`changes` computes
that diff. Objects are identified by their label value.

Examples
--------
>>> import numpy as np
>>> labels = np.array([[1, 1, 0, 2, 2]])
>>> merge_objects(labels, 2, 1)
array([[1, 1, 0, 1, 1]])
>>> delete_object(labels, 1)
array([[0, 0, 0, 2, 2]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.draw import line as draw_line
from skimage.segmentation import relabel_sequential as _relabel_sequential

from .errors import InputError

__all__ = [
    "changes",
    "delete_object",
    "fill_holes",
    "label_at",
    "merge_objects",
    "next_label",
    "relabel_sequential",
    "remove_small_objects",
    "split_object",
]


def _check(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be an integer array, got {labels.dtype}")
    return labels


def label_at(labels: np.ndarray, coord: Sequence[float]) -> int:
    """The label under ``coord`` (rounded; 0 outside the array).

    >>> label_at(np.array([[0, 3], [0, 0]]), (0.2, 0.9))
    3
    """
    labels = _check(labels)
    index = tuple(int(round(float(c))) for c in coord)
    if len(index) != labels.ndim or any(not 0 <= i < n for i, n in zip(index, labels.shape)):
        return 0
    return int(labels[index])


def next_label(labels: np.ndarray) -> int:
    """The smallest label greater than every label in use.

    >>> next_label(np.array([[0, 4]]))
    5
    """
    return int(_check(labels).max(initial=0)) + 1


def delete_object(labels: np.ndarray, label: int) -> np.ndarray:
    """Set every pixel of ``label`` to background.

    Parameters
    ----------
    labels : ndarray
        Integer label image of any dimension.
    label : int
        The object to delete; 0 changes nothing.

    Returns
    -------
    ndarray
        A copy without the object.
    """
    out = _check(labels).copy()
    if label != 0:
        out[out == label] = 0
    return out


def merge_objects(labels: np.ndarray, source: int, target: int) -> np.ndarray:
    """Give every pixel of object ``source`` the label ``target``.

    Parameters
    ----------
    labels : ndarray
        Integer label image.
    source, target : int
        The object that disappears and the one that absorbs it.

    Raises
    ------
    InputError
        Either label is 0, or ``source`` is not present.
    """
    labels = _check(labels)
    if source == 0 or target == 0:
        raise InputError("cannot merge with the background (label 0)")
    out = labels.copy()
    mask = out == source
    if not mask.any():
        raise InputError(f"label {source} is not in the image")
    out[mask] = target
    return out


def split_object(
    labels: np.ndarray,
    label: int,
    line_points: Sequence[Sequence[float]] | np.ndarray,
    *,
    new_label: int | None = None,
) -> np.ndarray:
    """Cut a 2-D object into pieces along a polyline.

    The pixels of ``label`` on the line are removed, the rest of the object
    is split into 4-connected pieces, the largest piece keeps ``label`` and
    the others get new labels; then the cut pixels go back to the nearest
    piece, so the object's area is unchanged.

    Parameters
    ----------
    labels : ndarray
        ``(H, W)`` integer label image.
    label : int
        The object to split.
    line_points : array-like
        ``(N, 2)`` vertices ``(y, x)`` of the cutting line, ``N >= 2``.
    new_label : int, optional
        First label for the new pieces (default: :func:`next_label`).

    Returns
    -------
    ndarray
        A copy where the object is split.

    Raises
    ------
    InputError
        The line does not cut the object into two or more pieces, the
        object is absent, or the arguments have the wrong shape.

    Examples
    --------
    >>> labels = np.zeros((5, 7), dtype=np.uint16)
    >>> labels[1:4, 1:6] = 1
    >>> split_object(labels, 1, [(0, 3), (4, 3)])[2]
    array([0, 1, 1, 1, 2, 2, 0], dtype=uint16)
    """
    labels = _check(labels)
    if labels.ndim != 2:
        raise InputError(f"split_object needs a 2-D label image, got shape {labels.shape}")
    points = np.asarray(line_points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise InputError("the cutting line needs at least two (y, x) points")
    if label == 0:
        raise InputError("cannot split the background (label 0)")
    mask = labels == label
    if not mask.any():
        raise InputError(f"label {label} is not in the image")
    cut = _raster_polyline(points, mask)
    pieces, n = ndimage.label(mask & ~cut)
    if n < 2:
        raise InputError(f"the line does not cut object {label} into pieces")
    sizes = np.bincount(pieces.ravel())[1:]
    order = np.argsort(-sizes, kind="stable") + 1
    first = next_label(labels) if new_label is None else int(new_label)
    if first + n - 2 > np.iinfo(labels.dtype).max:
        raise InputError(f"no free label values left in {labels.dtype}")
    mapping = np.zeros(n + 1, dtype=labels.dtype)
    mapping[order[0]] = label
    mapping[order[1:]] = np.arange(first, first + n - 1)
    # cut pixels of the object join the nearest piece
    _, nearest = ndimage.distance_transform_edt(pieces == 0, return_indices=True)
    filled = pieces[tuple(nearest)]
    out = labels.copy()
    out[mask] = mapping[filled[mask]]
    return out


def _raster_polyline(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Boolean mask of an 8-connected polyline through ``points``.

    Each end is prolonged along its segment until it leaves ``mask``, so a
    line drawn slightly short of the object's edge still cuts through it.
    An 8-connected line separates 4-connected regions.
    """
    shape = mask.shape
    pts = points.copy()
    for inner, end in ((1, 0), (-2, -1)):
        direction = pts[end] - pts[inner]
        norm = float(np.hypot(*direction))
        if norm == 0:
            continue
        step = direction / norm * 0.5
        pos = pts[end].copy()
        for _ in range(4 * sum(shape)):
            y, x = np.round(pos).astype(int)
            if not (0 <= y < shape[0] and 0 <= x < shape[1] and mask[y, x]):
                break
            pos += step
        pts[end] = pos
    cut = np.zeros(shape, dtype=bool)
    ends = np.round(pts).astype(np.int64)
    for (y0, x0), (y1, x1) in zip(ends[:-1], ends[1:]):
        rr, cc = draw_line(int(y0), int(x0), int(y1), int(x1))
        keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        cut[rr[keep], cc[keep]] = True
    return cut


def remove_small_objects(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Delete objects with fewer than ``min_size`` pixels.

    >>> remove_small_objects(np.array([[1, 1, 0, 2]]), 2)
    array([[1, 1, 0, 0]])
    """
    labels = _check(labels)
    out = labels.copy()
    if min_size <= 1:
        return out
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    small = ids[counts < min_size]
    if small.size:
        out[np.isin(out, small)] = 0
    return out


def fill_holes(labels: np.ndarray) -> np.ndarray:
    """Fill background holes that lie entirely inside one object.

    Works on 2-D images and, slice by slice, on stacks ``(Z, H, W)``.

    >>> ring = np.ones((3, 3), dtype=np.uint8); ring[1, 1] = 0
    >>> int(fill_holes(ring)[1, 1])
    1
    """
    labels = _check(labels)
    if labels.ndim == 3:
        return np.stack([fill_holes(plane) for plane in labels])
    if labels.ndim != 2:
        raise InputError(f"fill_holes needs a 2-D image or a stack, got shape {labels.shape}")
    out = labels.copy()
    for index, box in enumerate(ndimage.find_objects(np.clip(labels, 0, None)), start=1):
        if box is None:
            continue
        region = labels[box]
        filled = ndimage.binary_fill_holes(region == index)
        holes = filled & (region == 0)
        if holes.any():
            out[box][holes] = index
    return out


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Renumber objects ``1..N`` keeping their order; dtype is unchanged.

    >>> relabel_sequential(np.array([[0, 5, 9, 5]]))
    array([[0, 1, 2, 1]])
    """
    labels = _check(labels)
    out, _, _ = _relabel_sequential(np.clip(labels, 0, None))
    return out.astype(labels.dtype, copy=False)


def changes(old: np.ndarray, new: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Indices where ``new`` differs from ``old``, and the new values there.

    The result fits napari's ``Labels.data_setitem(indices, values)``, which
    records the change for undo.

    >>> idx, values = changes(np.array([0, 1, 2]), np.array([0, 3, 2]))
    >>> idx, values
    ((array([1]),), array([3]))
    """
    old, new = np.asarray(old), np.asarray(new)
    if old.shape != new.shape:
        raise InputError(f"shapes differ: {old.shape} and {new.shape}")
    indices = np.nonzero(old != new)
    return indices, new[indices]
