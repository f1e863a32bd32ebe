"""Large images in the app: lazy multiscale layers, Segment in blocks, counts from the run's CSV.

An image above ``MEDSEG_BLOCK_PIXELS`` (a big TIFF, any ``.zarr``) opens as a
multiscale Image layer over lazy Dask arrays (its own pyramid when the file
has one, else strided views), so nothing is read until it is shown, and
then only what is shown. Segment sends such a layer's *file* to the block
runner (:func:`medseg_core.large.segment_large_iter`) in a worker thread;
its labels go to an OME-Zarr store in the MedSeg user folder and come back
as a multiscale Labels layer backed by that store. The Count panel and its
CSV export read the per-object table the run wrote (the labels are never
loaded whole). Plain Python, no Qt: the widgets connect these functions to
their workers.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg_core.errors import MedsegError

from ._layer_state import KEY, napari_units

#: Share of the progress bar per stage of a block run.
_SPAN = {"levels": (0.0, 0.03), "blocks": (0.03, 0.85), "stitch": (0.85, 0.86), "write": (0.86, 0.92),
         "pyramid": (0.92, 0.95), "measure": (0.95, 1.0)}
#: Strided overview levels stop at this side.
SMALLEST_LEVEL = 1024


def is_large_path(path: str | os.PathLike) -> bool:
    """Whether a file opens as a large (lazy, multiscale) layer."""
    from medseg_core.large.files import needs_blocks

    return needs_blocks(path)


def lazy_levels(image: Any) -> list[Any]:
    """Dask arrays of a :class:`~medseg_core.large.LargeImage`'s levels, ``(H, W[, C])`` each.

    A file without a pyramid gets strided overviews (every 2nd, 4th...
    pixel) down to :data:`SMALLEST_LEVEL`, computed only where shown.
    """
    import dask.array as da

    levels = []
    for level in image.levels:
        array = da.from_array(level, chunks=_chunks(level), asarray=True, fancy=False)
        if image.channel_first:
            array = da.moveaxis(array, 0, -1)
        levels.append(array)
    while len(image.levels) == 1 and max(levels[-1].shape[:2]) > SMALLEST_LEVEL:
        levels.append(levels[0][:: 2 ** len(levels), :: 2 ** len(levels)])
    return levels


def _chunks(level: Any) -> Any:
    chunks = getattr(level, "chunks", None)
    if isinstance(chunks, tuple) and len(chunks) == len(level.shape) and all(isinstance(c, int) for c in chunks):
        return tuple(max(c, 256) if i < len(chunks) else c for i, c in enumerate(chunks))
    return tuple(min(n, 1024) for n in level.shape)


def large_layer_data(path: str | os.PathLike, name: str) -> list[tuple]:
    """napari layer data of a large image: one multiscale Image layer, nothing read yet."""
    from medseg_core.large import open_large

    image = open_large(path)
    levels = lazy_levels(image)
    name = name[: -len(".ome")] if name.endswith(".ome") else name  # "plate.ome.zarr" -> "plate"
    meta = {
        "source": str(Path(path).resolve()),
        "axes": image.axes,
        "spacing": list(image.spacing) if image.spacing else None,
        "unit": image.unit,
        "format": "large",
        "large": True,
        "shape": [image.height, image.width],
    }
    kwargs: dict[str, Any] = {"name": name, "multiscale": True, "metadata": {KEY: meta}}
    if image.spacing:
        kwargs["scale"] = tuple(image.spacing)
        units = napari_units(image.unit, 2)
        if units:
            kwargs["units"] = units
    if image.channels in (3, 4):
        kwargs["rgb"] = True
    elif image.channels:
        kwargs["channel_axis"] = 2
        meta["axes"] = "YX"
    return [(levels, kwargs, "image")]


def is_large_layer(layer: Any) -> bool:
    """Whether a layer is a large image or the labels of one (it holds no array in memory)."""
    meta = getattr(layer, "metadata", {}).get(KEY)
    return isinstance(meta, dict) and bool(meta.get("large"))


@dataclass
class LargeJob:
    """One large image layer to segment: its file and its geometry (never its pixels)."""

    name: str
    source: str
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    info: dict = field(default_factory=dict)


@dataclass
class LargeSegmentation:
    """What Segment shows for a block run (the fields the panel reads from a Segmentation)."""

    count: int
    labels_path: Path
    objects_path: Path
    model_name: str
    failed: dict = field(default_factory=dict)
    task: str = "instance"
    classes: list = field(default_factory=lambda: ["background", "object"])
    encloses: str | None = None


def large_jobs(images: list[Any]) -> list[LargeJob]:
    """Jobs for the large ones of the selected image layers."""
    jobs = []
    for layer in images:
        if not is_large_layer(layer):
            continue
        meta = layer.metadata[KEY]
        jobs.append(
            LargeJob(layer.name, meta["source"], tuple(layer.scale[-2:]), tuple(layer.translate[-2:]), dict(meta))
        )
    return jobs


def output_folder() -> Path:
    """Where the app writes the labels of large images (``<MedSeg user folder>/large``)."""
    from medseg_core.registry import user_data_dir

    return user_data_dir() / "large"


def outputs_for(job: LargeJob) -> tuple[Path, Path]:
    """The OME-Zarr labels store and objects CSV of a job (one pair per source file)."""
    tag = hashlib.sha1(job.source.encode("utf-8")).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in job.name)[:60]
    base = output_folder() / f"{stem}-{tag}"
    return base.with_name(base.name + "_labels.ome.zarr"), base.with_name(base.name + "_objects.csv")


def run_large_jobs(
    jobs: list[LargeJob], model_path: str | os.PathLike, options: dict, cache: Any, device: Any = "auto"
) -> Generator[tuple[float, str], None, Any]:
    """Segment large layers in blocks; yields ``(fraction, message)``, returns ``[(job, LargeSegmentation)]``.

    Same contract as :func:`~medseg_app._segment_job.run_jobs`: a
    :class:`~medseg_app._segment_job.Failure` for errors the user can act
    on; Cancel stops at the next yield, and the finished blocks are kept, so
    the next Segment of the same image resumes.
    """
    from medseg_core.large import segment_large_iter

    from ._segment_job import Failure

    try:
        yield 0.0, "loading model"
        model = cache.get(model_path, device)
        results = []
        for index, job in enumerate(jobs):
            labels, objects = outputs_for(job)
            labels.parent.mkdir(parents=True, exist_ok=True)
            prefix = f"{job.name}: " if len(jobs) > 1 else ""
            gen = segment_large_iter(job.source, model, labels, objects, **_block_options(options))
            while True:
                try:
                    record = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                low, high = _SPAN.get(record.stage, (0.0, 1.0))
                yield (index + low + (high - low) * record.fraction) / len(jobs), prefix + (record.message or record.stage)
            results.append((job, LargeSegmentation(result.count, labels, objects, model.info.name, result.failed)))
        return results
    except MedsegError as exc:
        return Failure(str(exc))
    except OSError as exc:
        return Failure(f"cannot write the labels of a large image: {exc}")


def _block_options(options: dict) -> dict:
    keep = ("tile", "overlap", "threshold", "min_size", "seed_threshold", "channel")
    return {k: v for k, v in options.items() if k in keep}


def labels_layer_kwargs(job: LargeJob, result: LargeSegmentation) -> tuple[list[Any], dict]:
    """Data (the store's levels, lazily) and keyword arguments of the Labels layer of a block run."""
    import zarr

    from ._layers import labels_name

    group = zarr.open_group(str(result.labels_path), mode="r")
    names = sorted((k for k in group.array_keys() if k.isdigit()), key=int)
    levels = [group[k] for k in names]
    meta = {
        "image": job.name,
        "source": job.source,
        "spacing": job.info.get("spacing"),
        "unit": job.info.get("unit", "px"),
        "task": result.task,
        "classes": list(result.classes),
        "model": result.model_name,
        "large": True,
        "labels_path": str(result.labels_path),
        "objects_csv": str(result.objects_path),
        "count": result.count,
    }
    kwargs = {"name": labels_name(job.name), "scale": job.scale, "translate": job.translate,
              "multiscale": True, "metadata": {KEY: meta}}
    return levels, kwargs


def read_objects_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The per-object CSV of a block run as columns (the layout of :func:`medseg_core.measure.measure`).

    Read in a worker thread by the Count panel; the ``image`` column is dropped.
    """
    columns: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        for name in header:
            columns[name] = []
        for row in reader:
            for name, value in zip(header, row):
                columns[name].append(value)
    table: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        if name == "image":
            continue
        if name in ("label", "area_px") or name.startswith("bbox_"):
            table[name] = np.asarray([int(float(v)) for v in values], dtype=np.int64)
        else:
            table[name] = np.asarray([float(v) if v else np.nan for v in values], dtype=np.float64)
    return table


def large_summary(layer: Any) -> tuple[dict[str, np.ndarray], None]:
    """The Count panel's ``(table, areas)`` for a block run's Labels layer: its objects CSV."""
    path = layer.metadata[KEY].get("objects_csv")
    if not path or not Path(path).exists():
        return {}, None
    return read_objects_table(path), None


def large_labels_layer_data(path: str | os.PathLike, name: str) -> list[tuple]:
    """napari layer data of a large label image MedSeg wrote (``<stem>_labels.tif`` / ``.ome.zarr``).

    A multiscale Labels layer named for its image, read lazily; its Count
    table is the ``<stem>_objects.csv`` beside it when there is one.
    """
    from medseg_core.large import open_large

    from ._layers import labels_name

    image = open_large(path)
    name = name[: -len(".ome")] if name.endswith(".ome") else name
    stem = name[: -len("_labels")] if name.endswith("_labels") else name
    csv_path = Path(path).with_name(f"{stem}_objects.csv")
    meta = {
        "image": stem,
        "spacing": list(image.spacing) if image.spacing else None,
        "unit": image.unit,
        "task": "instance",
        "large": True,
        "labels_path": str(Path(path).resolve()),
        "objects_csv": str(csv_path) if csv_path.exists() else None,
    }
    kwargs: dict[str, Any] = {"name": labels_name(stem), "multiscale": True, "metadata": {KEY: meta}}
    if image.spacing:
        kwargs["scale"] = tuple(image.spacing)
    return [(lazy_levels(image), kwargs, "labels")]


def is_label_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an OME-Zarr label store (``image-label`` metadata, as the block runner writes)."""
    path = Path(path)
    return path.is_dir() and path.name.lower().endswith(".zarr") and "image-label" in _zarr_attrs(path)


def _zarr_attrs(path: Path) -> dict:
    import json

    for name in (".zattrs", "zarr.json"):
        try:
            data = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return data.get("attributes", data) if name == "zarr.json" else data
    return {}
