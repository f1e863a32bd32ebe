"""Names of the inference backends, importable without torch (for the CLI's parser and the app's settings)."""

from __future__ import annotations

#: ``"auto"``: ONNX Runtime on the CPU when it is installed, else PyTorch (see
#: :func:`medseg_core.exchange.onnx_backend.resolve_backend`).
BACKENDS = ("auto", "torch", "onnx")
