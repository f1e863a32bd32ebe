"""The app remembers its window geometry, model, device and brush size (medseg_app.settings)."""

from __future__ import annotations

import json

import numpy as np

import pytest
from qtpy.QtGui import QCloseEvent, QGuiApplication

from medseg_app.main import create_viewer, medseg_window
from medseg_app.settings import AppSettings, config_dir, settings_path
from medseg_app._window import window_size
from _app_support import *  # noqa: F403


def test_settings_round_trip_in_the_redirected_folder(medseg_home):
    assert config_dir() == medseg_home / "config"  # conftest: tests never touch the real config folder
    assert AppSettings.load() == AppSettings()  # first start: defaults
    AppSettings(geometry="AAAA", model="/m/x.safetensors", device="cpu", brush_size=31).save()
    assert json.loads(settings_path().read_text())["brush_size"] == 31
    assert AppSettings.load() == AppSettings(geometry="AAAA", model="/m/x.safetensors", device="cpu", brush_size=31)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", AppSettings()),
        ("[1, 2]", AppSettings()),
        ('{"device": "tpu", "brush_size": 0, "model": 3}', AppSettings()),  # unknown, out of range, wrong type
        ('{"device": "cpu", "brush_size": true, "geometry": "QQ=="}', AppSettings(device="cpu", geometry="QQ==")),
    ],
)
def test_bad_settings_files_give_defaults_value_by_value(text, expected):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(text)
    assert AppSettings.load() == expected


def test_unwritable_settings_do_not_raise(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert AppSettings().save(blocker / "settings.json") is False  # a file where the folder should be


def test_first_window_size_fits_the_screen():
    assert window_size(1920, 1050) == (1536, 840)  # 80 %
    assert window_size(1366, 738) == (1280, 738)  # a small laptop: at least 1280 wide, never above the screen
    assert window_size(1024, 600) == (1024, 600)
    assert window_size(3840, 2100) == (3072, 1680)


@pytest.mark.gui
def test_first_start_sizes_the_window_to_the_screen(make_napari_viewer):
    viewer = create_viewer(viewer=make_napari_viewer(show=True))
    qt_window = medseg_window(viewer).qt_window
    area = (qt_window.screen() or QGuiApplication.primaryScreen()).availableGeometry()
    assert (qt_window.width(), qt_window.height()) == window_size(area.width(), area.height())
    assert not qt_window.windowIcon().isNull()
    assert qt_window.windowIcon().availableSizes()  # the PNGs of resources/icons were found


@pytest.mark.gui
def test_window_remembers_geometry_model_device_and_brush(make_napari_viewer, demo_model_path, qtbot):
    viewer = create_viewer(viewer=make_napari_viewer(show=True))
    window = medseg_window(viewer)
    window.qt_window.setGeometry(40, 30, 1000, 640)
    segment, correct = window.widgets["Segment"], window.widgets["Correct"]
    assert segment.models.select(str(demo_model_path))
    assert segment.select_device("cpu")
    first = viewer.add_labels(np.zeros((32, 32), "uint8"))
    correct.brush_size_spin.setValue(23)  # the user sets the brush of a labels layer
    assert first.brush_size == 23
    assert not settings_path().exists()  # nothing is written before the user closes the window
    assert window.eventFilter(window.qt_window, QCloseEvent()) is False  # the user closes the window
    saved = AppSettings.load()
    assert (saved.model, saved.device, saved.brush_size) == (str(demo_model_path), "cpu", 23)
    assert saved.geometry

    viewer2 = create_viewer(viewer=make_napari_viewer(show=True))
    window2 = medseg_window(viewer2)
    assert (window2.qt_window.width(), window2.qt_window.height()) == (1000, 640)
    assert window2.widgets["Segment"].models.current_path() == str(demo_model_path)
    assert window2.widgets["Segment"].device() == "cpu"
    assert window2.widgets["Correct"].brush_size_spin.value() == 23
    labels = viewer2.add_labels(np.zeros((32, 32), "uint8"))
    assert labels.brush_size == 23  # new labels layers take the remembered brush


@pytest.mark.gui
def test_a_remembered_model_that_is_gone_leaves_the_default(make_napari_viewer, demo_model_path):
    AppSettings(model=str(demo_model_path.with_name("deleted.safetensors")), device="mps").save()
    viewer = create_viewer(viewer=make_napari_viewer())
    segment = medseg_window(viewer).widgets["Segment"]
    assert segment.models.current_path() is not None
    assert segment.device() in ("auto", "mps")  # "mps" only where Apple Metal exists
