"""Desktop app: the MedSeg window (panels, menu actions, plugin manifest)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from npe2 import PluginManifest
from qtpy.QtGui import QAction

from medseg_core.io import read_labels
from medseg_core.registry import user_models_dir
from medseg_app import _dialogs
from _app_support import *  # noqa: F403
from _app_support import SAMPLE, wait_count

pytestmark = pytest.mark.gui


def _action(window, name: str) -> QAction:
    action = window.menu.findChild(QAction, name)
    assert action is not None, name
    return action


def test_window_has_panels_menu_and_title(app):
    viewer, window = app
    assert viewer.title == "MedSeg"
    assert {"Segment", "Correct", "Count"} <= set(window.widgets)
    names = [a.objectName() for a in window.menu.findChildren(QAction)]
    for name in ("open_image_action", "segment_action", "export_csv_action", "save_labels_action", "shortcuts_action"):
        assert name in names


def test_menu_actions_open_segment_and_save(app, qtbot, tmp_path, monkeypatch):
    viewer, window = app
    monkeypatch.setattr(_dialogs, "choose_open_paths", lambda *a, **k: [str(SAMPLE)])
    _action(window, "open_image_action").trigger()
    assert [layer.name for layer in viewer.layers] == ["nuclei_fluorescence"]
    _action(window, "segment_action").trigger()
    qtbot.waitUntil(lambda: not window.widgets["Segment"].running, timeout=60_000)
    layer = viewer.layers["nuclei_fluorescence labels"]
    wait_count(qtbot, window.widgets["Count"], int(len(np.unique(layer.data)) - 1))
    out = tmp_path / "menu.tif"
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: str(out))
    _action(window, "save_labels_action").trigger()
    np.testing.assert_array_equal(read_labels(out), layer.data)
    out_csv = tmp_path / "menu.csv"
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: str(out_csv))
    _action(window, "export_csv_action").trigger()
    assert len(out_csv.read_text().splitlines()) == len(np.unique(layer.data))  # header + one row per object


def test_sample_menu_and_plugin_menu_reuse_docks(app):
    viewer, window = app
    _action(window, "sample_nuclei_he_action").trigger()
    assert viewer.layers["nuclei_he"].rgb
    dock, widget = viewer.window.add_plugin_dock_widget("medseg", "Count")  # Plugins > MedSeg > Count
    assert dock is window.docks["Count"]  # no second Count panel


def test_manifest_lists_the_contributions():
    manifest = PluginManifest.from_distribution("medseg")
    assert {w.display_name for w in manifest.contributions.widgets} == {"Segment", "Correct", "Count", "Fine-tune"}
    assert {s.key for s in manifest.contributions.sample_data} == {"nuclei_fluorescence", "nuclei_he"}
    patterns = manifest.contributions.readers[0].filename_patterns
    assert "*.nii.gz" in patterns and "*.dcm" in patterns and "*.tif" in patterns


def test_main_settles_the_start_up_before_the_event_loop(make_napari_viewer, monkeypatch):
    import gc
    import sys

    import napari

    from medseg_app import main as app_main
    from medseg_app._responsiveness import SWITCH_INTERVAL_S

    made, at_run = [], []
    original = app_main.create_viewer
    monkeypatch.setattr(app_main, "create_viewer", lambda files: made.append(original(files, viewer=make_napari_viewer())))
    monkeypatch.setattr(napari, "run", lambda: at_run.append((gc.get_freeze_count(), sys.getswitchinterval())))
    gc.unfreeze()
    interval = sys.getswitchinterval()
    try:
        assert app_main.main([]) == 0
        assert len(made) == 1 and at_run
        frozen, switch = at_run[0]
        assert frozen > 1000 and switch == pytest.approx(SWITCH_INTERVAL_S)
    finally:
        gc.unfreeze()  # the other tests' viewers must stay collectable
        sys.setswitchinterval(interval)


def test_warm_up_leaves_the_layers_and_the_selection_as_they_were(make_napari_viewer):
    from medseg_app._responsiveness import warm_up_labels_layers

    viewer = make_napari_viewer()
    first = viewer.add_image(np.zeros((8, 8)), name="first")
    second = viewer.add_image(np.ones((8, 8)), name="second")
    viewer.layers.selection.active = first
    warm_up_labels_layers(viewer)
    assert [layer.name for layer in viewer.layers] == ["first", "second"]
    assert viewer.layers.selection.active is first and set(viewer.layers.selection) == {first}
    assert second not in viewer.layers.selection


class BrokenPanel:
    """A panel whose constructor has a bug."""

    def __init__(self, viewer) -> None:
        raise ValueError("a bug in a panel")


def test_panels_that_fail_are_reported_not_skipped_silently(make_napari_viewer, monkeypatch, caplog):
    from napari.utils.notifications import notification_manager

    from medseg_app import _window
    from medseg_app.main import create_viewer, medseg_window

    panels = (
        *_window.PANELS,
        ("Broken", f"{__name__}:BrokenPanel", False),
        ("Missing", "medseg_app.no_such_panel:Panel", False),
    )
    monkeypatch.setattr(_window, "PANELS", panels)
    errors = []
    notification_manager.notification_ready.connect(lambda n: errors.append(n.message))
    with caplog.at_level(logging.ERROR):
        window = medseg_window(create_viewer(viewer=make_napari_viewer()))
    logged = [(r.getMessage(), r.exc_info is not None) for r in caplog.records if r.levelno >= logging.ERROR]
    caplog.clear()  # the records' tracebacks hold the viewer
    notification_manager.notification_ready.disconnect()
    assert {"Segment", "Correct", "Fine-tune", "Count"} == set(window.widgets)  # the others still start
    assert [message for message, _ in logged] == [
        "The Broken panel could not start",
        "The Panel panel could not be loaded",
    ]
    assert all(traceback for _, traceback in logged)
    assert len(errors) == 2 and "ValueError: a bug in a panel" in errors[0] and "ModuleNotFoundError" in errors[1]


def test_closing_after_a_fine_tune_leaves_no_worker_running(app, qtbot, monkeypatch):
    from qtpy.QtCore import QThreadPool

    from conftest import make_tiny_model, synthetic_nuclei
    from medseg_app import _recount

    viewer, window = app
    make_tiny_model(name="tiny").save(user_models_dir() / "tiny.safetensors")
    for i in range(2):
        image, labels = synthetic_nuclei(size=96, n=6, seed=i)
        viewer.add_image(image, name=f"cells{i}")
        viewer.add_labels(labels, name=f"cells{i} labels")
    window.widgets["Count"].recounter.thread_min_pixels = 0  # every count in a worker, as for large images
    panel = window.widgets["Fine-tune"]
    panel.refresh_models()
    assert panel.settings.set_base("tiny")
    panel.settings.epochs_radio.setChecked(True)
    panel.settings.epochs_spin.setValue(1)
    panel.settings.steps_spin.setValue(2)
    panel.settings.batch_spin.setValue(2)
    panel.settings.crop_spin.setValue(64)
    assert panel.start()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=180_000)
    assert panel.outcome is not None and panel.outcome.path is not None

    started = []
    original = _recount.create_worker
    monkeypatch.setattr(_recount, "create_worker", lambda *a, **k: started.append(a) or original(*a, **k))
    viewer.close()  # removes the layers: the Count panel must not start counting them
    assert started == []
    assert QThreadPool.globalInstance().activeThreadCount() == 0


def test_layers_in_pixels_and_micrometres_show_one_kind_of_unit(app, tmp_path, monkeypatch):
    import napari._vispy.canvas
    import tifffile

    from medseg_app._window import open_paths

    viewer, _window_ = app
    warnings = []
    monkeypatch.setattr(napari._vispy.canvas, "show_warning", warnings.append)
    micro = tmp_path / "micro.tif"
    metadata = {"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    metadata.update(PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
    tifffile.imwrite(micro, np.zeros((64, 64), np.uint16), ome=True, photometric="minisblack", metadata=metadata)
    [physical] = open_paths(viewer, [micro])
    assert [str(u) for u in physical.units] == ["micrometer", "micrometer"]

    [pixels] = open_paths(viewer, [SAMPLE])  # no pixel size: napari warns once as it adds it
    assert viewer.layers.extent.units is not None  # then MedSeg made the units consistent
    assert {str(u) for layer in viewer.layers for u in layer.units} == {"pixel"}
    np.testing.assert_allclose(physical.scale, (0.5, 0.5))  # the geometry is unchanged
    for i in range(3):  # adding and removing layers no longer warns, every time
        viewer.add_labels(np.zeros((64, 64), np.uint8), name=f"drawn{i}")
        viewer.screenshot(canvas_only=True)  # a draw: napari checks the units then
    for i in range(3):
        viewer.layers.remove(f"drawn{i}")
        viewer.screenshot(canvas_only=True)
    viewer.layers.remove(pixels)
    viewer.screenshot(canvas_only=True)
    assert [str(u) for u in physical.units] == ["micrometer", "micrometer"]  # back to its own unit
    assert len([w for w in warnings if "units" in str(w)]) <= 1


def test_fine_tune_panel_fits_a_laptop_screen(app, qtbot):
    from qtpy.QtWidgets import QScrollArea

    viewer, window = app
    window.qt_window.resize(1366, 768)
    window.qt_window.show()
    panel, count = window.widgets["Fine-tune"], window.docks["Count"]
    window.docks["Fine-tune"].raise_()
    qtbot.waitUntil(lambda: not count.isVisible(), timeout=5000)  # Count gives way to Fine-tune
    for index in range(panel.tabs.count()):
        panel.tabs.setCurrentIndex(index)
        qtbot.wait(50)
        visible = panel.visibleRegion().boundingRect()
        assert visible.height() == panel.height() and visible.width() == panel.width(), panel.tabs.tabText(index)
        assert panel.height() >= panel.minimumSizeHint().height() and panel.width() >= panel.minimumSizeHint().width()
    scroll = panel.parentWidget().parentWidget()
    if isinstance(scroll, QScrollArea):
        assert not scroll.verticalScrollBar().isVisible() and not scroll.horizontalScrollBar().isVisible()
    assert window.qt_window.height() <= 768 and window.qt_window.width() <= 1366
    window.docks["Segment"].raise_()
    qtbot.waitUntil(count.isVisible, timeout=5000)  # and comes back with the other tabs
