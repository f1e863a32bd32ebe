"""The Fine-tune panel: real (tiny) training in a worker, Stop, refusals, model manager."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
from qtpy.QtCore import QTimer

import medseg_core
from conftest import make_tiny_model, synthetic_nuclei
from medseg_app import finetune_models, finetune_sources
from medseg_app.finetune_widget import FineTuneWidget
from medseg_core.io import write_labels
from medseg_core.model import load_model_file, read_info
from medseg_core.registry import user_models_dir

pytestmark = pytest.mark.gui


@pytest.fixture
def tiny_base():
    """A tiny real instance model saved as the user model 'tiny'."""
    return make_tiny_model(name="tiny").save(user_models_dir() / "tiny.safetensors")


def open_panel(make_napari_viewer, n_pairs: int = 2, epochs: int = 2):
    """A viewer with ``n_pairs`` synthetic image/labels layers and the panel set for a tiny run."""
    viewer = make_napari_viewer()
    for i in range(n_pairs):
        image, labels = synthetic_nuclei(size=96, n=6, seed=i)
        viewer.add_image(image, name=f"cells{i}")
        viewer.add_labels(labels, name=f"cells{i} labels")
    widget = FineTuneWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Fine-tune")
    settings = widget.settings
    assert settings.set_base("tiny")
    settings.epochs_radio.setChecked(True)
    settings.epochs_spin.setValue(epochs)
    settings.steps_spin.setValue(3)
    settings.batch_spin.setValue(2)
    settings.crop_spin.setValue(64)
    settings.lr_spin.setValue(3e-3)
    return viewer, widget


def wait_for_end(qtbot, widget, timeout: int = 180_000) -> None:
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def test_training_runs_in_a_worker_and_saves_a_usable_model(make_napari_viewer, qtbot, tiny_base):
    viewer, widget = open_panel(make_napari_viewer)
    widget.data.update_summary()
    assert "2 pairs" in widget.data.summary_label.text()
    assert "1 training / 1 validation" in widget.data.summary_label.text()
    name = widget.settings.name_edit.text()
    assert name.startswith("tiny-20")

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1) if widget.worker is not None else None)
    timer.start(5)
    assert widget.start()
    assert not widget.start_button.isEnabled() and widget.stop_button.isEnabled()
    wait_for_end(qtbot, widget)
    timer.stop()

    assert len(ticks) > 3, "the event loop did not run while training"
    assert widget.start_button.isEnabled() and not widget.stop_button.isEnabled()
    outcome = widget.outcome
    assert outcome is not None and not outcome.error and outcome.steps == 6
    assert widget.loss_plot.steps == list(range(1, 7))
    assert widget.metrics_plot.epochs == [1.0, 2.0]
    assert set(widget.metrics_plot.values) == {"accuracy", "precision", "recall", "f1", "iou", "ap50"}
    assert widget.loss_plot.redraws >= 1 and widget.metrics_plot.redraws >= 1
    status = widget.status_label.text()
    # saved either way; a run that beat nothing on the held-back image says the copy keeps the base weights
    assert ("saved" in status) if outcome.improved else ("keeps the base model's weights" in status)

    path = user_models_dir() / f"{name}.safetensors"
    assert outcome.path == path and path.is_file()
    model = load_model_file(path)
    assert model.info.name == name and model.info.parent == "tiny"
    assert [d["image"] for d in model.info.training["data"]["layers"]] == ["cells0", "cells1"]
    assert model.info.metrics and "ap50" in model.info.training["parent_metrics"]
    assert name in widget.settings.base_names()
    assert widget.compare_table.rowCount() >= 6  # one row per metric: base model, new model
    assert widget.compare_table.item(0, 0).text() != "–" and widget.compare_table.item(0, 1).text() != "–"
    assert widget.settings.name_edit.text() != name  # a fresh default for the next run

    image = viewer.layers["cells0"].data
    result = medseg_core.segment(image, medseg_core.load_model(name, device="cpu"))
    assert result.labels.shape == image.shape and result.model_name == name


def test_stop_keeps_files_intact(make_napari_viewer, qtbot, tiny_base):
    base_bytes = tiny_base.read_bytes()
    viewer, widget = open_panel(make_napari_viewer, n_pairs=2, epochs=500)
    assert widget.start()
    qtbot.waitUntil(lambda: len(widget.loss_plot.steps) >= 1, timeout=120_000)
    widget.stop_button.click()
    assert not widget.stop_button.isEnabled()
    wait_for_end(qtbot, widget)

    outcome = widget.outcome
    assert outcome.stopped and 1 <= outcome.steps < 1500
    assert tiny_base.read_bytes() == base_bytes
    files = sorted(user_models_dir().glob("*.safetensors"))  # hidden temporary files included
    assert len(files) == 2 and outcome.path in files
    for file in files:
        load_model_file(file)
    assert "stopped" in widget.status_label.text().lower()


def test_refusals_start_no_worker(make_napari_viewer, qtbot, tiny_base):
    viewer = make_napari_viewer()
    widget = FineTuneWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.settings.set_base("tiny")
    assert not widget.start() and widget.worker is None
    assert "no training data" in widget.status_label.text().lower()

    image, labels = synthetic_nuclei(size=96)
    viewer.add_image(image, name="img")
    viewer.add_labels(labels[:80, :90], name="img labels")
    widget.data.refresh_layers()
    assert not widget.start() and widget.worker is None
    assert "96x96 but labels 'img labels' are 80x90" in widget.status_label.text().lower()
    widget.data.update_summary()
    assert "shapes must match" in widget.data.summary_label.text()

    widget.data.set_checked("img", labels_name="(none)")
    assert not widget.start() and "has no labels layer" in widget.status_label.text().lower()

    viewer.layers.remove("img labels")
    viewer.add_labels(labels, name="img labels")
    widget.data.set_checked("img", labels_name="img labels")
    widget.settings.name_edit.setText("tiny")
    assert not widget.start() and "already exists" in widget.status_label.text().lower()
    widget.settings.name_edit.setText("bad/name")
    assert not widget.start() and "not a usable model name" in widget.status_label.text().lower()
    assert widget.worker is None and widget.loss_plot.steps == []


def test_model_manager_rename_export_delete(make_napari_viewer, qtbot, tiny_base, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    make_tiny_model(name="stock").save(shipped / "stock.safetensors")
    monkeypatch.setattr("medseg_core.registry.shipped_models_dir", lambda: shipped)
    viewer = make_napari_viewer()
    widget = FineTuneWidget(viewer)
    viewer.window.add_dock_widget(widget)
    manager = widget.models
    make_tiny_model(name="mine").save(user_models_dir() / "mine.safetensors")
    widget.refresh_models()
    assert {"stock", "tiny", "mine"} <= set(widget.settings.base_names())

    assert manager.select("stock")
    assert not manager.rename_button.isEnabled() and not manager.delete_button.isEnabled()
    assert manager.export_button.isEnabled()

    assert manager.select("mine")
    monkeypatch.setattr(finetune_models, "ask_new_name", lambda parent, current: "renamed")
    manager.rename_button.click()
    new = user_models_dir() / "renamed.safetensors"
    assert new.is_file() and not (user_models_dir() / "mine.safetensors").exists()
    assert read_info(new).name == "renamed"
    assert "renamed" in widget.settings.base_names() and "mine" not in widget.settings.base_names()

    monkeypatch.setattr(finetune_models, "ask_new_name", lambda parent, current: "stock")
    manager.rename_button.click()
    assert new.is_file() and "shipped model" in widget.status_label.text().lower()

    monkeypatch.setattr(
        finetune_models, "choose_export_path", lambda parent, suggested: str(tmp_path / "copy")
    )
    manager.export_button.click()
    assert (tmp_path / "copy.safetensors").read_bytes() == new.read_bytes()

    monkeypatch.setattr(finetune_models, "ask_confirmation", lambda parent, title, text: False)
    manager.delete_button.click()
    assert new.is_file()
    monkeypatch.setattr(finetune_models, "ask_confirmation", lambda parent, title, text: True)
    manager.delete_button.click()
    assert not new.exists() and "renamed" not in widget.settings.base_names()
    assert (shipped / "stock.safetensors").is_file()


def test_unexpected_error_is_one_line_and_re_enables_the_buttons(
    make_napari_viewer, qtbot, tiny_base, monkeypatch
):
    def broken(*args, **kwargs):
        yield from ()
        raise RuntimeError("disk on fire")  # superqt would swallow a RuntimeError: the job reports it

    monkeypatch.setattr("medseg_core.finetune.train_iter", broken)
    viewer, widget = open_panel(make_napari_viewer)
    assert widget.start()
    wait_for_end(qtbot, widget)
    assert "unexpected error (runtimeerror: disk on fire)" in widget.status_label.text().lower()
    assert "traceback" not in widget.status_label.text().lower()
    assert widget.start_button.isEnabled() and not widget.stop_button.isEnabled()
    assert widget.settings.isEnabled() and widget.data.isEnabled()


def test_job_turns_user_errors_into_an_outcome(tiny_base):
    from dataclasses import replace

    from medseg_app.finetune_job import FineTuneJob, run_finetune

    from medseg_core.finetune_data import plan_validation, sources_from_arrays
    from medseg_core.progress import drain
    from medseg_core.training import TrainConfig

    plan = plan_validation(sources_from_arrays("a", *synthetic_nuclei(size=48, n=3)))
    config = TrainConfig(epochs=1, steps_per_epoch=1, batch_size=1, crop=32, device="cpu")
    job = FineTuneJob("no-such-model", "new", user_models_dir() / "new.safetensors", plan, config)
    outcome = drain(run_finetune(job, lambda: False))
    assert "no model named 'no-such-model'" in outcome.error and outcome.path is None
    stopped = drain(run_finetune(replace(job, base="tiny"), lambda: True))
    assert stopped.stopped and "nothing saved" in " ".join(stopped.notices) and not job.out_path.exists()


def _write_folder(folder, n: int = 2) -> None:
    """A training folder: images/ and masks/ of synthetic nuclei, matched by name."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(n):
        image, labels = synthetic_nuclei(size=64, n=4, seed=i)
        tifffile.imwrite(folder / "images" / f"cells{i}.tif", (image * 255).clip(0, 255).astype(np.uint8))
        write_labels(folder / "masks" / f"cells{i}.tif", labels)


