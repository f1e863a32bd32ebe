"""The training loop: a generator of step and validation events.

:func:`train_iter` trains a copy of a model and yields a :class:`StepEvent`
after every optimiser step and a :class:`ValidationEvent` after every
validation pass; it returns a :class:`TrainResult`. ``should_stop`` ends
training gracefully (the best model so far is returned); closing the
generator abandons it. The best model is written atomically to
``checkpoint`` whenever validation improves, so an interrupted run leaves
the last good file intact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..device import describe_device, resolve_device
from ..errors import InputError
from ..model import SegmentationModel
from ..progress import Progress, drain
from .augment import AugmentConfig, augment_batch, sample_crops
from .data import Pair
from .losses import instance_loss, semantic_loss
from .validate import validate_iter

#: With ``keep_start``, how much an epoch may lower the starting model's pixel
#: F1 on the held-back images and still replace it (see ``TrainConfig.min_gain``).
F1_TOLERANCE = 0.005


@dataclass
class TrainConfig:
    """Options of :func:`train_iter`.

    Parameters
    ----------
    epochs : int or None
        Epochs of ``steps_per_epoch`` steps; None trains until ``max_minutes``.
    max_minutes : float or None
        Time budget; training stops at whichever limit comes first.
    steps_per_epoch : int
        Optimiser steps between validation passes.
    batch_size, crop : int
        Crops per step and their side in pixels.
    lr, weight_decay : float
        AdamW settings; the learning rate warms up over 5% of the run, then
        follows a cosine decay.
    freeze_encoder_steps : int
        Steps during which the encoder is frozen (fine-tuning).
    encoder_lr_scale : float
        The encoder learns at ``lr * encoder_lr_scale`` (discriminative
        rates: a pretrained encoder needs smaller steps than a new decoder).
    freeze_batchnorm : bool
        Keep BatchNorm layers on their stored statistics (fine-tuning with
        small batches: re-estimating them from a few crops of a few images
        makes the model forget what it knew).
    grad_clip : float
        Maximum gradient norm.
    seed : int
        Seed of crops, augmentation and initialisation order.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    augment : AugmentConfig
        Augmentation strengths.
    best_metric : str or None
        Validation metric that picks the best model (default ``ap50`` for
        instance models, ``f1`` for semantic ones); ties go to the higher
        pixel F1, then accuracy.
    keep_start : bool
        Score the starting model on the validation pairs first and return it
        unless an epoch beats it (fine-tuning: a few corrected images must
        never make the model worse on the images held back).
    min_gain : float
        With ``keep_start``: how much an epoch must raise ``best_metric``
        over the starting model, without lowering its pixel F1 by more than
        :data:`F1_TOLERANCE`, to replace it. A few held-back images score
        noisily; a gain within that noise is not taken for an improvement.
    checkpoint : Path or None
        Where to write the best model whenever it improves.
    """

    epochs: int | None = 20
    max_minutes: float | None = None
    steps_per_epoch: int = 100
    batch_size: int = 8
    crop: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    freeze_encoder_steps: int = 0
    encoder_lr_scale: float = 1.0
    freeze_batchnorm: bool = False
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    best_metric: str | None = None
    keep_start: bool = False
    min_gain: float = 0.0
    checkpoint: Path | None = None

    def __post_init__(self) -> None:
        if self.epochs is None and self.max_minutes is None:
            raise InputError("give a number of epochs, a time budget in minutes, or both")
        if self.epochs is not None and self.epochs < 1:
            raise InputError("epochs must be at least 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise InputError("the time budget must be positive")
        if self.batch_size < 1 or self.crop < 16 or self.steps_per_epoch < 1:
            raise InputError("batch size must be >= 1, crop >= 16 and steps per epoch >= 1")
        if self.lr <= 0:
            raise InputError("learning rate must be positive")
        if not 0 < self.encoder_lr_scale <= 1:
            raise InputError("the encoder's learning-rate scale must be in (0, 1]")
        if not 0 <= self.min_gain <= 1:
            raise InputError("the minimum gain over the starting model must be in [0, 1]")


@dataclass(frozen=True)
class StepEvent:
    """One optimiser step; ``remaining_s`` as :func:`estimate_remaining` gives it."""

    step: int
    epoch: int
    loss: float
    lr: float
    elapsed_s: float
    fraction: float
    remaining_s: float | None = None


@dataclass(frozen=True)
class ValidationEvent:
    """One validation pass (after each epoch)."""

    step: int
    epoch: int
    metrics: dict[str, float]
    is_best: bool
    elapsed_s: float
    remaining_s: float | None


@dataclass
class TrainResult:
    """Outcome of training.

    ``start_metrics`` are the starting model's validation metrics (with
    ``keep_start``); ``improved`` is False when no epoch beat them and
    ``model`` therefore holds the starting weights.
    """

    model: SegmentationModel
    metrics: dict[str, float]
    history: list[dict]
    steps: int
    epochs: int
    minutes: float
    stopped_early: bool
    start_metrics: dict[str, float] = field(default_factory=dict)
    improved: bool = True


def train_iter(
    model: SegmentationModel,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair],
    config: TrainConfig,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[StepEvent | ValidationEvent | Progress, None, TrainResult]:
    """Train a copy of ``model``; yield events; return the best model.

    Yields a :class:`StepEvent` per optimiser step, :class:`Progress`
    records while validating (``stage`` ``"score"``), and a
    :class:`ValidationEvent` after each validation pass (``epoch`` 0 for the
    starting model with ``config.keep_start``).

    Parameters
    ----------
    model : SegmentationModel
        Starting point (left untouched): a fresh model, or a shipped/user
        model to fine-tune.
    train_pairs, val_pairs : sequence of Pair
        Prepared data (see :func:`~medseg_core.training.data.prepare_pair`).
        Without validation pairs the last model is kept.
    config : TrainConfig
        Options.
    should_stop : callable, optional
        Polled every step and between validation steps; True ends training
        and returns the best so far.
    """
    if not train_pairs:
        raise InputError("there is nothing to train on: no image/label pairs")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    work = model.copy().to(device)
    net = work.net
    instance = work.info.task == "instance"
    loss_fn = instance_loss if instance else semantic_loss
    best_metric = config.best_metric or ("ap50" if instance else "f1")
    optimizer = torch.optim.AdamW(_param_groups(net, config.encoder_lr_scale), lr=config.lr, weight_decay=config.weight_decay)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    total_steps = config.epochs * config.steps_per_epoch if config.epochs else None
    budget_s = config.max_minutes * 60 if config.max_minutes else None
    best_state, best_value, best_metrics = None, (-math.inf,), {}
    history: list[dict] = []
    start = time.perf_counter()
    step, epoch, stopped = 0, 0, False
    start_metrics: dict[str, float] = {}
    val_times: list[float] = []  # for the time-left estimate: the rest of the time is training
    if config.keep_start and val_pairs:
        start_metrics = yield from validate_iter(work, val_pairs, should_stop=should_stop)
        if start_metrics is None:
            start_metrics, stopped = {}, True
        else:
            best_value, best_metrics = _rank(start_metrics, best_metric), start_metrics
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            history.append({"kind": "validation", "step": 0, "epoch": 0, **start_metrics})
            val_times.append(time.perf_counter() - start)
            yield ValidationEvent(0, 0, start_metrics, True, val_times[-1], None)
    start_state = best_state
    _set_encoder_trainable(net, config.freeze_encoder_steps <= 0)
    _train_mode(net, config.freeze_batchnorm)
    last_val_step = 0
    while not stopped:
        epoch += 1
        budget_spent = False
        for _ in range(config.steps_per_epoch):
            fraction = _fraction(step, total_steps, time.perf_counter() - start, budget_s)
            if fraction >= 1.0:
                budget_spent = True
                break
            if should_stop is not None and should_stop():
                stopped = True
                break
            if step == config.freeze_encoder_steps and step > 0:
                _set_encoder_trainable(net, True)
            lr = _learning_rate(config.lr, fraction)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            images, targets = sample_crops(train_pairs, config.batch_size, config.crop, rng)
            images = torch.from_numpy(images).to(device)
            targets = torch.from_numpy(targets).to(device)
            images, targets = augment_batch(images, targets, config.augment, gen, semantic=not instance)
            with torch.autocast(device.type, enabled=use_amp):
                logits = net(images)
            loss = loss_fn(logits.float(), targets)
            if not torch.isfinite(loss):
                raise InputError("training diverged (the loss is not finite); lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            elapsed = time.perf_counter() - start
            remaining = _remaining(step, epoch - 1, total_steps, config, elapsed, budget_s, val_times, bool(val_pairs))
            event = StepEvent(step, epoch, float(loss.detach()), lr, elapsed, fraction, remaining)
            history.append({"kind": "step", "step": step, "epoch": epoch, "loss": event.loss, "lr": lr})
            yield event
        if stopped:
            break
        if val_pairs and step > last_val_step:
            last_val_step = step
            val_start = time.perf_counter()
            metrics = yield from validate_iter(work, val_pairs, should_stop=should_stop)
            if metrics is None:  # stopped while validating
                stopped = True
                break
            _train_mode(net, config.freeze_batchnorm)
            value = _rank(metrics, best_metric)
            is_best = value > best_value and _beats_start(metrics, start_metrics, best_metric, config.min_gain)
            if is_best:
                best_value, best_metrics = value, metrics
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                if config.checkpoint is not None:
                    _snapshot(work, best_state, metrics).save(config.checkpoint)
            elapsed = time.perf_counter() - start
            val_times.append(time.perf_counter() - val_start)
            history.append({"kind": "validation", "step": step, "epoch": epoch, **metrics})
            remaining = _remaining(step, epoch, total_steps, config, elapsed, budget_s, val_times, True)
            yield ValidationEvent(step, epoch, metrics, is_best, elapsed, remaining)
        if budget_spent or _fraction(step, total_steps, time.perf_counter() - start, budget_s) >= 1.0:
            break
    minutes = (time.perf_counter() - start) / 60
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    work.info = replace(
        work.info,
        metrics=best_metrics,
        training={
            **work.info.training,
            "steps": step,
            "epochs": epoch,
            "minutes": round(minutes, 2),
            "device": describe_device(device),
            "batch_size": config.batch_size,
            "crop": config.crop,
            "lr": config.lr,
            "encoder_lr_scale": config.encoder_lr_scale,
            "seed": config.seed,
            "n_train": len(train_pairs),
            "n_val": len(val_pairs),
        },
    )
    improved = start_state is None or best_state is not start_state
    return TrainResult(work, best_metrics, history, step, epoch, minutes, stopped, start_metrics, improved)


def train(
    model: SegmentationModel,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair],
    config: TrainConfig,
    callback: Callable[[StepEvent | ValidationEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Run :func:`train_iter` to the end, passing every event to ``callback``."""
    return drain(train_iter(model, train_pairs, val_pairs, config, should_stop=should_stop), callback)


