"""Fine-tune the shipped ``nuclei`` model on 5 annotated images of one kind.

Usage: ``python benchmarks/finetune.py [--subset he|gray-brightfield|fluorescence] [--minutes 3]``

Takes the ``nuclei`` model's own validation images (never seen in its
training) of one kind, fine-tunes on 5 of them within a CPU time budget and
reports pixel Dice and object AP@0.5 / DSB score on the other images of that
kind, before and after, through the full segmentation pipeline.
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

import medseg_core
from _common import DATA, ROOT
from medseg_core.batch import evaluate_folders
from medseg_core.finetune import build_start_model
from medseg_core.training import TrainConfig, load_folder, train

SUBSETS = {
    "he": lambda r: r["modality"] == "brightfield" and r["height"] == "256",
    "gray-brightfield": lambda r: r["modality"] == "brightfield" and r["height"] != "256",
    "fluorescence": lambda r: r["modality"] == "fluorescence",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", choices=sorted(SUBSETS), default="he")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--val-shots", type=int, default=1, help="of the shots, how many pick the best model")
    args = parser.parse_args()
    folder = DATA / "dsb2018"
    rows = {r["name"]: r for r in csv.DictReader(open(folder / "index.csv"))}
    val = (ROOT / "resources" / "models" / "splits" / "nuclei_val.txt").read_text().split()
    names = sorted(n for n in val if SUBSETS[args.subset](rows[n]))
    rng = np.random.default_rng(args.seed)
    names = list(rng.permutation(names))
    shots, held_back = names[: args.shots], names[args.shots :]
    print(f"subset {args.subset}: fine-tune on {len(shots)} images, test on {len(held_back)} held-back images")

    def score(model) -> dict:
        r = evaluate_folders(model, folder / "images", folder / "masks", names=held_back)
        return {"dice": r["pixel"]["f1"], "ap50": r["objects"]["0.5"]["ap"], "dsb": r["objects"]["map_50_95"]}

    base = medseg_core.load_model("nuclei", device="cpu")
    before = score(base)
    start = build_start_model("nuclei", name="nuclei-finetuned")
    pairs = load_folder(folder, start.info, names=shots)
    train_pairs, val_pairs = pairs[args.val_shots :], pairs[: args.val_shots]
    config = TrainConfig(
        epochs=None, max_minutes=args.minutes, steps_per_epoch=20, batch_size=4, crop=256, lr=args.lr,
        freeze_batchnorm=True, device="cpu",
    )
    result = train(start, train_pairs, val_pairs, config)
    after = score(result.model)
    print(f"{len(train_pairs)} images trained on, {len(val_pairs)} of the {len(shots)} picked the best epoch; lr {args.lr}")
    print(f"fine-tuning: {result.steps} steps in {result.minutes:.1f} min on {medseg_core.device.describe_device(result.model.device)}")
    print(f"{'':<8}{'Dice':>8}{'AP@0.5':>9}{'DSB':>8}")
    for label, m in (("before", before), ("after", after)):
        print(f"{label:<8}{m['dice']:>8.3f}{m['ap50']:>9.3f}{m['dsb']:>8.3f}")


if __name__ == "__main__":
    main()
