"""Make the app screenshot in docs/ (run under a display; headless: Xvfb).

Usage::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py \
        --model nuclei-he --sample nuclei_he --out docs/screenshot_nuclei_he.png
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py \
        --image /tmp/medseg-scale/synthetic_8192.tif --view 2048 2048 3 --out docs/screenshot_large.png

Opens a sample image (default: the fluorescence nuclei) in the MedSeg app,
segments it with a shipped model (default ``nuclei``; the demo model of
``tools/demo_model.py`` when that one is missing; the script says which),
selects the largest object in the Count panel and saves the whole window
(default ``docs/screenshot_app.png``). ``--image`` opens a file instead (a
large one, e.g. from ``benchmarks/scale.py``, is segmented in blocks);
``--view Y X ZOOM`` centres the canvas on a pixel at a zoom factor.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("MEDSEG_HOME", tempfile.mkdtemp(prefix="medseg_shots_"))  # no recovery files in the user's folder


def _settle(seconds: float = 0.5) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> Path:
    import argparse

    from qtpy.QtCore import Qt

    from medseg_core.registry import shipped_models_dir, user_models_dir
    from medseg_app._layer_state import set_baseline
    from medseg_app.main import create_viewer, medseg_window

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei", help="shipped model name")
    parser.add_argument("--sample", default="nuclei_fluorescence", help="sample image (napari sample name)")
    parser.add_argument("--image", type=Path, help="open this file instead of a sample")
    parser.add_argument("--view", type=float, nargs=3, metavar=("Y", "X", "ZOOM"), help="centre and zoom of the canvas")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot_app.png")
    args = parser.parse_args(argv)
    out = args.out
    model = shipped_models_dir() / f"{args.model}.safetensors"
    if model.is_file():
        print(f"model: shipped {args.model} model")
    else:
        from demo_model import make_demo_model

        model = user_models_dir() / "demo.safetensors"
        make_demo_model().save(model)
        print("model: demo model (the shipped nuclei model is missing)")

    viewer = create_viewer(show=True)
    window = medseg_window(viewer)
    window.qt_window.resize(1500, 920)
    if args.image is not None:
        viewer.open(str(args.image), plugin="medseg")
    else:
        viewer.open_sample("medseg", args.sample)
    segment, count = window.widgets["Segment"], window.widgets["Count"]
    segment.models.select(str(model))
    segment.segment_button.click()
    while segment.running:
        _settle(0.1)
    while count.count is None or count.recounter.busy:
        _settle(0.1)
    count.table.sortByColumn(count.model.columns.index("area_px"), Qt.SortOrder.DescendingOrder)
    count.select_row_of(count.model.label_at(0))
    viewer.reset_view()
    if args.view is not None:
        viewer.camera.center, viewer.camera.zoom = tuple(args.view[:2]), args.view[2]
    window.arrange()
    _settle(1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.window.screenshot(str(out), canvas_only=False)
    print(f"{count.count} objects; saved {out}")
    labels = viewer.layers[-1]
    set_baseline(labels, saved=True)  # nothing to ask on exit
    viewer.close()
    return out


if __name__ == "__main__":
    main()
