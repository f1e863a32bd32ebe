"""The network of an exported model: MedSeg's U-Net with its output activation.

A bioimage.io package's outputs are the network's maps (probabilities), so
the exported network applies the activation MedSeg applies after the
logits: a sigmoid for instance models (foreground probability and
normalised distance map), a softmax over classes for semantic models.

The package's ``pytorch_state_dict`` weights need the architecture as a
Python file that imports nothing but PyTorch, because Fiji, QuPath or
``bioimageio.core`` do not have MedSeg. :func:`standalone_source` writes
that file from MedSeg's own modules (the EfficientNet-Lite encoder, the
U-Net and :class:`MedSegNetwork`), so the packaged architecture is always
the code MedSeg runs, never a second copy of it.
"""

from __future__ import annotations

import inspect
import re
import sys

import torch

from ..model import SegmentationModel
from ..unet import UNet, UNetConfig, fuse_batchnorm

ACTIVATIONS = ("sigmoid", "softmax")


class MedSegNetwork(UNet):
    """MedSeg's U-Net followed by its output activation.

    Parameters
    ----------
    activation : str
        ``"sigmoid"`` (instance models: each map on its own) or
        ``"softmax"`` (semantic models: over the class axis).
    **architecture
        The fields of :class:`~medseg_core.unet.UNetConfig`.

    Notes
    -----
    The weights' names are those of :class:`~medseg_core.unet.UNet`, so a
    MedSeg state dict loads as it is. ``forward`` takes
    ``(N, in_channels, H, W)`` float32 with ``H`` and ``W`` multiples of
    ``config.size_multiple`` and returns ``(N, out_channels, H, W)`` in
    ``[0, 1]``.
    """

    def __init__(self, activation: str = "sigmoid", **architecture) -> None:
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(f"activation must be 'sigmoid' or 'softmax', got {activation!r:.40}")
        super().__init__(UNetConfig(**architecture))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        logits = super().forward(x)
        if self.activation == "sigmoid":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=1)


def activation_of(model: SegmentationModel) -> str:
    """``"sigmoid"`` for instance models, ``"softmax"`` for semantic ones (as :func:`~medseg_core.segment.predict_plane`)."""
    return "sigmoid" if model.info.task == "instance" else "softmax"


def network_kwargs(model: SegmentationModel) -> dict:
    """Keyword arguments of :class:`MedSegNetwork` for ``model`` (plain JSON values)."""
    return {"activation": activation_of(model), **model.info.config.to_dict()}


def packaged_network(model: SegmentationModel, *, fused: bool = False) -> MedSegNetwork:
    """``model``'s weights in a :class:`MedSegNetwork`, on the CPU, in eval mode.

    Parameters
    ----------
    model : SegmentationModel
        The model.
    fused : bool
        Fold batch norms into the convolutions (the inference network of
        :meth:`~medseg_core.model.SegmentationModel.inference_net`): for
        the TorchScript and ONNX weights.
    """
    net = MedSegNetwork(**network_kwargs(model))
    net.load_state_dict({k: v.detach().cpu() for k, v in model.net.state_dict().items()})
    net.eval()
    return fuse_batchnorm(net) if fused else net


#: Lines of MedSeg's modules that only make sense inside the package.
_DROPPED_LINE = re.compile(r"^(from __future__ import .*|from \.+[\w.]* import .*)$")


def standalone_source() -> str:
    """A Python file defining :class:`MedSegNetwork` that imports only PyTorch.

    It is the text of :mod:`medseg_core.efficientnet_lite`,
    :mod:`medseg_core.unet` and this module's :class:`MedSegNetwork`, with
    the package-relative and ``__future__`` imports taken out (so its
    annotations are evaluated and it loads under any module name);
    ``efficientnet_lite`` becomes a namespace of the first part's names.
    """
    from .. import efficientnet_lite, unet  # noqa: PLC0415

    parts = [
        '"""MedSeg U-Net for bioimage.io: generated from medseg_core/efficientnet_lite.py, medseg_core/unet.py\n'
        'and medseg_core/exchange/network.py. Needs only PyTorch. The callable is MedSegNetwork."""\n',
        "import types\n",
        "# ---- medseg_core/efficientnet_lite.py ----",
        _module_body(efficientnet_lite),
        "efficientnet_lite = types.SimpleNamespace(**{k: v for k, v in dict(globals()).items() if not k.startswith('__')})\n",
        "# ---- medseg_core/unet.py ----",
        _module_body(unet),
        "# ---- medseg_core/exchange/network.py ----",
        inspect.getsource(MedSegNetwork),
    ]
    return "\n".join(parts)


def _module_body(module: object) -> str:
    """A module's source without its ``__future__`` and package-relative imports."""
    source = inspect.getsource(sys.modules[module.__name__])
    return "\n".join(line for line in source.splitlines() if not _DROPPED_LINE.match(line)) + "\n"
