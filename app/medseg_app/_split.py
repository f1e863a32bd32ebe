"""Helpers for splitting an object along a line drawn in a Shapes layer."""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.draw import line as draw_line

#: Name of the Shapes layer holding the cutting line.
SPLIT_LAYER = "split line"


def line_in_labels(shapes: Any, labels: Any) -> np.ndarray:
    """Vertices ``(N, 2)`` (y, x) of the last drawn shape, in the labels layer's pixel coordinates."""
    vertices = np.asarray(shapes.data[-1], dtype=float)
    world = np.array([shapes.data_to_world(v) for v in vertices])
    pixels = np.array([labels.world_to_data(w) for w in world])
    return pixels[:, -2:]


def split_label_for(plane: np.ndarray, points: np.ndarray, fallback: int) -> int:
    """The object the line crosses most (the fallback label when it crosses none)."""
    values = []
    ends = np.round(points).astype(int)
    for (y0, x0), (y1, x1) in zip(ends[:-1], ends[1:]):
        rr, cc = draw_line(y0, x0, y1, x1)
        keep = (rr >= 0) & (rr < plane.shape[0]) & (cc >= 0) & (cc < plane.shape[1])
        values.append(plane[rr[keep], cc[keep]])
    crossed = np.concatenate(values) if values else np.zeros(0, dtype=plane.dtype)
    crossed = crossed[crossed > 0]
    if crossed.size == 0:
        return int(fallback)
    ids, counts = np.unique(crossed, return_counts=True)
    return int(ids[np.argmax(counts)])
