"""How long the MedSeg app's event loop stalls while it segments and recounts.

Usage (needs a display; on a headless machine use Xvfb)::

    xvfb-run -a .venv/bin/python benchmarks/ui_responsiveness.py [--size 2048]

Builds the full app (:func:`medseg_app.main.create_viewer`), segments a
``size x size`` nuclei image with the shipped ``nuclei`` model (or, when it
is missing, the hand-set demo model from ``tools/demo_model.py``; the script
says which), then paints one stroke into the result and waits for the
Count panel to update. Throughout, a 10 ms ``QTimer`` records the time
between its ticks; the longest gap minus 10 ms is the longest stall of the
event loop. Printed: the longest stall while the segmentation computes,
the one-off stall when its result becomes a napari layer (napari builds the
layer's visuals on the UI thread), and the longest stall of the recount
after the edit. The target is < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "benchmarks")]
os.environ.setdefault("MEDSEG_HOME", tempfile.mkdtemp(prefix="medseg_bench_"))  # keep recovery files out of the user's folder

TARGET_MS = 100.0
INTERVAL_MS = 10


class StallMeter:
    """Records the gaps between ticks of a 10 ms timer."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer(interval=INTERVAL_MS)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self.ends: list[float] = []
        self._last = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self.ends.append(now)
        self._last = now

    def longest(self, start: float, end: float) -> float:
        """Longest stall in ms among the gaps that end within ``[start, end]``."""
        gaps = [g for g, e in zip(self.gaps, self.ends) if start <= e <= end]
        return max(0.0, max(gaps) * 1000 - INTERVAL_MS) if gaps else float("nan")

    def start(self) -> None:
        self.gaps.clear()
        self.ends.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> tuple[float, int]:
        """Longest stall in ms (gap beyond the timer interval) and the number of ticks."""
        self.timer.stop()
        self._tick()
        longest = max(self.gaps) * 1000 if self.gaps else float("nan")
        return max(0.0, longest - INTERVAL_MS), len(self.gaps)


def _wait(condition, timeout_s: float) -> None:
    """Run the Qt event loop until ``condition()`` holds."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer(interval=5)
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    poll.start()
    deadline = QTimer(singleShot=True, interval=int(timeout_s * 1000))
    deadline.timeout.connect(loop.quit)
    deadline.start()
    loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError("timed out")


def _model_path() -> tuple[Path, str]:
    from medseg_core.registry import shipped_models_dir, user_models_dir

    shipped = shipped_models_dir() / "nuclei.safetensors"
    if shipped.is_file():
        return shipped, "shipped nuclei model"
    from demo_model import make_demo_model

    path = user_models_dir() / "demo.safetensors"
    make_demo_model().save(path)
    return path, "demo model (tools/demo_model.py; the shipped nuclei model is missing)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="image side in pixels")
    parser.add_argument("--tile", type=int, default=512)
    args = parser.parse_args()

    from _common import nuclei_image

    from medseg_core.device import describe_device, resolve_device
    from medseg_app._segment_job import inference_threads
    from medseg_app.main import create_viewer, freeze_startup_objects, medseg_window

    model_path, model_text = _model_path()
    image, source = nuclei_image(args.size)
    viewer = create_viewer(show=True)
    window = medseg_window(viewer)
    freeze_startup_objects()  # as medseg-app does before its event loop starts
    segment, count = window.widgets["Segment"], window.widgets["Count"]
    segment.models.select(str(model_path))
    segment.tile_spin.setValue(args.tile)
    viewer.add_image(image, name="bench")
    _wait(lambda: True, 0.5)  # let the window settle
    print(f"model: {model_text}")
    print(f"image: {image.shape[0]}x{image.shape[1]} {image.dtype}, {source}")
    print(f"device: {describe_device(resolve_device('auto'))}; the app segments with {inference_threads()} CPU thread(s)")

    meter = StallMeter()
    handled: list[float] = []
    original = segment._on_returned

    def on_returned(result) -> None:  # time the hand-over of the result to napari
        handled.append(time.perf_counter())
        original(result)
        handled.append(time.perf_counter())

    segment._on_returned = on_returned
    meter.start()
    started = time.perf_counter()
    segment.segment_button.click()
    _wait(lambda: not segment.running, 1200)
    _wait(lambda: count.count is not None and count.result.layer is not None, 120)
    seconds = time.perf_counter() - started
    stall_all, ticks = meter.stop()
    stall_segment = meter.longest(started, handled[0])
    stall_layer = meter.longest(handled[0], float("inf"))
    layer = viewer.layers["bench labels"]
    print(f"segmentation: {seconds:.1f} s, {count.count} objects, {ticks} timer ticks")
    print(f"longest event-loop stall while segmenting: {stall_segment:.0f} ms")
    print(f"longest stall from the result to the updated table (napari builds the new layer): {stall_layer:.0f} ms")

    before = count.recounter.generation
    meter.start()
    started = time.perf_counter()
    layer.selected_label = int(layer.data.max()) + 1
    layer.brush_size = 20
    layer.paint((args.size // 2, args.size // 2), layer.selected_label)
    painted = time.perf_counter()  # napari's own paint and layer refresh, on the UI thread
    _wait(lambda: count.recounter.generation > before and not count.recounter.busy, 120)
    seconds = time.perf_counter() - started
    stall_all_recount, ticks = meter.stop()
    stall_recount = meter.longest(painted, float("inf"))
    print(f"napari's paint of the brush stroke (UI thread, before MedSeg reacts): {(painted - started) * 1000:.0f} ms")
    print(f"recount after an edit: {seconds * 1000:.0f} ms until the table updated, {ticks} timer ticks")
    print(f"longest event-loop stall during the recount: {stall_recount:.0f} ms ({stall_all_recount:.0f} ms with the paint)")
    for name, value in (("segmenting", stall_segment), ("adding the result", stall_layer), ("recount", stall_recount)):
        print(f"target < {TARGET_MS:.0f} ms while {name}: {'met' if value < TARGET_MS else 'NOT met'}")
    for name in list(window.unsaved_layers()):
        from medseg_app._layer_state import set_baseline

        set_baseline(viewer.layers[name], saved=True)  # nothing to ask on exit
    viewer.close()


if __name__ == "__main__":
    main()