def _beats_start(metrics: dict[str, float], start: dict[str, float], best_metric: str, min_gain: float) -> bool:
    """Whether ``metrics`` beat the starting model's by ``min_gain`` (see :attr:`TrainConfig.min_gain`); True without a start."""
    if not start:
        return True
    gain = metrics.get(best_metric, -math.inf) - start.get(best_metric, -math.inf)
    return gain >= min_gain and metrics.get("f1", -math.inf) >= start.get("f1", -math.inf) - F1_TOLERANCE


def _rank(metrics: dict[str, float], best_metric: str) -> tuple[float, ...]:
    """What "better" means: the chosen metric, then pixel F1 and accuracy to break ties."""
    return tuple(metrics.get(key, -math.inf) for key in (best_metric, "f1", "accuracy"))


def _snapshot(work: SegmentationModel, state: dict, metrics: dict) -> SegmentationModel:
    """A CPU copy of ``work`` holding ``state`` and ``metrics``, for saving."""
    snap = work.copy().to("cpu")
    snap.net.load_state_dict(state)
    snap.info = replace(snap.info, metrics=metrics)
    return snap


def _fraction(step: int, total_steps: int | None, elapsed: float, budget_s: float | None) -> float:
    parts = []
    if total_steps:
        parts.append(step / total_steps)
    if budget_s:
        parts.append(elapsed / budget_s)
    return max(parts)


