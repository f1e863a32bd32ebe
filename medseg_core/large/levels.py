"""Intensity levels of a whole large image, so every block is normalised alike.

The whole-image route normalises an image by its own 1st and 99.8th
percentiles (:func:`medseg_core.normalize.percentile_levels`). A block
normalised by its own percentiles would differ from its neighbours (an
empty block would be stretched to noise), so the block runner measures the
percentiles once, on a sample of the whole image, and hands them to every
block.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..errors import MedsegIOError
from ..normalize import percentile_levels, select_channel, to_channels_first
from ..progress import Progress
from .source import LargeImage

#: Images up to this many pixels are sampled whole (the whole-image route's exact percentiles).
EXACT_PIXELS = 1_000_000
#: Side of the windows sampled on larger images, and their number per axis.
WINDOW, GRID = 256, 16


def sample_windows(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Rectangles sampled for the levels.

    Images up to :data:`EXACT_PIXELS` pixels: windows covering the whole
    image (the exact percentiles of the whole-image route); larger ones: a
    regular :data:`GRID` x :data:`GRID` grid of windows.
    """
    if height * width <= EXACT_PIXELS:
        return [
            (y, min(height, y + WINDOW), x, min(width, x + WINDOW))
            for y in range(0, height, WINDOW)
            for x in range(0, width, WINDOW)
        ]
    out = []
    for gy in range(GRID):
        y0 = min(max(0, height - WINDOW), (gy * height) // GRID + max(0, height // GRID - WINDOW) // 2)
        for gx in range(GRID):
            x0 = min(max(0, width - WINDOW), (gx * width) // GRID + max(0, width // GRID - WINDOW) // 2)
            out.append((y0, min(height, y0 + WINDOW), x0, min(width, x0 + WINDOW)))
    return sorted(set(out))


def image_levels(
    image: LargeImage, channels: int, channel: int | None = None, low: float = 1.0, high: float = 99.8
) -> Generator[Progress, None, np.ndarray]:
    """Percentile levels of the model-input channels of a large image.

    Parameters
    ----------
    image : LargeImage
        The image.
    channels : int
        Input channels of the model; a grayscale image given to a
        multi-channel model is measured once (``C`` = 1), as
        :func:`~medseg_core.normalize.normalized_channels` does.
    channel : int, optional
        The channel to segment (:func:`~medseg_core.normalize.select_channel`).
    low, high : float
        Percentiles (the model's normalisation).

    Returns
    -------
    ndarray
        ``(C, 2)`` levels for :func:`~medseg_core.normalize.apply_levels`.
    """
    windows = sample_windows(image.height, image.width)
    parts, damaged = [], None
    for i, (y0, y1, x0, x1) in enumerate(windows):
        yield Progress("levels", i, len(windows), "measuring intensities")
        try:
            pixels = image.read(y0, y1, x0, x1)
        except MedsegIOError as exc:  # a damaged tile: measure the rest (its blocks will fail and say so)
            damaged = exc
            continue
        data, _ = select_channel(pixels, image.axes, channels, channel)
        chw = to_channels_first(data, 1 if data.ndim == 2 and channels > 1 else channels)
        parts.append(chw.reshape(chw.shape[0], -1))
    yield Progress("levels", len(windows), len(windows), "measuring intensities")
    if not parts:
        raise damaged
    sample = np.concatenate(parts, axis=1)
    return percentile_levels(sample[:, None, :], low, high, max_samples=max(EXACT_PIXELS, sample.shape[1]))
