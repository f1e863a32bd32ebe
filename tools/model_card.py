"""Evaluate a shipped model on its validation split and write its model card.

Usage (from the repository root)::

    python tools/model_card.py nuclei

Scores the model through the one scoring path (:func:`medseg_core.scoring.score_iter`,
the code behind ``medseg evaluate`` and validation during training) on the
validation images listed in ``resources/models/splits/<name>_val.txt``, per
modality for ``nuclei``; writes ``resources/models/<name>.md`` and
``resources/models/<name>.metrics.json``, and stores the metrics of the whole
split in the model file (weights unchanged), so that ``medseg models``, the
card and ``medseg evaluate`` print the same numbers.
"""

from __future__ import annotations

import csv
import json
import sys

import medseg_core
from medseg_core.io import read_image, read_labels
from medseg_core.metrics import MaxFScoreAccumulator
from medseg_core.pretrained import encoder_credit
from medseg_core.progress import drain
from medseg_core.reference import ReferenceSamples
from medseg_core.scoring import Sample, score_iter
from medseg_core.training.data import file_stem, find_pairs
from train_shipped import DATA, ROOT, SPECS

MODELS = ROOT / "resources" / "models"

NOTES = {
    "nuclei": (
        "Targets (issue 10): AP@0.5 >= 0.87 on fluorescence (published StarDist: 0.864), >= 0.82 on all images, "
        ">= 0.70 on brightfield + H&E; DSB score (mean AP 0.5:0.95) >= 0.60."
    ),
    "em-membranes": (
        "Target (issue 10): ISBI 2012 pixel error <= 0.05; membrane-class F1 reported. Membrane = label 0 in the source masks. "
        "*ISBI 2012 pixel error* is the challenge's own definition, the one under which the original U-Net scored "
        "0.0611 on the test stack: 1 - the maximal F-score of the cell-interior pixels over probability thresholds "
        "0.0, 0.1, ..., 0.9, counts pooled over slices (its Fiji script, `trainableSegmentation.metrics.PixelError`). "
        "The fraction of misclassified pixels at the default argmax is reported beside it."
    ),
    "nuclei-he": (
        "**Non-commercial and research use only**: trained on MoNuSeg (CC BY-NC-SA 4.0). Targets (issue 12): "
        "AJI >= 0.65 (HoVer-Net: 0.618 on the Kumar test split; MoNuSeg 2018 winner about 0.69 on its test set); "
        "PQ, AP@0.5, F1@0.5 and the count error reported. The shipped `nuclei` model (CC0 data only) on the same "
        "images is shown for comparison."
    ),
    "cxr-lungs": (
        "**Research use only. Not for diagnosis** — the data's licence is mostly CC BY-NC-SA and no clinical "
        "study backs this model. Target (issue 10): Dice >= 0.96 for each lung. Left/right are the patient's sides."
    ),
}


def evaluate(name: str) -> tuple[dict, dict]:
    """Reports per subset (``all``, and per modality for nuclei) and the flat metrics of ``all``."""
    spec = SPECS[name]
    folder = DATA / spec["data"]
    names = (MODELS / "splits" / f"{name}_val.txt").read_text().split()
    model = medseg_core.load_model(name, device="cpu")
    samples = samples_of(folder, names, model.info, spec["class_map"])
    scores = drain(score_iter(model, samples))
    results = {"all": scores.report()}
    if name == "em-membranes":
        results["all"]["isbi"] = isbi_pixel_error(model, folder, names)
    if name == "nuclei-he":
        results["nuclei (for comparison)"] = drain(score_iter(medseg_core.load_model("nuclei", device="cpu"), samples)).report()
    if name == "nuclei":
        modality = {r["name"]: r["modality"] for r in csv.DictReader(open(folder / "index.csv"))}
        for kind in sorted(set(modality.values())):
            subset = [s for s in samples if modality[s.name] == kind]
            results[kind] = drain(score_iter(model, subset)).report()
    return results, scores.metrics()


def samples_of(folder, names: list[str], info, class_map: dict | None) -> list[Sample]:
    """The validation images of a dataset folder with their (class-mapped) masks, read as ``medseg evaluate`` reads them."""
    wanted = set(names)
    pairs = [(image, mask) for image, mask in find_pairs(folder) if file_stem(image) in wanted]
    return list(ReferenceSamples(pairs, info, class_map, channel=None))


def store_metrics(name: str, metrics: dict) -> None:
    """Write the card's metrics into the shipped model file (weights unchanged)."""
    path = MODELS / f"{name}.safetensors"
    model = medseg_core.load_model(path, device="cpu")
    model.info.metrics = metrics
    model.info.training["data_licence"] = SPECS[name]["licence"]
    model.save(path, half=True)


def isbi_pixel_error(model, folder, names: list[str]) -> dict:
    """ISBI 2012 pixel error: 1 - max F-score of the cell interior (class 0) probability."""
    acc = MaxFScoreAccumulator()
    for n in names:
        image = read_image(folder / "images" / f"{n}.png")
        interior = read_labels(folder / "masks" / f"{n}.png") > 0  # 255 = cell interior
        acc.add(medseg_core.segment(image.array, model, axes=image.meta.axes).probabilities[0], interior)
    result = acc.result()
    return {"pixel_error": result["pixel_error"], "best_threshold": result["best_threshold"]}


