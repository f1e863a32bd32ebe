"""The test input/output pair and the cover image of an exported package.

The test input is a crop of a sample image, in the model's channel layout
and at the network's working resolution, *before* normalisation (the
package's ``scale_range`` preprocessing does that). The test output is what
MedSeg's own code computes from it: :func:`~medseg_core.normalize.percentile_normalize`,
then the network and its activation. ``bioimageio.core``'s model test
reproduces it from the package alone, which checks that the package's
preprocessing is MedSeg's normalisation and that every weight format
computes MedSeg's network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import InputError
from ..io import read_image
from ..model import SegmentationModel
from ..normalize import percentile_normalize, select_channel, to_channels_first
from ..registry import resources_dir
from .network import packaged_network

#: Side of the test tensors (at the network's resolution): small, so tests of the package are quick.
TEST_SIZE = 128
#: Side of the image shown on the cover.
COVER_SIZE = 256


@dataclass
class TestPair:
    """Test tensors of a package.

    Attributes
    ----------
    input : ndarray
        float32 ``(1, C, h, w)``, raw intensities.
    output : ndarray
        float32 ``(1, K, h, w)``, the maps MedSeg computes from ``input``.
    sample : Path
        The image the input was cut from.
    """

    input: np.ndarray
    output: np.ndarray
    sample: Path
    cover: np.ndarray | None = None

    __test__ = False  # not a pytest class


def default_sample(model: SegmentationModel) -> Path:
    """The shipped sample image for a model: the H&E tile for H&E models (``nuclei-he``), else the fluorescence one.

    Only nuclei samples are shipped: models of other images (``cxr-lungs``,
    ``em-membranes``) should be exported with a sample of their own kind.
    """
    name, description = model.info.name.lower(), model.info.description.lower()
    he = name.endswith("-he") or "h&e" in name or description.startswith(("nuclei in h&e", "h&e"))
    name = "nuclei_he.png" if he else "nuclei_fluorescence.png"
    return resources_dir() / "samples" / name


def network_input(image: np.ndarray, axes: str, model: SegmentationModel, size: int = TEST_SIZE) -> np.ndarray:
    """A raw float32 ``(1, C, h, w)`` crop of ``image`` as the package's network receives it.

    The channels follow MedSeg's rules (:func:`~medseg_core.normalize.select_channel`,
    :func:`~medseg_core.normalize.to_channels_first`), the image is resized by
    the model's ``input_scale`` (bilinear, antialiased, as MedSeg does), and
    the centre is cut to at most ``size`` pixels, a multiple of the
    network's ``size_multiple``.

    Raises
    ------
    InputError
        A stack (``Z`` axis) or an image smaller than the network's
        smallest input.
    """
    if axes.startswith("Z"):
        raise InputError("the sample for a package must be one 2-D image, not a stack")
    info = model.info
    image, axes = select_channel(image, axes, info.in_channels)
    chw = to_channels_first(image, info.in_channels).astype(np.float32, copy=True)
    if info.input_scale != 1.0:
        height, width = chw.shape[1:]
        target = (max(2, round(height * info.input_scale)), max(2, round(width * info.input_scale)))
        tensor = torch.from_numpy(chw)[None]
        chw = F.interpolate(tensor, size=target, mode="bilinear", align_corners=False,
                            antialias=info.input_scale < 1)[0].numpy()
    multiple = info.config.size_multiple
    sides = [min(size, s) // multiple * multiple for s in chw.shape[1:]]
    if min(sides) < multiple:
        raise InputError(
            f"the sample is too small for this network: it needs at least {multiple}x{multiple} pixels "
            f"at the network's resolution, got {chw.shape[1]}x{chw.shape[2]}"
        )
    top, left = ((s - c) // 2 for s, c in zip(chw.shape[1:], sides))
    crop = chw[:, top : top + sides[0], left : left + sides[1]]
    return np.ascontiguousarray(crop[None], dtype=np.float32)


def expected_output(raw: np.ndarray, model: SegmentationModel) -> np.ndarray:
    """MedSeg's maps for a raw ``(1, C, h, w)`` input: percentile normalisation, network, activation."""
    norm = model.info.normalization
    chw = percentile_normalize(raw[0].copy(), norm.get("low", 1.0), norm.get("high", 99.8))
    net = packaged_network(model)
    with torch.inference_mode():
        return net(torch.from_numpy(chw)[None]).numpy().astype(np.float32)


def make_test_pair(model: SegmentationModel, sample: str | os.PathLike | None = None) -> TestPair:
    """Test input and output for ``model`` from ``sample`` (default: :func:`default_sample`).

    Raises
    ------
    MedsegIOError
        The sample cannot be read.
    InputError
        The sample cannot be a test input (see :func:`network_input`).
    """
    path = Path(sample) if sample is not None else default_sample(model)
    data = read_image(path)
    raw = network_input(data.array, data.meta.axes, model)
    pair = TestPair(input=raw, output=expected_output(raw, model), sample=path)
    large = network_input(data.array, data.meta.axes, model, COVER_SIZE)
    pair.cover = cover_image(large, expected_output(large, model), model.info.task)
    return pair


def cover_image(raw: np.ndarray, maps: np.ndarray, task: str) -> np.ndarray:
    """A 2:1 RGB uint8 cover: a normalised ``(1, C, h, w)`` input beside its output ``maps`` over it.

    Instance models show the foreground probability in green over the
    image, semantic ones each non-background class in its own colour.
    """
    chw = percentile_normalize(raw[0].copy(), 1.0, 99.8)
    image = np.clip(chw[:3] if chw.shape[0] >= 3 else np.repeat(chw[:1], 3, axis=0), 0, 1)
    maps = maps[0]
    overlay = image.copy()
    palette = np.array([[0.1, 0.9, 0.2], [0.95, 0.3, 0.2], [0.2, 0.5, 1.0], [1.0, 0.85, 0.1]], dtype=np.float32)
    layers = maps[:1] if task == "instance" else maps[1:]
    for i, layer in enumerate(layers):
        colour = palette[i % len(palette)][:, None, None]
        alpha = 0.6 * np.clip(layer, 0, 1)[None]
        overlay = overlay * (1 - alpha) + colour * alpha
    side = np.concatenate([image, overlay], axis=2)  # (3, h, 2w)
    h, w2 = side.shape[1:]
    if w2 != 2 * h:  # pad to exactly 2:1, the cover shape bioimage.io shows
        target_w = max(w2, 2 * h)
        target_h = target_w // 2
        padded = np.zeros((3, target_h, target_w), dtype=np.float32)
        padded[:, :h, :w2] = side
        side = padded
    return (np.moveaxis(side, 0, -1) * 255 + 0.5).astype(np.uint8)
