"""From scratch against from ImageNet: the same network, data, split and CPU minutes.

Usage: ``python benchmarks/transfer_learning.py [--minutes 12] [--threads 1] [--val-images 40]``

Trains the shipped ``nuclei`` architecture (U-Net on an EfficientNet-Lite0
encoder, :data:`tools/train_shipped.SPECS`) twice on the ``nuclei``
training split of dsb2018: once with every weight random, once with the
encoder started from the ImageNet weights in ``resources/encoders/``. Both
runs use the same seed, crops, learning rates and time budget. After every
epoch each run is scored through the full pipeline
(:func:`medseg_core.scoring.score_iter`, as ``medseg evaluate``) on a fixed,
seeded subset of the ``nuclei`` validation split. Prints the curves, writes
``runs/transfer_learning.csv`` and draws ``docs/transfer_learning.png``
(validation AP@0.5 against training minutes, validation time excluded).
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np
import torch

from _common import DATA, ROOT

sys.path.insert(0, str(ROOT / "tools"))

from medseg_core.model import ModelInfo, SegmentationModel  # noqa: E402
from medseg_core.training import StepEvent, TrainConfig, ValidationEvent, load_folder, train_iter  # noqa: E402
from train_shipped import SPECS, split_names  # noqa: E402


def run(pretrained: bool, train_pairs, val_pairs, info: ModelInfo, minutes: float) -> list[tuple[float, float, int]]:
    """Train once; return ``(training minutes, validation AP@0.5, steps)`` after each epoch."""
    torch.manual_seed(0)
    model = SegmentationModel.create(info, pretrained=pretrained)
    spec = SPECS["nuclei"]["train"]
    config = TrainConfig(epochs=None, max_minutes=minutes, device="cpu", **{**spec, "steps_per_epoch": 50})
    curve, validation_s, last_step_s = [], 0.0, 0.0
    label = "ImageNet encoder" if pretrained else "from scratch"
    for event in train_iter(model, train_pairs, val_pairs, config):
        if isinstance(event, StepEvent):
            last_step_s = event.elapsed_s
        elif isinstance(event, ValidationEvent):
            validation_s += event.elapsed_s - last_step_s
            training_min = (event.elapsed_s - validation_s) / 60
            curve.append((training_min, event.metrics["ap50"], event.step))
            print(f"{label:<17} {training_min:5.1f} min  step {event.step:>5}  AP@0.5 {event.metrics['ap50']:.3f}", flush=True)
            last_step_s = event.elapsed_s
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="wall-clock budget of each run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--val-images", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = SPECS["nuclei"]
    info = ModelInfo(name="nuclei-benchmark", **spec["info"])
    folder = DATA / spec["data"]
    train_names, val_names = split_names("nuclei", folder)
    val_names = sorted(np.random.default_rng(0).choice(sorted(val_names), args.val_images, replace=False))
    train_pairs = load_folder(folder, info, names=train_names)
    val_pairs = load_folder(folder, info, names=val_names)
    print(f"{len(train_pairs)} training images, {len(val_pairs)} validation images; "
          f"{args.minutes} min per run on {args.threads} CPU thread(s)")
    curves = {name: run(name == "imagenet", train_pairs, val_pairs, info, args.minutes) for name in ("scratch", "imagenet")}
    out_csv = ROOT / "runs" / "transfer_learning.csv"
    out_csv.parent.mkdir(exist_ok=True)
    with open(out_csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start", "training_minutes", "ap50", "step"])
        for name, curve in curves.items():
            writer.writerows([name, f"{m:.2f}", f"{ap:.4f}", step] for m, ap, step in curve)
    for name, curve in curves.items():
        best = max(curve, key=lambda row: row[1])
        print(f"{name}: final AP@0.5 {curve[-1][1]:.3f} after {curve[-1][0]:.1f} min; best {best[1]:.3f} at {best[0]:.1f} min")
    plot(curves, args, len(train_pairs), len(val_pairs))


def plot(curves: dict, args: argparse.Namespace, n_train: int, n_val: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=120)
    ax = fig.add_subplot()
    styles = {"scratch": ("random initialisation", "#888888"), "imagenet": ("ImageNet EfficientNet-Lite0 encoder", "#1f77b4")}
    for name, curve in curves.items():
        label, colour = styles[name]
        ax.plot([m for m, _, _ in curve], [ap for _, ap, _ in curve], marker="o", ms=3, color=colour, label=label)
    ax.set_xlabel(f"training minutes (CPU, {args.threads} thread{'s' if args.threads > 1 else ''})")
    ax.set_ylabel("validation AP@0.5 (full pipeline)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(f"nuclei U-Net, dsb2018: {n_train} training / {n_val} validation images")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "transfer_learning.png")
    print(f"wrote {ROOT / 'docs' / 'transfer_learning.png'}")


if __name__ == "__main__":
    main()
