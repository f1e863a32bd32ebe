"""Fine-tuning a model on a user's annotated images: one function for the CLI and the app.

:func:`finetune_iter` loads the starting model, prepares the training and
held-back images, trains with :func:`~medseg_core.training.train_iter` while
scoring the starting model as a candidate (so the result is never worse than
it on the held-back images), re-tunes an instance model's seeding on the
training images, and saves the result. It yields the training events plus
:class:`PhaseEvent`, :class:`BaselineEvent` and :class:`NoticeEvent` records,
and returns a :class:`FineTuneOutcome`. ``medseg train`` and the app's
Fine-tune panel both run it, so they report the same things.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .calibrate import calibrate_instances_iter
from .device import resolve_device
from .errors import InputError
from .finetune_data import PairSource, ValidationPlan, prepare_sources
from .model import ModelInfo, SegmentationModel
from .progress import Progress
from .registry import user_models_dir
from .scoring import score_iter
from .segment import load_model
from .training import TrainConfig, ValidationEvent, train_iter
from .training.data import Pair
from .unet import UNetConfig

#: Architecture of new models (not fine-tuned from another): a U-Net on the
#: ImageNet-pretrained EfficientNet-Lite0 encoder shipped in resources/encoders.
NEW_MODEL_ARCHITECTURE = dict(depth=4, width=16, stem_stride=1, encoder="efficientnet-lite0")
#: Fine-tuning defaults (CPU): small batches so the curves move within minutes; batch norms
#: keep their statistics, the pretrained encoder moves at a tenth of the decoder's rate, and an
#: epoch must beat the starting model on the held-back images by 0.02 (AP@0.5 or F1) to replace it.
FINETUNE_DEFAULTS = dict(
    steps_per_epoch=20, batch_size=4, crop=256, lr=1e-3, encoder_lr_scale=0.1, freeze_batchnorm=True, min_gain=0.02
)
#: Training images the seeding is re-tuned on after fine-tuning (instance models).
RETUNE_IMAGES = 20
#: Training images compared with the starting model's prediction to spot uncorrected labels.
UNCORRECTED_CHECK_IMAGES = 5


def build_start_model(
    base: str | None,
    task: str | None = None,
    classes: str | None = None,
    channels: int = 1,
    *,
    name: str,
) -> SegmentationModel:
    """The model training starts from.

    Parameters
    ----------
    base : str or None
        Model to fine-tune (name or path). Its weights, architecture and
        normalisation are kept; the result records it as ``parent``.
    task, classes, channels : optional
        For a new model (``base`` None): ``"instance"`` or ``"semantic"``,
        comma-separated class names (background first), input channels. New
        models start from the ImageNet-pretrained encoder.
    name : str
        Name of the resulting model.
    """
    if base:
        model = load_model(base, device="cpu")
        model.info = replace(
            model.info,
            name=name,
            parent=model.info.name,
            metrics={},
            training={"parent_training": model.info.training.get("data", "")},
        )
        return model
    if task is None:
        raise InputError("give --from MODEL to fine-tune, or --task (and --classes) for a new model")
    names = [c.strip() for c in (classes or "background,object").split(",") if c.strip()]
    if len(names) < 2:
        raise InputError("a model needs at least two classes (background first)")
    out = 2 if task == "instance" else len(names)
    config = UNetConfig(in_channels=channels, out_channels=out, **NEW_MODEL_ARCHITECTURE)
    info = ModelInfo(name=name, task=task, classes=names, architecture=config.to_dict())
    return SegmentationModel.create(info, pretrained=True)


@dataclass
class FineTuneJob:
    """Everything a run needs; built by the caller from copies of the data.

    Parameters
    ----------
    base : str or None
        Name or path of the model to fine-tune; None trains a new model
        (``new_model`` then gives its task, classes and channels).
    name : str
        Name of the new model.
    out_path : Path
        Where the new model is saved.
    plan : ValidationPlan
        Training and held-back images (:func:`~medseg_core.finetune_data.plan_validation`).
    config : TrainConfig
        Training options (``keep_start`` is switched on by the run).
    class_map : dict, optional
        Semantic masks: stored value -> class index.
    new_model : dict
        ``task``, ``classes`` (comma-separated), ``channels`` for a new model.
    data : dict
        What the data was (layer names, folders), recorded in the model.
    checkpoint : Path, optional
        Where the best model so far is written during training (a recovery
        file, removed once the result is saved).
    """

    base: str | None
    name: str
    out_path: Path
    plan: ValidationPlan
    config: TrainConfig
    class_map: dict[int, int] | None = None
    new_model: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    checkpoint: Path | None = None


@dataclass(frozen=True)
class PhaseEvent:
    """A preparatory phase: ``message`` and a completion ``fraction``."""

    message: str
    fraction: float


@dataclass(frozen=True)
class BaselineEvent:
    """Metrics of the starting model on the held-back images."""

    metrics: dict[str, float]


@dataclass(frozen=True)
class NoticeEvent:
    """Something the user should know before or after training (one line)."""

    message: str


@dataclass
class FineTuneOutcome:
    """How a run ended.

    Attributes
    ----------
    path : Path or None
        The saved model, or None when nothing was saved.
    before, after : dict
        Held-back metrics of the starting model and of the result.
    improved : bool
        Some epoch beat the starting model on the held-back images; when
        False the result holds the starting weights.
    held_back : list of str
        Names of the validation images (the training images themselves
        when ``reuses_training``).
    reuses_training : bool
        Too few images to hold any back: scores are on the training images.
    steps, minutes : int, float
        Training done.
    stopped : bool
        The user stopped the run.
    notices : list of str
        Warnings given during the run (also yielded as :class:`NoticeEvent`).
    saved_elsewhere : bool
        ``out_path`` could not be written; ``path`` is a fallback in the
        user model folder.
    error : str
        One-line reason when the run failed, for callers that report errors
        instead of raising them (the app); :func:`finetune_iter` raises.
    """

    path: Path | None = None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    improved: bool = False
    held_back: list[str] = field(default_factory=list)
    reuses_training: bool = False
    steps: int = 0
    minutes: float = 0.0
    stopped: bool = False
    notices: list[str] = field(default_factory=list)
    saved_elsewhere: bool = False
    error: str = ""


def finetune_iter(
    job: FineTuneJob, should_stop: Callable[[], bool] = lambda: False
) -> Generator[Any, None, FineTuneOutcome]:
    """Fine-tune ``job.base`` (or train a new model) on the job's data.

    Yields
    ------
    PhaseEvent, BaselineEvent, NoticeEvent, StepEvent, ValidationEvent, Progress
        Records for a progress display.

    Returns
    -------
    FineTuneOutcome

    Raises
    ------
    MedsegError
        Bad data or options; nothing is saved.
    """
    plan = job.plan
    if not plan.train:
        raise InputError("there is nothing to train on: no image/label pairs")
    outcome = FineTuneOutcome(held_back=[s.name for s in plan.val], reuses_training=plan.reuses_training)
    yield PhaseEvent(f"loading {job.base or 'a new model'}", 0.0)
    model = build_start_model(job.base, name=job.name, **job.new_model)
    train = yield from _phase(prepare_sources(plan.train, model.info, job.class_map), "preparing training images")
    val = train if plan.reuses_training else (
        yield from _phase(prepare_sources(plan.val, model.info, job.class_map), "preparing held-back images")
    )
    model.to(resolve_device(job.config.device))
    crop = fit_crop(train, job.config.crop, model.info.config.size_multiple)
    if job.base:
        notice = yield from _uncorrected_labels(model, train[:UNCORRECTED_CHECK_IMAGES])
        if notice:
            outcome.notices.append(notice)
            yield NoticeEvent(notice)
    config = replace(job.config, crop=crop, keep_start=bool(job.base) and bool(val), checkpoint=job.checkpoint)
    events = train_iter(model, train, val, config, should_stop=should_stop)
    result = yield from _forward_baseline(events)
    outcome.steps, outcome.minutes, outcome.stopped = result.steps, result.minutes, result.stopped_early
    outcome.before, outcome.improved = result.start_metrics, result.improved
    if result.steps == 0:
        outcome.notices.append("no training step was done; nothing saved")
        return outcome
    new = result.model
    after = dict(result.metrics)
    if result.improved and new.info.task == "instance" and not should_stop():
        after = yield from _retune_seeding(new, train, val, after)
    if not result.improved:
        note = _kept_start_note(outcome.before)
        outcome.notices.append(note)
        yield NoticeEvent(note)
    outcome.after = after
    new = new.to("cpu")
    new.info = replace(
        new.info,
        metrics=after,
        training={
            **new.info.training,
            "data": job.data,
            "validation": "training images" if plan.reuses_training else outcome.held_back,
            "stopped_early": result.stopped_early,
            "parent_metrics": outcome.before,
            "kept_parent_weights": not result.improved,
        },
    )
    outcome.path, outcome.saved_elsewhere = save_with_fallback(new, job.out_path)
    if job.checkpoint is not None:
        job.checkpoint.unlink(missing_ok=True)
    if outcome.saved_elsewhere:
        note = f"could not write {job.out_path}; the model was saved as {outcome.path}"
        outcome.notices.append(note)
        yield NoticeEvent(note)
    return outcome


def finetune_config(**overrides: Any) -> TrainConfig:
    """A :class:`~medseg_core.training.TrainConfig` with the fine-tuning defaults and ``overrides``."""
    return TrainConfig(**{**FINETUNE_DEFAULTS, **overrides})


def fit_crop(pairs: Sequence[Pair], crop: int, multiple: int) -> int:
    """The training crop for these images: ``crop``, or less when most images are smaller.

    Crops larger than the typical image (at the model's input scale) would
    mostly show mirrored padding; the crop shrinks to the median image's
    shorter side, rounded down to a multiple of the network's ``multiple``.
    """
    sides = [min(p.image.shape[1:]) for p in pairs]
    if not sides:
        return crop
    typical = int(np.median(sides)) // multiple * multiple
    return max(multiple, min(crop, typical))


def save_with_fallback(model: SegmentationModel, path: str | os.PathLike) -> tuple[Path, bool]:
    """Save ``model`` at ``path``, or in the user model folder when that fails.

    A finished training is never lost to a bad output path (a folder, a
    read-only place, a full disk): the model goes to
    ``<user models>/<name>.safetensors`` (``-2``, ``-3``... if taken).

    Returns
    -------
    (Path, bool)
        Where it was saved, and whether that is the fallback.
    """
    try:
        if Path(path).is_dir():
            raise IsADirectoryError(f"{path} is a folder")
        return model.save(path), False
    except OSError:
        folder = user_models_dir()
        candidate, n = folder / f"{model.info.name}.safetensors", 1
        while candidate.exists():
            n += 1
            candidate = folder / f"{model.info.name}-{n}.safetensors"
        return model.save(candidate), True


def _forward_baseline(events: Generator) -> Generator[Any, None, Any]:
    """Pass training events on, announcing the starting model's score (epoch 0) as a :class:`BaselineEvent`."""
    try:
        while True:
            event = next(events)
            if isinstance(event, ValidationEvent) and event.epoch == 0:
                yield BaselineEvent(event.metrics)
            else:
                yield event
    except StopIteration as stop:
        return stop.value


def _uncorrected_labels(model: SegmentationModel, pairs: Sequence[Pair]) -> Generator[Any, None, str]:
    """A warning when the labels are exactly the model's own prediction (nothing to learn)."""
    if not pairs:
        return ""
    scores = yield from _phase(score_iter(model, [p.sample for p in pairs]), "comparing the labels with the model's prediction")
    metrics = scores.metrics() if scores else {}
    key = "ap50" if model.info.task == "instance" else "accuracy"
    identical = metrics.get(key) == 1.0 and metrics.get("accuracy") == 1.0
    if not identical:
        return ""
    return (
        f"the labels of {len(pairs)} training image(s) are exactly {model.info.parent}'s own prediction: "
        "correct them first, or the model has nothing to learn"
    )


def _retune_seeding(
    model: SegmentationModel, train: Sequence[Pair], val: Sequence[Pair], after: dict[str, float]
) -> Generator[Any, None, dict[str, float]]:
    """Re-choose how touching objects are split, on the training images; keep it if held-back AP rises."""
    calibration = yield from _phase(calibrate_instances_iter(model, train[:RETUNE_IMAGES]), "re-tuning object seeding")
    if calibration.options == {k: model.info.postprocess.get(k) for k in calibration.options}:
        return after
    trial = replace(model.info, postprocess={**model.info.postprocess, **calibration.options})
    previous, model.info = model.info, trial
    scores = yield from _phase(score_iter(model, [p.sample for p in val]), "scoring the re-tuned seeding")
    metrics = scores.metrics()
    if metrics.get("ap50", -1.0) > after.get("ap50", -1.0):
        return metrics
    model.info = previous
    return after


def _kept_start_note(before: dict[str, float]) -> str:
    key = "ap50" if "ap50" in before else "f1"
    return (
        f"no fine-tuned epoch beat the starting model on the held-back images "
        f"({key} {before.get(key, float('nan')):.3f}): the result keeps the starting model's weights"
    )


def _phase(gen: Generator, message: str) -> Generator[Any, None, Any]:
    """Forward a progress generator as :class:`PhaseEvent` records; return its result."""
    try:
        while True:
            record = next(gen)
            if isinstance(record, Progress):
                yield PhaseEvent(f"{message} ({record.done}/{record.total})", record.fraction)
    except StopIteration as stop:
        return stop.value

