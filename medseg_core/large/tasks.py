"""The three kinds of task of a block run, as plain functions a Dask worker can call.

Each task gets a :class:`Job` (what the run is: image, model, options, where
its files go) and one :class:`~medseg_core.large.plan.Block`, and returns a
few numbers or a little text; pixels travel through files only. Every
process opens the image and loads the model once (:func:`image_for`,
:func:`model_for`) and keeps them for its next tasks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..measure import measure, measurements_to_csv
from .block import BlockObjects, segment_block
from .plan import Block, BlockPlan
from .source import LargeImage, from_array, open_large
from .state import save_block
from .stitch import compose_core

_LOCK = threading.Lock()
_IMAGES: dict[str, LargeImage] = {}
_MODELS: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class Job:
    """Everything a task needs to know about its run (picklable).

    Attributes
    ----------
    image : str or ndarray
        Path of the image, or the image itself (small in-memory images).
    model : str
        Key of a model registered in this process (:func:`register_model`)
        or a name/path that :func:`medseg_core.segment.load_model` loads.
    device : str
        Device of the model.
    options : dict
        Post-processing options (:func:`~medseg_core.segment.postprocess_options`).
    levels : ndarray
        Whole-image intensity levels.
    blocks_folder : str
        Where finished blocks are stored (:class:`~medseg_core.large.state.RunState`).
    labels_zarr : str
        The OME-Zarr group written.
    """

    image: Any
    model: str
    device: str
    options: dict
    levels: np.ndarray
    blocks_folder: str
    labels_zarr: str
    channel: int | None = None
    tile: int = 512
    overlap: int = 64
    batch_size: int = 4
    name: str = "array"
    spacing: tuple[float, float] | None = None
    unit: str = "um"
    extra: dict = field(default_factory=dict)


def register_model(model: Any) -> str:
    """Make an already loaded model available to tasks of this process; returns its key."""
    key = f"loaded:{id(model)}"
    with _LOCK:
        _MODELS[(key, "")] = model
    return key


def model_for(job: Job) -> Any:
    """The job's model, loaded once per process."""
    with _LOCK:
        model = _MODELS.get((job.model, "")) or _MODELS.get((job.model, job.device))
        if model is None:
            from ..segment import load_model  # noqa: PLC0415

            model = _MODELS[(job.model, job.device)] = load_model(job.model, job.device)
    return model


def image_for(job: Job) -> LargeImage:
    """The job's image, opened once per process."""
    if not isinstance(job.image, str):
        return from_array(job.image)
    with _LOCK:
        image = _IMAGES.get(job.image)
        if image is None:
            image = _IMAGES[job.image] = open_large(job.image)
    return image


def forget_image(path: str) -> None:
    """Close an image opened by :func:`image_for` (end of a run)."""
    with _LOCK:
        image = _IMAGES.pop(path, None)
    if image is not None:
        image.close()


def block_file(job: Job, index: int) -> Path:
    """Where block ``index`` is stored."""
    return Path(job.blocks_folder) / f"{index}.npz"


def segment_task(job: Job, block: Block, image_shape: tuple[int, int]) -> tuple[int, int, int]:
    """Segment one block and store its objects; returns ``(index, objects, cut objects)``."""
    image = image_for(job)
    y0, y1, x0, x1 = block.padded
    pixels = image.read(y0, y1, x0, x1)
    objects = segment_block(
        pixels, image.axes, block, image_shape, model_for(job), job.levels, job.options,
        channel=job.channel, tile=job.tile, overlap=job.overlap, batch_size=job.batch_size,
    )
    save_block(block_file(job, block.index), objects)
    return block.index, len(objects.first), objects.cut


def compose_task(job: Job, plan: BlockPlan, block: Block, luts: dict[int, np.ndarray]) -> int:
    """Write the final labels of one core into level 0 of the labels store; returns the block index."""
    import zarr  # noqa: PLC0415

    def load(index: int) -> np.ndarray | None:
        path = block_file(job, index)
        return BlockObjects.load(path).labels if path.exists() else None

    labels = compose_core(plan, block, luts, load)
    y0, y1, x0, x1 = block.core
    level0 = zarr.open_array(str(Path(job.labels_zarr) / "0"), mode="r+")
    level0[y0:y1, x0:x1] = labels.astype(level0.dtype, copy=False)
    return block.index


def measure_task(job: Job, block: Block, owned: np.ndarray) -> tuple[int, str, int]:
    """Measure the objects a block owns; returns ``(index, CSV text with header, rows)``."""
    import zarr  # noqa: PLC0415

    y0, y1, x0, x1 = block.padded
    level0 = zarr.open_array(str(Path(job.labels_zarr) / "0"), mode="r")
    labels = np.asarray(level0[y0:y1, x0:x1])
    labels = np.where(np.isin(labels, owned), labels, 0)
    pixels = image_for(job).read(y0, y1, x0, x1)
    unit = job.unit if job.spacing else "px"
    table = measure(labels, pixels, job.spacing, unit)
    for key, offset in (("centroid_y", y0), ("bbox_min_y", y0), ("bbox_max_y", y0)):
        table[key] = table[key] + offset
    for key, offset in (("centroid_x", x0), ("bbox_min_x", x0), ("bbox_max_x", x0)):
        table[key] = table[key] + offset
    return block.index, measurements_to_csv(table, {"image": job.name}), len(table["label"])
