"""What a bioimage.io package says about a model: name, licence, authors, citations, documentation.

Everything is derived from the model's metadata (:class:`~medseg_core.model.ModelInfo`)
and, for shipped models, their model card (``resources/models/NAME.md``).
Values that would make an invalid package (a name bioimage.io does not
accept, no authors) raise one :class:`~medseg_core.exchange.ExchangeError`
line before anything is written.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from ..model import ModelInfo
from ..registry import ModelFileError, resolve_model, shipped_models_dir
from . import ExchangeError

#: Characters and length bioimage.io allows in a model name (spec 0.5, ``ModelDescr.name``).
NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_+- ()")
NAME_LENGTH = (5, 128)
#: Licence of MedSeg's code, used when the training data imposes none.
CODE_LICENCE = "BSD-3-Clause"

UNET_CITATION = {
    "text": "Ronneberger O., Fischer P., Brox T. U-Net: Convolutional Networks for Biomedical Image "
    "Segmentation. MICCAI 2015.",
    "doi": "10.1007/978-3-319-24574-4_28",
}
ENCODER_CITATIONS = {
    "efficientnet-lite0": {
        "text": "Tan M., Le Q. V. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. "
        "ICML 2019 (encoder: EfficientNet-Lite0, ImageNet weights).",
        "doi": "10.48550/arXiv.1905.11946",
    },
}
#: Training data sets recognised in a model's ``training`` metadata: (words, citations).
DATA_CITATIONS = (
    (
        ("dsb2018", "data science bowl", "bbbc038"),
        [{"text": "Caicedo J. C. et al. Nucleus segmentation across imaging experiments: the 2018 Data Science "
          "Bowl. Nature Methods 16, 1247-1253 (2019). Data: BBBC038v1, CC0.",
          "doi": "10.1038/s41592-019-0612-7"}],
    ),
    (
        ("isbi2012", "isbi 2012"),
        [{"text": "Arganda-Carreras I. et al. Crowdsourcing the creation of image segmentation algorithms for "
          "connectomics. Frontiers in Neuroanatomy 9, 142 (2015). Data: ISBI 2012 EM challenge.",
          "doi": "10.3389/fnana.2015.00142"}],
    ),
    (
        ("monuseg",),
        [{"text": "Kumar N. et al. A Dataset and a Technique for Generalized Nuclear Segmentation for "
          "Computational Pathology. IEEE TMI 36, 1550-1560 (2017). Data: MoNuSeg, CC BY-NC-SA 4.0.",
          "doi": "10.1109/TMI.2017.2677499"}],
    ),
    (
        ("covid", "cxr"),
        [{"text": "Cohen J. P. et al. COVID-19 Image Data Collection: Prospective Predictions Are the Future. "
          "MELBA (2020). Lung masks: COVID-19 Chest X-ray Segmentations, General Blockchain Inc.",
          "doi": "10.48550/arXiv.2006.11988"}],
    ),
)


def check_name(name: str) -> str:
    """Return ``name`` if bioimage.io accepts it as a model name, else raise.

    Raises
    ------
    ExchangeError
        Shorter than 5 or longer than 128 characters, or a character other
        than letters, digits, spaces and ``_ + - ( )``.
    """
    low, high = NAME_LENGTH
    bad = sorted(set(name) - NAME_CHARACTERS)
    if bad or not low <= len(name) <= high:
        why = f"it has {', '.join(repr(c) for c in bad)}" if bad else f"it has {len(name)} characters"
        raise ExchangeError(
            f"'{name}' cannot be a bioimage.io model name ({why}): use {low} to {high} letters, digits, spaces "
            "or _ + - ( ); give another with --name"
        )
    return name


def lineage(info: ModelInfo) -> list[ModelInfo]:
    """``info`` followed by the metadata of its parent models that can still be found."""
    chain, seen = [info], {info.name}
    while chain[-1].parent and chain[-1].parent not in seen:
        seen.add(chain[-1].parent)
        try:
            from ..model import read_info  # noqa: PLC0415

            chain.append(read_info(resolve_model(chain[-1].parent)))
        except ModelFileError:
            break
    return chain


def _data_text(info: ModelInfo) -> str:
    """Everything the metadata of the model and its parents says about training data and licences."""
    parts = []
    for item in lineage(info):
        parts += [item.description, str(item.training.get("data", "")), str(item.training.get("data_licence", ""))]
        parts.append(str(item.training.get("parent_training", "")))
    return " ".join(parts).lower()


def licence_of(info: ModelInfo) -> str:
    """SPDX licence of the exported weights, from the training data of the model and its parents.

    Data under CC BY-NC-SA (or marked non-commercial) makes the weights
    ``CC-BY-NC-SA-4.0``; CC0 data gives ``CC0-1.0``; anything else
    (including data "public for research use" with no licence of its own)
    leaves MedSeg's code licence, BSD-3-Clause, and the data's terms are
    stated in the description and documentation.
    """
    text = _data_text(info)
    if "by-nc-sa" in text or "by nc sa" in text.replace("-", " ") or "non-commercial" in text:
        return "CC-BY-NC-SA-4.0"
    if "cc0" in text:
        return "CC0-1.0"
    return CODE_LICENCE


def use_restriction(info: ModelInfo) -> str:
    """The strictest use restriction of the model and its parents (``""`` when none)."""
    found = [item.use_restriction for item in lineage(info)]
    for level in ("non-commercial, research use only", "research use only"):
        if level in found:
            return level
    return ""


def citations_of(info: ModelInfo) -> list[dict]:
    """U-Net, the encoder and the training data sets recognised in the metadata (each with a DOI)."""
    cites = [UNET_CITATION]
    encoder = info.architecture.get("encoder", "plain")
    if encoder in ENCODER_CITATIONS:
        cites.append(ENCODER_CITATIONS[encoder])
    text = _data_text(info)
    for words, entries in DATA_CITATIONS:
        if any(word in text for word in words):
            cites += [entry for entry in entries if entry not in cites]
    return [dict(c) for c in cites]


def description_of(info: ModelInfo) -> str:
    """The model's description, with its use restriction stated when the text does not already say it."""
    text = " ".join(info.description.split()) or f"MedSeg {info.task} segmentation model '{info.name}'."
    restriction = use_restriction(info)
    if restriction and restriction.split(",")[-1].strip() not in text.lower():
        text += f" Training data limit its use: {restriction.upper()}."
    return text + " Exported by MedSeg; outputs are the network's probability maps (see the documentation)."


