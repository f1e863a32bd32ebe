"""ONNX Runtime backend: same labels as PyTorch, graph exported once and cached, lazy import, clear errors."""

from __future__ import annotations

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch

pytest.importorskip("onnxruntime")

import medseg_core  # noqa: E402
from conftest import make_tiny_model, synthetic_nuclei  # noqa: E402
from medseg_core.cli import main  # noqa: E402
from medseg_core.exchange import ExchangeError  # noqa: E402
from medseg_core.exchange.onnx_backend import (  # noqa: E402
    OnnxSegmentationModel,
    backend_name,
    resolve_backend,
    with_backend,
)
from medseg_core.exchange.onnx_graph import onnx_cache_dir  # noqa: E402


@pytest.mark.parametrize("task, channels", [("instance", 3), ("semantic", 1)])
def test_onnx_gives_the_same_labels_as_torch(task, channels):
    model = make_tiny_model(task=task, in_channels=channels)
    image, _ = synthetic_nuclei(size=200, n=12)
    onnx_model = with_backend(model, "onnx")
    assert isinstance(onnx_model, OnnxSegmentationModel) and backend_name(onnx_model) == "onnx"
    a = medseg_core.segment(image, model, tile=128, overlap=32)
    b = medseg_core.segment(image, onnx_model, tile=128, overlap=32)
    assert np.abs(a.probabilities - b.probabilities).max() < 1e-5
    np.testing.assert_array_equal(a.labels, b.labels)


def test_shipped_nuclei_same_labels_on_the_sample():
    from medseg_core.io import read_image
    from medseg_core.registry import resources_dir

    model = medseg_core.load_model("nuclei", "cpu")
    image = read_image(resources_dir() / "samples" / "nuclei_he.png").array
    a = medseg_core.segment(image, model)
    b = medseg_core.segment(image, with_backend(model, "onnx"))
    assert a.count > 20
    np.testing.assert_array_equal(a.labels, b.labels)


def test_graph_is_exported_once_and_a_changed_model_gets_its_own():
    model = make_tiny_model()
    with_backend(model, "onnx")
    graphs = sorted(onnx_cache_dir().glob("*.onnx"))
    assert len(graphs) == 1
    stamp = graphs[0].stat().st_mtime_ns
    with_backend(model, "onnx")
    assert sorted(onnx_cache_dir().glob("*.onnx")) == graphs and graphs[0].stat().st_mtime_ns == stamp
    with torch.no_grad():
        model.net.head.bias += 1.0  # as after fine-tuning
    with_backend(model, "onnx")
    assert len(list(onnx_cache_dir().glob("*.onnx"))) == 2


def test_backend_resolution_and_errors():
    assert resolve_backend("auto", "cpu") == "onnx"
    assert resolve_backend("torch", "cpu") == "torch"
    assert resolve_backend("auto", "cuda") == "torch"
    with pytest.raises(ExchangeError, match="runs on the CPU"):
        resolve_backend("onnx", "cuda")
    with pytest.raises(ExchangeError, match="backend must be one of"):
        resolve_backend("tensorrt", "cpu")
    model = make_tiny_model()
    assert with_backend(model, "torch") is model
    onnx_model = with_backend(model, "onnx")
    back = with_backend(onnx_model, "torch")
    assert type(back) is medseg_core.model.SegmentationModel and back.net is model.net


def test_onnx_model_pickles_for_worker_processes():
    import pickle

    model = with_backend(make_tiny_model(), "onnx")
    image, _ = synthetic_nuclei(size=64)
    clone = pickle.loads(pickle.dumps(model))
    a = medseg_core.segment(image, model)
    b = medseg_core.segment(image, clone)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_cli_backends_write_the_same_labels(tmp_path, capsys):
    model_path = make_tiny_model(in_channels=1).save(tmp_path / "tiny.safetensors")
    image, _ = synthetic_nuclei(size=96)
    iio.imwrite(tmp_path / "img.png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
    for backend in ("torch", "onnx"):
        args = ["segment", str(tmp_path / "img.png"), "--model", str(model_path), "--out", str(tmp_path / backend)]
        assert main([*args, "--backend", backend]) == 0
    capsys.readouterr()
    torch_labels = tifffile.imread(tmp_path / "torch" / "img_labels.tif")
    onnx_labels = tifffile.imread(tmp_path / "onnx" / "img_labels.tif")
    np.testing.assert_array_equal(torch_labels, onnx_labels)
    with pytest.raises(SystemExit):
        main(["segment", str(tmp_path / "img.png"), "--out", str(tmp_path / "x"), "--backend", "tensorrt"])
    assert "--backend" in capsys.readouterr().err


def test_onnxruntime_is_imported_only_for_the_onnx_backend(tmp_path):
    """And the exchange modules, like the rest of the engine, import no Qt."""
    model_path = make_tiny_model(in_channels=1).save(tmp_path / "tiny.safetensors")
    image, _ = synthetic_nuclei(size=64)
    iio.imwrite(tmp_path / "img.png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
    code = (
        "import sys\n"
        "import medseg_core, medseg_core.segment, medseg_core.exchange.onnx_backend\n"
        "import medseg_core.exchange.bioimageio_export, medseg_core.exchange.bioimageio_import\n"
        "from medseg_core.cli import main\n"
        f"rc = main(['segment', {str(tmp_path / 'img.png')!r}, '--model', {str(model_path)!r}, "
        f"'--out', {str(tmp_path / 'out')!r}, '--backend', 'torch'])\n"
        "assert rc == 0, rc\n"
        "assert 'onnxruntime' not in sys.modules and 'onnx' not in sys.modules, 'imported'\n"
        "qt = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', 'napari')]\n"
        "assert not qt, qt\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
