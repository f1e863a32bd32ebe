"""ImageNet-pretrained encoder weights shipped with MedSeg.

``resources/encoders/<encoder>.safetensors`` holds the converted weights of
an encoder (written once by ``tools/convert_efficientnet_lite.py``), with
their source and licence in the metadata. A new model whose architecture
names that encoder starts from them (:func:`init_encoder`); models that were
trained from them carry the weights themselves, so inference never reads
this folder. Loading is safetensors only: nothing is unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import efficientnet_lite
from .atomic import atomic_path
from .errors import ModelFileError
from .model import open_safetensors
from .registry import resources_dir
from .unet import UNet

ENCODER_DIR = Path(__file__).resolve().parents[1] / "resources" / "encoders"  # where the converter writes


def encoder_file(encoder: str) -> Path:
    """The shipped weights file of ``encoder`` (e.g. ``"efficientnet-lite0"``)."""
    path = resources_dir() / "encoders" / f"{encoder}.safetensors"
    if not path.is_file():
        raise ModelFileError(f"no pretrained weights for the {encoder} encoder ({path} is missing)")
    return path


def encoder_credit(encoder: str) -> dict[str, str]:
    """Source, licence and training data of a shipped encoder's weights."""
    with open_safetensors(encoder_file(encoder)) as handle:
        return dict(handle.metadata() or {})


def describe_encoder(encoder: str) -> str:
    """One line: the encoder and where its starting weights come from."""
    try:
        credit = encoder_credit(encoder)
    except ModelFileError:
        return f"{encoder} (its ImageNet weights file is not installed)"
    return f"{encoder}, started from {credit.get('trained_on', 'pretrained')} weights ({credit.get('source')}; {credit.get('licence')})"


def load_encoder_tensors(encoder: str) -> dict[str, torch.Tensor]:
    """The converted tensors of ``encoder`` (float32, CPU)."""
    with open_safetensors(encoder_file(encoder)) as handle:
        return {key: handle.get_tensor(key).float() for key in handle.keys()}


def save_encoder_file(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str]) -> Path:
    """Write converted encoder weights (float16 for floating point) atomically."""
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(half, str(tmp), metadata=metadata)
    return Path(path)


def init_encoder(net: UNet) -> UNet:
    """Load the ImageNet weights into ``net``'s encoder; returns ``net``.

    Raises
    ------
    ModelFileError
        The architecture has no pretrained encoder (``encoder="plain"``) or
        its weights file is missing.
    """
    config = net.config
    if config.encoder == "plain":
        raise ModelFileError("the plain U-Net encoder has no pretrained weights")
    state = efficientnet_lite.pretrained_state(
        load_encoder_tensors(config.encoder), config.in_channels, config.depth
    )
    net.backbone.load_state_dict(state)
    return net
