"""``medseg segment`` for large images: which inputs go to the block runner, and their outputs.

An input goes to the block runner (:func:`~medseg_core.large.run.segment_large_iter`)
when it is a Zarr store, when its header declares a plane of more than
:func:`block_pixels` pixels (``MEDSEG_BLOCK_PIXELS``, default 4096 x 4096:
above that, reading the image whole would take more than about 2 GB), or
when the caller asks for it (``--large``). Its outputs are planned like any
other input's (:func:`~medseg_core.outputs.plan_outputs`) and its row is
appended to ``counts.csv``; its labels are a tiled BigTIFF
(``<stem>_labels.tif``) or an OME-Zarr (``<stem>_labels.ome.zarr``).
"""

from __future__ import annotations

import os
from dataclasses import replace
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from ..batch_run import BatchRun, FileOutcome
from ..errors import MedsegError, MedsegIOError
from ..outputs import display_path
from ..progress import Progress, drain
from .executor import Executor
from .run import segment_large_iter

#: Environment variable: planes with more pixels than this are segmented in blocks.
BLOCK_PIXELS_ENV = "MEDSEG_BLOCK_PIXELS"
DEFAULT_BLOCK_PIXELS = 4096 * 4096


def block_pixels() -> int:
    """Planes larger than this many pixels go to the block runner (``MEDSEG_BLOCK_PIXELS``)."""
    text = os.environ.get(BLOCK_PIXELS_ENV, "").strip()
    try:
        value = int(float(text)) if text else DEFAULT_BLOCK_PIXELS
    except ValueError:
        raise MedsegIOError(f"the environment variable {BLOCK_PIXELS_ENV} must be a whole number, got {text!r}") from None
    return max(1, value)


def needs_blocks(path: str | os.PathLike) -> bool:
    """Whether an input must be segmented in blocks (a Zarr store, or a plane above :func:`block_pixels`).

    Reads the header only; a file that cannot be parsed returns False (the
    whole-image reader then reports what is wrong with it).
    """
    path = Path(path)
    if path.name.lower().endswith(".zarr") or path.is_dir():
        return path.name.lower().endswith(".zarr")
    if path.suffix.lower() not in (".tif", ".tiff"):
        return False
    import tifffile  # noqa: PLC0415

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            height, width = int(page.imagelength), int(page.imagewidth)
    except Exception:  # noqa: BLE001 (not ours to judge here; the reader will say what is wrong)
        return False
    return height * width > block_pixels()


def labels_path_for(plan_labels: Path, fmt: str) -> Path:
    """The labels output of a large input: the planned ``.tif``, or ``.ome.zarr`` beside it."""
    if fmt == "zarr":
        return plan_labels.with_name(plan_labels.name[: -len(plan_labels.suffix)] + ".ome.zarr")
    return plan_labels


def segment_large_files(
    paths: Sequence[Path],
    model,
    out_dir: str | os.PathLike,
    report: Callable | None = None,
    progress: Callable[[Path, Progress], None] | None = None,
    *,
    labels_format: str = "tiff",
    executor: Executor | None = None,
    model_ref: str | None = None,
    notice: Callable[[str], None] | None = None,
    **options,
) -> list:
    """Segment inputs with the block runner; write their outputs and their ``counts.csv`` rows.

    Parameters
    ----------
    paths : sequence of Path
        The large inputs.
    model : SegmentationModel
        An instance model.
    out_dir : path-like
        The output folder (see :func:`medseg_core.batch.segment_files`).
    report : callable, optional
        Called with each :class:`~medseg_core.batch.FileOutcome`.
    progress : callable, optional
        ``progress(path, record)`` for every :class:`~medseg_core.progress.Progress`.
    labels_format : str
        ``"tiff"`` (tiled BigTIFF ``<stem>_labels.tif``) or ``"zarr"``
        (OME-Zarr ``<stem>_labels.ome.zarr`` with a pyramid).
    executor, model_ref
        Where blocks run (see :func:`~medseg_core.large.run.segment_large_iter`).
    notice : callable, optional
        Receives one-line notes: a resumed run, objects possibly cut.
    **options
        ``block``, ``halo``, ``tile``, ``overlap``, ``threshold``,
        ``min_size``, ``seed_threshold``, ``channel``.

    Returns
    -------
    list of FileOutcome
        A file whose blocks partly failed has an error naming them; its
        finished blocks are kept and the next run with the same output
        folder redoes only the failed ones.
    """
    outcomes = []
    with BatchRun(paths, out_dir, model.info.name) as run:
        for i, (path, plan) in enumerate(zip(paths, run.plans)):
            outcome = FileOutcome(path)
            labels = labels_path_for(plan.labels, labels_format)
            on_progress = None if progress is None else partial(progress, path)
            try:
                result = drain(
                    segment_large_iter(
                        path, model, labels, plan.objects, executor=executor, model_ref=model_ref, **options
                    ),
                    on_progress,
                )
            except MedsegError as exc:
                outcome.error = str(exc)
            except OSError as exc:
                outcome.error = f"{display_path(path.name)}: {exc}"
            else:
                outcome.count, outcome.counted = result.count, "objects"
                outcome.outputs = [labels, plan.objects]
                if result.failed:
                    outcome.error = _failed_blocks(result)
                run.add(i, outcome, replace(plan, labels=labels))
                name = display_path(path.name)
                if result.resumed and notice is not None:
                    notice(f"{name}: resumed, {result.resumed} of {result.blocks} blocks kept from an earlier run")
                if result.cut and notice is not None:
                    notice(f"warning: {name}: {result.cut} objects reach the edge of their block's halo and may be cut; "
                           "use a wider --halo")
            outcomes.append(outcome)
            if report is not None:
                report(outcome)
    return outcomes


def _failed_blocks(result) -> str:
    shown = "; ".join(f"block {i}: {why}" for i, why in list(result.failed.items())[:3])
    more = f" (and {len(result.failed) - 3} more)" if len(result.failed) > 3 else ""
    return (
        f"{len(result.failed)} of {result.blocks} blocks failed ({shown}{more}); the other blocks are written and "
        "kept: run the same command again to redo only the failed ones"
    )


def segment_files_distributed(
    paths: Sequence[Path],
    model_ref: str,
    device: str,
    out_dir: str | os.PathLike,
    executor: Executor,
    report: Callable | None = None,
    *,
    model_name: str,
    channel: int | None = None,
    **options,
) -> list:
    """Segment ordinary-sized files as one task each on a cluster (``--dask`` / ``--workers``).

    The same outputs and ``counts.csv`` rows as :func:`medseg_core.batch.segment_files`;
    rows are written in input order, whatever order the workers finish in.
    """
    from .dask_run import segment_file_task  # noqa: PLC0415

    outcomes: dict[int, FileOutcome] = {}
    with BatchRun(paths, out_dir, model_name) as run:
        args = [(path, plan, model_ref, device, channel, options) for path, plan in zip(paths, run.plans)]
        for i, outcome, error in executor.map(segment_file_task, args):
            if error is not None:
                outcome = FileOutcome(paths[i], error=error)
            outcomes[i] = outcome
            run.add(i, outcome)
            if report is not None:
                report(outcome)
    return [outcomes[i] for i in sorted(outcomes)]
