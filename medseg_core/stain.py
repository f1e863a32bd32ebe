"""Recognising H&E-stained histology, so that the app can suggest the model made for it."""

from __future__ import annotations

import numpy as np

#: Pixels sampled per side at most (the test is on a coarse grid: cheap on any image size).
SAMPLE_SIDE = 256
#: Share of stained-looking pixels above which an image is taken for H&E.
STAINED_SHARE = 0.1


def looks_like_he(image: np.ndarray, *, rgb: bool = True) -> bool:
    """Whether an image looks like an H&E-stained tissue section.

    In H&E sections most of the tissue is stained purple (haematoxylin) or
    pink (eosin): pixels whose green channel is clearly the weakest. The test
    asks for a tenth of all pixels to be such non-dark magenta-ish pixels,
    which grey images, fluorescence (dark background, single-colour stains)
    and ordinary photographs rarely have.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3|4)`` colour image (any integer or float range).
    rgb : bool
        Whether the last axis holds colours; False always gives False.

    Examples
    --------
    >>> tissue = np.full((64, 64, 3), (240, 235, 240), np.uint8)  # bright background
    >>> tissue[10:50, 10:50] = (230, 160, 200)                   # pink (eosin) tissue
    >>> tissue[20:30, 20:30] = (120, 60, 150)                    # a purple nucleus
    >>> looks_like_he(tissue), looks_like_he(tissue.mean(axis=2).astype(np.uint8)[..., None].repeat(3, 2))
    (True, False)
    """
    if not rgb or image.ndim != 3 or image.shape[-1] not in (3, 4):
        return False
    step = max(1, max(image.shape[:2]) // SAMPLE_SIDE)
    pixels = image[::step, ::step, :3].reshape(-1, 3).astype(np.float32)
    top = float(np.percentile(pixels, 99.5)) or 1.0
    pixels /= top
    r, g, b = pixels.T
    stained = (pixels.mean(axis=1) > 0.15) & (g < r - 0.05) & (g < b - 0.05)
    return bool(stained.mean() > STAINED_SHARE)
