"""Peak memory of segmenting a large image on the CPU.

Usage: ``python benchmarks/memory.py [--size 4096] [--model nuclei]``

Runs ``medseg_core.segment`` on a ``size x size`` nuclei image (a real
512x512 crop tiled) in a fresh process and prints the process's peak
resident memory, and the part above what importing torch and loading the
model already took. Target for 4096x4096: peak below 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import medseg_core
from _common import nuclei_image


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--model", default="nuclei")
    args = parser.parse_args()
    model = medseg_core.load_model(args.model, device="cpu")
    crop, source = nuclei_image(512)
    reps = args.size // 512
    image = np.tile(crop, (reps, reps))
    baseline = peak_mb()
    start = time.perf_counter()
    result = medseg_core.segment(image, model)
    elapsed = time.perf_counter() - start
    peak = peak_mb()
    print(f"image {image.shape[0]}x{image.shape[1]} {image.dtype} (from {source}), {result.count} objects, {elapsed:.1f} s")
    print(f"peak RSS before segmenting (python, torch, model, image): {baseline:.0f} MB")
    print(f"peak RSS during segmentation: {peak:.0f} MB (+{peak - baseline:.0f} MB); target < 2048 MB")


if __name__ == "__main__":
    main()