def estimate_remaining(
    step: int,
    total_steps: int | None,
    elapsed: float,
    budget_s: float | None,
    step_s: float,
    validation_s: float,
    validations_left: int,
) -> float:
    """Seconds of training left, from the time a step and a validation pass take.

    A step budget leaves ``total_steps - step`` steps and
    ``validations_left`` passes; a time budget ends at ``budget_s`` plus the
    last validation pass. With both, the earlier end counts.
    """
    ends = []
    if total_steps:
        ends.append(max(0, total_steps - step) * step_s + validations_left * validation_s)
    if budget_s:
        ends.append(max(0.0, budget_s - elapsed) + validation_s)
    return max(0.0, min(ends))


def _remaining(
    step: int, passes_done: int, total_steps: int | None, config: TrainConfig, elapsed: float,
    budget_s: float | None, val_times: list[float], validating: bool,
) -> float:
    """:func:`estimate_remaining` from the run's timings: all time but validation's is the steps'
    (the caller's work between steps included); validation passes take as long as the last one."""
    step_s = (elapsed - sum(val_times)) / max(1, step)
    passes_left = (math.ceil(total_steps / config.steps_per_epoch) - passes_done) if total_steps and validating else 0
    last_pass = val_times[-1] if val_times and validating else 0.0  # unknown before the first pass
    return estimate_remaining(step, total_steps, elapsed, budget_s, step_s, last_pass, max(0, passes_left))


def _learning_rate(base: float, fraction: float, warmup: float = 0.05) -> float:
    if fraction < warmup:
        return base * max(0.05, fraction / warmup)
    progress = (fraction - warmup) / (1 - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _train_mode(net: torch.nn.Module, freeze_batchnorm: bool) -> None:
    net.train()
    if freeze_batchnorm:
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def _param_groups(net: torch.nn.Module, encoder_lr_scale: float) -> list[dict]:
    """The encoder's parameters and the rest, each with its learning-rate scale."""
    encoder = {id(p) for module in net.encoder for p in module.parameters()}
    rest = [p for p in net.parameters() if id(p) not in encoder]
    encoder_params = [p for p in net.parameters() if id(p) in encoder]
    return [{"params": encoder_params, "lr_scale": encoder_lr_scale}, {"params": rest, "lr_scale": 1.0}]


def _set_encoder_trainable(net: torch.nn.Module, trainable: bool) -> None:
    for module in net.encoder:
        for parameter in module.parameters():
            parameter.requires_grad_(trainable)
