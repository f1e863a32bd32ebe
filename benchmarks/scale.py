"""Time and peak memory of segmenting images larger than memory, by image size.

Usage::

    python benchmarks/scale.py --sizes 4096 8192 16384 32768 --work /tmp/scale
    python benchmarks/scale.py --plot-only          # redraw docs/scale.png from docs/scale.json

For each size, a synthetic nuclei-like image (bright disks of radius 5-9 px
on a noisy background, about 110 per 512 x 512 tile) is written as a tiled,
compressed TIFF one tile at a time (never held whole). Then a fresh process
runs the block runner (:func:`medseg_core.large.segment_large_iter`, what
``medseg segment --large`` runs) end to end: lazy read, blocks, stitching,
OME-Zarr labels with a pyramid, the per-object CSV. That process reports its
wall time and peak resident memory (``ru_maxrss``: Python, torch, the model
and everything the run allocated). Results are appended to ``docs/scale.json``
after each size (a size that does not finish leaves the others), and
``docs/scale.png`` plots time against area (with the fitted slope) and peak
memory against size (target: at most 2 GB at every size).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TILE = 512
PER_TILE = 110
MEMORY_TARGET_MB = 2048


def _cell_disks(row: int, col: int) -> np.ndarray:
    """Disks ``(y, x, r, brightness)`` whose centres lie in one 512 x 512 cell (seeded by the cell)."""
    rng = np.random.default_rng([row + 1, col + 1, 14])
    n = PER_TILE
    ys = rng.uniform(0, TILE, n) + row * TILE
    xs = rng.uniform(0, TILE, n) + col * TILE
    return np.column_stack([ys, xs, rng.uniform(5, 9, n), rng.uniform(80, 160, n)])


def synthetic_tile(row: int, col: int) -> np.ndarray:
    """One uint8 tile of the synthetic image; neighbouring cells' disks reach in, so tiles join seamlessly."""
    rng = np.random.default_rng([row, col, 7])
    tile = rng.normal(25, 6, (TILE, TILE)).astype(np.float32)
    y0, x0 = row * TILE, col * TILE
    disks = np.concatenate([_cell_disks(row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
    near = (disks[:, 0] > y0 - 10) & (disks[:, 0] < y0 + TILE + 10) & (disks[:, 1] > x0 - 10) & (disks[:, 1] < x0 + TILE + 10)
    for y, x, r, b in disks[near]:
        ya, yb = int(max(y0, y - r - 1)), int(min(y0 + TILE, y + r + 2))
        xa, xb = int(max(x0, x - r - 1)), int(min(x0 + TILE, x + r + 2))
        if ya >= yb or xa >= xb:
            continue
        yy, xx = np.ogrid[ya:yb, xa:xb]
        inside = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        tile[ya - y0 : yb - y0, xa - x0 : xb - x0][inside] = b + rng.normal(0, 8)
    return np.clip(tile, 0, 255).astype(np.uint8)


def write_synthetic(path: Path, size: int) -> None:
    """A ``size x size`` tiled TIFF of :func:`synthetic_tile` tiles, written tile by tile."""
    import tifffile

    n = -(-size // TILE)

    def tiles():
        for r in range(n):
            for c in range(n):
                yield synthetic_tile(r, c)

    tmp = path.with_suffix(".part.tif")
    tifffile.imwrite(tmp, tiles(), shape=(size, size), dtype=np.uint8, tile=(TILE, TILE), compression="zlib", bigtiff=True)
    tmp.replace(path)


def child(image: str, out: str, model: str, block: int, halo: int, backend: str) -> None:
    """Run the block runner once and print a JSON line with time and peak memory."""
    import torch

    from medseg_core.exchange.onnx_backend import with_backend
    from medseg_core.large import segment_large_iter
    from medseg_core.progress import drain
    from medseg_core.segment import load_model

    m = with_backend(load_model(model, "cpu"), backend)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = drain(segment_large_iter(image, m, Path(out) / "labels.zarr", Path(out) / "objects.csv", block=block, halo=halo))
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "seconds": round(elapsed, 1), "peak_mb": round(peak), "baseline_mb": round(before), "objects": result.count,
        "blocks": result.blocks, "failed": len(result.failed), "cut": result.cut, "threads": torch.get_num_threads(),
        "backend": "onnx" if type(m).__name__.startswith("Onnx") else "torch",
    }))


def plot(rows: list[dict], path: Path) -> None:
    """Time against area with a linear fit, and peak memory against size."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = sorted(rows, key=lambda r: r["size"])
    mpx = np.array([r["size"] ** 2 / 1e6 for r in rows])
    secs = np.array([r["seconds"] for r in rows])
    peak = np.array([r["peak_mb"] for r in rows])
    fig = Figure(figsize=(10, 4), dpi=110)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(mpx, secs / 60, "o-", label="measured")
    if len(rows) >= 2:
        slope, intercept = np.polyfit(mpx, secs, 1)
        xs = np.linspace(0, mpx.max() * 1.05, 50)
        ax1.plot(xs, (slope * xs + intercept) / 60, "--", label=f"fit: {slope:.2f} s per megapixel")
    for r, x, y in zip(rows, mpx, secs / 60):
        side = f"{r['size'] // 1024}k²" if r["size"] % 1024 == 0 else f"{r['size']:,}²"
        ax1.annotate(side, (x, y), textcoords="offset points", xytext=(4, -12))
    ax1.set(xlabel="image area (megapixels)", ylabel="end-to-end time (min)", title="Time grows linearly with area")
    ax1.legend()
    ax2.plot([r["size"] for r in rows], peak, "o-", label="peak resident memory")
    ax2.axhline(MEMORY_TARGET_MB, color="red", ls=":", label="2 GB target")
    ax2.set(xlabel="image side (px)", ylabel="MB", title="Memory bounded by the block", ylim=(0, MEMORY_TARGET_MB * 1.2))
    ax2.set_xscale("log", base=2)
    ax2.legend(loc="lower right")
    fig.suptitle(f"medseg segment --large, model {rows[0]['model']}, blocks {rows[0]['block']} px, "
                 f"{rows[0].get('backend', 'torch')} on CPU ({rows[0]['threads']} threads)")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192, 16384, 32768])
    parser.add_argument("--model", default="nuclei")
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--halo", type=int, default=128)
    parser.add_argument("--work", type=Path, default=Path("/tmp/medseg-scale"))
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "scale.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scale.png")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"],
                        help="network backend, as `medseg segment --backend` (default auto: ONNX Runtime on CPU)")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("IMAGE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.model, args.block, args.halo, args.backend)
        return
    rows = json.loads(args.json.read_text()) if args.json.exists() else []
    if not args.plot_only:
        args.work.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            image = args.work / f"synthetic_{size}.tif"
            if not image.exists():
                start = time.perf_counter()
                write_synthetic(image, size)
                print(f"{size}: wrote {image} in {time.perf_counter() - start:.0f} s", flush=True)
            out = args.work / f"out_{size}"
            cmd = [sys.executable, __file__, "--child", str(image), str(out), "--model", args.model,
                   "--block", str(args.block), "--halo", str(args.halo), "--backend", args.backend]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{size}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row.update(size=size, model=args.model, block=args.block, halo=args.halo)
            rows = [r for r in rows if r["size"] != size] + [row]
            args.json.write_text(json.dumps(sorted(rows, key=lambda r: r["size"]), indent=1))
            print(f"{size}: {row}", flush=True)
    if rows:
        plot(rows, args.plot)
        if len(rows) >= 2:
            mpx = np.array([r["size"] ** 2 / 1e6 for r in rows])
            slope, intercept = np.polyfit(mpx, [r["seconds"] for r in rows], 1)
            print(f"slope {slope:.3f} s per megapixel (intercept {intercept:.1f} s)")


if __name__ == "__main__":
    main()
