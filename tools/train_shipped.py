"""Train the models shipped in ``resources/models/`` from ``../shared/data``.

Usage (from the repository root)::

    python tools/train_shipped.py nuclei --minutes 80
    python tools/train_shipped.py em-membranes --minutes 20
    python tools/train_shipped.py cxr-lungs --minutes 20
    python tools/train_shipped.py nuclei-he --minutes 60

On a GPU machine, copy the dataset into the repository first (``cp -r
../shared/data/dsb2018 work_data/``; ``work_data/`` is git-ignored and small
enough to carry) and pass ``--data-root work_data --device cuda``.

Each run writes ``resources/models/<name>.safetensors`` (best validation
checkpoint, written atomically while training), the validation split as
``resources/models/splits/<name>_val.txt`` and a training log CSV under
``runs/``. The validation images are never used for training.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from medseg_core.model import ModelInfo, SegmentationModel, load_model_file
from medseg_core.pretrained import encoder_credit
from medseg_core.training import AugmentConfig, TrainConfig, find_pairs, load_folder, split_pairs, train
from medseg_core.training.data import file_stem
from medseg_core.training.losses import CONTACT_WEIGHT
from medseg_core.unet import UNetConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # --data-root overrides (e.g. a copy carried to a GPU machine)

SPECS = {
    "nuclei": dict(
        data="dsb2018",
        licence="CC0 1.0 (BBBC038v1 and its corrected masks): free for any use",
        info=dict(
            task="instance",
            classes=["background", "nucleus"],
            # ImageNet EfficientNet-Lite0 encoder on the half-scale image; a full-resolution
            # level (of that image) gives the same output resolution as the plain U-Net's
            # stride-2 stem at full scale, at a CPU cost that keeps speed.py's ratio <= 0.2
            architecture=UNetConfig(
                in_channels=3, out_channels=2, depth=4, width=16, stem_stride=1, encoder="efficientnet-lite0"
            ).to_dict(),
            input_scale=0.5,
            postprocess={"threshold": 0.5, "seed_threshold": 0.3, "prominence": 0.35, "min_size": 20},  # tools/tune_postprocess.py
            description=(
                "Nuclei in fluorescence, brightfield and H&E-stained histology images "
                "(2018 Data Science Bowl, BBBC038v1, CC0). Instance segmentation: "
                "separates touching nuclei."
            ),
        ),
        class_map=None,
        train=dict(batch_size=16, crop=128, lr=1e-3, encoder_lr_scale=0.3, steps_per_epoch=150),
    ),
    "em-membranes": dict(
        data="isbi2012",
        licence="ISBI 2012 challenge training data, public for research use",
        info=dict(
            task="semantic",
            classes=["background", "membrane"],
            architecture=UNetConfig(
                in_channels=1, out_channels=2, depth=4, width=16, stem_stride=1, encoder="efficientnet-lite0"
            ).to_dict(),
            postprocess={"threshold": 0.0, "min_size": 0},
            encloses="membrane",
            description=(
                "Cell membranes in serial-section electron micrographs (ISBI 2012 "
                "challenge, Drosophila VNC). Semantic: membrane vs cell interior."
            ),
        ),
        class_map={255: 0, 0: 1},
        train=dict(batch_size=4, crop=256, lr=1e-3, encoder_lr_scale=0.3, steps_per_epoch=60),
    ),
    "cxr-lungs": dict(
        data="gb_covid_cxr",
        licence="research use only (images mostly CC BY-NC-SA 4.0, some unspecified); not for diagnosis",
        info=dict(
            task="semantic",
            classes=["background", "left lung", "right lung"],
            architecture=UNetConfig(
                in_channels=1, out_channels=3, depth=4, width=16, stem_stride=1, encoder="efficientnet-lite0"
            ).to_dict(),
            input_scale=0.5,  # with a full-resolution level: finer output than the plain U-Net's 0.75 / stride 2
            normalization={"method": "percentile", "low": 0.5, "high": 99.5},
            postprocess={"threshold": 0.0, "min_size": 500, "single_region": True},  # one region per lung
            description=(
                "Left and right lung (patient's sides) in chest radiographs. RESEARCH USE "
                "ONLY, not for diagnosis (COVID-19 Chest X-ray Segmentations, General "
                "Blockchain Inc.; images from Cohen et al.)."
            ),
        ),
        class_map=None,
        # left and right are anatomical: no flips or quarter turns, which would swap them
        train=dict(
            batch_size=8, crop=160, lr=1e-3, encoder_lr_scale=0.3, steps_per_epoch=60,
            augment=AugmentConfig(flips=False, rot90=False, rotation_deg=10.0),
        ),
    ),
    "nuclei-he": dict(
        data="monuseg",
        licence="MoNuSeg: CC BY-NC-SA 4.0, non-commercial and research use only",
        # plus the stained-tissue tiles of dsb2018's nuclei training split (never its validation split)
        extra_train="dsb2018",
        info=dict(
            task="instance",
            classes=["background", "nucleus"],
            # full input resolution: H&E chromatin texture matters; the output works at stride 2
            architecture=UNetConfig(
                in_channels=3, out_channels=2, depth=4, width=16, stem_stride=2, encoder="efficientnet-lite0"
            ).to_dict(),
            input_scale=1.0,
            postprocess={"threshold": 0.5, "seed_threshold": 0.3, "prominence": 0.2, "min_size": 20},
            description=(
                "Nuclei in H&E-stained histology (MoNuSeg 2018, Kumar et al.; plus the stained-tissue tiles of "
                "the 2018 Data Science Bowl). Trained on MoNuSeg (CC BY-NC-SA 4.0): NON-COMMERCIAL AND "
                "RESEARCH USE ONLY."
            ),
        ),
        class_map=None,
        train=dict(
            batch_size=8, crop=256, lr=1e-3, encoder_lr_scale=0.3, steps_per_epoch=100,
            augment=AugmentConfig(stain=0.15),
        ),
    ),
}


def split_names(name: str, folder: Path, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded validation split: 15% by modality (dsb2018), by patient (CXR), 4 slices (EM)."""
    stems = [file_stem(p) for p, _ in find_pairs(folder)]
    if name == "nuclei":
        rows = {r["name"]: r["modality"] for r in csv.DictReader(open(folder / "index.csv"))}
        train, val = [], []
        for modality in sorted(set(rows.values())):
            group = [s for s in stems if rows[s] == modality]
            t, v = split_pairs(group, 0.15, seed)
            train += t
            val += v
        return train, val
    if name == "cxr-lungs":
        rows = {r["stem"]: r["patientid"] for r in csv.DictReader(open(folder / "manifest.csv"))}
        return split_pairs(stems, 0.2, seed, groups=[rows[s] for s in stems])
    if name == "nuclei-he":  # 6 of 30 tiles; the first 12 characters of a TCGA barcode name the patient
        return split_pairs(stems, 6 / len(stems), seed, groups=[s[:12] for s in stems])
    return split_pairs(stems, 4 / len(stems), seed)


