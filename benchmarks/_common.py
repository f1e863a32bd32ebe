"""Shared helpers of the benchmark scripts (not part of the package)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def nuclei_image(size: int = 512) -> tuple[np.ndarray, str]:
    """A real ``size x size`` nuclei image: a dsb2018 crop, else the shipped sample tiled."""
    from medseg_core.io import read_image

    candidates = sorted((DATA / "dsb2018" / "images").glob("*.png")) if (DATA / "dsb2018").is_dir() else []
    for path in candidates:
        image = read_image(path).array
        if image.ndim == 2 and min(image.shape) >= size:
            return np.ascontiguousarray(image[:size, :size]), f"dsb2018/{path.name} (crop)"
    sample = sorted((ROOT / "resources" / "samples").glob("*.png"))[0]
    image = read_image(sample).array
    reps = (-(-size // image.shape[0]), -(-size // image.shape[1])) + ((1,) if image.ndim == 3 else ())
    return np.ascontiguousarray(np.tile(image, reps)[:size, :size]), f"{sample.name} (tiled)"


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 2) -> float:
    """Median wall-clock seconds of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
