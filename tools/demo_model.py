"""A tiny demo model with hand-set weights, for tests, benchmarks and demos.

The network is a real :class:`medseg_core.unet.UNet` (depth 2, width 4, no
normalisation) whose weights pass a smoothed copy of the mean input
intensity from the stem through the last skip connection to the head. The
head turns it into a foreground logit (bright = nucleus) and a "distance"
logit that is high only in the brightest cores. On fluorescence nuclei it
behaves like a smoothed intensity threshold with watershed splitting: not
accurate, but it finds real objects, so pipeline tests see realistic label
images. A model file with random weights would predict one flat value.

Use::

    from demo_model import make_demo_model      # tools/ on sys.path
    make_demo_model().save(user_models_dir() / "demo.safetensors")
"""

from __future__ import annotations

import torch

from medseg_core.model import ModelInfo, SegmentationModel
from medseg_core.unet import UNetConfig


def make_demo_model(name: str = "demo", fg_level: float = 0.2, core_level: float = 0.45) -> SegmentationModel:
    """Build the tiny model.

    Parameters
    ----------
    name : str
        Model name stored in the file.
    fg_level, core_level : float
        Normalised intensities (0..1 after percentile normalisation) where
        the foreground and the core probabilities cross 0.5.
    """
    config = UNetConfig(in_channels=3, out_channels=2, depth=2, width=4, norm="none")
    info = ModelInfo(
        name=name,
        task="instance",
        classes=["background", "nucleus"],
        architecture=config.to_dict(),
        description="Test model: smoothed intensity threshold (hand-set weights).",
        postprocess={"threshold": 0.5, "seed_threshold": 0.5, "min_size": 8},
    )
    model = SegmentationModel.create(info)
    net = model.net
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        stem1, stem2 = net.backbone.stem[0], net.backbone.stem[3]
        stem1.weight[0] = 1.0 / 27.0  # 3x3 mean over the 3 input channels
        stem2.weight[0, 0] = 1.0 / 9.0  # and another 3x3 mean
        last = net.up[-1]  # ConvBlock(widths[1] + widths[0], widths[0])
        skip0 = last[0].in_channels - stem2.out_channels
        last[0].weight[0, skip0, 1, 1] = 1.0
        last[3].weight[0, 0, 1, 1] = 1.0
        gain = 20.0
        net.head.weight[0, 0] = gain
        net.head.bias[0] = -gain * fg_level
        net.head.weight[1, 0] = gain
        net.head.bias[1] = -gain * core_level
    return model
