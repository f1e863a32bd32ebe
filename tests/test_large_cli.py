"""``medseg segment`` on large images: outputs, resume after a crash, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from medseg_core.cli import main
from medseg_core.io.errors import WriteFailed
from medseg_core.large import open_large, plan_blocks, segment_large_iter
from medseg_core.progress import drain
from medseg_core.segment import load_model
from test_large_blocks import canonical, nuclei_image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BLOCK, HALO = 128, 32


@pytest.fixture(scope="module")
def nuclei():
    return load_model("nuclei", "cpu")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("large") / "slide.tif"
    tifffile.imwrite(path, nuclei_image(512, 448, seed=3), tile=(64, 64), compression="zlib")
    return path


def read_tiff_labels(path: Path) -> np.ndarray:
    return tifffile.imread(path)


def test_cli_writes_tiled_tiff_zarr_and_counts(image_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["segment", str(image_file), "--out", str(out), "--large", "--block", str(BLOCK), "--halo", str(HALO)]) == 0
    labels = read_tiff_labels(out / "slide_labels.tif")
    with tifffile.TiffFile(out / "slide_labels.tif") as tf:
        assert tf.pages[0].is_tiled
    assert labels.shape == (512, 448) and np.array_equal(labels, canonical(labels))
    count = int(labels.max())
    assert f"slide.tif: {count} objects" in capsys.readouterr().out
    rows = (out / "counts.csv").read_text().splitlines()
    assert rows[1].startswith(f"slide.tif,{count},") and "slide_labels.tif" in rows[1]
    assert len((out / "slide_objects.csv").read_text().splitlines()) == count + 1
    assert not any(p.name.endswith(".medseg-work") for p in out.iterdir())  # state removed after success

    # the same run written as OME-Zarr (with a pyramid) gives the same labels
    assert main(["segment", str(image_file), "--out", str(out), "--large", "--block", str(BLOCK), "--halo", str(HALO),
                 "--labels-format", "zarr"]) == 0
    store = open_large(out / "slide_labels.ome.zarr")
    assert np.array_equal(store.read(0, 512, 0, 448), labels)


def test_large_images_are_routed_to_blocks_by_size(image_file, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSEG_BLOCK_PIXELS", "100000")
    out = tmp_path / "auto"
    assert main(["segment", str(image_file), "--out", str(out), "--block", "256", "--halo", "64"]) == 0
    assert (out / "slide_labels.tif").exists()
    assert not list(out.glob(".*medseg-work"))


def test_cancelled_run_resumes_without_redoing_finished_blocks(image_file, nuclei, tmp_path):
    reference = drain(segment_large_iter(image_file, nuclei, tmp_path / "ref.zarr", block=BLOCK, halo=HALO))
    labels = tmp_path / "run.zarr"
    gen = segment_large_iter(image_file, nuclei, labels, block=BLOCK, halo=HALO)
    for record in gen:
        if record.stage == "blocks" and record.done == 5:
            gen.close()  # stop mid-run, as a crash or Cancel would
            break
    resumed = drain(segment_large_iter(image_file, nuclei, labels, block=BLOCK, halo=HALO))
    assert resumed.resumed == 5 and resumed.failed == {}
    assert resumed.count == reference.count
    a = zarr.open_group(str(tmp_path / "ref.zarr"), mode="r")["0"][:]
    b = zarr.open_group(str(labels), mode="r")["0"][:]
    assert np.array_equal(a, b)


def test_killed_process_keeps_finished_blocks_and_resumes(image_file, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "medseg_core.cli", "segment", str(image_file), "--out", str(out), "--large",
           "--block", "64", "--halo", str(HALO)]
    blocks = out / ".slide_labels.tif.medseg-work" / "blocks"
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and len(list(blocks.glob("*.npz"))) < 3:
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = len(list(blocks.glob("*.npz")))
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert kept >= 3
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "resumed" in result.stderr and "blocks kept from an earlier run" in result.stderr
    fresh = tmp_path / "fresh"
    assert main(["segment", str(image_file), "--out", str(fresh), "--large", "--block", "64", "--halo", str(HALO)]) == 0
    assert np.array_equal(read_tiff_labels(out / "slide_labels.tif"), read_tiff_labels(fresh / "slide_labels.tif"))


def corrupt_tile(path: Path, row: int, col: int) -> tuple[int, int, int, int]:
    """Overwrite one compressed tile with garbage; return its ``(y0, y1, x0, x1)``."""
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        per_row = -(-page.imagewidth // page.tilewidth)
        index = row * per_row + col
        offset, count = page.dataoffsets[index], page.databytecounts[index]
        th, tw = page.tilelength, page.tilewidth
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes(range(7, 7 + min(count, 200))))
    return row * th, (row + 1) * th, col * tw, (col + 1) * tw


def test_corrupt_tile_fails_only_the_blocks_that_read_it(image_file, nuclei, tmp_path, capsys):
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(image_file.read_bytes())
    ty0, ty1, tx0, tx1 = corrupt_tile(damaged, 4, 3)  # a tile in the middle
    plan = plan_blocks(512, 448, BLOCK, HALO)
    expected = {
        b.index for b in plan.blocks
        if b.padded[0] < ty1 and ty0 < b.padded[1] and b.padded[2] < tx1 and tx0 < b.padded[3]
    }
    out = tmp_path / "out"
    args = ["segment", str(damaged), "--out", str(out), "--large", "--block", str(BLOCK), "--halo", str(HALO)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{len(expected)} of {len(plan.blocks)} blocks failed" in err and "damaged tile in rows" in err
    for index in expected:
        assert f"block {index}:" in err or "more)" in err
    labels = read_tiff_labels(out / "damaged_labels.tif")
    assert labels.max() > 0  # the rest of the image is written
    work = out / ".damaged_labels.tif.medseg-work" / "blocks"
    assert {int(p.stem) for p in work.glob("*.npz")} == {b.index for b in plan.blocks} - expected
    assert main(args) == 1  # again: finished blocks are kept, only the damaged ones are retried
    assert f"resumed, {len(plan.blocks) - len(expected)} of {len(plan.blocks)} blocks kept" in capsys.readouterr().err


def test_image_too_large_for_the_output_disk_is_refused_before_work(tmp_path, nuclei):
    huge = tmp_path / "huge.zarr"
    zarr.create_array(str(huge), shape=(2_000_000, 2_000_000), chunks=(4096, 4096), dtype="uint8")
    with pytest.raises(WriteFailed, match="may need .* GB but the disk has only"):
        drain(segment_large_iter(huge, nuclei, tmp_path / "l.zarr"))
    assert not (tmp_path / "l.zarr").exists()
    assert main(["segment", str(huge), "--out", str(tmp_path / "o")]) == 1


def test_semantic_model_is_refused_by_the_block_runner(tmp_path):
    from medseg_core.errors import InputError

    model = load_model("cxr-lungs", "cpu")
    with pytest.raises(InputError, match="instance model"):
        drain(segment_large_iter(np.zeros((64, 64), np.uint8), model, tmp_path / "l.zarr"))


def test_zarr_input_gives_the_tiff_labels(image_file, tmp_path):
    """A Zarr array and an OME-Zarr group (channel-first) are read lazily, with the TIFF's labels."""
    pixels = tifffile.imread(image_file)
    plain = tmp_path / "slide.zarr"
    zarr.create_array(str(plain), shape=pixels.shape, chunks=(100, 100), dtype=pixels.dtype)[:] = pixels
    group = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w", zarr_format=2)
    group.create_array("0", shape=(1, *pixels.shape), chunks=(1, 128, 128), dtype=pixels.dtype)[:] = pixels[None]
    group.attrs["multiscales"] = [{
        "version": "0.4", "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"},
                                   {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 0.5, 0.25]}]}],
    }]
    ome = open_large(tmp_path / "ome.zarr")
    assert (ome.height, ome.width, ome.spacing, ome.axes) == (512, 448, (0.5, 0.25), "YX")
    assert np.array_equal(ome.read(10, 20, 30, 50), pixels[10:20, 30:50])
    opts = ["--block", str(BLOCK), "--halo", str(HALO)]
    assert main(["segment", str(image_file), "--out", str(tmp_path / "t"), "--large", *opts]) == 0
    assert main(["segment", str(plain), "--out", str(tmp_path / "z"), *opts]) == 0  # Zarr: blocks without --large
    a = read_tiff_labels(tmp_path / "t" / "slide_labels.tif")
    b = read_tiff_labels(tmp_path / "z" / "slide_labels.tif")
    assert a.max() > 10 and np.array_equal(a, b)
