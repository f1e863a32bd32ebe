"""Choose a shipped instance model's post-processing on its training images.

Usage (from the repository root)::

    python tools/tune_postprocess.py nuclei [--images 65]

Draws a seeded sample of the model's *training* images (never its
validation split, which the model card reports on), stratified by modality,
runs :func:`medseg_core.calibrate.calibrate_instances_iter` and writes the
best options into ``resources/models/<name>.safetensors`` (or the file given
with ``--model``; weights unchanged).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from medseg_core.calibrate import calibrate_instances_iter
from medseg_core.model import load_model_file
from medseg_core.progress import drain
from medseg_core.training import load_folder
from train_shipped import DATA, ROOT, SPECS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=[n for n, s in SPECS.items() if s["info"]["task"] == "instance"])
    parser.add_argument("--images", type=int, default=65)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", type=Path, help="tune this file instead of the shipped model (e.g. a checkpoint)")
    args = parser.parse_args(argv)
    folder = DATA / SPECS[args.name]["data"]
    path = args.model or ROOT / "resources" / "models" / f"{args.name}.safetensors"
    val = set((ROOT / "resources" / "models" / "splits" / f"{args.name}_val.txt").read_text().split())
    modality = {r["name"]: r["modality"] for r in csv.DictReader(open(folder / "index.csv"))}
    rng = np.random.default_rng(args.seed)
    names: list[str] = []
    for kind in sorted(set(modality.values())):
        group = sorted(n for n in modality if modality[n] == kind and n not in val)
        share = round(args.images * len(group) / (len(modality) - len(val)))
        names += list(rng.choice(group, min(len(group), max(1, share)), replace=False))
    model = load_model_file(path)
    pairs = load_folder(folder, model.info, names=names)
    result = drain(calibrate_instances_iter(model, pairs))
    for (prominence, min_size), ap in sorted(result.scores.items()):
        print(f"prominence {prominence:<5} min_size {min_size:<3} AP@0.5 {ap:.4f}")
    print(f"best on {len(pairs)} training images: {result.options} (AP@0.5 {result.score:.4f})")
    model.info.postprocess = result.options
    model.info.training["postprocess_tuning"] = f"tools/tune_postprocess.py on {len(pairs)} training images, AP@0.5 {result.score:.4f}"
    model.save(path, half=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
