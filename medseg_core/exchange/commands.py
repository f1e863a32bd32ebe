"""The ``medseg export`` and ``medseg models [list|import]`` commands: their options and printing.

Kept out of :mod:`medseg_core.cli` so that the exchange code stays in one
package; like the rest of the CLI, nothing here imports torch, bioimageio or
onnxruntime before a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .onnx_backend_names import BACKENDS


def add_models_parser(sub: argparse._SubParsersAction) -> None:
    """``medseg models [list]`` and ``medseg models import FILE.zip [--name NAME]``."""
    models = sub.add_parser("models", help="list models (default) or import a bioimage.io package")
    actions = models.add_subparsers(dest="models_action")
    actions.add_parser("list", help="shipped and user models, with metrics")
    imp = actions.add_parser("import", help="import a bioimage.io package exported by MedSeg as a user model")
    imp.add_argument("package", type=Path, help="the package (.zip)")
    imp.add_argument("--name", help="name of the imported model (default: the exported model's name)")


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    """``medseg export MODEL --format bioimageio --out FILE.zip``."""
    ex = sub.add_parser("export", help="export a model as a bioimage.io package (Fiji, QuPath, ilastik)")
    ex.add_argument("model", help="model name or .safetensors file")
    ex.add_argument("--format", choices=("bioimageio",), default="bioimageio", help="package format")
    ex.add_argument("--out", required=True, type=Path, help="the package to write (.zip)")
    ex.add_argument("--sample", type=Path, help="image the test input and cover are made from (default: a shipped sample)")
    ex.add_argument("--name", help="bioimage.io name (default: the model's name)")
    ex.add_argument("--author", action="append", dest="authors", help="an author (repeat for several)")
    ex.add_argument("--licence", help="SPDX licence of the weights (default: from the training data)")
    ex.add_argument("--no-test", action="store_true", help="skip bioimageio.core's test of the package")


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend auto|torch|onnx`` for commands that run a network."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="network runtime: auto (ONNX Runtime on the CPU when installed, else PyTorch), torch or onnx",
    )


def run_models(args: argparse.Namespace, list_models) -> int:
    """Dispatch ``medseg models``: ``list_models(args)`` for list (and no action), else import."""
    if getattr(args, "models_action", None) != "import":
        return list_models(args)
    from .bioimageio_import import import_bioimageio  # noqa: PLC0415

    path = import_bioimageio(args.package, name=args.name)
    print(f"imported {args.package.name} as the user model '{path.stem}' ({path})")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``medseg export``: print one line per step, then where the package is."""
    from ..progress import drain  # noqa: PLC0415
    from ..segment import load_model  # noqa: PLC0415
    from .bioimageio_export import export_bioimageio_iter  # noqa: PLC0415

    model = load_model(args.model, "cpu")
    start = time.monotonic()
    job = export_bioimageio_iter(
        model,
        args.out,
        sample=args.sample,
        name=args.name,
        authors=args.authors,
        licence=args.licence,
        test=not args.no_test,
    )
    path = drain(job, lambda record: print(f"  {record.message}", file=sys.stderr))
    tested = "" if args.no_test else ", passes bioimageio.core's test"
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB{tested}, {time.monotonic() - start:.0f} s)")
    return 0


def apply_backend(model, args: argparse.Namespace):
    """``model`` running on ``args.backend`` (see :func:`~medseg_core.exchange.onnx_backend.with_backend`)."""
    from .onnx_backend import with_backend  # noqa: PLC0415

    return with_backend(model, getattr(args, "backend", "auto"))
