"""The large-image and cluster part of ``medseg segment``: its options and how inputs are routed.

``medseg segment`` hands its inputs to :func:`segment_inputs`, which sends
large ones (:func:`~medseg_core.large.files.needs_blocks`, or all with
``--large``) to the block runner and the others to the whole-image routine;
with ``--dask ADDRESS`` or ``--workers N`` the blocks, and the ordinary files,
run as tasks on a Dask cluster. Importing this module is cheap (no torch,
no Dask), so ``medseg --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

from ..progress import Progress
from ..status_line import StatusLine
from .plan import DEFAULT_BLOCK, DEFAULT_HALO


def add_large_options(parser: argparse.ArgumentParser, whole_number: Callable[[int], Callable[[str], int]]) -> None:
    """Add the options of large images and clusters to the ``segment`` parser."""
    group = parser.add_argument_group("large images and clusters")
    group.add_argument(
        "--large", action="store_true",
        help="segment every input in blocks (TIFF or Zarr); images above MEDSEG_BLOCK_PIXELS "
        "(default 4096 x 4096 pixels) and Zarr stores always are",
    )
    group.add_argument("--block", type=whole_number(16), default=DEFAULT_BLOCK, help="block side in pixels (default 2048)")
    group.add_argument(
        "--halo", type=whole_number(0), default=DEFAULT_HALO,
        help="pixels read around each block; must exceed the largest object (default 128)",
    )
    group.add_argument(
        "--labels-format", choices=("tiff", "zarr"), default="tiff",
        help="labels of large images: tiled BigTIFF <stem>_labels.tif (default) or OME-Zarr <stem>_labels.ome.zarr",
    )
    group.add_argument("--dask", metavar="ADDRESS", help="run blocks and files on this Dask scheduler (tcp://host:8786)")
    group.add_argument("--workers", type=whole_number(1), help="run blocks and files on a local Dask cluster of N workers")


def split_zarr_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Zarr stores (folders named ``*.zarr``) are single inputs, not folders to scan."""
    zarrs, rest = [], []
    for text in inputs:
        path = Path(text)
        if path.name.lower().endswith(".zarr") and path.is_dir():
            zarrs.append(path)
        else:
            rest.append(text)
    return zarrs, rest


def segment_inputs(
    paths: Sequence[Path],
    model,
    args: argparse.Namespace,
    report: Callable,
    tiles: Callable[[Path, Progress], None],
    options: dict,
) -> list:
    """Segment the inputs of ``medseg segment``: large ones in blocks, the others whole.

    Parameters
    ----------
    paths : sequence of Path
        Inputs (files and Zarr stores).
    model : SegmentationModel
        The loaded model.
    args : argparse.Namespace
        The parsed options (``out``, ``large``, ``block``, ``halo``,
        ``labels_format``, ``dask``, ``workers``, ``model``, ``device``).
    report : callable
        Prints one outcome.
    tiles : callable
        The whole-image progress line (``tiles(path, record)``).
    options : dict
        Inference options (tile, overlap, threshold, min_size, channel).

    Returns
    -------
    list of FileOutcome
    """
    from ..batch import segment_files  # noqa: PLC0415
    from .files import needs_blocks  # noqa: PLC0415

    instance = model.info.task == "instance"
    large = [p for p in paths if instance and (args.large or needs_blocks(p))]
    normal = [p for p in paths if p not in set(large)]
    distributed = bool(args.dask or args.workers)
    context = nullcontext(None)
    if distributed:
        from .dask_run import dask_executor  # noqa: PLC0415 (Dask only when asked for)

        context = dask_executor(args.dask, args.workers)
    outcomes = []
    with context as executor:
        if large:
            from .files import segment_large_files  # noqa: PLC0415

            line = BlockProgress(len(paths))

            def report_large(outcome) -> None:
                line.clear()
                report(outcome)

            outcomes += segment_large_files(
                large, model, args.out, report_large, line, labels_format=args.labels_format, executor=executor,
                model_ref=args.model, notice=lambda text: (line.clear(), print(text, file=sys.stderr)),
                block=args.block, halo=args.halo, **options,
            )
        if normal and distributed:
            from .files import segment_files_distributed  # noqa: PLC0415

            outcomes += segment_files_distributed(
                normal, args.model, str(model.device), args.out, executor, report, model_name=model.info.name, **options
            )
        elif normal:
            outcomes += segment_files(normal, model, args.out, report, tiles, **options)
    return outcomes


class BlockProgress(StatusLine):
    """Blocks done and objects found, on one stderr line rewritten in place (at most 10 times a second)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total, self.index, self.path = total, 0, None

    def __call__(self, path: Path, record: Progress) -> None:
        if path != self.path:
            self.path, self.index = path, self.index + 1
        text = f"[{self.index}/{self.total}] {path.name}: {record.message or f'{record.stage} {record.done}/{record.total}'}"
        self.show(text, final=record.done >= record.total)
