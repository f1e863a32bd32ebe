"""The ``medseg`` command line, run in-process through ``main``."""

from __future__ import annotations

import csv
import json

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
    assert "objects" in capsys.readouterr().out


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
