"""Desktop app: the napari reader, sample data, opening files and drops."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import tifffile
from napari.layers import Image, Labels
from qtpy.QtCore import QMimeData, QPointF, Qt, QUrl
from qtpy.QtGui import QDropEvent

from medseg_core.io import write_labels
from medseg_app import _dialogs, _reader, _window
from medseg_app._layers import image_of
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


def _write_image(path, data, spacing) -> None:
    """An OME-TIFF image with a pixel size (not a MedSeg labels file)."""
    axes = "ZYX"[-data.ndim :]
    metadata = {"axes": axes}
    for axis, size in zip(axes, spacing):
        metadata[f"PhysicalSize{axis}"] = size
        metadata[f"PhysicalSize{axis}Unit"] = "µm"
    tifffile.imwrite(path, data, ome=True, photometric="minisblack", metadata=metadata)


def test_tiff_spacing_becomes_scale(make_napari_viewer, tmp_path):
    path = tmp_path / "cells.tif"
    data = np.arange(40 * 30, dtype=np.uint16).reshape(40, 30)
    _write_image(path, data, (0.5, 0.25))
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
    _write_image(stack, np.ones((3, 20, 20), np.uint16), (2.0, 0.5, 0.5))
    [layer] = viewer.open(str(stack), plugin="medseg")
    assert isinstance(layer, Image)
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


def test_saved_labels_reopen_as_labels_of_their_image(app, tmp_path, monkeypatch):
    viewer, window = app
    source = tmp_path / "my cells.png"
    shutil.copy(SAMPLE, source)
    [image] = _window.open_paths(viewer, [source])
    data = np.zeros(image.data.shape, np.uint16)
    data[10:30, 10:30], data[50:60, 40:70] = 1, 7
    meta = {"image": "my cells", "source": str(source.resolve())}  # as the Segment panel makes them
    labels = viewer.add_labels(data, name="my cells labels", metadata={"medseg": meta})
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda parent, caption, suggested, filt: suggested)
    window.widgets["Count"].layer_combo.set_layer(labels)
    window.widgets["Count"].save_labels()  # the suggested name: my_cells_labels.tif beside the image
    saved = tmp_path / "my_cells_labels.tif"
    assert saved.is_file()
    viewer.layers.remove(labels)

    [reopened] = _window.open_paths(viewer, [saved])  # another session continues the corrections
    assert isinstance(reopened, Labels)
    assert reopened.name == "my cells labels"
    np.testing.assert_array_equal(reopened.data, data)
    assert image_of(viewer, reopened) is image
    assert reopened.metadata["medseg"]["source"] == str(source.resolve())
    assert window.unsaved_layers() == []  # just opened: nothing to save
    reopened.paint((5, 5), 9)
    assert window.unsaved_layers() == ["my cells labels"]


def test_labels_opened_before_their_image_are_paired_when_it_opens(app, tmp_path):
    viewer, window = app
    write_labels(tmp_path / "nuclei_fluorescence_labels.tif", np.ones((256, 256), np.uint16))
    [labels] = _window.open_paths(viewer, [tmp_path / "nuclei_fluorescence_labels.tif"])
    assert isinstance(labels, Labels) and labels.name == "nuclei_fluorescence labels"
    [image] = _window.open_paths(viewer, [SAMPLE])
    assert image_of(viewer, labels) is image
    assert labels.metadata["medseg"]["source"] == str(SAMPLE.resolve())


def test_a_bug_while_opening_is_logged_not_called_a_bad_file(app, monkeypatch, caplog):
    from napari.utils.notifications import notification_manager

    viewer, _window_ = app
    errors = []
    notification_manager.notification_ready.connect(lambda n: errors.append(n.message))

    def broken(path):
        raise TypeError("a bug in a reader")

    monkeypatch.setattr("medseg_core.io.read_image", broken)
    with caplog.at_level(logging.ERROR):
        assert _window.open_paths(viewer, [SAMPLE]) == []
    assert len(errors) == 1 and "TypeError: a bug in a reader" in errors[0] and "\n" not in errors[0]
    logged = [(r.getMessage(), r.exc_info is not None) for r in caplog.records if r.levelno >= logging.ERROR]
    caplog.clear()  # the records' tracebacks hold the viewer
    notification_manager.notification_ready.disconnect()
    assert len(logged) == 1 and "nuclei_fluorescence" in logged[0][0] and logged[0][1]  # with the traceback