def test_training_folder_is_read_in_a_worker(make_napari_viewer, qtbot, tiny_base, tmp_path, monkeypatch):
    reads = []
    original = finetune_sources.sources_from_folder

    def spy(folder, **kwargs):
        reads.append(threading.current_thread() is threading.main_thread())
        return original(folder, **kwargs)

    monkeypatch.setattr(finetune_sources, "sources_from_folder", spy)
    viewer = make_napari_viewer()
    widget = FineTuneWidget(viewer)
    viewer.window.add_dock_widget(widget)
    _write_folder(tmp_path / "train")
    widget.data.set_training_folder(tmp_path / "train")
    summary = widget.data.summary_label
    qtbot.waitUntil(lambda: "2 pairs" in summary.text(), timeout=30_000)
    assert reads == [False]  # read once, off the UI thread
    assert "8 objects" in summary.text()  # every mask was read to count its objects

    widget.data.set_training_folder(tmp_path / "nothing here")  # not usable: said in the panel
    qtbot.waitUntil(lambda: "folder not usable" in summary.text().lower(), timeout=30_000)
    assert not widget.start() and widget.worker is None


def test_a_bug_while_following_the_layers_is_not_swallowed(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    widget = FineTuneWidget(viewer)
    viewer.window.add_dock_widget(widget)

    def broken(*args):
        raise RuntimeError("a bug in the layer table")

    monkeypatch.setattr(finetune_sources, "match_labels_name", broken)
    with pytest.raises(RuntimeError, match="a bug in the layer table"):
        viewer.add_image(np.zeros((32, 32)), name="img")


def test_training_records_do_not_flood_the_ui_thread(make_napari_viewer, qtbot, tiny_base):
    from medseg_core.training import StepEvent

    viewer, widget = open_panel(make_napari_viewer)
    texts, values = [], []
    widget.status_label.setText = texts.append  # count what reaches the widgets
    widget.progress.setValue = values.append
    widget.worker = object()  # as while a run is going
    redraws = widget.loss_plot.redraws
    for step in range(1, 201):  # 200 steps arriving at once, as from a fast training loop
        widget._on_event(StepEvent(step, 1, 1.0 / step, 1e-3, step * 0.01, step / 200))
    qtbot.wait(1000)  # several times the throttle interval
    widget.worker = None
    assert 1 <= len(texts) <= 3 and "step 200" in texts[-1]  # throttled, and the last one is shown
    assert 1 <= len(values) <= 3 and values[-1] == 1000
    assert widget.loss_plot.steps == list(range(1, 201))  # every point is kept
    assert widget.loss_plot.redraws - redraws <= 2


def test_training_leaves_a_cpu_core_to_the_interface(make_napari_viewer, qtbot, tiny_base, monkeypatch):
    import torch

    from medseg_app import finetune_widget
    from medseg_app._segment_job import inference_threads
    from medseg_app.finetune_job import FineTuneOutcome

    seen = []

    def fake_run(job, should_stop):
        seen.append(torch.get_num_threads())
        yield from ()
        return FineTuneOutcome(error="not trained: a test")

    monkeypatch.setattr(finetune_widget, "run_finetune", fake_run)
    before = torch.get_num_threads()
    viewer, widget = open_panel(make_napari_viewer)
    assert widget.start()
    wait_for_end(qtbot, widget)
    assert seen == [inference_threads()]  # all cores but one, as a Segment run
    assert torch.get_num_threads() == before


def test_a_run_that_beats_nothing_says_so_and_offers_to_discard_the_copy(make_napari_viewer, qtbot, tiny_base):
    viewer, widget = open_panel(make_napari_viewer)
    widget.settings.lr_spin.setValue(widget.settings.lr_spin.minimum())  # too small to change anything
    assert widget.start()
    wait_for_end(qtbot, widget)
    outcome = widget.outcome
    if outcome.improved:
        pytest.skip("the smallest learning rate still moved the validation score")
    status = widget.status_label.text()
    assert "No training epoch beat the base model on the held-back images" in status
    assert outcome.held_back[0] in status
    assert not widget.discard_button.isHidden() and outcome.path.is_file()
    widget.discard_button.click()
    assert not outcome.path.exists() and widget.discard_button.isHidden()
    assert "base model is unchanged" in widget.status_label.text()
