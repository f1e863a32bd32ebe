"""ONNX Runtime as the inference backend of :func:`~medseg_core.segment.segment_iter`.

:func:`with_backend` returns the model unchanged for ``"torch"``, and for
``"onnx"`` a :class:`OnnxSegmentationModel` whose
:meth:`~OnnxSegmentationModel.inference_net` runs the model's cached ONNX
graph (:func:`~medseg_core.exchange.onnx_graph.cached_onnx`) in ONNX
Runtime. Everything else (normalisation, tiling, blending, the
post-processing) is the same code, so both backends give the same labels.
``onnxruntime`` is imported only here, and only when the onnx backend is
asked for.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model import SegmentationModel
from . import ExchangeError, require
from .onnx_backend_names import BACKENDS
from .onnx_graph import INPUT_NAME, cached_onnx

_log = logging.getLogger(__name__)


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` is installed (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """``"torch"`` or ``"onnx"`` for a requested backend on a device.

    ``"auto"`` is ONNX Runtime on the CPU when it is installed (it segmented
    ``nuclei`` and ``nuclei-he`` end to end in 0.38 and 0.44 of PyTorch's
    time on this project's 2-core CPU, with the same labels:
    ``benchmarks/speed.py``), and PyTorch otherwise and on GPUs.

    Raises
    ------
    ExchangeError
        An unknown backend, or ``"onnx"`` on a GPU.
    """
    if backend not in BACKENDS:
        raise ExchangeError(f"backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    on_cpu = torch.device(device).type == "cpu"
    if backend == "auto":
        return "onnx" if on_cpu and onnxruntime_available() else "torch"
    if backend == "onnx" and not on_cpu:
        raise ExchangeError(f"the onnx backend runs on the CPU; use --device cpu or --backend torch (device: {device})")
    return backend


class OnnxRunner:
    """Call an ONNX Runtime session like a network: ``(N, C, H, W)`` tensor in, logits tensor out.

    Parameters
    ----------
    path : Path
        The ONNX graph.
    threads : int, optional
        Threads ONNX Runtime may use (default: PyTorch's current setting,
        so a caller that limits PyTorch limits this too).
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        ort = require("onnxruntime", "the onnx backend")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 (a broken cached graph is one line)
            raise ExchangeError(f"ONNX Runtime cannot load {path.name} ({str(exc)[:200]})") from exc
        self.path = path
        self.threads = threads

    def __reduce__(self) -> tuple:
        """Pickle as the graph's path (a session cannot be pickled; it is rebuilt where it is unpickled)."""
        return (OnnxRunner, (self.path, self.threads))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of a batch (any memory layout; computed on the CPU)."""
        array = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        (logits,) = self.session.run(None, {INPUT_NAME: array})
        return torch.from_numpy(logits)


@dataclass
class OnnxSegmentationModel(SegmentationModel):
    """A model whose inference runs in ONNX Runtime (training still uses ``net``).

    The graph is made from the weights at the time of :func:`with_backend`;
    after training the weights, call :func:`with_backend` again.
    """

    onnx_path: Path | None = None
    threads: int | None = None
    _runner: OnnxRunner | None = field(default=None, init=False, repr=False, compare=False)

    def inference_net(self) -> Any:
        """An :class:`OnnxRunner` of the cached graph (made on first use)."""
        if self._runner is None:
            self._runner = OnnxRunner(self.onnx_path, self.threads)
        return self._runner


def with_backend(model: SegmentationModel, backend: str = "auto", *, threads: int | None = None) -> SegmentationModel:
    """``model`` set up to run its network with ``backend`` (``"auto"``, ``"torch"`` or ``"onnx"``).

    Parameters
    ----------
    model : SegmentationModel
        A loaded model.
    backend : str
        See :func:`resolve_backend`.
    threads : int, optional
        Threads ONNX Runtime may use (default: PyTorch's setting when the
        session is made).

    Returns
    -------
    SegmentationModel
        ``model`` itself for the torch backend; for onnx an
        :class:`OnnxSegmentationModel` sharing its metadata and weights,
        whose ONNX graph is exported now if it is not cached yet. With
        ``"auto"``, a graph that cannot be exported or loaded leaves the
        model on PyTorch (logged), since auto promises a working default.

    Raises
    ------
    ExchangeError
        Unknown backend, onnx on a GPU, onnxruntime missing, or (backend
        ``"onnx"``) a graph that cannot be exported or loaded.
    """
    if isinstance(model, OnnxSegmentationModel):
        model = SegmentationModel(info=model.info, net=model.net, source=model.source)
    if resolve_backend(backend, model.device) == "torch":
        return model
    try:
        require("onnxruntime", "the onnx backend")
        onnx_model = OnnxSegmentationModel(
            info=model.info, net=model.net, source=model.source, onnx_path=cached_onnx(model), threads=threads
        )
        onnx_model.inference_net()  # load the session now: errors surface here, not mid-batch
    except ExchangeError as exc:
        if backend != "auto":
            raise
        _log.warning("ONNX Runtime unavailable for %s, using PyTorch: %s", model.info.name, exc)
        return model
    return onnx_model


def backend_name(model: SegmentationModel) -> str:
    """``"onnx"`` or ``"torch"``: what runs ``model``'s network."""
    return "onnx" if isinstance(model, OnnxSegmentationModel) else "torch"
