"""Small helpers to find and address layers of a viewer."""

from __future__ import annotations

from typing import Any

import napari
import numpy as np
from napari.layers import Image, Labels

from ._layer_state import info, source_path


def selected_images(viewer: napari.viewer.Viewer) -> list[Image]:
    """Selected image layers; the only image layer when none is selected."""
    chosen = [layer for layer in viewer.layers if isinstance(layer, Image) and layer in viewer.layers.selection]
    if chosen:
        return chosen
    images = [layer for layer in viewer.layers if isinstance(layer, Image)]
    return images if len(images) == 1 else []


def labels_name(image_name: str) -> str:
    """Name of the labels layer made from an image layer."""
    return f"{image_name} labels"


def find_layer(viewer: napari.viewer.Viewer, name: str, kind: type) -> Any | None:
    """The layer called ``name`` if it is of type ``kind``."""
    for layer in viewer.layers:
        if layer.name == name and isinstance(layer, kind):
            return layer
    return None


def image_of(viewer: napari.viewer.Viewer, labels: Labels) -> Image | None:
    """The image layer a labels layer was made from (by metadata or by name)."""
    name = info(labels).get("image")
    if not name and labels.name.endswith(" labels"):
        name = labels.name[: -len(" labels")]
    return find_layer(viewer, name, Image) if name else None


def pair_with_image(viewer: napari.viewer.Viewer, labels: Labels) -> Image | None:
    """Link a labels layer read from a saved file to its image layer, if that is open.

    Saved files are named after the image layer with spaces as underscores
    (``my_cells_labels.tif`` for ``my cells``), so the image is found by
    that name; the labels layer is then renamed ``"<image> labels"`` (when
    the name is free) and records the image and its source file.

    Returns
    -------
    Image or None
        The image, or None for other layers and when it is not open.
    """
    meta = info(labels)
    wanted = meta.get("image")
    if not wanted or "saved_path" not in meta:
        return None
    key = str(wanted).replace(" ", "_")
    image = next(
        (layer for layer in viewer.layers if isinstance(layer, Image) and layer.name.replace(" ", "_") == key), None
    )
    if image is None:
        return None
    meta["image"] = image.name
    meta["source"] = meta.get("source") or source_path(image)
    name = labels_name(image.name)
    if labels.name != name and name not in viewer.layers:
        labels.name = name
    return image


def current_z(viewer: napari.viewer.Viewer, layer: Any) -> int:
    """Index of the displayed slice along a 3-D layer's first axis."""
    point = np.asarray(viewer.dims.point[-layer.ndim :], dtype=float)
    z = float(layer.world_to_data(point)[0])
    return int(np.clip(round(z), 0, np.shape(layer.data)[0] - 1))


def current_plane(viewer: napari.viewer.Viewer, layer: Labels) -> tuple[np.ndarray, int | None]:
    """The displayed 2-D plane of a labels layer (a view, not a copy) and its z."""
    data = layer.data
    if np.ndim(data) == 2:
        return np.asarray(data), None
    z = current_z(viewer, layer)
    return np.asarray(data[z]), z


def image_plane(image: Image | None, shape: tuple[int, ...], z: int | None) -> np.ndarray | None:
    """The image pixels matching a labels plane of ``shape`` (None when they do not fit)."""
    if image is None:
        return None
    data = image.data
    if z is not None:
        if np.ndim(data) < 3 or (image.rgb and np.ndim(data) < 4):
            return None
        data = data[z]
    plane = np.asarray(data)
    return plane if plane.shape[:2] == tuple(shape) else None


def data_to_world(layer: Any, coords: np.ndarray) -> np.ndarray:
    """World coordinates of data coordinates of ``layer``."""
    return np.asarray(layer.data_to_world(np.asarray(coords, dtype=float)))


def camera_of(viewer: napari.viewer.Viewer) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera
