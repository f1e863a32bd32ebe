"""Recognising H&E images (the app's hint to use nuclei-he)."""

from __future__ import annotations

import numpy as np
from skimage import data

from conftest import synthetic_nuclei
from medseg_core.stain import looks_like_he


def he_tile(seed: int = 0) -> np.ndarray:
    """Purple nuclei in pink tissue on a bright background, with stain-like noise."""
    _, labels = synthetic_nuclei(size=128, n=12, seed=seed)
    rng = np.random.default_rng(seed)
    tile = np.full((128, 128, 3), (238, 232, 240), np.float64)
    tile[16:112, 8:120] = (225, 150, 195)
    tile[labels > 0] = (110, 60, 150)
    return np.clip(tile + rng.normal(0, 8, tile.shape), 0, 255).astype(np.uint8)


def test_he_tiles_are_recognised():
    assert all(looks_like_he(he_tile(seed)) for seed in range(3))
    assert looks_like_he(np.concatenate([he_tile(), np.full((128, 128, 1), 255, np.uint8)], axis=2))  # RGBA


def test_other_images_are_not():
    image, _ = synthetic_nuclei(size=128)
    grey = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    assert not looks_like_he(grey)  # 2-D
    assert not looks_like_he(np.stack([grey] * 3, axis=2))  # grey fluorescence as RGB
    assert not looks_like_he(np.stack([grey * 0, grey * 0, grey], axis=2))  # blue DAPI on black
    for photo in (data.astronaut(), data.coffee(), data.chelsea(), data.immunohistochemistry()):
        assert not looks_like_he(photo)
    assert not looks_like_he(he_tile(), rgb=False)
