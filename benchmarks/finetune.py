"""Fine-tune the shipped ``nuclei`` model on 5 annotated images of a kind it is weak on.

Usage: ``python benchmarks/finetune.py [--subset he-high-mag he] [--minutes 3] [--repeats 3]``

Each repeat draws 5 annotated images ("shots") and fine-tunes ``nuclei`` on
them exactly as ``medseg train --from nuclei --minutes 3`` does
(:func:`medseg_core.finetune.finetune_iter` with the shared defaults: one
shot held back to choose the best epoch, the base model kept when no epoch
beats it, seeding re-tuned), then scores the base and the result through the
full segmentation pipeline on other images of the same kind: pixel Dice,
object AP@0.5 and DSB score (mean AP over IoU 0.5:0.95). Both subsets run by
default.

Subsets
-------
``he-high-mag`` (default)
    H&E tissue tiles at high magnification (median nucleus area at least
    550 px), where the base model splits large textured nuclei apart. Shots
    come from the base model's *training* split, because its validation split
    holds only 6 such tiles, all kept for testing: fine-tuning adds no unseen
    image, it specialises the model. Held back: those 6 validation tiles.
``he``
    All 15 H&E validation tiles, of many tissues and magnifications: 5 shots
    drawn from them, tested on the other 10 (the shots are unseen images).
"""

from __future__ import annotations

import argparse
import csv
import functools

import numpy as np
import torch

import medseg_core
from _common import DATA, ROOT
from medseg_core.finetune import FINETUNE_DEFAULTS, FineTuneJob, finetune_config, finetune_iter
from medseg_core.finetune_data import DEFAULT_VAL_FRACTION, plan_validation, sources_from_folder
from medseg_core.io import read_image, read_labels
from medseg_core.progress import drain
from medseg_core.scoring import Sample, score_iter

FOLDER = DATA / "dsb2018"
HIGH_MAG_AREA = 550


def he_tiles(rows: dict[str, dict]) -> list[str]:
    """H&E tissue tiles: the colour brightfield images (all 256x320)."""
    return sorted(n for n, r in rows.items() if r["modality"] == "brightfield" and r["height"] == "256")


@functools.cache
def median_area(name: str) -> float:
    """Median object area of a mask (read once per run, however many repeats)."""
    return float(np.median(np.bincount(read_labels(FOLDER / "masks" / f"{name}.tif").ravel())[1:]))


def draw(subset: str, rows: dict[str, dict], val: set[str], seed: int) -> tuple[list[str], list[str]]:
    """The shots and the held-back images of one repeat."""
    rng = np.random.default_rng(seed)
    tiles = he_tiles(rows)
    if subset == "he":
        order = list(rng.permutation(sorted(n for n in tiles if n in val)))
        return order[:5], order[5:]
    high_mag = [n for n in tiles if median_area(n) >= HIGH_MAG_AREA]
    held_back = [n for n in high_mag if n in val]
    shots = list(rng.choice(sorted(n for n in high_mag if n not in val), 5, replace=False))
    return shots, held_back


def score(model, names: list[str]) -> dict:
    samples = [
        Sample(read_image(FOLDER / "images" / f"{n}.png").array, read_labels(FOLDER / "masks" / f"{n}.tif"), n)
        for n in names
    ]
    r = drain(score_iter(model, samples)).report()
    return {"dice": r["pixel"]["f1"], "ap50": r["objects"]["0.5"]["ap"], "dsb": r["objects"]["map_50_95"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", nargs="+", choices=("he-high-mag", "he"), default=["he-high-mag", "he"])
    parser.add_argument("--minutes", type=float, default=3.0, help="CPU budget of each fine-tuning")
    parser.add_argument("--repeats", type=int, default=3, help="independent draws of the 5 shots")
    parser.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
                        help="share of the shots held back to choose the epoch (as `medseg train --val-fraction`)")
    args = parser.parse_args()
    rows = {r["name"]: r for r in csv.DictReader(open(FOLDER / "index.csv"))}
    val = set((ROOT / "resources" / "models" / "splits" / "nuclei_val.txt").read_text().split())
    base = medseg_core.load_model("nuclei", device="cpu")
    everything = {s.name: s for s in sources_from_folder(FOLDER, count=False)}
    print(f"{args.minutes} min per fine-tuning on the CPU ({torch.get_num_threads()} threads); defaults {FINETUNE_DEFAULTS}, "
          f"held back: {args.val_fraction:g} of the shots")
    for subset in args.subset:
        print(f"\nsubset {subset}")
        print(f"{'repeat':<8}{'steps':>6}  {'Dice':>13}  {'AP@0.5':>13}  {'DSB':>13}  result")
        gains = []
        for seed in range(args.repeats):
            shots, held_back = draw(subset, rows, val, seed)
            before = score(base, held_back)
            job = FineTuneJob(
                base="nuclei", name="nuclei-finetuned", out_path=ROOT / "runs" / "nuclei-finetuned.safetensors",
                plan=plan_validation([everything[n] for n in shots], args.val_fraction, seed=seed),
                config=finetune_config(epochs=None, max_minutes=args.minutes, device="cpu", seed=seed),
            )
            outcome = drain(finetune_iter(job))
            after = score(medseg_core.load_model(outcome.path, device="cpu"), held_back)
            gains.append({k: after[k] - before[k] for k in before})
            cells = "  ".join(f"{before[k]:.3f} → {after[k]:.3f}" for k in ("dice", "ap50", "dsb"))
            kept = "improved" if outcome.improved else "kept the base model"
            print(f"{seed:<8}{outcome.steps:>6}  {cells}  {kept} ({len(held_back)} test images; shots {', '.join(shots)})")
        mean = {k: float(np.mean([g[k] for g in gains])) for k in gains[0]}
        print(f"{subset}: mean gain over {args.repeats} repeats: Dice {mean['dice']:+.3f}, AP@0.5 {mean['ap50']:+.3f}, DSB {mean['dsb']:+.3f}")


if __name__ == "__main__":
    main()
