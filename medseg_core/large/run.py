"""Segment an image larger than memory, block by block: :func:`segment_large_iter`.

The steps, each reporting :class:`~medseg_core.progress.Progress`:

1. ``levels``: the whole image's intensity levels, from a sample.
2. ``blocks``: each block's padded area is segmented and the objects it
   owns are stored in the work folder (:mod:`~medseg_core.large.state`);
   blocks already there from an interrupted run are skipped.
3. ``stitch``: duplicates on core borders are dropped and all objects get
   canonical numbers (:mod:`~medseg_core.large.stitch`).
4. ``write``: each core's final labels go into OME-Zarr level 0, then the
   pyramid is built (or a tiled TIFF is written from it).
5. ``measure``: each block measures the objects it owns; the rows are
   appended to the objects CSV in block order.

Memory is bounded by a block (its padded area and the network's output
for it), never by the image. Blocks that fail (a damaged tile, a worker
that died) are reported by index with the reason; the rest of the image is
still written, and running again with the same work folder redoes only the
failed blocks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..measure import COLUMNS
from ..model import SegmentationModel
from ..postprocess import label_dtype
from ..progress import Progress
from ..segment import postprocess_options
from .block import BlockObjects
from .executor import Executor, LocalExecutor
from .levels import image_levels
from .plan import DEFAULT_BLOCK, DEFAULT_HALO, plan_blocks
from .source import LargeImage
from .state import RunState
from .stitch import canonical_numbers, find_duplicates
from .tasks import Job, compose_task, forget_image, measure_task, register_model, segment_task
from .writers import CsvChunks, build_pyramid, check_disk_space, create_ome_zarr, zarr_to_tiff



@dataclass
class LargeResult:
    """What a block run produced.

    Attributes
    ----------
    count : int
        Objects in the labels.
    labels : Path
        The OME-Zarr group or tiled TIFF written.
    objects : Path or None
        The per-object CSV.
    blocks : int
        Blocks in the plan.
    failed : dict
        Block index -> one-line reason, for blocks that failed (their
        cores are empty in the labels; run again to redo them).
    resumed : int
        Blocks taken from an earlier, interrupted run.
    cut : int
        Objects that touched the edge of their block's halo: wider than the
        halo, possibly cut (use a wider halo).
    """

    count: int
    labels: Path
    objects: Path | None
    blocks: int
    failed: dict[int, str] = field(default_factory=dict)
    resumed: int = 0
    cut: int = 0


def default_work_folder(labels_path: str | os.PathLike) -> Path:
    """``<folder>/.<labels name>.medseg-work``: the state of a run writing ``labels_path``."""
    labels_path = Path(labels_path)
    return labels_path.with_name(f".{labels_path.name}.medseg-work")


def _identity(image: LargeImage, source: object, info, options: dict, block: int, halo: int, extra: dict) -> dict:
    if isinstance(source, np.ndarray):
        where = {"array_sha1": hashlib.sha1(np.ascontiguousarray(source).tobytes()).hexdigest()}
    else:
        stat = os.stat(source)
        where = {"path": os.path.abspath(source), "size": stat.st_size, "mtime": stat.st_mtime_ns}
    return {
        "image": where, "shape": [image.height, image.width], "model": info.name, "created": info.created,
        "options": options, "block": block, "halo": halo, **extra,
    }


def segment_large_iter(
    image: str | os.PathLike | np.ndarray,
    model: SegmentationModel,
    labels_path: str | os.PathLike,
    objects_path: str | os.PathLike | None = None,
    *,
    block: int = DEFAULT_BLOCK,
    halo: int = DEFAULT_HALO,
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    threshold: float | None = None,
    min_size: int | None = None,
    seed_threshold: float | None = None,
    channel: int | None = None,
    executor: Executor | None = None,
    model_ref: str | None = None,
    work_folder: str | os.PathLike | None = None,
    keep_work: bool = False,
) -> Generator[Progress, None, LargeResult]:
    """Segment a large image in blocks; yield progress, return a :class:`LargeResult`.

    Parameters
    ----------
    image : path-like or ndarray
        A TIFF / OME-TIFF / Zarr path (read lazily) or an in-memory
        ``(H, W)`` / ``(H, W, C)`` array.
    model : SegmentationModel
        An instance model.
    labels_path : path-like
        ``*.zarr`` (OME-Zarr with a pyramid) or ``*.tif`` (tiled BigTIFF).
    objects_path : path-like, optional
        Per-object CSV (the columns of :func:`medseg_core.measure.measure`,
        image coordinates); not written when omitted.
    block, halo : int
        Core side and halo (see :func:`~medseg_core.large.plan.plan_blocks`);
        the halo must exceed the largest object.
    tile, overlap, batch_size, threshold, min_size, seed_threshold, channel
        As in :func:`medseg_core.segment.segment_iter`.
    executor : Executor, optional
        Where blocks run (default: this process; see
        :func:`medseg_core.large.dask_run.dask_executor`).
    model_ref : str, optional
        Name or path by which remote workers load the model (default: the
        file the model was loaded from).
    work_folder : path-like, optional
        State of the run (default :func:`default_work_folder`); an
        interrupted run resumes from it. Deleted after a complete run unless
        ``keep_work``.

    Raises
    ------
    InputError
        A semantic model, or an unsaved model for remote workers.
    MedsegIOError
        The image cannot be opened, or the labels could not fit on the disk.
    """
    from .source import from_array, open_large  # noqa: PLC0415

    info = model.info
    if info.task != "instance":
        raise InputError(f"the block runner needs an instance model; '{info.name}' is {info.task}")
    executor = executor or LocalExecutor()
    options = postprocess_options(info, threshold=threshold, min_size=min_size, seed_threshold=seed_threshold)
    labels_path = Path(labels_path)
    to_tiff = labels_path.suffix.lower() in (".tif", ".tiff")
    if not to_tiff and not labels_path.name.lower().endswith(".zarr"):
        raise InputError(f"labels of a large image are written as .zarr or .tif, not '{labels_path.name}'")
    source = image if isinstance(image, np.ndarray) else str(image)
    opened = from_array(image) if isinstance(image, np.ndarray) else open_large(image)
    try:
        check_disk_space(labels_path.parent, opened.height, opened.width)
        plan = plan_blocks(opened.height, opened.width, block, halo)
        work = Path(work_folder) if work_folder else default_work_folder(labels_path)
        extra = {"channel": channel, "tile": tile, "overlap": overlap}
        state = RunState(work, _identity(opened, source, info, options, block, halo, extra))
        norm = info.normalization
        levels = yield from image_levels(opened, info.in_channels, channel, norm.get("low", 1.0), norm.get("high", 99.8))
        if executor.remote:
            model_ref = model_ref or (str(model.source) if getattr(model, "source", None) else None)
            if model_ref is None:
                raise InputError("a model that was never saved cannot be sent to Dask workers; save it to a file first")
            key = model_ref
        else:
            key = register_model(model)
        zarr_path = work / "labels.zarr" if to_tiff else labels_path
        job = Job(
            image=source, model=key, device=str(model.device), options=options, levels=levels,
            blocks_folder=str(state.blocks_folder), labels_zarr=str(zarr_path), channel=channel, tile=tile,
            overlap=overlap, batch_size=batch_size, name=opened.name, spacing=opened.spacing, unit=opened.unit,
        )
        result = yield from _run(job, plan, state, executor, opened, labels_path, objects_path, to_tiff)
    finally:
        opened.close()
        if isinstance(source, str):
            forget_image(source)
    if not result.failed and not keep_work:
        state.remove()
    return result


def _run(job, plan, state, executor, opened, labels_path, objects_path, to_tiff) -> Generator[Progress, None, LargeResult]:
    total = len(plan.blocks)
    done_before = state.finished() & {b.index for b in plan.blocks}
    todo = [b for b in plan.blocks if b.index not in done_before]
    failed: dict[int, str] = {}
    meta = {i: BlockObjects.load(state.block_path(i), labels=False) for i in sorted(done_before)}
    objects = sum(len(m.first) for m in meta.values())
    done = len(done_before)
    yield Progress("blocks", done, total, f"{done}/{total} blocks, {objects} objects")
    try:
        shape = (plan.height, plan.width)
        for i, outcome, error in executor.map(segment_task, [(job, b, shape) for b in todo]):
            done += 1
            if error is not None:
                failed[todo[i].index] = error
            else:
                objects += outcome[1]
            yield Progress("blocks", done, total, f"{done}/{total} blocks, {objects} objects")
    except GeneratorExit:
        executor.cancel()
        raise
    for index in state.finished() - set(meta):
        if index < total:
            meta[index] = BlockObjects.load(state.block_path(index), labels=False)
    yield Progress("stitch", 0, 1, "joining blocks")
    drop = find_duplicates(plan, meta)
    luts, count = canonical_numbers(meta, drop)
    cut = sum(m.cut for m in meta.values())
    yield Progress("stitch", 1, 1, f"{count} objects")

    dtype = label_dtype(count)
    create_ome_zarr(job.labels_zarr, plan.height, plan.width, plan.block, dtype, opened.spacing)
    args = []
    for b in plan.blocks:
        near = {n.index: luts[n.index] for n in plan.neighbours(b) if n.index in luts}
        args.append((job, plan, b, near))
    yield from _drain(executor, compose_task, args, "write", "writing labels", failed)
    if to_tiff:
        import zarr  # noqa: PLC0415

        level0 = zarr.open_array(str(Path(job.labels_zarr) / "0"), mode="r")
        yield from zarr_to_tiff(level0, labels_path, dtype, opened.spacing)
    else:
        yield from build_pyramid(labels_path)

    if objects_path is not None:
        csv = CsvChunks(objects_path)
        try:
            margs = [(job, b, luts[b.index][1:][luts[b.index][1:] > 0]) for b in plan.blocks if b.index in luts]
            pending: dict[int, str] = {}
            order = [a[1].index for a in margs]
            nxt = 0
            for text_index, text in _measure(executor, margs, failed):
                pending[text_index] = text
                while nxt < len(order) and order[nxt] in pending:
                    csv.add(pending.pop(order[nxt]))
                    nxt += 1
                yield Progress("measure", nxt, len(order), f"measured {csv.rows} objects")
            for index in order[nxt:]:
                if index in pending:
                    csv.add(pending.pop(index))
            csv.commit(",".join(["image", *COLUMNS]))
        except BaseException:
            csv.discard()
            raise
    return LargeResult(
        count=count, labels=labels_path, objects=Path(objects_path) if objects_path else None, blocks=total,
        failed=dict(sorted(failed.items())), resumed=len(done_before), cut=cut,
    )


def _drain(executor, fn, args, stage, message, failed) -> Generator[Progress, None, None]:
    done = 0
    try:
        for i, _, error in executor.map(fn, args):
            done += 1
            if error is not None:
                failed.setdefault(args[i][2].index, error)
            yield Progress(stage, done, len(args), f"{message}: {done}/{len(args)} blocks")
    except GeneratorExit:
        executor.cancel()
        raise


def _measure(executor, args, failed):
    try:
        for i, outcome, error in executor.map(measure_task, args):
            if error is not None:
                failed.setdefault(args[i][1].index, error)
                yield args[i][1].index, ""
            else:
                yield outcome[0], outcome[1]
    except GeneratorExit:
        executor.cancel()
        raise
