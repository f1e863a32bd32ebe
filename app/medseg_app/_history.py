"""Apply a whole new label array to a Labels layer as one undoable step."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels

from medseg_core.edit import changes
from medseg_core.errors import InputError


def apply_labels(layer: Labels, new: np.ndarray, z: int | None = None) -> int:
    """Write ``new`` into ``layer`` (or into its plane ``z``) through napari's history.

    Only the changed pixels are written, with ``Labels.data_setitem`` inside
    ``Labels.block_history()``, so Ctrl+Z undoes the whole operation and the
    layer emits its ``paint`` event.

    Parameters
    ----------
    layer : napari.layers.Labels
        Target layer (NumPy-backed).
    new : ndarray
        New labels for the whole layer, or for plane ``z`` of a 3-D layer.
    z : int, optional
        Plane index when ``new`` is one plane of a stack.

    Returns
    -------
    int
        Number of pixels changed.
    """
    old = np.asarray(layer.data) if z is None else np.asarray(layer.data[z])
    indices, values = changes(old, new)
    if indices[0].size == 0:
        return 0
    dtype = np.asarray(layer.data).dtype
    if np.issubdtype(dtype, np.integer) and values.size and int(values.max()) > np.iinfo(dtype).max:
        raise InputError(f"label {int(values.max())} does not fit the layer's {dtype} data")
    if z is not None:
        indices = (np.full(indices[0].shape, z, dtype=indices[0].dtype), *indices)
    with layer.block_history():
        layer.data_setitem(indices, values.astype(dtype, copy=False))
    return int(indices[0].size)
