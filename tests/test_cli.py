"""The ``medseg`` command line, run in-process through ``main``."""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, precision_score, recall_score

from conftest import make_tiny_model, synthetic_nuclei
from medseg_core import __version__
from medseg_core.cli import main
from medseg_core.io import read_labels


@pytest.fixture
def workspace(tmp_path):
    """A model file, a folder of images and a folder of masks."""
    model_path = make_tiny_model(in_channels=1).save(tmp_path / "tiny.safetensors")
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for seed in range(3):
        image, labels = synthetic_nuclei(size=80, seed=seed)
        iio.imwrite(images / f"img{seed}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
        tifffile.imwrite(masks / f"img{seed}.tif", labels.astype(np.uint16))
    return tmp_path, model_path, images, masks


def test_segment_writes_labels_counts_and_measurements(workspace, capsys):
    root, model_path, images, _ = workspace
    out = root / "out"
    assert main(["segment", str(images), "--model", str(model_path), "--out", str(out), "--device", "cpu"]) == 0
    rows = list(csv.DictReader(open(out / "counts.csv")))
    assert [r["file"] for r in rows] == ["img0.png", "img1.png", "img2.png"]
    for row in rows:
        stem = row["file"][:-4]
        labels = read_labels(out / f"{stem}_labels.tif")
        assert labels.shape == (80, 80)
        assert int(row["count"]) == len(np.unique(labels)) - (1 if 0 in labels else 0)
        objects = list(csv.DictReader(open(out / f"{stem}_objects.csv")))
        assert len(objects) == int(row["count"])
    assert "3 of 3 files segmented" in capsys.readouterr().out


def test_bad_files_are_reported_and_skipped(workspace, capsys):
    root, model_path, images, _ = workspace
    (images / "broken.png").write_bytes(b"not a png")
    (images / "empty.tif").write_bytes(b"")
    missing = root / "missing.tif"
    code = main(["segment", str(images), str(missing), "--model", str(model_path), "--out", str(root / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("FAILED") == 3
    assert "Traceback" not in err
    assert len(list(csv.DictReader(open(root / "o" / "counts.csv")))) == 3


def test_evaluate_agrees_with_scikit_learn(workspace, capsys):
    root, model_path, images, masks = workspace
    out_json = root / "metrics.json"
    args = ["evaluate", "--model", str(model_path), "--images", str(images), "--masks", str(masks)]
    assert main([*args, "--json", str(out_json), "--threshold", "0.45"]) == 0
    result = json.loads(out_json.read_text())
    assert set(result["objects"]) == {"0.5", "0.75", "0.9", "map_50_95"}
    # independent check: segment again and score the pixels with scikit-learn
    seg_out = root / "seg"
    main(["segment", str(images), "--model", str(model_path), "--out", str(seg_out), "--threshold", "0.45"])
    pred = np.concatenate([read_labels(seg_out / f"img{i}_labels.tif").ravel() > 0 for i in range(3)])
    true = np.concatenate([read_labels(masks / f"img{i}.tif").ravel() > 0 for i in range(3)])
    # MedSeg's documented convention for 0/0: 1 when prediction and truth are both empty, else 0
    zero = 1.0 if not (pred.any() or true.any()) else 0.0
    expected = {
        "accuracy": accuracy_score(true, pred),
        "precision": precision_score(true, pred, zero_division=zero),
        "recall": recall_score(true, pred, zero_division=zero),
        "f1": f1_score(true, pred, zero_division=zero),
        "iou": jaccard_score(true, pred, zero_division=zero),
    }
    for key, value in expected.items():
        assert result["pixel"][key] == pytest.approx(value, abs=1e-9), key
    # AJI (MoNuSeg's mean over images) and the count errors, from the segment command's own outputs
    from medseg_core.metrics import aggregated_jaccard_index

    pairs = [(read_labels(seg_out / f"img{i}_labels.tif"), read_labels(masks / f"img{i}.tif")) for i in range(3)]
    assert result["aji"] == pytest.approx(np.mean([aggregated_jaccard_index(p, t) for p, t in pairs]))
    counts = result["count_error"]["per_image"]
    assert [counts[f"img{i}"]["predicted"] for i in range(3)] == [len(np.unique(p[p > 0])) for p, _ in pairs]
    printed = capsys.readouterr().out
    assert "AJI" in printed and "objects" in printed


def test_evaluate_semantic_with_class_map(tmp_path):
    model_path = make_tiny_model("semantic", in_channels=1, classes=["bg", "fg"]).save(tmp_path / "s.safetensors")
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    iio.imwrite(tmp_path / "i" / "a.png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    iio.imwrite(tmp_path / "m" / "a.png", np.where(np.eye(64, dtype=bool), 0, 255).astype(np.uint8))
    out = tmp_path / "r.json"
    args = ["evaluate", "--model", str(model_path), "--images", str(tmp_path / "i"), "--masks", str(tmp_path / "m")]
    assert main([*args, "--class-map", "255:0,0:1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["per_class_dice"]) == {"bg", "fg"}
    assert result["pixel_error"] == pytest.approx(1 - result["pixel"]["accuracy"])


def test_train_from_scratch_and_fine_tune(workspace, capsys):
    root, model_path, _, _ = workspace
    data = root
    out = root / "new.safetensors"
    log = root / "log.csv"
    common = ["--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "2", "--crop", "64", "--device", "cpu"]
    assert main(["train", "--data", str(data), "--task", "instance", "--out", str(out), "--log", str(log), *common]) == 0
    assert "epoch   2" in capsys.readouterr().out
    assert len(log.read_text().splitlines()) == 3
    tuned = root / "tuned.safetensors"
    assert main(["train", "--data", str(data), "--from", str(out), "--out", str(tuned), *common]) == 0
    from medseg_core.model import read_info

    assert read_info(tuned).parent == "new"


def test_models_version_and_errors(capsys, tmp_path):
    assert main(["models"]) == 0
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    assert main(["segment", "x.png", "--model", "no-such-model", "--out", str(tmp_path)]) == 2
    assert "no model named" in capsys.readouterr().err


# ---------------------------------------------------------------- model names and paths
def test_a_folder_named_like_a_model_does_not_hide_it(workspace, monkeypatch, capsys):
    root, model_path, images, _ = workspace
    from medseg_core.registry import resolve_model, user_models_dir

    user_model = user_models_dir() / "tiny.safetensors"
    user_model.write_bytes(model_path.read_bytes())
    monkeypatch.chdir(root)
    (root / "tiny").mkdir()  # a folder of the same name in the current folder
    assert resolve_model("tiny") == user_model
    assert main(["segment", str(images / "img0.png"), "--model", "tiny", "--out", str(root / "o")]) == 0
    assert resolve_model(str(model_path)) == model_path  # a path ends in .safetensors


@pytest.mark.parametrize(
    "name, message",
    [
        ("../tiny", "not a model name"),
        ("bad*name", "not a usable model name"),
        (" nuclei", "not a usable model name"),
        ("missing.safetensors", "does not exist"),
        ("notes.txt", "not a model file"),
    ],
)
def test_model_names_are_validated_on_lookup(tmp_path, monkeypatch, name, message):
    from medseg_core.errors import ModelFileError
    from medseg_core.registry import resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelFileError, match=re.escape(message)):
        resolve_model(name)


def test_models_lists_an_unreadable_file_and_goes_on(workspace, capsys):
    _, model_path, _, _ = workspace
    from medseg_core.registry import user_models_dir

    (user_models_dir() / "good.safetensors").write_bytes(model_path.read_bytes())
    (user_models_dir() / "broken.safetensors").write_bytes(b"\x00garbage")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "good " in out
    [line] = [line for line in out.splitlines() if line.startswith("broken")]
    assert "unreadable:" in line and len(line.split("unreadable:")[1].strip()) > 0


# ---------------------------------------------------------------- evaluate: masks that are not the model's classes
def _semantic_pair(tmp_path, mask: np.ndarray) -> list[str]:
    model_path = make_tiny_model("semantic", in_channels=1, classes=["bg", "fg"]).save(tmp_path / "s.safetensors")
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    iio.imwrite(tmp_path / "i" / "a.png", np.random.default_rng(0).integers(0, 255, mask.shape, dtype=np.uint8))
    iio.imwrite(tmp_path / "m" / "a.png", mask)
    return ["evaluate", "--model", str(model_path), "--images", str(tmp_path / "i"), "--masks", str(tmp_path / "m")]


def test_evaluate_refuses_0_255_masks_without_a_class_map(tmp_path, capsys):
    args = _semantic_pair(tmp_path, np.where(np.eye(64, dtype=bool), 0, 255).astype(np.uint8))
    assert main([*args, "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "mask values 0, 255 are not classes" in err and "--class-map 0:0,255:1" in err
    assert not (tmp_path / "r.json").exists()
    # a class map that names a class the model lacks is refused too
    assert main([*args, "--class-map", "0:0,255:2"]) == 2
    assert "fix the --class-map" in capsys.readouterr().err


def test_evaluate_refuses_binary_masks_for_an_instance_model(workspace, capsys):
    root, model_path, images, masks = workspace
    for seed in range(3):
        binary = (tifffile.imread(masks / f"img{seed}.tif") > 0).astype(np.uint8) * 255
        tifffile.imwrite(masks / f"img{seed}.tif", binary)
    args = ["evaluate", "--model", str(model_path), "--images", str(images), "--masks", str(masks)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "binary mask" in err and "not instance labels" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- options
@pytest.mark.parametrize(
    "argv, option",
    [
        (["segment", "x.png", "--out", "o", "--tile", "0"], "--tile"),
        (["segment", "x.png", "--out", "o", "--tile", "-512"], "--tile"),
        (["segment", "x.png", "--out", "o", "--min-size", "-5"], "--min-size"),
        (["segment", "x.png", "--out", "o", "--threshold", "1.5"], "--threshold"),
        (["segment", "x.png", "--out", "o", "--threshold", "nan"], "--threshold"),
        (["segment", "x.png", "--out", "o", "--channel", "-1"], "--channel"),
        (["evaluate", "--model", "m", "--images", "i", "--masks", "m", "--tile", "0"], "--tile"),
        (["train", "--data", "d", "--out", "m.safetensors", "--minutes", "nan"], "--minutes"),
        (["train", "--data", "d", "--out", "m.safetensors", "--minutes", "0"], "--minutes"),
        (["train", "--data", "d", "--out", "m.safetensors", "--epochs", "0"], "--epochs"),
        (["train", "--data", "d", "--out", "m.safetensors", "--epochs", "1", "--channels", "0"], "--channels"),
        (["train", "--data", "d", "--out", "m.safetensors", "--epochs", "1", "--lr", "inf"], "--lr"),
        (["train", "--data", "d", "--out", "m.safetensors", "--epochs", "1", "--val-fraction", "1"], "--val-fraction"),
        (["train", "--data", "d", "--out", "m.safetensors", "--epochs", "1", "--batch-size", "0"], "--batch-size"),
        (["train", "--data", "d", "--out", "model.pt", "--epochs", "1"], "--out"),
        (["train", "--data", "d", "--out", "m.safetensors"], "--epochs, --minutes"),
    ],
)
def test_bad_options_fail_in_the_parser_with_one_line(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert option in err and "Traceback" not in err


def test_version_and_help_do_not_import_torch():
    for argv in (["--version"], ["--help"], ["segment", "--help"]):
        code = (
            "import sys\n"
            "from medseg_core.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "medseg" in done.stdout


# ---------------------------------------------------------------- train: output place
TRAIN_FAST = ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--crop", "64", "--device", "cpu"]


def test_train_refuses_a_folder_or_read_only_out_before_training(workspace, make_read_only, capsys):
    root, _, _, _ = workspace
    folder = root / "folder.safetensors"
    folder.mkdir()
    # --data does not exist: the output is checked before anything is loaded
    args = ["train", "--data", str(root / "nowhere"), "--task", "instance", *TRAIN_FAST]
    assert main([*args, "--out", str(folder)]) == 2
    assert "it is a folder" in capsys.readouterr().err

    locked = root / "locked"
    locked.mkdir()
    make_read_only(locked)
    assert main([*args, "--out", str(locked / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and "Traceback" not in err


def test_a_finished_training_is_never_lost(workspace, monkeypatch, capsys):
    root, _, _, _ = workspace
    from medseg_core.model import SegmentationModel, read_info
    from medseg_core.registry import user_models_dir

    out = root / "new.safetensors"
    real_save = SegmentationModel.save

    def save(self, path, **kwargs):  # the disk filled up after the pre-check, while training
        if Path(path) == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_save(self, path, **kwargs)

    monkeypatch.setattr(SegmentationModel, "save", save)
    assert main(["train", "--data", str(root), "--task", "instance", "--out", str(out), *TRAIN_FAST]) == 1
    err = capsys.readouterr().err
    fallback = user_models_dir() / "new.safetensors"
    assert f"saved as {fallback}" in err and "Traceback" not in err
    assert read_info(fallback).name == "new"


def test_fine_tuning_names_the_held_back_images_and_scores_the_base_beside_the_new_model(workspace, capsys):
    root, model_path, _, _ = workspace
    out = root / "tuned.safetensors"
    args = ["train", "--data", str(root), "--from", str(model_path), "--out", str(out), "--val-fraction", "0.34"]
    assert main([*args, *TRAIN_FAST, "--lr", "1e-12"]) == 0
    printed = capsys.readouterr()
    assert "held back: img" in printed.out
    assert "on the held-back images:" in printed.out and "tiny" in printed.out and "new model" in printed.out
    # a learning rate that changes nothing: no epoch beats the base, whose weights are kept and said to be
    assert "no fine-tuned epoch beat the starting model" in printed.err
    assert "(the weights of" in printed.out
    from medseg_core.model import read_info

    info = read_info(out)
    assert info.parent == "tiny" and info.training["kept_parent_weights"] is True
    assert info.training["validation"] and info.training["parent_metrics"]
