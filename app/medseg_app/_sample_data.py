"""napari sample data contribution: the nuclei images in ``resources/samples``.

Both are CC0 images from the 2018 Data Science Bowl (BBBC038v1), see
``resources/samples/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from medseg_core.registry import resources_dir

from ._reader import image_layer_data

SAMPLES = {
    "nuclei_fluorescence": ("nuclei_fluorescence.png", "nuclei (fluorescence)"),
    "nuclei_he": ("nuclei_he.png", "nuclei (H&E brightfield)"),
}


def sample_path(key: str = "nuclei_fluorescence") -> Path:
    """Path of a shipped sample image."""
    return resources_dir() / "samples" / SAMPLES[key][0]


def _load(key: str) -> list[tuple]:
    from medseg_core.io import read_image

    path = sample_path(key)
    return image_layer_data(read_image(path), name=path.stem)


def nuclei_fluorescence() -> list[tuple]:
    """Fluorescence nuclei, 256 x 256 (about 50 nuclei)."""
    return _load("nuclei_fluorescence")


def nuclei_he() -> list[tuple]:
    """H&E-stained brightfield nuclei, 256 x 320 RGB."""
    return _load("nuclei_he")