def stained_tissue_training_tiles(dsb_folder: Path) -> list[str]:
    """dsb2018's colour H&E tiles (brightfield, 256 px high) in the ``nuclei`` training split."""
    rows = list(csv.DictReader(open(dsb_folder / "index.csv")))
    _, val = split_names("nuclei", dsb_folder)
    return sorted(r["name"] for r in rows if r["modality"] == "brightfield" and r["height"] == "256" and r["name"] not in val)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", type=Path, default=DATA, help="folder holding dsb2018/, isbi2012/, gb_covid_cxr/")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--init", type=Path, help="continue from this model file (same spec) instead of from scratch")
    parser.add_argument("--lr", type=float, help="override the spec's learning rate")
    parser.add_argument("--input-scale", type=float, help="override the spec's input scale (the network's working resolution)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = SPECS[args.name]
    folder = args.data_root / spec["data"]
    info = ModelInfo(
        name=args.name,
        training={"data": data_text(spec), "split": "seeded, see splits/", "data_licence": spec["licence"]},
        **{**spec["info"], **({"input_scale": args.input_scale} if args.input_scale else {})},
    )
    train_names, val_names = split_names(args.name, folder)
    splits = ROOT / "resources" / "models" / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    (splits / f"{args.name}_val.txt").write_text("\n".join(sorted(val_names)) + "\n")
    print(f"{args.name}: {len(train_names)} training, {len(val_names)} validation images", flush=True)
    train_pairs = load_folder(folder, info, spec["class_map"], names=train_names)
    if spec.get("extra_train"):
        extra = args.data_root / spec["extra_train"]
        extra_names = stained_tissue_training_tiles(extra)
        train_pairs += load_folder(extra, info, names=extra_names)
        print(f"{args.name}: plus {len(extra_names)} training images from {spec['extra_train']}", flush=True)
    val_pairs = load_folder(folder, info, spec["class_map"], names=val_names)
    out = args.out or ROOT / "resources" / "models" / f"{args.name}.safetensors"
    log_path = ROOT / "runs" / f"{args.name}.csv"
    log_path.parent.mkdir(exist_ok=True)
    train_options = {**spec["train"], **({"lr": args.lr} if args.lr else {})}
    config = TrainConfig(epochs=None, max_minutes=args.minutes, device=args.device, checkpoint=out, **train_options)
    losses: list[float] = []

    def report(event) -> None:
        if hasattr(event, "loss"):
            losses.append(event.loss)
            return
        if not hasattr(event, "metrics"):  # validation progress
            return
        mean_loss = sum(losses) / max(1, len(losses))
        losses.clear()
        metrics = " ".join(f"{k}={v:.3f}" for k, v in event.metrics.items())
        print(f"epoch {event.epoch} step {event.step} loss {mean_loss:.4f} {metrics}"
              f"{' *best*' if event.is_best else ''} [{event.elapsed_s / 60:.1f} min]", flush=True)
        with open(log_path, "a") as fh:
            fh.write(f"{event.epoch},{event.step},{mean_loss:.5f}," + ",".join(f"{v:.5f}" for v in event.metrics.values()) + "\n")

    model = SegmentationModel.create(info, pretrained=info.config.encoder != "plain" and not args.init)
    earlier: list[dict] = []
    if args.init:
        previous = load_model_file(args.init)
        model.net.load_state_dict(previous.net.state_dict())
        done = previous.info.training
        earlier = done.get("runs") or [{k: done.get(k) for k in ("steps", "minutes", "lr", "device")}]
    result = train(model, train_pairs, val_pairs, config, callback=report)
    training = result.model.info.training
    training["split"] = f"{len(train_names)} train / {len(val_names)} val, seed 0 (splits/{args.name}_val.txt)"
    this_run = {
        **{k: training[k] for k in ("steps", "minutes", "lr", "device")},
        "input_scale": info.input_scale,
        "start": str(args.init.name) if args.init else f"{info.config.encoder} encoder: {_start_weights(info)}",
    }
    if info.task == "instance":
        this_run["contact_weight"] = CONTACT_WEIGHT  # runs without this key predate the contact-band loss
    training["runs"] = [*earlier, this_run]
    training["steps"] = sum(run["steps"] for run in training["runs"])
    training["minutes"] = round(sum(run["minutes"] for run in training["runs"]), 1)
    result.model.to("cpu").save(out, half=True)
    print(f"saved {out} after {result.steps} steps, {result.minutes:.1f} min: {result.metrics}", flush=True)
    return 0


def data_text(spec: dict) -> str:
    text = f"{spec['data']} (../shared/data/{spec['data']})"
    if spec.get("extra_train"):
        text += f" plus the stained-tissue tiles of {spec['extra_train']}'s nuclei training split"
    return text


def _start_weights(info: ModelInfo) -> str:
    if info.config.encoder == "plain":
        return "random initialisation"
    credit = encoder_credit(info.config.encoder)
    return f"ImageNet weights ({credit['source']}, {credit['licence']}), decoder random"


if __name__ == "__main__":
    sys.exit(main())