def start_text(info) -> str:
    """Where training started: random weights, or the ImageNet encoder with its source and licence."""
    encoder = info.architecture.get("encoder", "plain")
    if encoder == "plain":
        return "random initialisation"
    credit = encoder_credit(encoder)
    return (
        f"an ImageNet-pretrained {encoder} encoder ({credit['source']}; licence {credit['licence']}; "
        f"converted by `tools/convert_efficientnet_lite.py`) and a randomly initialised U-Net decoder"
    )


def architecture_text(arch: dict) -> str:
    encoder = arch.get("encoder", "plain")
    if encoder == "plain":
        return (f"U-Net, depth {arch['depth']}, width {arch['width']}, {arch['norm']} norm, "
                f"stem stride {arch['stem_stride']}")
    full = ", plus a full-resolution level" if arch["stem_stride"] == 1 else ""
    return f"U-Net decoder (width {arch['width']}{full}) on an {encoder} encoder, {arch['depth'] + 1} levels"


def card(name: str, results: dict) -> str:
    info = medseg_core.load_model(name, device="cpu").info
    t = info.training
    arch = info.architecture
    lines = [
        f"# Model card: `{name}`",
        "",
        info.description,
        "",
        "## Training",
        "",
        f"- Data: {t.get('data')}; split: {t.get('split')}. Licence of the data: {SPECS[name]['licence']}.",
        f"- Trained by `python tools/train_shipped.py {name} --minutes M` (this repository's training engine, "
        f"`medseg_core.training`) from {start_text(info)}"
        + (
            f", in {len(t['runs'])} runs, each continuing from the previous run's best checkpoint "
            f"(`--init`): " + "; ".join(f"{r['steps']} steps, {r['minutes']} min, lr {r['lr']}"
                      + (f", input scale {r['input_scale']}" if "input_scale" in r else "")
                      + (f", contact band weighted {1 + r['contact_weight']:g}x" if r.get("contact_weight") else "")
                      for r in t["runs"])
            if len(t.get("runs", [])) > 1
            else ""
        )
        + ".",
        f"- Hardware: {t.get('device')} — **no GPU was available for this build**, so the model was trained "
        f"on a shared 2-core CPU with a small budget: {t.get('steps')} steps of {t.get('batch_size')} "
        f"crops of {t.get('crop')} px, {t.get('minutes')} min, AdamW lr {t.get('lr')}, cosine schedule, seed {t.get('seed')}.",
        f"- Architecture: {architecture_text(arch)}, {arch['in_channels']} input channel(s); "
        f"input scale {info.input_scale}.",
        f"- Input normalisation: {info.normalization}.",
        f"- Post-processing defaults: {info.postprocess}"
        + (f", chosen by {t['postprocess_tuning']} (never on the validation split)" if t.get("postprocess_tuning") else "")
        + ".",
        "",
        "## Validation (own held-out split, full pipeline as `medseg evaluate`)",
        "",
        NOTES[name],
        "",
    ]
    for subset, r in results.items():
        lines.append(f"### {subset} ({r['n_images']} images)")
        lines.append("")
        lines.append("| metric | value |")
        lines.append("|---|---|")
        for k, v in r["pixel"].items():
            lines.append(f"| pixel {k} | {v:.4f} |")
        if "objects" in r:
            for thr, m in r["objects"].items():
                if thr == "map_50_95":
                    lines.append(f"| DSB score (mean AP 0.5:0.95) | {m:.4f} |")
                else:
                    lines.append(f"| AP@{thr} | {m['ap']:.4f} |")
                    lines.append(f"| F1@{thr} | {m['f1']:.4f} |")
            lines.append(f"| AJI (mean over images) | {r['aji']:.4f} |")
            lines.append(f"| PQ at IoU 0.5 (mean over images) | {r['pq']:.4f} |")
            lines.append(f"| mean absolute count error per image | {r['count_error']['mean_absolute']:.2f} |")
        else:
            for cls, v in r["per_class_dice"].items():
                lines.append(f"| Dice {cls} | {v:.4f} |")
            if "isbi" in r:
                lines.append(f"| **ISBI 2012 pixel error** (best threshold {r['isbi']['best_threshold']}) | "
                             f"**{r['isbi']['pixel_error']:.4f}** |")
            lines.append(f"| fraction of pixels misclassified | {r['pixel_error']:.4f} |")
        lines.append("")
    lines.append(f"Reproduce this card: `python tools/model_card.py {name}`. The pipeline figures alone: `medseg evaluate --model {name} --images ../shared/data/{SPECS[name]['data']}/images "
                 f"--masks ../shared/data/{SPECS[name]['data']}/masks --names resources/models/splits/{name}_val.txt"
                 + (f" --class-map {','.join(f'{k}:{v}' for k, v in SPECS[name]['class_map'].items())}" if SPECS[name]['class_map'] else "")
                 + "`.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    for name in argv or sorted(SPECS):
        results, metrics = evaluate(name)
        store_metrics(name, metrics)
        (MODELS / f"{name}.metrics.json").write_text(json.dumps(results, indent=2) + "\n")
        (MODELS / f"{name}.md").write_text(card(name, results))
        print(f"{name}: " + json.dumps({k: (v.get('objects') or v.get('per_class_dice')) for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
