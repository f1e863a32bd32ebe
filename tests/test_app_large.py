"""Desktop app with a large image: lazy multiscale layer, Segment in blocks with progress and Cancel, counts."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from napari.layers import Labels
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QPushButton

import medseg_core
from medseg_app import _large
from medseg_app._export import full_table
from medseg_app._reader import napari_get_reader
from _app_support import *  # noqa: F403
from test_large_blocks import nuclei_image

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture
def large_file(tmp_path, monkeypatch):
    """A 2304 x 2112 tiled TIFF, treated as large (MEDSEG_BLOCK_PIXELS lowered)."""
    monkeypatch.setenv("MEDSEG_BLOCK_PIXELS", str(1000 * 1000))
    path = tmp_path / "slide.tif"
    tile = nuclei_image(576, 528, seed=4)
    tifffile.imwrite(path, np.tile(tile, (4, 4)), tile=(256, 256), compression="zlib")
    return path


def _click(qtbot, widget, name: str) -> None:
    button = widget.findChild(QPushButton, name)
    assert button is not None and button.isEnabled(), name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_large_image_opens_lazily_as_multiscale(large_file):
    reader = napari_get_reader(str(large_file))
    assert reader is not None
    [(levels, kwargs, kind)] = reader(str(large_file))
    assert kind == "image" and kwargs["multiscale"] is True
    assert [lv.shape for lv in levels] == [(2304, 2112), (1152, 1056), (576, 528)]
    assert type(levels[0]).__module__.startswith("dask")  # lazy: nothing decoded yet
    assert np.array_equal(np.asarray(levels[1][:10, :10]), tifffile.imread(large_file)[:20:2, :20:2])


def test_segment_large_layer_in_blocks_then_count(app, qtbot, large_file, seg_model_path, monkeypatch):
    viewer, window = app
    seg, count = window.widgets["Segment"], window.widgets["Count"]
    viewer.open(str(large_file), plugin="medseg")
    image = viewer.layers["slide"]
    assert image.multiscale
    assert seg.models.select(str(seg_model_path))
    _click(qtbot, seg, "segment_button")
    assert seg.running and seg.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not seg.running, timeout=600_000)
    layer = viewer.layers["slide labels"]
    assert isinstance(layer, Labels) and layer.multiscale
    level0 = layer.data[0]
    assert level0.shape == (2304, 2112)
    reference = medseg_core.load_model(seg_model_path)
    assert reference.info.task == "instance"
    labels = np.asarray(level0[:])
    count_expected = int(labels.max())
    assert count_expected > 100 and len(np.unique(labels)) - 1 == count_expected
    qtbot.waitUntil(lambda: count.count == count_expected, timeout=60_000)
    table = full_table(viewer, layer)
    assert sorted(table["label"].tolist()) == list(range(1, count_expected + 1))
    assert str(count_expected) in seg.status_label.text()
    # nothing treats the store as unsaved edits (which would load it whole), and Export CSV writes the run's table
    from medseg_app import _dialogs
    from medseg_app._layer_state import is_edited, is_unsaved

    assert not is_edited(layer) and not is_unsaved(layer)
    target = large_file.with_name("exported.csv")
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *args, **kwargs: str(target))
    count.export_csv()
    rows = target.read_text().splitlines()
    assert len(rows) == count_expected + 1 and rows[0].startswith("image,label,area_px")
    # the store reopens as a lazy multiscale Labels layer whose Count table is the CSV beside it
    store = layer.metadata["medseg"]["labels_path"]
    [(levels, kwargs, kind)] = napari_get_reader(store)(store)
    assert kind == "labels" and kwargs["multiscale"] and kwargs["metadata"]["medseg"]["objects_csv"]
    assert np.array_equal(np.asarray(levels[0][:300, :300]), labels[:300, :300])
    assert len(_large.large_summary(type("L", (), {"metadata": kwargs["metadata"]})())[0]["label"]) == count_expected


def test_cancel_keeps_finished_blocks_and_next_run_resumes(app, qtbot, large_file, seg_model_path):
    viewer, window = app
    seg = window.widgets["Segment"]
    viewer.open(str(large_file), plugin="medseg")
    assert seg.models.select(str(seg_model_path))
    job = _large.large_jobs([viewer.layers["slide"]])[0]
    labels_path, _ = _large.outputs_for(job)
    work = labels_path.with_name(f".{labels_path.name}.medseg-work") / "blocks"
    _click(qtbot, seg, "segment_button")
    qtbot.waitUntil(lambda: work.exists() and any(work.glob("*.npz")), timeout=300_000)
    _click(qtbot, seg, "cancel_button")
    qtbot.waitUntil(lambda: not seg.running, timeout=300_000)
    assert seg.status_label.text() == "cancelled"
    assert "slide labels" not in [layer.name for layer in viewer.layers]
    kept = {p.name for p in work.glob("*.npz")}
    assert kept
    # the next run keeps them: a resumed run never rewrites a finished block's file
    stamps = {p.name: p.stat().st_mtime_ns for p in work.glob("*.npz")}
    gen = _large.run_large_jobs([job], seg_model_path, {}, seg._cache, "cpu")
    for _fraction, message in gen:
        if "blocks" in message and message.startswith(f"{len(kept) + 1}/"):
            break
    assert all(p.stat().st_mtime_ns == stamps[p.name] for p in work.glob("*.npz") if p.name in stamps)
    gen.close()
