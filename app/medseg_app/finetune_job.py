"""The fine-tuning run as a generator, for a worker thread (no Qt here).

:func:`run_finetune` prepares the data, scores the base model on the
validation images, trains with :func:`medseg_core.training.train_iter`, and
saves the new model atomically in the user model folder. It yields small
records (plain numbers and dicts) that the panel turns into plots and status
text, and returns a :class:`FineTuneOutcome`. Errors a user can cause
(:class:`~medseg_core.errors.MedsegError`) end up in the outcome's
``error`` instead of propagating, so the panel shows one readable line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from medseg_core.device import resolve_device
from medseg_core.errors import MedsegError
from medseg_core.finetune import build_start_model
from medseg_core.finetune_data import PairSource, prepare_sources
from medseg_core.progress import Progress
from medseg_core.registry import user_data_dir
from medseg_core.training import TrainConfig, TrainResult, train_iter, validate_iter

_log = logging.getLogger(__name__)


@dataclass
class FineTuneJob:
    """Everything a run needs; built on the UI thread from copies of the data.

    Parameters
    ----------
    base : str
        Name or path of the model to fine-tune.
    name : str
        Name of the new model.
    out_path : Path
        Where the new model is saved.
    train, val : list of PairSource
        Training and validation data (``val`` may be ``train`` itself).
    config : TrainConfig
        Training options (``checkpoint`` is filled in by the run).
    data : dict
        What the data was (layer names, folders), recorded in the model.
    """

    base: str
    name: str
    out_path: Path
    train: list[PairSource]
    val: list[PairSource]
    config: TrainConfig
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseEvent:
    """A preparatory phase: ``message`` and a completion ``fraction``."""

    message: str
    fraction: float


@dataclass(frozen=True)
class BaselineEvent:
    """Metrics of the base model on the validation images."""

    metrics: dict[str, float]


@dataclass
class FineTuneOutcome:
    """How a run ended.

    Attributes
    ----------
    path : Path or None
        The saved model, or None when nothing was saved.
    before, after : dict
        Validation metrics of the base model and of the new model.
    steps : int
        Optimiser steps done.
    stopped : bool
        The user pressed Stop.
    error : str
        One-line reason when the run failed ('' otherwise).
    """

    path: Path | None = None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    minutes: float = 0.0
    stopped: bool = False
    error: str = ""


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
    """Fine-tune ``job.base`` on the job's data; yield events; return the outcome.

    Yields
    ------
    PhaseEvent, BaselineEvent, StepEvent, ValidationEvent
        Progress records for the user interface.

    Notes
    -----
    Nothing is raised: user errors, running out of memory and unexpected
    failures (logged with their traceback) end in the outcome's ``error``.
    """
    try:
        return (yield from _run(job, should_stop))
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
        return FineTuneOutcome(
            error=f"unexpected error ({type(exc).__name__}: {exc}); the log has the details"
        )


def _run(job: FineTuneJob, should_stop: Callable[[], bool]) -> Generator[Any, None, FineTuneOutcome]:
    yield PhaseEvent(f"loading {job.base}", 0.0)
    model = build_start_model(job.base, name=job.name)
    reuse = job.val is job.train
    train = yield from _phase(prepare_sources(job.train, model.info), "preparing training images")
    val = (
        train
        if reuse
        else (yield from _phase(prepare_sources(job.val, model.info), "preparing validation images"))
    )
    model.to(resolve_device(job.config.device))
    before = {}
    if val and not should_stop():
        before = yield from _phase(validate_iter(model, val), "scoring the base model", should_stop)
        yield BaselineEvent(before)
    if should_stop():
        return FineTuneOutcome(
            before=before, stopped=True, error="stopped before training began; nothing saved"
        )
    checkpoint = checkpoint_path(job.name)
    config = replace(job.config, checkpoint=checkpoint)
    result: TrainResult = yield from train_iter(model, train, val, config, should_stop=should_stop)
    if result.steps == 0:
        return FineTuneOutcome(
            before=before, stopped=result.stopped_early, error="no training step was done; nothing saved"
        )
    new = result.model.to("cpu")
    after = dict(result.metrics)
    if not after and val:
        after = yield from _phase(validate_iter(new, val), "scoring the new model")
    training = {
        **new.info.training,
        "data": job.data,
        "validation": "training images" if reuse else [s.name for s in job.val],
        "stopped_early": result.stopped_early,
        "parent_metrics": before,
    }
    new.info = replace(new.info, metrics=after, training=training)
    path = new.save(job.out_path)
    checkpoint.unlink(missing_ok=True)
    return FineTuneOutcome(path, before, after, result.steps, result.minutes, result.stopped_early)


def _phase(
    gen: Generator, message: str, should_stop: Callable[[], bool] | None = None
) -> Generator[Any, None, Any]:
    """Forward a progress generator as :class:`PhaseEvent` records; return its result.

    With ``should_stop``, a stop request abandons the phase (returns ``{}``).
    """
    try:
        while True:
            record = next(gen)
            if isinstance(record, Progress):
                yield PhaseEvent(f"{message} ({record.done}/{record.total})", record.fraction)
            if should_stop is not None and should_stop():
                gen.close()
                return {}
    except StopIteration as stop:
        return stop.value
