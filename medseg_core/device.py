"""Pick the torch device for inference and training."""

from __future__ import annotations

import torch

from .errors import InputError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``/``"cpu"``/``"cuda"``/``"mps"`` into a usable device.

    ``"auto"`` picks CUDA, then Apple MPS, then the CPU. Asking for a device
    that is not present raises :class:`~medseg_core.errors.InputError`.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("CUDA was requested but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("MPS was requested but Apple Metal is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device '{device}' (use auto, cpu, cuda or mps)") from None


def describe_device(device: torch.device) -> str:
    """Human-readable name, e.g. ``"GPU: NVIDIA H100"`` or ``"CPU (2 threads)"``."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple Metal"
    return f"CPU ({torch.get_num_threads()} threads)"
