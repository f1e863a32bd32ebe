"""A configurable 2-D U-Net.

The network optionally works at reduced resolution (``stem_stride=2``): the
first convolution halves the image, the decoder predicts at half resolution
and the logits are upsampled at the end. Nuclei and organs rarely need
full-resolution features, and this makes CPU inference about 4x cheaper.

The contracting path is either the plain U-Net one (two convolutions per
level, ``encoder="plain"``) or an ImageNet-pretrainable EfficientNet-Lite0
(``encoder="efficientnet-lite0"``, see :mod:`medseg_core.efficientnet_lite`);
the expanding path is a U-Net decoder in both cases.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from . import efficientnet_lite

NORMS = ("batch", "group", "instance", "none")
ENCODERS = ("plain", "efficientnet-lite0")

#: Largest channel counts a configuration may declare: the bounds keep a model file
#: from asking for gigabytes of weights (the largest allowed U-Net has about 220
#: million parameters; the shipped ones about 2 million).
MAX_IN_CHANNELS = 16
MAX_OUT_CHANNELS = 256
MAX_WIDTH = 1024

#: Allowed range of each integer field of :class:`UNetConfig`.
_INT_RANGES = {
    "in_channels": (1, MAX_IN_CHANNELS),
    "out_channels": (1, MAX_OUT_CHANNELS),
    "depth": (1, 6),
    "width": (1, MAX_WIDTH // 4),
    "stem_stride": (1, 2),
    "max_width": (1, MAX_WIDTH),
}


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNet`.

    Parameters
    ----------
    in_channels : int
        Channels of the input image (1 to :data:`MAX_IN_CHANNELS`).
    out_channels : int
        Channels of the output logits (1 to :data:`MAX_OUT_CHANNELS`).
    depth : int
        Number of down-sampling steps after the stem (1 to 6).
    width : int
        Channels of the first level; doubled at every level (1 to
        ``MAX_WIDTH // 4``).
    norm : str
        One of ``"batch"``, ``"group"``, ``"instance"``, ``"none"``.
    stem_stride : int
        1 for full-resolution features, 2 to work at half resolution.
    max_width : int
        Cap on the channels of the deepest levels (1 to :data:`MAX_WIDTH`).
    encoder : str
        ``"plain"``: U-Net convolution blocks (``width * 2**i`` channels at
        level ``i``). ``"efficientnet-lite0"``: EfficientNet-Lite0 levels
        (its own channels, batch norm only, ``depth`` 1 to 4); ``width``
        then sets the decoder's channels, and ``stem_stride=1`` adds a
        full-resolution level with ``width`` channels.
    """

    in_channels: int = 1
    out_channels: int = 2
    depth: int = 4
    width: int = 16
    norm: str = "batch"
    stem_stride: int = 2
    max_width: int = 256
    encoder: str = "plain"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r:.40}")
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r:.40}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r:.40}")
        if self.encoder != "plain":
            if self.norm != "batch":
                raise ValueError(f"the {self.encoder} encoder needs norm 'batch'")
            if self.depth > efficientnet_lite.MAX_DEPTH:
                raise ValueError(f"the {self.encoder} encoder has depth 1 to {efficientnet_lite.MAX_DEPTH}")

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        if self.encoder != "plain":
            return 2 ** (self.depth + 1)
        return self.stem_stride * 2**self.depth

    def to_dict(self) -> dict:
        """Plain-dict form for JSON metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "UNetConfig":
        """Inverse of :meth:`to_dict`; unknown keys are refused (files without ``encoder`` are plain)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown architecture keys: {sorted(unknown)}")
        return cls(**data)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by normalisation and ReLU."""

    def __init__(self, cin: int, cout: int, norm: str, stride: int = 1) -> None:
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=bias),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net with skip connections, configured by :class:`UNetConfig`.

    Parameters
    ----------
    config : UNetConfig
        Architecture.

    Notes
    -----
    ``forward`` takes ``(N, in_channels, H, W)`` with ``H`` and ``W``
    multiples of ``config.size_multiple`` and returns logits of shape
    ``(N, out_channels, H, W)``.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        if config.encoder == "plain":
            self.backbone = PlainEncoder(config)
            skip_widths = self.backbone.channels
            decoder_widths = skip_widths[:-1]
        else:
            self.backbone = efficientnet_lite.EfficientNetLiteEncoder(config.in_channels, config.depth)
            skip_widths = self.backbone.channels
            decoder_widths = tuple(min(config.width * 2**i, config.max_width) for i in range(config.depth))
            if config.stem_stride == 1:
                self.full_res = ConvBlock(config.in_channels, config.width, config.norm)
                skip_widths = (config.width, *skip_widths)
                decoder_widths = (config.width, *decoder_widths)
        below = skip_widths[-1]
        up = []
        for skip, width in zip(reversed(skip_widths[:-1]), reversed(decoder_widths)):
            up.append(ConvBlock(below + skip, width, config.norm))
            below = width
        self.up = nn.ModuleList(up)
        self.head = nn.Conv2d(below, config.out_channels, 1)

    @property
    def encoder(self) -> list[nn.Module]:
        """The modules of the contracting path (frozen first in fine-tuning)."""
        return [self.backbone]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        size = x.shape[-2:]
        skips = self.backbone(x)
        if hasattr(self, "full_res"):
            skips.insert(0, self.full_res(x))
        y = skips.pop()
        for block in self.up:
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        y = self.head(y)
        if y.shape[-2:] != size:
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return y


class PlainEncoder(nn.Module):
    """The contracting path of the original U-Net: a stem, then pool and convolve at each level."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        widths = [min(config.width * 2**i, config.max_width) for i in range(config.depth + 1)]
        self.channels = tuple(widths)
        self.stem = ConvBlock(config.in_channels, widths[0], config.norm, stride=config.stem_stride)
        self.down = nn.ModuleList(
            ConvBlock(widths[i], widths[i + 1], config.norm) for i in range(config.depth)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # noqa: D102
        features = [self.stem(x)]
        for block in self.down:
            features.append(block(F.max_pool2d(features[-1], 2)))
        return features


def fuse_batchnorm(net: UNet) -> UNet:
    """An inference copy of ``net`` with each batch norm folded into its convolution.

    Each ``Conv2d`` followed by ``BatchNorm2d`` becomes one ``Conv2d`` with
    the running statistics and affine parameters folded into its weights
    and bias (the same outputs in eval mode, one operation fewer per
    convolution). ``net`` itself is not changed; the copy is in eval mode.
    """
    fused = copy.deepcopy(net).eval()
    for block in fused.modules():
        if not isinstance(block, nn.Sequential):
            continue
        for i in range(len(block) - 1):
            conv, norm = block[i], block[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                block[i] = fuse_conv_bn_eval(conv, norm)
                block[i + 1] = nn.Identity()
    return fused
