"""The app and ``medseg segment`` segment the same channel of a multichannel image."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from medseg_core.io import read_image
from medseg_core.normalize import select_channel
from medseg_app._layers import selected_images
from medseg_app._window import open_paths

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("in_channels", [1, 3])
def test_opening_a_two_channel_image_selects_the_channel_the_cli_segments(make_napari_viewer, tmp_path, in_channels):
    rng = np.random.default_rng(0)
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, rng.random((2, 48, 48)).astype(np.float32), photometric="minisblack", metadata={"axes": "CYX"})
    viewer = make_napari_viewer()
    assert len(open_paths(viewer, [path])) == 2  # one layer per channel
    [chosen] = selected_images(viewer)
    data = read_image(path)
    expected, axes = select_channel(data.array, data.meta.axes, in_channels)
    assert axes == "YX"
    np.testing.assert_array_equal(chosen.data, expected)