def model_card(info: ModelInfo, source: Path | None) -> str:
    """The model card: ``NAME.md`` beside a shipped model file, else one made from the metadata."""
    if source is not None:
        card = source.with_suffix(".md")
        if card.is_file() and source.parent.resolve() == shipped_models_dir().resolve():
            return card.read_text(encoding="utf-8")
    lines = [f"# Model card: `{info.name}`", "", info.description or "", ""]
    lines += [f"- {line}" for line in info.provenance()]
    if info.metrics:
        lines += ["", "## Validation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in info.metrics.items() if isinstance(v, (int, float))]
    return "\n".join(lines) + "\n"


def authors_from_card(card: str) -> list[str]:
    """Names on an ``Authors:`` line of a model card (empty when there is none)."""
    match = re.search(r"^\W*authors?\W*:\s*(.+)$", card, flags=re.IGNORECASE | re.MULTILINE)
    if not match:
        return []
    return [name.strip(" *_`") for name in re.split(r",|;| and ", match.group(1)) if name.strip(" *_`")]


def usage_notes(info: ModelInfo, channel_names: list[str], output_names: list[str]) -> str:
    """Documentation of what the package cannot express: input conventions and post-processing."""
    cfg = info.config
    norm = info.normalization
    post = info.postprocess
    lines = [
        "## Using this package outside MedSeg",
        "",
        f"- **Input** `input`: float32 `(batch, channel, y, x)`, channels {', '.join(channel_names)}; "
        f"height and width multiples of {cfg.size_multiple}.",
        "  A grey image given to a 3-channel model is repeated into the 3 channels; an RGBA image loses alpha; "
        "a colour image given to a 1-channel model becomes its luminance (0.299 R + 0.587 G + 0.114 B).",
        f"- **Normalisation** (in the package as `scale_range`): each channel of each image is mapped so that its "
        f"{norm.get('low', 1.0)} and {norm.get('high', 99.8)} percentiles become 0 and 1 (MedSeg's percentile "
        "normalisation; MedSeg estimates the percentiles of images over 1 megapixel from a regular subsample).",
    ]
    if info.input_scale != 1.0:
        lines.append(
            f"- **Resolution**: this network works at {info.input_scale:g} times the image size. The package's "
            f"inputs and outputs are at the network's working resolution: resize the image by {info.input_scale:g} "
            "(bilinear, antialiased) before the model and the maps back to the image size afterwards, as MedSeg does."
        )
    else:
        lines.append("- **Resolution**: the network works at the image's own resolution.")
    if info.task == "instance":
        lines += [
            f"- **Output** `maps`: `{output_names[0]}` (probability that a pixel is in an object) and "
            f"`{output_names[1]}` (distance to the object's border, normalised to 0..1 within each object), "
            "both after a sigmoid.",
            "",
            "### Post-processing into instances (not expressible in bioimage.io yet: spec issue 751)",
            "",
            "MedSeg turns the two maps into one label per object (`medseg_core.postprocess.instances_from_maps`):",
            "",
            f"1. mask = `{output_names[0]}` > {post.get('threshold', 0.5)};",
            (
                f"2. seeds = the maxima of `{output_names[1]}` that exceed {post.get('seed_threshold', 0.5)} and rise at "
                f"least {post.get('prominence', 0.0)} above the saddle to any higher maximum (h-maxima, on the map "
                "subsampled 2x), inside the mask; each connected seed is one object;"
                if post.get("prominence", 0.0) > 0
                else f"2. seeds = connected regions of the mask where `{output_names[1]}` > "
                f"{post.get('seed_threshold', 0.5)};"
            ),
            "3. watershed of the negated distance map from the seeds, within the mask; mask regions without a seed "
            "become objects of their own;",
            f"4. objects under {post.get('min_size', 0)} pixels are removed.",
        ]
    else:
        single = " Only the largest region of each class is kept, its holes filled." if post.get("single_region") else ""
        lines += [
            f"- **Output** `maps`: class probabilities (softmax) for {', '.join(output_names)}.",
            "",
            "### Post-processing (not part of the package)",
            "",
            f"MedSeg's labels are the most probable class of each pixel (background where that class's probability "
            f"is under {post.get('threshold', 0.5)}); regions of a class under {post.get('min_size', 0)} pixels become "
            f"background.{single}",
        ]
    restriction = use_restriction(info)
    if restriction:
        lines += ["", f"**Use restriction: {restriction}** (from the licence of the training data)."]
    lines += [
        "",
        "The file `" + info.name + ".safetensors` attached to this package is the MedSeg model itself: "
        "`medseg models import` turns the package back into a MedSeg model.",
    ]
    return "\n".join(lines) + "\n"
