"""The fine-tuning run for a worker thread (no Qt here).

:func:`run_finetune` runs the engine's :func:`medseg_core.finetune.finetune_iter`
(the same run as ``medseg train``) and turns every failure into the outcome's
``error``, so the panel shows one readable line and never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import torch

from medseg_core.errors import MedsegError
from medseg_core.finetune import (
    BaselineEvent,
    FineTuneJob,
    FineTuneOutcome,
    NoticeEvent,
    PhaseEvent,
    finetune_iter,
)
from medseg_core.registry import user_data_dir

__all__ = [
    "BaselineEvent",
    "FineTuneJob",
    "FineTuneOutcome",
    "NoticeEvent",
    "PhaseEvent",
    "checkpoint_path",
    "guard_torch_imports",
    "run_finetune",
]

_log = logging.getLogger(__name__)


def guard_torch_imports() -> None:
    """Keep torch's first optimiser from crashing a process that renders with Mesa.

    Creating a torch optimiser imports ``torch._dynamo``, which imports Triton
    (CUDA builds of torch on Linux). Triton bundles its own LLVM; loading it
    into a process where Mesa's OpenGL driver has already loaded the system
    ``libLLVM`` (llvmpipe, radeonsi: napari's canvas) segfaults. Importing
    ``torch._dynamo`` *before* the OpenGL driver is safe, so when no
    ``libLLVM`` is mapped yet this imports it now; when one is, Triton is
    blocked (``import triton`` then fails cleanly and torch runs without it;
    MedSeg never compiles kernels). Call it early (before the viewer opens)
    and again before training. Does nothing off Linux or when already done.
    """
    if "torch._dynamo" in sys.modules or "triton" in sys.modules:
        return
    maps = Path("/proc/self/maps")
    try:
        llvm_loaded = "libLLVM" in maps.read_text(errors="replace")
    except OSError:
        return
    if llvm_loaded:
        sys.modules["triton"] = None  # type: ignore[assignment]
    else:
        import torch._dynamo  # noqa: F401


def checkpoint_path(name: str) -> Path:
    """Recovery file of a run in progress (outside the model folder)."""
    folder = user_data_dir() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.safetensors"


def run_finetune(job: FineTuneJob, should_stop: Callable[[], bool]) -> Generator[Any, None, FineTuneOutcome]:
    """Run :func:`~medseg_core.finetune.finetune_iter`; yield its records; return the outcome.

    Notes
    -----
    Nothing is raised: user errors, running out of memory and unexpected
    failures (logged with their traceback) end in the outcome's ``error``.
    """
    try:
        return (yield from finetune_iter(job, should_stop))
    except MedsegError as exc:
        return FineTuneOutcome(error=str(exc))
    except torch.OutOfMemoryError:
        return FineTuneOutcome(
            error="the device ran out of memory: lower the batch size or crop size (Advanced options)"
        )
    except Exception as exc:  # a bug or a driver failure: log the traceback, report one line
        # Never let it escape: superqt's worker swallows RuntimeErrors without
        # emitting `finished`, and napari 0.9's status hook for `errored` fails.
        _log.exception("fine-tuning failed")
        return FineTuneOutcome(error=f"unexpected error ({type(exc).__name__}: {exc}); the log has the details")
