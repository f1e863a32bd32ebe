"""Desktop app: the napari reader, sample data, opening files and drops."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from qtpy.QtCore import QMimeData, QPointF, Qt, QUrl
from qtpy.QtGui import QDropEvent

from medseg_core.io import write_labels
from medseg_app import _reader, _window
from medseg_app._reader import napari_get_reader
from medseg_app.main import build_parser, create_viewer
from _app_support import *  # noqa: F403
from _app_support import ROOT, SAMPLE

pytestmark = pytest.mark.gui


def test_unsupported_path_returns_none(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert napari_get_reader(str(tmp_path)) is None  # folder without DICOM files
    assert napari_get_reader([str(SAMPLE), str(tmp_path / "notes.txt")]) is None


def test_corrupt_file_notifies_without_raising(tmp_path, monkeypatch):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 definitely not a tiff")
    errors = []
    monkeypatch.setattr(_reader, "show_error", errors.append)
    reader = napari_get_reader(str(bad))
    assert reader is not None
    assert reader(str(bad)) == [(None,)]
    assert len(errors) == 1 and "broken.tif" in errors[0] and "\n" not in errors[0]


def test_corrupt_file_in_viewer_adds_nothing(make_napari_viewer, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8)), name="existing")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    errors = []
    monkeypatch.setattr(_reader, "show_error", errors.append)
    assert viewer.open(str(bad), plugin="medseg") == []
    assert [layer.name for layer in viewer.layers] == ["existing"]
    assert errors


def test_tiff_spacing_becomes_scale(make_napari_viewer, tmp_path):
    path = tmp_path / "cells.tif"
    data = np.arange(40 * 30, dtype=np.uint16).reshape(40, 30)
    write_labels(path, data, spacing=(0.5, 0.25))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="medseg")
    assert layer.name == "cells"
    np.testing.assert_allclose(layer.scale, (0.5, 0.25))
    np.testing.assert_array_equal(layer.data, data)
    meta = layer.metadata["medseg"]
    assert meta["spacing"] == [0.5, 0.25] and meta["unit"] == "um" and meta["axes"] == "YX"


def test_rgb_and_stack(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    [rgb] = viewer.open(str(ROOT / "resources/samples/nuclei_he.png"), plugin="medseg")
    assert rgb.rgb and rgb.data.shape == (256, 320, 3)
    stack = tmp_path / "stack.tif"
    write_labels(stack, np.ones((3, 20, 20), np.uint16), spacing=(2.0, 0.5, 0.5))
    [layer] = viewer.open(str(stack), plugin="medseg")
    np.testing.assert_allclose(layer.scale, (2.0, 0.5, 0.5))


def test_sample_data_menu_entries(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("medseg", "nuclei_fluorescence")
    viewer.open_sample("medseg", "nuclei_he")
    assert [layer.name for layer in viewer.layers] == ["nuclei_fluorescence", "nuclei_he"]
    assert viewer.layers["nuclei_fluorescence"].data.shape == (256, 256)


def test_command_line_files_and_bad_file(make_napari_viewer, tmp_path, monkeypatch):
    errors = []
    monkeypatch.setattr(_window, "show_error", errors.append)
    monkeypatch.setattr(_reader, "show_error", errors.append)
    (tmp_path / "x.xyz").write_text("?")
    viewer = create_viewer([SAMPLE, tmp_path / "x.xyz", tmp_path / "missing.tif"], viewer=make_napari_viewer())
    assert viewer.title == "MedSeg"
    assert [layer.name for layer in viewer.layers] == ["nuclei_fluorescence"]
    assert len(errors) == 2 and all("\n" not in e for e in errors)
    assert build_parser().parse_args(["a.tif", "b.png"]).files == ["a.tif", "b.png"]


def test_dropped_file_opens_with_medseg(app, tmp_path):
    viewer, window = app
    target = tmp_path / "dropped.png"
    shutil.copy(SAMPLE, target)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(target))])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    # Qt delivers only real drag-and-drop Drop events, so hand the synthetic one to the filter
    # that MedSeg installs on napari's canvas widget (as napari's tests call dropEvent directly)
    assert window.eventFilter(window.qt_viewer, event) is True
    assert [layer.name for layer in viewer.layers] == ["dropped"]
    assert viewer.layers["dropped"].metadata["medseg"]["source"] == str(target.resolve())
