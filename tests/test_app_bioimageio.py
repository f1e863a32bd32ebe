"""App: My models > Export as bioimage.io (worker, progress, cancel) and the Segment panel's backend setting."""

from __future__ import annotations

import zipfile

import pytest

pytest.importorskip("bioimageio.spec")

from conftest import make_tiny_model  # noqa: E402
from medseg_app import _bioimageio_export  # noqa: E402
from medseg_app.finetune_models import ModelManagerWidget  # noqa: E402
from medseg_app.settings import AppSettings  # noqa: E402
from medseg_core.exchange.onnx_backend import OnnxSegmentationModel  # noqa: E402
from medseg_core.registry import user_models_dir  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def manager(qtbot, monkeypatch):
    monkeypatch.setattr(_bioimageio_export, "TEST_PACKAGE", False)  # bioimageio.core's test: tests/test_bioimageio.py
    make_tiny_model(name="my-cells").save(user_models_dir() / "my-cells.safetensors")
    make_tiny_model(name="abc").save(user_models_dir() / "abc.safetensors")
    widget = ModelManagerWidget()
    qtbot.addWidget(widget)
    messages: list[str] = []
    widget.message.connect(messages.append)
    return widget, messages


def test_export_as_bioimageio_runs_in_a_worker_and_writes_the_package(manager, qtbot, tmp_path, monkeypatch):
    widget, messages = manager
    out = tmp_path / "my-cells"
    monkeypatch.setattr(_bioimageio_export, "choose_package_path", lambda parent, suggested: str(out))
    assert widget.select("my-cells")
    widget.bioimageio_button.click()
    assert widget.bioimageio_button.text() == "Cancel export"  # the UI thread is free while it runs
    qtbot.waitUntil(lambda: widget.exporter.worker is None, timeout=120_000)
    assert (tmp_path / "my-cells.zip").is_file()
    with zipfile.ZipFile(tmp_path / "my-cells.zip") as archive:
        assert {"rdf.yaml", "weights.onnx", "weights_torchscript.pt", "README.md"} <= set(archive.namelist())
    assert any("writing the weights" in m for m in messages)
    assert messages[-1].startswith("Exported 'my-cells'")
    assert widget.bioimageio_button.text() == "Export as bioimage.io…"


def test_export_of_an_invalid_name_reports_one_line_and_writes_nothing(manager, qtbot, tmp_path, monkeypatch):
    widget, messages = manager
    monkeypatch.setattr(_bioimageio_export, "choose_package_path", lambda parent, suggested: str(tmp_path / "x.zip"))
    assert widget.select("abc")
    widget.bioimageio_button.click()
    qtbot.waitUntil(lambda: widget.exporter.worker is None, timeout=60_000)
    assert messages[-1].startswith("Export failed:") and "bioimage.io model name" in messages[-1]
    assert "\n" not in messages[-1]
    assert not (tmp_path / "x.zip").exists()


def test_cancelled_export_writes_nothing(manager, qtbot, tmp_path, monkeypatch):
    widget, messages = manager
    monkeypatch.setattr(_bioimageio_export, "choose_package_path", lambda parent, suggested: str(tmp_path / "c.zip"))
    assert widget.select("my-cells")
    widget.bioimageio_button.click()
    widget.bioimageio_button.click()  # second click: cancel
    qtbot.waitUntil(lambda: widget.exporter.worker is None, timeout=120_000)
    assert not (tmp_path / "c.zip").exists()
    assert any("cancelled" in m.lower() for m in messages)


def test_backend_setting_is_remembered_and_reaches_the_model_cache(tmp_path):
    from medseg_app._segment_job import ModelCache

    settings = AppSettings(backend="onnx")
    settings.save(tmp_path / "settings.json")
    assert AppSettings.load(tmp_path / "settings.json").backend == "onnx"
    (tmp_path / "bad.json").write_text('{"backend": "tensorrt"}')
    assert AppSettings.load(tmp_path / "bad.json").backend == "auto"

    path = make_tiny_model(name="tiny-b").save(tmp_path / "tiny-b.safetensors")
    cache = ModelCache()
    cache.backend = "onnx"
    assert isinstance(cache.get(path, "cpu"), OnnxSegmentationModel)
    cache.backend = "torch"
    assert not isinstance(cache.get(path, "cpu"), OnnxSegmentationModel)


def test_segment_panel_backend_combo(make_napari_viewer):
    from medseg_app.segment_widget import SegmentWidget

    widget = SegmentWidget(make_napari_viewer())
    assert widget.backend() == "auto"
    assert widget.select_backend("torch") and widget._cache.backend == "torch"
    assert not widget.select_backend("tensorrt") and widget.backend() == "torch"
