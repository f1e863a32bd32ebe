"""Desktop app: autosave, restore on reopen, clearing after save, quit guard."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from qtpy.QtGui import QCloseEvent

from medseg_core.io import read_labels
from medseg_app import _dialogs, recovery
from medseg_app._layer_state import checksum, is_unsaved
from medseg_app._window import open_paths
from medseg_app.main import create_viewer, medseg_window
from _app_support import *  # noqa: F403
from _app_support import SAMPLE, free_spot

pytestmark = pytest.mark.gui


@pytest.fixture
def image_file(tmp_path):
    """A copy of the sample whose modification time is in the past."""
    path = tmp_path / "cells.png"
    shutil.copy(SAMPLE, path)
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


def _open_with_labels(viewer, image_file):
    [image] = open_paths(viewer, [image_file])
    data = np.zeros(image.data.shape, np.uint16)
    data[10:20, 10:20] = 1
    meta = {"medseg": {"image": image.name, "source": str(image_file.resolve()), "baseline": checksum(data)}}
    return image, viewer.add_labels(data, name="cells labels", metadata=meta)


def _edit_and_autosave(qtbot, window, layer):
    window.recovery._timer.setInterval(50)
    layer.paint(free_spot(layer.data), 7)
    key = recovery.key_for(layer.metadata["medseg"]["source"], "cells")
    tif = recovery.recovery_dir() / f"{key}.tif"
    qtbot.waitUntil(lambda: tif.is_file() and (recovery.recovery_dir() / f"{key}.json").is_file(), timeout=10_000)
    window.recovery.wait()
    return tif


def test_edits_autosave_and_restore_on_reopen(app, qtbot, make_napari_viewer, image_file, monkeypatch):
    viewer, window = app
    _image, layer = _open_with_labels(viewer, image_file)
    assert window.recovery.autosave() == []  # unedited labels are not autosaved
    tif = _edit_and_autosave(qtbot, window, layer)
    np.testing.assert_array_equal(read_labels(tif), layer.data)
    record = json.loads(tif.with_suffix(".json").read_text())
    assert record["source"] == str(image_file.resolve()) and record["layer"] == "cells labels"
    edited = layer.data.copy()

    # a later session: reopening the image offers the autosaved labels
    asked = []
    monkeypatch.setattr(_dialogs, "ask_restore", lambda parent, image, saved: asked.append(image) or True)
    second = create_viewer(viewer=make_napari_viewer())
    open_paths(second, [image_file])
    qtbot.waitUntil(lambda: "cells labels" in second.layers, timeout=5000)
    assert asked == ["cells"]
    restored = second.layers["cells labels"]
    np.testing.assert_array_equal(restored.data, edited)
    assert is_unsaved(restored)
    assert medseg_window(second).unsaved_layers() == ["cells labels"]


def test_declining_restore_discards_it(app, qtbot, make_napari_viewer, image_file):
    viewer, window = app
    _image, layer = _open_with_labels(viewer, image_file)
    tif = _edit_and_autosave(qtbot, window, layer)
    second = create_viewer(viewer=make_napari_viewer())  # ask_restore answers "Discard" by default
    open_paths(second, [image_file])
    qtbot.waitUntil(lambda: not tif.exists(), timeout=5000)
    assert [layer.name for layer in second.layers] == ["cells"]


def test_no_offer_when_the_image_is_newer(app, qtbot, make_napari_viewer, image_file, monkeypatch):
    viewer, window = app
    _image, layer = _open_with_labels(viewer, image_file)
    _edit_and_autosave(qtbot, window, layer)
    os.utime(image_file, None)  # the image changed after the autosave
    time.sleep(0.01)
    assert recovery.find(str(image_file.resolve()), "cells") is None


def test_explicit_save_clears_recovery(app, qtbot, image_file, tmp_path, monkeypatch):
    viewer, window = app
    _image, layer = _open_with_labels(viewer, image_file)
    tif = _edit_and_autosave(qtbot, window, layer)
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: str(tmp_path / "saved.tif"))
    window.widgets["Count"].save_labels()
    assert not tif.exists() and not tif.with_suffix(".json").exists()
    assert not is_unsaved(layer) and window.unsaved_layers() == []


def test_quit_with_unsaved_labels_asks_first(make_napari_viewer, qtbot, image_file, monkeypatch, demo_model_path):
    viewer = create_viewer(viewer=make_napari_viewer(show=True))
    window = medseg_window(viewer)
    qt_window = window.qt_window
    _image, layer = _open_with_labels(viewer, image_file)
    assert window.unsaved_layers() == ["cells labels"]  # a result never written to disk counts
    layer.paint(free_spot(layer.data), 3)
    asked = []
    monkeypatch.setattr(_dialogs, "ask_quit", lambda parent, names: asked.append(list(names)) or False)
    qt_window.close()  # the filter stops the event before napari's closeEvent runs
    assert asked == [["cells labels"]]
    assert qt_window.isVisible()  # the user cancelled: the app stays open
    monkeypatch.setattr(_dialogs, "ask_quit", lambda parent, names: True)
    event = QCloseEvent()  # "quit anyway": the close event passes on to napari (not closed for real here,
    assert window.eventFilter(qt_window, event) is False  # so the fixture can tear the viewer down)
    assert event.isAccepted()
    key = recovery.key_for(str(image_file.resolve()), "cells")
    assert (recovery.recovery_dir() / f"{key}.tif").is_file()  # work kept for the next session
