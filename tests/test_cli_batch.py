"""``medseg segment`` on many inputs: distinct outputs, counts.csv, write errors, progress, channels."""

from __future__ import annotations

import csv
import errno
import os
import pathlib
import re
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import medseg_core
import medseg_core.batch
from conftest import make_tiny_model, synthetic_nuclei
from medseg_core.cli import main
from medseg_core.io import read_image, read_labels


@pytest.fixture
def model_path(tmp_path) -> Path:
    """A tiny real model (grayscale input) saved as a file."""
    return make_tiny_model(in_channels=1).save(tmp_path / "tiny.safetensors")


def _write_png(path: Path, size: int = 64, seed: int = 0) -> Path:
    image, _ = synthetic_nuclei(size=size, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (np.clip(image, 0, 1) * 255).astype(np.uint8))
    return path


def _segment(*args: str | os.PathLike) -> int:
    return main(["segment", *map(str, args), "--device", "cpu"])


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "counts.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _check_row(row: dict[str, str], out: Path, model) -> None:
    """The row's outputs exist and hold exactly what segmenting its input gives."""
    source = Path(row["input"])
    assert source.is_absolute() and source.is_file()
    assert row["file"] == source.name
    expected = medseg_core.segment(read_image(source).array, model)
    labels = read_labels(out / row["labels"])
    np.testing.assert_array_equal(labels, expected.labels)
    assert int(row["count"]) == expected.count
    objects = list(csv.DictReader(open(out / row["objects"], newline="", encoding="utf-8")))
    assert len(objects) == expected.count


def test_clashing_names_in_two_folders_get_distinct_outputs(tmp_path, model_path):
    plate1, plate2 = tmp_path / "plate1", tmp_path / "plate2"
    inputs = [_write_png(plate1 / "A01.png", 64, 0), _write_png(plate1 / "B02.png", 72, 1), _write_png(plate2 / "A01.png", 80, 2)]
    out = tmp_path / "out"
    assert _segment(plate1, plate2, "--model", model_path, "--out", out) == 0
    rows = _rows(out)
    assert sorted(row["input"] for row in rows) == sorted(str(p) for p in inputs)
    assert len({row["labels"] for row in rows}) == len({row["objects"] for row in rows}) == 3
    # the folder structure is kept below --out
    assert {row["labels"] for row in rows} == {"plate1/A01_labels.tif", "plate1/B02_labels.tif", "plate2/A01_labels.tif"}
    model = medseg_core.load_model(model_path, device="cpu")
    for row in rows:
        _check_row(row, out, model)


def test_same_stem_with_two_suffixes_in_one_folder(tmp_path, model_path, capsys):
    folder = tmp_path / "he"
    _write_png(folder / "he.png", 64, 3)
    image, _ = synthetic_nuclei(size=72, seed=4)
    tifffile.imwrite(folder / "he.tif", (np.clip(image, 0, 1) * 255).astype(np.uint8))
    out = tmp_path / "out"
    assert _segment(folder / "he.png", folder / "he.tif", "--model", model_path, "--out", out) == 0
    rows = _rows(out)
    assert {row["labels"] for row in rows} == {"he_png_labels.tif", "he_tif_labels.tif"}
    model = medseg_core.load_model(model_path, device="cpu")
    for row in rows:
        _check_row(row, out, model)
    assert "2 of 2 files segmented" in capsys.readouterr().out


def test_counts_csv_quotes_odd_names_and_appends_runs(tmp_path, model_path):
    folder = tmp_path / "odd"
    names = ["a,b.png", 'say "hi".png', "two\nlines.png"]
    for seed, name in enumerate(names):
        _write_png(folder / name, 64, seed)
    out = tmp_path / "out"
    assert _segment(folder, "--model", model_path, "--out", out) == 0
    first = _rows(out)
    assert sorted(row["file"] for row in first) == sorted(names)
    assert all(Path(row["input"]).is_file() for row in first)
    assert len({row["run"] for row in first}) == 1 and first[0]["model"] == "tiny"

    extra = _write_png(tmp_path / "more" / "c.png", 64, 5)
    assert _segment(extra, "--model", model_path, "--out", out) == 0
    rows = _rows(out)
    assert rows[:3] == first  # the earlier run's rows are kept
    assert rows[3]["input"] == str(extra) and rows[3]["labels"] == "c_labels.tif"


