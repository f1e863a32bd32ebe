"""Desktop app: the MedSeg window (panels, menu actions, plugin manifest)."""

from __future__ import annotations

import numpy as np
import pytest
from npe2 import PluginManifest
from qtpy.QtGui import QAction

from medseg_core.io import read_labels
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


def test_main_freezes_the_start_up_objects_before_the_event_loop(make_napari_viewer, monkeypatch):
    import gc

    import napari

    from medseg_app import main as app_main

    made, frozen_at_run = [], []
    original = app_main.create_viewer
    monkeypatch.setattr(app_main, "create_viewer", lambda files: made.append(original(files, viewer=make_napari_viewer())))
    monkeypatch.setattr(napari, "run", lambda: frozen_at_run.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        assert app_main.main([]) == 0
        assert len(made) == 1 and frozen_at_run and frozen_at_run[0] > 1000
    finally:
        gc.unfreeze()  # the other tests' viewers must stay collectable
