"""The ``medseg`` command line: argument parsing and printing only.

The work is done by :mod:`medseg_core.batch` and :mod:`medseg_core.training`.
Nothing here imports torch at module level, so ``medseg --help`` and
``medseg --version`` answer at once.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from . import __version__
from .errors import MedsegError
from .exchange.commands import add_backend_option, add_export_parser, add_models_parser, apply_backend, run_export, run_models
from .progress import Progress
from .registry import MODEL_SUFFIX
from .status_line import StatusLine


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _whole_number(low: int) -> Callable[[str], int]:
    """Argument type: an integer of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {low}, got '{text}'")
        return value

    return parse


def _number(
    low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """Argument type: a finite number from ``low`` to ``high`` (ends excluded when open)."""
    if high == math.inf:
        span = f"{'greater than' if low_open else 'at least'} {low:g}"
    else:
        span = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > low if low_open else value >= low)
        ok = ok and (value < high if high_open else value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be a number {span}, got '{text}'")
        return value

    return parse


def _model_file(text: str) -> Path:
    """Argument type: a path ending in ``.safetensors``."""
    if not text.lower().endswith(MODEL_SUFFIX):
        raise argparse.ArgumentTypeError(f"a model file must end in {MODEL_SUFFIX}, got '{text}'")
    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``medseg``."""
    parser = _Parser(prog="medseg", description="Segment, count and score images with U-Nets.")
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment images and count objects")
    seg.add_argument("inputs", nargs="+", help="image files or folders (*_labels.tif files in folders are skipped)")
    seg.add_argument("--model", default="nuclei", help="model name or .safetensors file (default: nuclei)")
    seg.add_argument(
        "--out", required=True, type=Path, help="output folder; counts.csv there gets one row per image, run after run"
    )
    _add_inference_options(seg)
    from .large.command import add_large_options  # noqa: PLC0415 (light: no torch, no Dask)

    add_large_options(seg, _whole_number)

    ev = sub.add_parser("evaluate", help="score a model against reference masks")
    ev.add_argument("--model", required=True, help="model name or .safetensors file")
    ev.add_argument("--images", required=True, type=Path)
    ev.add_argument("--masks", required=True, type=Path)
    ev.add_argument("--names", type=Path, help="text file of image stems to use (one per line)")
    ev.add_argument("--class-map", help="semantic masks: 'value:class,...', e.g. '255:0,0:1'")
    ev.add_argument("--json", type=Path, help="write the metrics here")
    _add_inference_options(ev)

    add_models_parser(sub)
    add_export_parser(sub)

    tr = sub.add_parser("train", help="train or fine-tune a model")
    tr.add_argument("--data", required=True, type=Path, help="folder with images/ and masks/")
    tr.add_argument("--val", type=Path, help="validation folder (default: hold back --val-fraction)")
    tr.add_argument(
        "--val-fraction", type=_number(0, 1, high_open=True), default=0.2,
        help="share of the images held back to pick the best epoch (default 0.2; at least two from five images on)",
    )
    tr.add_argument("--from", dest="base", help="model to fine-tune (name or file)")
    tr.add_argument("--task", choices=("instance", "semantic"), help="new model: task")
    tr.add_argument("--classes", help="new model: comma-separated class names, background first")
    tr.add_argument("--channels", type=_whole_number(1), default=1, help="new model: input channels")
    tr.add_argument("--out", required=True, type=_model_file, help="model file to write (.safetensors)")
    tr.add_argument("--name", help="model name stored in the file (default: file stem)")
    budget = tr.add_argument_group("budget (at least one)")
    budget.add_argument("--epochs", type=_whole_number(1))
    budget.add_argument("--minutes", type=_number(0, low_open=True))
    tr.add_argument("--steps-per-epoch", type=_whole_number(1), help="default 20 for --from, else 50")
    tr.add_argument("--batch-size", type=_whole_number(1), help="default 4 for --from, else 8")
    tr.add_argument("--crop", type=_whole_number(16), help="default 256 (less when most images are smaller)")
    tr.add_argument(
        "--lr",
        type=_number(0, low_open=True),
        help="learning rate (default 1e-3, which also suits fine-tuning a few images)",
    )
    tr.add_argument("--freeze-encoder-steps", type=_whole_number(0), default=0)
    tr.add_argument("--class-map", help="semantic masks: 'value:class,...'")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--log", type=Path, help="write the training curve as CSV")
    return parser


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    add_backend_option(parser)
    parser.add_argument("--tile", type=_whole_number(64), default=512, help="tile side in pixels (at least 64)")
    parser.add_argument("--threshold", type=_number(0, 1), help="probability threshold")
    parser.add_argument("--min-size", type=_whole_number(0), help="smallest object kept, in pixels")
    parser.add_argument(
        "--channel",
        type=_whole_number(0),
        help="channel to segment (default: colour images whole, other multichannel images channel 0)",
    )


def _inference_options(args: argparse.Namespace) -> dict:
    """Engine options; the overlap follows the tile as in the app's Segment panel."""
    options = {"tile": args.tile, "overlap": min(64, args.tile // 4), "channel": args.channel}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.min_size is not None:
        options["min_size"] = args.min_size
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``medseg``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.epochs is None and args.minutes is None:
        parser.exit(2, "medseg train: error: give --epochs, --minutes or both (see 'medseg train --help')\n")
    try:
        return COMMANDS[args.command](args)
    except MedsegError as exc:
        print(f"medseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medseg: interrupted", file=sys.stderr)
        return 130


def _segment(args: argparse.Namespace) -> int:
    from .batch import expand_inputs
    from .batch_run import FileOutcome
    from .outputs import display_path, prepare_output_folder
    from .segment import load_model

    failed: list[FileOutcome] = []

    def unreadable(folder: Path, message: str) -> None:
        failed.append(FileOutcome(folder, error=message))
        print(f"FAILED {display_path(folder)}: {message}", file=sys.stderr)

    from .large.command import segment_inputs, split_zarr_inputs  # noqa: PLC0415

    zarr_stores, inputs = split_zarr_inputs(args.inputs)
    paths = zarr_stores + (expand_inputs(inputs, on_error=unreadable) if inputs else [])
    if not paths:
        print("medseg: error: no images found in the given inputs", file=sys.stderr)
        return 2
    prepare_output_folder(args.out)
    model = apply_backend(load_model(args.model, args.device), args)
    tiles = _TileProgress(len(paths), display_path)

    def report(outcome: FileOutcome) -> None:
        tiles.clear()
        if outcome.error:
            print(f"FAILED {display_path(outcome.path)}: {outcome.error}", file=sys.stderr)
        else:
            print(f"{display_path(outcome.path)}: {outcome.count} {outcome.counted}")

    outcomes = failed + segment_inputs(paths, model, args, report, tiles, _inference_options(args))
    n_failed = sum(o.error is not None for o in outcomes)
    print(
        f"{len(outcomes) - n_failed} of {len(outcomes)} files segmented; results in {display_path(args.out)}, "
        "their rows appended to counts.csv there"
    )
    return 1 if n_failed else 0


class _TileProgress(StatusLine):
    """Tiles done per image, on one stderr line rewritten in place (at most 10 times a second)."""

    def __init__(self, total: int, display: Callable[[Path], str] = str) -> None:
        super().__init__()
        self.total = total
        self.display = display
        self.index = 0
        self.path: Path | None = None
        self.slice = ""

    def __call__(self, path: Path, record: Progress) -> None:
        if path != self.path:
            self.path, self.index, self.slice = path, self.index + 1, ""
        if record.stage == "normalise" and record.total > 1:
            self.slice = f"slice {record.done + 1}/{record.total}, "
        if record.stage != "network" or record.total < 1:
            return
        text = f"[{self.index}/{self.total}] {self.display(path)}: {self.slice}tile {record.done}/{record.total}"
        self.show(text, final=record.done >= record.total)


def _evaluate(args: argparse.Namespace) -> int:
    from .batch import evaluate_folders, format_table, parse_class_map
    from .outputs import check_output_file
    from .segment import load_model

    if args.json:
        check_output_file(args.json)
    class_map = parse_class_map(args.class_map)
    names = None
    if args.names:
        names = [line.strip() for line in args.names.read_text().splitlines() if line.strip()]
    model = apply_backend(load_model(args.model, args.device), args)

    def report(name: str, index: int, total: int) -> None:
        print(f"\r[{index}/{total}] {name}", end="", file=sys.stderr, flush=True)

    result = evaluate_folders(model, args.images, args.masks, class_map, names, report, **_inference_options(args))
    print(file=sys.stderr)
    print(format_table(result), end="")
    if args.json:
        from .atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _models(args: argparse.Namespace) -> int:
    from .registry import scan_models

    entries, unreadable = scan_models()
    for entry in entries:
        origin = "shipped" if entry.shipped else "user"
        print(f"{entry.name:<24} {origin:<8} {entry.info.task:<9} {', '.join(entry.info.classes)}")
        for line in entry.info.provenance():
            print(f"{'':<24} {line}")
        for key, value in entry.info.metrics.items():
            print(f"{'':<24} {key}: {value:.4f}")
        print(f"{'':<24} {entry.path}")
    for bad in unreadable:
        origin = "shipped" if bad.shipped else "user"
        print(f"{bad.path.stem:<24} {origin:<8} unreadable: {bad.reason}")
        print(f"{'':<24} {bad.path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .batch import parse_class_map
    from .finetune import FineTuneJob, finetune_iter
    from .finetune_data import plan_validation, sources_from_folder
    from .outputs import check_output_file
    from .progress import drain
    from .registry import user_data_dir

    check_output_file(args.out)
    if args.log:
        check_output_file(args.log)
    name = args.name or args.out.stem
    plan = plan_validation(
        sources_from_folder(args.data, count=False),
        args.val_fraction,
        sources_from_folder(args.val, count=False) if args.val else None,
        seed=args.seed,
    )
    print(f"training on {len(plan.train)} images; {plan.note}")
    if not plan.reuses_training:
        print(f"held back: {', '.join(s.name for s in plan.val)}")
    job = FineTuneJob(
        base=args.base,
        name=name,
        out_path=args.out,
        plan=plan,
        config=_train_config(args),
        class_map=parse_class_map(args.class_map),
        new_model={} if args.base else {"task": args.task, "classes": args.classes, "channels": args.channels},
        data={"folder": str(args.data), **({"validation folder": str(args.val)} if args.val else {})},
        checkpoint=user_data_dir() / "checkpoints" / f"{name}.safetensors",
    )
    outcome = drain(finetune_iter(job), _TrainPrinter(args.log))
    print()
    if outcome.path is None:
        print(f"medseg: error: {'; '.join(outcome.notices) or 'nothing was saved'}", file=sys.stderr)
        return 1
    if outcome.before:
        print(_comparison(args.base, outcome.before, outcome.after, outcome.reuses_training))
    if outcome.saved_elsewhere:
        print(
            f"medseg: error: could not write {args.out}; the trained model was saved as {outcome.path} "
            f"(use it as --model {outcome.path.stem})",
            file=sys.stderr,
        )
        return 1
    kept = "" if outcome.improved or not outcome.before else f" (the weights of {args.base}, which no epoch beat)"
    print(f"saved {outcome.path}{kept} ({outcome.steps} steps, {outcome.minutes:.1f} min)")
    return 0


def _train_config(args: argparse.Namespace):
    """Training options: the fine-tuning defaults for --from, the engine's for a new model; given options win."""
    from .finetune import FINETUNE_DEFAULTS
    from .training import TrainConfig

    defaults = dict(FINETUNE_DEFAULTS) if args.base else dict(steps_per_epoch=50, batch_size=8, crop=256, lr=1e-3,
                                                                 encoder_lr_scale=0.3)
    given = {
        "steps_per_epoch": args.steps_per_epoch,
        "batch_size": args.batch_size,
        "crop": args.crop,
        "lr": args.lr,
    }
    options = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    return TrainConfig(
        epochs=args.epochs,
        max_minutes=args.minutes,
        freeze_encoder_steps=args.freeze_encoder_steps,
        device=args.device,
        seed=args.seed,
        **options,
    )


def _comparison(base: str, before: dict, after: dict, on_training: bool) -> str:
    """Base model against the new one on the held-back images, one metric a line."""
    from .finetune_data import compare_metrics

    where = "the training images (none could be held back)" if on_training else "the held-back images"
    lines = [f"on {where}:     {base:>12}  new model"]
    for label, old, new in compare_metrics(before, after):
        old_text = "-" if old is None else f"{old:.4f}"
        new_text = "-" if new is None else f"{new:.4f}"
        lines.append(f"  {label:<10} {old_text:>24}  {new_text:>9}")
    return "\n".join(lines)


class _TrainPrinter:
    """Progress bar per step, one metrics line per epoch, notices and phases, optional CSV log."""

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.losses: list[float] = []
        self.header_written = False

    def __call__(self, event) -> None:
        from .finetune import BaselineEvent, NoticeEvent
        from .training import StepEvent, ValidationEvent

        if isinstance(event, StepEvent):
            self.losses.append(event.loss)
            filled = int(30 * event.fraction)
            bar = "#" * filled + "-" * (30 - filled)
            print(f"\r[{bar}] epoch {event.epoch} step {event.step} loss {event.loss:.4f}", end="", flush=True)
        elif isinstance(event, ValidationEvent):
            mean = sum(self.losses) / max(1, len(self.losses))
            self.losses.clear()
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
            mark = " (best)" if event.is_best else ""
            print(f"\repoch {event.epoch:>3}  loss {mean:.4f}  {metrics}{mark}" + " " * 10)
            if self.log:
                self._log_row(event, mean)
        elif isinstance(event, BaselineEvent):
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
            print(f"\rstarting model  {metrics}" + " " * 10)
        elif isinstance(event, NoticeEvent):
            print(f"\nmedseg: warning: {event.message}", file=sys.stderr)
        else:  # PhaseEvent or Progress: one status line
            print(f"\r{event.message[:100]:<100}", end="", flush=True)

    def _log_row(self, event, mean: float) -> None:
        """Append one epoch to the CSV log (a new log replaces an old file); a write error stops logging only."""
        try:
            with open(self.log, "a" if self.header_written else "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                if not self.header_written:
                    writer.writerow(["epoch", "step", "elapsed_s", "loss", *event.metrics])
                    self.header_written = True
                values = [f"{v:.6f}" for v in event.metrics.values()]
                writer.writerow([event.epoch, event.step, f"{event.elapsed_s:.1f}", f"{mean:.6f}", *values])
        except OSError as exc:
            print(f"\nmedseg: warning: cannot write the log {self.log} ({exc.strerror or exc}); training goes on",
                  file=sys.stderr)
            self.log = None


COMMANDS = {
    "segment": _segment,
    "evaluate": _evaluate,
    "models": lambda args: run_models(args, _models),
    "export": run_export,
    "train": _train,
}


if __name__ == "__main__":
    sys.exit(main())