def test_counts_csv_of_an_older_version_is_kept_and_a_foreign_table_refused(tmp_path, model_path, capsys):
    image = _write_png(tmp_path / "in" / "x.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "counts.csv").write_text("file,count\nold.png,4\n")
    assert _segment(image, "--model", model_path, "--out", out) == 0
    rows = _rows(out)
    assert [(r["file"], r["count"], r["input"]) for r in rows[:1]] == [("old.png", "4", "")]
    assert rows[1]["input"] == str(image)

    other = tmp_path / "other"
    other.mkdir()
    (other / "counts.csv").write_text("name,size\nq,1\n")
    capsys.readouterr()
    assert _segment(image, "--model", model_path, "--out", other) == 2
    err = capsys.readouterr().err
    assert "not a MedSeg counts table" in err and len(err.strip().splitlines()) == 1
    assert not list(other.glob("*_labels.tif"))


def test_runs_into_one_folder_do_not_overwrite_each_other(tmp_path, model_path):
    a = _write_png(tmp_path / "plate1" / "A01.png", 64, 0)
    b = _write_png(tmp_path / "plate2" / "A01.png", 80, 1)
    out = tmp_path / "out"
    assert _segment(a, "--model", model_path, "--out", out) == 0
    assert _segment(b, "--model", model_path, "--out", out) == 0
    assert _segment(a, "--model", model_path, "--out", out) == 0  # a re-run updates its own files
    rows = _rows(out)
    assert [(Path(r["input"]), r["labels"]) for r in rows] == [
        (a, "A01_labels.tif"),
        (b, "A01_2_labels.tif"),
        (a, "A01_labels.tif"),
    ]
    model = medseg_core.load_model(model_path, device="cpu")
    for row in rows:
        _check_row(row, out, model)


def test_output_folder_given_as_input_is_not_segmented_again(tmp_path, model_path):
    folder = tmp_path / "images"
    for seed in range(2):
        _write_png(folder / f"img{seed}.png", 64, seed)
    for _ in range(2):
        assert _segment(folder, "--model", model_path, "--out", folder) == 0
    rows = _rows(folder)
    assert [r["file"] for r in rows] == ["img0.png", "img1.png"] * 2
    assert sorted(p.name for p in folder.glob("*_labels.tif")) == ["img0_labels.tif", "img1_labels.tif"]


def test_full_disk_fails_one_image_and_the_batch_goes_on(tmp_path, model_path, monkeypatch, capsys):
    folder = tmp_path / "images"
    for seed in range(3):
        _write_png(folder / f"img{seed}.png", 64, seed)
    real_write_text = pathlib.Path.write_text

    def full_disk(self, *args, **kwargs):
        if "img1_objects.csv" in self.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    out = tmp_path / "out"
    assert _segment(folder, "--model", model_path, "--out", out) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "img1.png" in failed[0] and "No space left on device" in failed[0]
    assert [r["file"] for r in _rows(out)] == ["img0.png", "img2.png"]
    assert not (out / "img1_objects.csv").exists()


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    image = _write_png(tmp_path / "x.png")
    out = tmp_path / "out.txt"
    out.write_text("not a folder")
    # the model does not exist either: the output place is checked first
    assert _segment(image, "--model", "no-such-model", "--out", out) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_read_only_out_is_refused_before_any_work(tmp_path, model_path, make_read_only, capsys):
    image = _write_png(tmp_path / "x.png")
    out = tmp_path / "locked"
    out.mkdir()
    make_read_only(out)
    assert _segment(image, "--model", model_path, "--out", out) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and str(out) in err and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_unreadable_input_folder_is_reported_and_the_others_segmented(tmp_path, model_path, monkeypatch, capsys):
    good = _write_png(tmp_path / "good" / "g.png")
    locked = tmp_path / "locked"
    _write_png(locked / "hidden.png")
    real_iterdir = pathlib.Path.iterdir

    def iterdir(self):
        if self == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_iterdir(self)

    monkeypatch.setattr(pathlib.Path, "iterdir", iterdir)
    out = tmp_path / "out"
    assert _segment(locked, good.parent, "--model", model_path, "--out", out) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert [line for line in captured.err.splitlines() if line.startswith("FAILED")] == [
        f'FAILED {locked}: Cannot read "{locked}": Permission denied'
    ]
    assert "1 of 2 files segmented" in captured.out
    assert [r["file"] for r in _rows(out)] == ["g.png"]


def test_progress_shows_tiles_per_image_on_stderr(tmp_path, model_path, capsys):
    folder = tmp_path / "images"
    _write_png(folder / "big.png", 200, 0)
    _write_png(folder / "small.png", 64, 1)
    assert _segment(folder, "--model", model_path, "--out", tmp_path / "out", "--tile", "64") == 0
    captured = capsys.readouterr()
    shown = re.findall(r"\[(\d)/2\] \S*/(\w+)\.png: tile (\d+)/(\d+)", captured.err)
    finals = {(index, name): done for index, name, done, total in shown if done == total}
    assert set(finals) == {("1", "big"), ("2", "small")}
    assert int(finals[("1", "big")]) > 1 and finals[("2", "small")] == "1"
    assert not re.search(r"tile \d+/\d+", captured.out)


def _two_channel_tiff(path: Path) -> np.ndarray:
    """Nuclei in channel 0, other nuclei in channel 1 (YXC)."""
    c0, _ = synthetic_nuclei(size=96, seed=0)
    c1, _ = synthetic_nuclei(size=96, seed=7)
    image = (np.clip(np.stack([c0, c1], axis=-1), 0, 1) * 255).astype(np.uint8)
    tifffile.imwrite(path, np.moveaxis(image, -1, 0), photometric="minisblack", metadata={"axes": "CYX"})
    return image


@pytest.mark.parametrize("in_channels", [1, 3])
def test_two_channel_image_segments_channel_0_unless_told(tmp_path, monkeypatch, in_channels):
    """One rule for the app and the CLI (normalize.select_channel): the engine gets one channel."""
    image = _two_channel_tiff(tmp_path / "two.tif")
    assert read_image(tmp_path / "two.tif").meta.axes == "YXC"
    model_path = make_tiny_model(in_channels=in_channels).save(tmp_path / "m.safetensors")
    model = medseg_core.load_model(model_path, device="cpu")
    given = []
    real_segment = medseg_core.batch.segment

    def spy(array, model, **options):
        given.append((np.array(array), options["axes"]))
        return real_segment(array, model, **options)

    monkeypatch.setattr(medseg_core.batch, "segment", spy)
    for option, channel in (([], 0), (["--channel", "1"], 1)):
        out = tmp_path / f"out{channel}"
        assert _segment(tmp_path / "two.tif", "--model", model_path, "--out", out, *option) == 0
        array, axes = given.pop()
        assert axes == "YX"
        np.testing.assert_array_equal(array, image[..., channel])
        expected = real_segment(image[..., channel], model)
        np.testing.assert_array_equal(read_labels(out / "two_labels.tif"), expected.labels)
        assert int(_rows(out)[0]["count"]) == expected.count


def test_channel_out_of_range_fails_that_image_only(tmp_path, model_path, capsys):
    _two_channel_tiff(tmp_path / "two.tif")
    assert _segment(tmp_path / "two.tif", "--model", model_path, "--out", tmp_path / "o", "--channel", "2") == 1
    assert "channels 0 to 1" in capsys.readouterr().err


def test_rgb_image_is_segmented_whole(tmp_path, monkeypatch):
    path = make_tiny_model(in_channels=3).save(tmp_path / "rgb.safetensors")
    rgb = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "c.png", rgb)
    given = []
    real_segment = medseg_core.batch.segment
    monkeypatch.setattr(
        medseg_core.batch, "segment", lambda a, m, **o: given.append((np.array(a), o["axes"])) or real_segment(a, m, **o)
    )
    assert _segment(tmp_path / "c.png", "--model", path, "--out", tmp_path / "o") == 0
    np.testing.assert_array_equal(given[0][0], rgb)
    assert given[0][1] == "YXC"
