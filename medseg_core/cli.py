"""The ``medseg`` command line: argument parsing and printing only.

The work is done by :mod:`medseg_core.batch` and :mod:`medseg_core.training`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import __version__
from .errors import MedsegError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``medseg``."""
    parser = argparse.ArgumentParser(prog="medseg", description="Segment, count and score images with U-Nets.")
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment images and count objects")
    seg.add_argument("inputs", nargs="+", help="image files or folders")
    seg.add_argument("--model", default="nuclei", help="model name or .safetensors file (default: nuclei)")
    seg.add_argument("--out", required=True, type=Path, help="output folder")
    _add_inference_options(seg)

    ev = sub.add_parser("evaluate", help="score a model against reference masks")
    ev.add_argument("--model", required=True)
    ev.add_argument("--images", required=True, type=Path)
    ev.add_argument("--masks", required=True, type=Path)
    ev.add_argument("--names", type=Path, help="text file of image stems to use (one per line)")
    ev.add_argument("--class-map", help="semantic masks: 'value:class,...', e.g. '255:0,0:1'")
    ev.add_argument("--json", type=Path, help="write the metrics here")
    _add_inference_options(ev)

    sub.add_parser("models", help="list available models")

    tr = sub.add_parser("train", help="train or fine-tune a model")
    tr.add_argument("--data", required=True, type=Path, help="folder with images/ and masks/")
    tr.add_argument("--val", type=Path, help="validation folder (default: hold back --val-fraction)")
    tr.add_argument("--val-fraction", type=float, default=0.2)
    tr.add_argument("--from", dest="base", help="model to fine-tune (name or file)")
    tr.add_argument("--task", choices=("instance", "semantic"), help="new model: task")
    tr.add_argument("--classes", help="new model: comma-separated class names, background first")
    tr.add_argument("--channels", type=int, default=1, help="new model: input channels")
    tr.add_argument("--out", required=True, type=Path, help="model file to write")
    tr.add_argument("--name", help="model name stored in the file (default: file stem)")
    budget = tr.add_argument_group("budget (at least one)")
    budget.add_argument("--epochs", type=int)
    budget.add_argument("--minutes", type=float)
    tr.add_argument("--steps-per-epoch", type=int, default=50)
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--crop", type=int, default=256)
    tr.add_argument("--lr", type=float, help="learning rate (default 1e-3, which also suits fine-tuning a few images)")
    tr.add_argument("--freeze-encoder-steps", type=int, default=0)
    tr.add_argument("--class-map", help="semantic masks: 'value:class,...'")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--log", type=Path, help="write the training curve as CSV")
    return parser


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--tile", type=int, default=512, help="tile side in pixels")
    parser.add_argument("--threshold", type=float, help="probability threshold")
    parser.add_argument("--min-size", type=int, help="smallest object kept, in pixels")


def _inference_options(args: argparse.Namespace) -> dict:
    options = {"tile": args.tile}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.min_size is not None:
        options["min_size"] = args.min_size
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``medseg``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MedsegError as exc:
        print(f"medseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medseg: interrupted", file=sys.stderr)
        return 130


def _segment(args: argparse.Namespace) -> int:
    from .batch import expand_inputs, segment_files
    from .segment import load_model

    model = load_model(args.model, args.device)
    paths = expand_inputs(args.inputs)
    if not paths:
        print("medseg: error: no images found in the given inputs", file=sys.stderr)
        return 2

    def report(outcome) -> None:
        if outcome.error:
            print(f"FAILED {outcome.path}: {outcome.error}", file=sys.stderr)
        else:
            print(f"{outcome.path.name}: {outcome.count} objects")

    outcomes = segment_files(paths, model, args.out, report=report, **_inference_options(args))
    failed = sum(o.error is not None for o in outcomes)
    print(f"{len(outcomes) - failed} of {len(outcomes)} files segmented; results in {args.out}")
    return 1 if failed else 0


def _evaluate(args: argparse.Namespace) -> int:
    from .batch import evaluate_folders, format_table, parse_class_map
    from .segment import load_model

    model = load_model(args.model, args.device)
    names = None
    if args.names:
        names = [line.strip() for line in args.names.read_text().splitlines() if line.strip()]

    def report(name: str, index: int, total: int) -> None:
        print(f"\r[{index}/{total}] {name}", end="", file=sys.stderr, flush=True)

    result = evaluate_folders(
        model, args.images, args.masks, parse_class_map(args.class_map), names, report, **_inference_options(args)
    )
    print(file=sys.stderr)
    print(format_table(result), end="")
    if args.json:
        from .atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _models(args: argparse.Namespace) -> int:
    from .registry import list_models

    for entry in list_models():
        origin = "shipped" if entry.shipped else "user"
        print(f"{entry.name:<24} {origin:<8} {entry.info.task:<9} {', '.join(entry.info.classes)}")
        for key, value in entry.info.metrics.items():
            print(f"{'':<24} {key}: {value:.4f}")
        print(f"{'':<24} {entry.path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .batch import parse_class_map
    from .finetune import build_start_model
    from .training import TrainConfig, load_folder, split_pairs, train

    model = build_start_model(args.base, args.task, args.classes, args.channels, name=args.name or args.out.stem)
    class_map = parse_class_map(args.class_map)
    pairs = load_folder(args.data, model.info, class_map)
    if args.val:
        train_pairs, val_pairs = pairs, load_folder(args.val, model.info, class_map)
    else:
        train_pairs, val_pairs = split_pairs(pairs, args.val_fraction, args.seed)
    print(f"training on {len(train_pairs)} images, validating on {len(val_pairs)}")
    lr = args.lr or 1e-3
    config = TrainConfig(
        epochs=args.epochs,
        max_minutes=args.minutes,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=lr,
        freeze_encoder_steps=args.freeze_encoder_steps,
        freeze_batchnorm=bool(args.base),
        device=args.device,
        seed=args.seed,
        checkpoint=args.out,
    )
    printer = _TrainPrinter(args.log)
    result = train(model, train_pairs, val_pairs, config, callback=printer)
    result.model.to("cpu").save(args.out)
    print(f"\nsaved {args.out} ({result.steps} steps, {result.minutes:.1f} min)")
    return 0


class _TrainPrinter:
    """Progress bar per step, one metrics line per epoch, optional CSV log."""

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.losses: list[float] = []
        self.header_written = False
        self.start = time.perf_counter()

    def __call__(self, event) -> None:
        if hasattr(event, "loss"):
            self.losses.append(event.loss)
            filled = int(30 * event.fraction)
            bar = "#" * filled + "-" * (30 - filled)
            print(f"\r[{bar}] epoch {event.epoch} step {event.step} loss {event.loss:.4f}", end="", flush=True)
            return
        mean = sum(self.losses) / max(1, len(self.losses))
        self.losses.clear()
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
        mark = " (best)" if event.is_best else ""
        print(f"\repoch {event.epoch:>3}  loss {mean:.4f}  {metrics}{mark}" + " " * 10)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as fh:
                if not self.header_written:
                    fh.write("epoch,step,elapsed_s,loss," + ",".join(event.metrics) + "\n")
                    self.header_written = True
                values = ",".join(f"{v:.6f}" for v in event.metrics.values())
                fh.write(f"{event.epoch},{event.step},{event.elapsed_s:.1f},{mean:.6f},{values}\n")


COMMANDS = {"segment": _segment, "evaluate": _evaluate, "models": _models, "train": _train}


if __name__ == "__main__":
    sys.exit(main())
