"""Blocks and files on a Dask ``LocalCluster`` (2 workers on loopback) give the single-process labels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from medseg_core.cli import main
from medseg_core.large import segment_large_iter
from medseg_core.progress import drain
from medseg_core.segment import load_model
from test_large_blocks import nuclei_image

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")

BLOCK, HALO = 128, 32


@pytest.fixture(scope="module")
def executor():
    from medseg_core.large.dask_run import dask_executor

    with dask_executor(workers=2) as ex:
        assert len(ex.client.scheduler_info()["workers"]) == 2
        yield ex


@pytest.fixture(scope="module")
def nuclei():
    return load_model("nuclei", "cpu")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dask") / "plate.tif"
    tifffile.imwrite(path, nuclei_image(448, 384, seed=7), tile=(64, 64), compression="zlib")
    return path


@pytest.fixture(scope="module")
def reference(image_file, nuclei, tmp_path_factory) -> np.ndarray:
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    drain(segment_large_iter(image_file, nuclei, out, block=BLOCK, halo=HALO))
    return zarr.open_group(str(out), mode="r")["0"][:]


def test_two_workers_give_identical_labels(image_file, nuclei, executor, reference, tmp_path):
    out = tmp_path / "dask.zarr"
    records = []
    result = drain(
        segment_large_iter(image_file, nuclei, out, tmp_path / "o.csv", block=BLOCK, halo=HALO, executor=executor),
        records.append,
    )
    assert result.failed == {}
    labels = zarr.open_group(str(out), mode="r")["0"][:]
    assert reference.max() > 20
    assert np.array_equal(labels, reference)
    blocks = [r for r in records if r.stage == "blocks"]
    assert blocks[-1].done == blocks[-1].total == result.blocks and "objects" in blocks[-1].message
    assert len((tmp_path / "o.csv").read_text().splitlines()) == result.count + 1


def test_worker_killed_mid_run_loses_nothing(image_file, nuclei, executor, reference, tmp_path):
    pids = executor.client.run(os.getpid)
    out = tmp_path / "killed.zarr"
    gen = segment_large_iter(image_file, nuclei, out, block=BLOCK, halo=HALO, executor=executor)
    killed = False
    try:
        while True:
            record = next(gen)
            if not killed and record.stage == "blocks" and record.done >= 2:
                os.kill(next(iter(pids.values())), signal.SIGKILL)  # a worker dies; Dask reruns its tasks elsewhere
                killed = True
    except StopIteration as stop:
        result = stop.value
    assert killed
    if result.failed:  # Dask gave up on the dead worker's tasks: reported, and the next run redoes only them
        again = drain(segment_large_iter(image_file, nuclei, out, block=BLOCK, halo=HALO, executor=executor))
        assert again.failed == {} and again.resumed == result.blocks - len(result.failed)
    assert np.array_equal(zarr.open_group(str(out), mode="r")["0"][:], reference)


def test_cli_workers_segments_a_folder_like_one_process(image_file, tmp_path):
    folder = tmp_path / "plate"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"well{i}.tif", nuclei_image(200, 180, seed=10 + i))
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    assert main(["segment", str(folder), "--out", str(local)]) == 0
    # --workers in a fresh process: it starts and stops its own LocalCluster
    cmd = [sys.executable, "-m", "medseg_core.cli", "segment", str(folder), "--out", str(cluster), "--workers", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    for i in range(3):
        a = tifffile.imread(local / f"well{i}_labels.tif")
        b = tifffile.imread(cluster / f"well{i}_labels.tif")
        assert a.max() > 0 and np.array_equal(a, b)
    rows = (cluster / "counts.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["well0.tif", "well1.tif", "well2.tif"]


def test_without_the_flags_dask_is_never_imported(image_file, tmp_path):
    code = (
        "import sys; from medseg_core.cli import main; "
        f"rc = main(['segment', {str(image_file)!r}, '--out', {str(tmp_path / 'o')!r}, '--large', '--block', '256']); "
        "assert rc == 0, rc; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
