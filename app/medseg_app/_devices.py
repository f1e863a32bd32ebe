"""The devices the Segment panel offers: automatic, the CPU, and each kind of GPU present."""

from __future__ import annotations

import torch

from medseg_core.device import describe_device, resolve_device

from ._segment_job import inference_threads


def device_choices() -> list[tuple[str, str]]:
    """``(value, text)`` pairs: ``"auto"``, ``"cpu"``, then ``"cuda"`` / ``"mps"`` when present.

    The values are what :func:`medseg_core.device.resolve_device` takes;
    the texts name the hardware, e.g. ``"CPU (1 thread)"`` or
    ``"GPU: NVIDIA H100"``.
    """
    threads = inference_threads()
    cpu = f"CPU ({threads} thread{'s' if threads > 1 else ''})"
    auto = resolve_device("auto")
    choices = [("auto", f"Auto: {cpu if auto.type == 'cpu' else describe_device(auto)}"), ("cpu", cpu)]
    if torch.cuda.is_available():
        choices.append(("cuda", describe_device(torch.device("cuda"))))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        choices.append(("mps", describe_device(torch.device("mps"))))
    return choices


def backend_choices() -> list[tuple[str, str]]:
    """``(value, text)`` pairs of the inference backends: auto, PyTorch, and ONNX Runtime when installed.

    The values are what :func:`medseg_core.exchange.onnx_backend.with_backend` takes.
    """
    from medseg_core.exchange.onnx_backend import onnxruntime_available

    if not onnxruntime_available():
        return [("auto", "Auto: PyTorch"), ("torch", "PyTorch")]
    return [("auto", "Auto: ONNX Runtime on the CPU, else PyTorch"), ("torch", "PyTorch"), ("onnx", "ONNX Runtime (CPU)")]
