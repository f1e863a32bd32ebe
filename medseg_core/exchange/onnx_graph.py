"""Export a MedSeg network to an ONNX graph, once per model (cached on disk).

The graph takes ``(N, C, H, W)`` float32 with any batch size and any
``H`` and ``W`` that are multiples of the architecture's
``size_multiple``; batch norms are folded into the convolutions first.
Graphs for the ONNX Runtime backend (logits) are cached in the user folder,
``<user data>/onnx/``, under a key made of the weights, the architecture,
the opset and the PyTorch version, so a model is exported the first time it
runs there and never again; a fine-tuned model gets its own graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path
from ..model import SegmentationModel
from ..registry import user_data_dir
from ..unet import fuse_batchnorm
from . import ExchangeError

#: ONNX operator set written (ONNX Runtime 1.16 and later run it; deepImageJ and QuPath too).
ONNX_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def export_onnx(net: nn.Module, path: str | os.PathLike, in_channels: int, size: int) -> Path:
    """Write ``net`` as an ONNX graph with dynamic batch, height and width.

    Parameters
    ----------
    net : nn.Module
        A network in eval mode, on the CPU.
    path : path-like
        The ``.onnx`` file to write (atomically).
    in_channels : int
        Input channels.
    size : int
        Height and width of the example input that is traced (a multiple
        of the network's ``size_multiple``).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ExchangeError
        PyTorch could not export the network.
    """
    example = torch.zeros(1, in_channels, size, size)
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer and deprecation notes
        try:
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic},
            )
        except Exception as exc:  # noqa: BLE001 (any exporter failure is one line for the user)
            raise ExchangeError(f"PyTorch could not export the network to ONNX ({str(exc)[:200]})") from exc
    return Path(path)


def graph_key(model: SegmentationModel) -> str:
    """A short hash of everything the backend's graph depends on: weights, architecture, opset, PyTorch version."""
    digest = hashlib.sha256()
    digest.update(json.dumps([model.info.config.to_dict(), ONNX_OPSET, torch.__version__]).encode())
    for name, tensor in model.net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def onnx_cache_dir() -> Path:
    """Folder of the cached graphs of the ONNX Runtime backend."""
    path = user_data_dir() / "onnx"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_onnx(model: SegmentationModel) -> Path:
    """The backend's ONNX graph of ``model`` (logits), exported on first use.

    Returns
    -------
    Path
        ``<user data>/onnx/<name>-<key>.onnx``.
    """
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in model.info.name)[:40]
    path = onnx_cache_dir() / f"{safe}-{graph_key(model)}.onnx"
    if not path.is_file():
        net = fuse_batchnorm(model.net).cpu().eval()
        size = max(64, model.info.config.size_multiple)
        export_onnx(net, path, model.info.in_channels, size)
    return path
