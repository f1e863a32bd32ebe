"""Tiled inference covers every pixel and blends without seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg_core.progress import drain
from medseg_core.tiling import blend_window, predict_tiled, tile_starts


@pytest.mark.parametrize("length, tile, overlap", [(100, 32, 8), (32, 32, 8), (20, 32, 8), (1000, 256, 64)])
def test_tiles_cover_the_axis(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(max(length, tile), bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered[:length].all()
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    assert starts[-1] + tile == max(length, tile)


def test_window_is_positive_and_symmetric():
    w = blend_window(64, 16)
    assert (w > 0).all() and np.allclose(w, w[::-1]) and w.max() == 1.0


@pytest.mark.parametrize("shape, tile", [((3, 200, 300), 64), ((1, 50, 37), 64), ((2, 64, 64), 64), ((1, 129, 70), 32)])
def test_identity_network_reproduces_the_input(shape, tile):
    """With a network that copies its input, blending must give the input back exactly."""
    rng = np.random.default_rng(0)
    image = rng.random(shape, dtype=np.float32)
    out = drain(
        predict_tiled(
            image,
            lambda x: x,
            out_channels=shape[0],
            activation=lambda t: t,
            size_multiple=8,
            tile=tile,
            overlap=16,
            batch_size=3,
        )
    )
    assert out.shape == shape
    np.testing.assert_allclose(out, image, atol=1e-5)


def test_progress_counts_every_tile():
    records = []
    drain(
        predict_tiled(
            np.zeros((1, 100, 100), np.float32),
            lambda x: x,
            out_channels=1,
            activation=torch.sigmoid,
            size_multiple=4,
            tile=40,
            overlap=8,
        ),
        records.append,
    )
    assert records[0].done == 0 and records[-1].done == records[-1].total == 9
