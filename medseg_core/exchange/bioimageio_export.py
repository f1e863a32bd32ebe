"""Write a MedSeg model as a bioimage.io model package (spec 0.5).

The package holds:

- ``rdf.yaml``: name, description, authors, licence, citations (U-Net, the
  encoder, the training data), the input with its axes and MedSeg's
  percentile normalisation as ``scale_range`` preprocessing, the output
  maps, and MedSeg's own metadata under ``config.medseg``;
- weights as ``pytorch_state_dict`` (with ``medseg_unet.py``, the
  architecture, needing only PyTorch), ``torchscript`` and ``onnx``;
- ``test_input.npy`` / ``test_output.npy`` made from a sample image, a
  ``cover.png``, and ``README.md``: the model card and how to turn the maps
  into labels (bioimage.io cannot express MedSeg's post-processing yet,
  spec issue 751);
- the MedSeg model file itself (``NAME.safetensors``), which
  :mod:`.bioimageio_import` reads back.

The package is assembled in a temporary folder, validated with
``bioimageio.spec`` (and, unless ``test=False``, tested with
``bioimageio.core``), and only then moved to its place: an export that
fails writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..atomic import atomic_path
from ..model import SegmentationModel
from ..outputs import check_output_file
from ..progress import Progress
from . import ExchangeError, require
from .network import packaged_network, network_kwargs, standalone_source
from .onnx_graph import ONNX_OPSET, export_onnx
from .package_metadata import (
    authors_from_card,
    check_name,
    citations_of,
    description_of,
    licence_of,
    model_card,
    usage_notes,
    use_restriction,
)
from .sample_pair import TestPair, make_test_pair

#: Version of the ``config.medseg`` block, checked on import.
PACKAGE_FORMAT = 1
ARCHITECTURE_FILE = "medseg_unet.py"
DEFAULT_AUTHOR = "MedSeg contributors"
#: Output pixels at each border that tiled prediction (deepImageJ, bioimageio.core) crops: half of
#: the overlap MedSeg's own tiling blends over.
HALO = 32
STEPS = 6


def export_bioimageio_iter(
    model: SegmentationModel,
    out: str | os.PathLike,
    *,
    sample: str | os.PathLike | None = None,
    name: str | None = None,
    authors: list[str] | None = None,
    licence: str | None = None,
    test: bool = True,
) -> Generator[Progress, None, Path]:
    """Export ``model`` as a bioimage.io package; yield progress, return the zip's path.

    Parameters
    ----------
    model : SegmentationModel
        A shipped or fine-tuned model.
    out : path-like
        The ``.zip`` to write (replaced atomically if it exists).
    sample : path-like, optional
        Image the test input is cut from (default: a shipped sample,
        :func:`~medseg_core.exchange.sample_pair.default_sample`).
    name : str, optional
        bioimage.io name (default: the model's name).
    authors : list of str, optional
        Default: the model card's ``Authors:`` line, else "MedSeg contributors".
    licence : str, optional
        SPDX identifier (default: from the training data,
        :func:`~medseg_core.exchange.package_metadata.licence_of`).
    test : bool
        Run ``bioimageio.core``'s model test on the package before it is
        moved into place.

    Raises
    ------
    ExchangeError
        The name or metadata would give an invalid package (one line; nothing
        is written), the package fails its test, or a library is missing.
    """
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ExchangeError(f"a bioimage.io package is a .zip file, got '{out.name}'")
    spec = require("bioimageio.spec", "exporting a bioimage.io package")
    info = model.info
    package_name = check_name(name if name is not None else info.name)
    card = model_card(info, model.source)
    people = [a.strip() for a in (authors or authors_from_card(card) or [DEFAULT_AUTHOR])]
    if not all(people):
        raise ExchangeError("an author's name cannot be empty")
    yield Progress("export", 0, STEPS, "making the test input and output")
    pair = make_test_pair(model, sample)
    smallest = smallest_input(model)
    if min(pair.input.shape[-2:]) < smallest:
        raise ExchangeError(
            f"the sample gives a {pair.input.shape[-2]}x{pair.input.shape[-1]} test input at the network's "
            f"resolution; the package needs at least {smallest}x{smallest} (give a larger --sample)"
        )
    check_output_file(out)
    with tempfile.TemporaryDirectory(prefix="medseg-bioimageio-") as tmp:
        folder = Path(tmp) / "package"
        folder.mkdir()
        yield Progress("export", 1, STEPS, "writing the weights (PyTorch, TorchScript, ONNX)")
        _write_weights(model, folder, pair)
        yield Progress("export", 2, STEPS, "writing the description")
        rdf = _description(model, folder, pair, package_name, people, licence, card)
        descr = _validated(spec, rdf, folder)
        yield Progress("export", 3, STEPS, "packing")
        packed = Path(tmp) / "package.zip"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.save_bioimageio_package(descr, output_path=packed)
        if test:
            yield Progress("export", 4, STEPS, "testing the package with bioimageio.core")
            check_package(packed)
        yield Progress("export", 5, STEPS, f"writing {out.name}")
        with atomic_path(out) as target:
            shutil.copyfile(packed, target)
    yield Progress("export", STEPS, STEPS, f"exported {out.name}")
    return out


def _write_weights(model: SegmentationModel, folder: Path, pair: TestPair) -> None:
    """The three weight formats, the architecture source, the MedSeg file, test tensors and cover."""
    import imageio.v3 as iio  # noqa: PLC0415

    net = packaged_network(model)
    torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, folder / "weights.pt")
    (folder / ARCHITECTURE_FILE).write_text(standalone_source(), encoding="utf-8")
    fused = packaged_network(model, fused=True)
    example = torch.from_numpy(pair.input)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape-dependent branches (constant per architecture)
        traced = torch.jit.trace(fused, example, check_trace=False)
    traced.save(str(folder / "weights_torchscript.pt"))
    export_onnx(fused, folder / "weights.onnx", model.info.in_channels, pair.input.shape[-1])
    np.save(folder / "test_input.npy", pair.input)
    np.save(folder / "test_output.npy", pair.output)
    iio.imwrite(folder / "cover.png", pair.cover)
    file_model = SegmentationModel(info=replace(model.info), net=model.net, source=None)
    file_model.save(folder / f"{_file_stem(model)}.safetensors")


def _file_stem(model: SegmentationModel) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in model.info.name)[:60] or "model"


def _description(
    model: SegmentationModel,
    folder: Path,
    pair: TestPair,
    name: str,
    authors: list[str],
    licence: str | None,
    card: str,
) -> dict:
    """The ``rdf.yaml`` content as a dict (file references relative to ``folder``)."""
    info = model.info
    cfg = info.config
    channels = ["gray"] if info.in_channels == 1 else (
        ["red", "green", "blue"] if info.in_channels == 3 else [f"channel{i}" for i in range(info.in_channels)]
    )
    maps = ["foreground", "distance"] if info.task == "instance" else [c.replace(" ", "_") for c in info.classes]
    (folder / "README.md").write_text(card.rstrip() + "\n\n" + usage_notes(info, channels, maps), encoding="utf-8")
    norm = info.normalization
    step = cfg.size_multiple
    halo = HALO
    smallest = smallest_input(model)
    space = [
        {"type": "space", "id": axis, "size": {"min": smallest, "step": step}} for axis in ("y", "x")
    ]
    out_space = [
        {"type": "space", "id": axis, "size": {"tensor_id": "input", "axis_id": axis}, "halo": halo}
        for axis in ("y", "x")
    ]
    restriction = use_restriction(info)
    attachments = [{"source": f"{_file_stem(model)}.safetensors"}]
    if model.source is not None and model.source.with_suffix(".metrics.json").is_file():
        shutil.copyfile(model.source.with_suffix(".metrics.json"), folder / "metrics.json")
        attachments.append({"source": "metrics.json"})
    params = sum(p.numel() for p in model.net.parameters())
    return {
        "format_version": _format_version(),
        "type": "model",
        "name": name,
        "description": description_of(info),
        "authors": [{"name": person} for person in authors],
        "cite": citations_of(info),
        "license": licence or licence_of(info),
        "documentation": {"source": "README.md"},
        "covers": [{"source": "cover.png"}],
        "tags": sorted({"medseg", "unet", "segmentation", "2d", "pytorch", "onnx", info.task, *_topic_tags(info)}),
        "inputs": [
            {
                "id": "input",
                "description": f"image ({', '.join(channels)}), at the network's working resolution "
                f"(input scale {info.input_scale:g}); see the documentation",
                "axes": [{"type": "batch"}, {"type": "channel", "channel_names": channels}, *space],
                "test_tensor": {"source": "test_input.npy"},
                "data": {"type": "float32"},
                "preprocessing": [
                    {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                    {
                        "id": "scale_range",
                        "kwargs": {
                            "axes": ["y", "x"],
                            "min_percentile": float(norm.get("low", 1.0)),
                            "max_percentile": float(norm.get("high", 99.8)),
                        },
                    },
                ],
            }
        ],
        "outputs": [
            {
                "id": "maps",
                "description": (
                    "foreground probability and normalised distance map (sigmoid); instances: see the documentation"
                    if info.task == "instance"
                    else "class probabilities (softmax)"
                ),
                "axes": [{"type": "batch"}, {"type": "channel", "channel_names": maps}, *out_space],
                "test_tensor": {"source": "test_output.npy"},
                "data": {"type": "float32", "range": [0.0, 1.0]},
            }
        ],
        "weights": {
            "pytorch_state_dict": {
                "source": "weights.pt",
                "architecture": {
                    "source": ARCHITECTURE_FILE,
                    "callable": "MedSegNetwork",
                    "kwargs": network_kwargs(model),
                },
                "pytorch_version": _torch_version(),
            },
            "torchscript": {
                "source": "weights_torchscript.pt",
                "pytorch_version": _torch_version(),
                "parent": "pytorch_state_dict",
                "comment": "traced with batch norms folded into the convolutions",
            },
            "onnx": {
                "source": "weights.onnx",
                "opset_version": ONNX_OPSET,
                "parent": "pytorch_state_dict",
                "comment": "batch norms folded into the convolutions; dynamic batch, height and width",
            },
        },
        "attachments": attachments,
        "config": {
            "bioimageio": {
                "architecture_type": "U-Net",
                "architecture_description": (
                    f"2-D U-Net, encoder {cfg.encoder}, depth {cfg.depth}, width {cfg.width}, "
                    f"stem stride {cfg.stem_stride}"
                ),
                "task": "segmentation",
                "model_parameter_count": int(params),
                **({"out_of_scope_use": f"{restriction}: set by the licence of the training data"}
                   if restriction else {}),
            },
            "medseg": {
                "package_format": PACKAGE_FORMAT,
                "medseg_version": __version__,
                "model_file": f"{_file_stem(model)}.safetensors",
                "model": json.loads(info.to_json()),
                "sample": pair.sample.name,
            },
        },
    }


def smallest_input(model: SegmentationModel) -> int:
    """Smallest input side the package declares: twice the halo plus one step, in whole steps."""
    step = model.info.config.size_multiple
    return -(-(2 * HALO + step) // step) * step


def _topic_tags(info) -> list[str]:
    text = f"{info.name} {info.description}".lower()
    words = {"nucle": "nuclei", "h&e": "histology", "fluorescence": "fluorescence-light-microscopy",
             "membrane": "electron-microscopy", "lung": "x-ray", "radiograph": "x-ray"}
    return [tag for key, tag in words.items() if key in text]


def _format_version() -> str:
    """The newest bioimage.io model format the installed ``bioimageio.spec`` implements (0.5.x)."""
    from bioimageio.spec.model.v0_5 import ModelDescr  # noqa: PLC0415

    return ModelDescr.implemented_format_version


def _torch_version() -> str:
    return torch.__version__.split("+")[0]


def _validated(spec, rdf: dict, folder: Path):
    """The validated description of ``rdf`` with ``folder`` as its root, or one ExchangeError line."""
    from bioimageio.spec import ValidationContext  # noqa: PLC0415
    from bioimageio.spec.model.v0_5 import ModelDescr  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ValidationContext(root=folder, file_name="rdf.yaml", perform_io_checks=True, log_warnings=False):
            descr = spec.build_description(rdf)
    if not isinstance(descr, ModelDescr):
        raise ExchangeError(f"the package would not be a valid bioimage.io model: {first_error(descr)}")
    return descr


def first_error(descr) -> str:
    """The first validation error of a bioimage.io description, as one short line."""
    for detail in descr.validation_summary.details:
        for error in detail.errors:
            loc = ".".join(str(part) for part in error.loc)
            return f"{loc}: {' '.join(str(error.msg).split())[:200]}" if loc else " ".join(str(error.msg).split())[:200]
    return "unknown validation error"


def check_package(path: str | os.PathLike) -> None:
    """Run ``bioimageio.core``'s model test on a package (offline); raise when it does not pass.

    Raises
    ------
    ExchangeError
        A weight format does not reproduce the test output, or the package
        does not load; the first failure in one line.
    """
    core = require("bioimageio.core", "testing a bioimage.io package")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = core.test_model(Path(path))
    if summary.status != "passed":
        raise ExchangeError(f"the package fails bioimageio.core's test: {failed_test(summary)}")


def failed_test(summary) -> str:
    """The first failed check of a ``bioimageio.core`` test summary, as one short line."""
    for detail in summary.details:
        if detail.status == "failed":
            message = detail.errors[0].msg if detail.errors else detail.name
            return f"{detail.name}: {' '.join(str(message).split())[:300]}"
    return summary.status
