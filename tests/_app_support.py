"""Fixtures and helpers shared by the desktop-app tests (tests/test_app_*.py).

Import the fixtures into a test module with
``from _app_support import *  # noqa: F403``. The autouse ``medseg_home``
fixture of conftest.py already gives every test an empty user folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from demo_model import make_demo_model  # noqa: E402

from medseg_core.registry import shipped_models_dir, user_models_dir  # noqa: E402
from medseg_app import _dialogs  # noqa: E402

SAMPLE = ROOT / "resources" / "samples" / "nuclei_fluorescence.png"

__all__ = ["SAMPLE", "app", "demo_model_path", "free_spot", "no_dialogs", "seg_model_path", "wait_count"]


@pytest.fixture
def demo_model_path(medseg_home) -> Path:
    """The hand-set demo model saved as a user model (finds real objects)."""
    path = user_models_dir() / "demo.safetensors"
    make_demo_model().save(path)
    return path


@pytest.fixture
def seg_model_path(demo_model_path) -> Path:
    """The shipped nuclei model when it exists, else the demo model."""
    shipped = shipped_models_dir() / "nuclei.safetensors"
    return shipped if shipped.is_file() else demo_model_path


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    """No test may block on a modal dialog: every question has a default answer."""
    monkeypatch.setattr(_dialogs, "ask_overwrite", lambda parent, names: True)
    monkeypatch.setattr(_dialogs, "ask_restore", lambda parent, image, saved: False)
    monkeypatch.setattr(_dialogs, "ask_quit", lambda parent, names: True)
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: None)
    monkeypatch.setattr(_dialogs, "choose_open_paths", lambda *a, **k: [])


class AppHandle:
    """``viewer, window = app``; emptied at teardown so napari's leak check passes.

    (pytest keeps fixture values until the test is torn down; a fixture that
    returned the viewer itself would keep it alive during napari's check.)
    """

    def __init__(self, viewer, window) -> None:
        self.viewer, self.window = viewer, window

    def __iter__(self):
        return iter((self.viewer, self.window))

    def clear(self) -> None:
        self.viewer = self.window = None


@pytest.fixture
def app(make_napari_viewer, demo_model_path):
    """A napari viewer turned into the MedSeg app: ``viewer, window = app``."""
    from medseg_app.main import create_viewer, medseg_window

    viewer = create_viewer(viewer=make_napari_viewer())
    window = medseg_window(viewer)
    assert window.widgets["Segment"].models.select(str(demo_model_path))
    handle = AppHandle(viewer, window)
    del viewer
    yield handle
    handle.clear()


def wait_count(qtbot, count_widget, expected: int, timeout: int = 10_000) -> None:
    """Wait until the Count panel shows ``expected`` objects."""
    qtbot.waitUntil(lambda: count_widget.count == expected, timeout=timeout)


def free_spot(labels: np.ndarray, size: int = 12) -> tuple[int, int]:
    """Centre of a ``size`` x ``size`` all-background square."""
    h, w = labels.shape
    for y in range(0, h - size, 4):
        for x in range(0, w - size, 4):
            if not labels[y : y + size, x : x + size].any():
                return y + size // 2, x + size // 2
    raise AssertionError("no free spot")
