"""How long the MedSeg app's event loop stalls: Segment clicks, a fine-tune run, a recount.

Usage (needs a display; on a headless machine use Xvfb)::

    xvfb-run -a .venv/bin/python benchmarks/ui_responsiveness.py [--size 2048] [--finetune-minutes 0.5]

Builds the full app (:func:`medseg_app.main.create_viewer`) as ``medseg-app``
does, with the shipped ``nuclei`` model (or, when it is missing, the
hand-set demo model from ``tools/demo_model.py``; the script says which).
Throughout, a 10 ms ``QTimer`` records the time between its ticks; the
longest gap minus 10 ms is the longest stall of the event loop. Four figures
are printed, each with the target of < 50 ms:

1. **first Segment click** after start, on a ``size x size`` nuclei image:
   from the click until the Count panel shows the result (model loading,
   first-call work, napari building the new Labels layer, the first count);
2. **later clicks**: segmenting the same image again (the result replaces the
   layer's content as one undoable step), the longest of ``--later-clicks``;
3. **fine-tune**: a ``--finetune-minutes`` run of the Fine-tune panel on
   three dsb2018 images with their masks (crops of the segmented image when
   the data folder is missing), from Start until the model is saved;
4. **recount** after one brush stroke into the result, until the table updates
   (napari's own paint of the stroke is timed apart).

For comparison, the same run measures napari's own floor in the same
window: the stall of ``viewer.add_labels`` adding the same labels as a new
layer, and of a text change in a docked label (with napari's OpenGL canvas
in the window, Qt composes the whole window on every repaint of any widget;
under Xvfb with Mesa's software renderer that alone costs tens of ms).

Beside each figure, the CPU time the UI thread itself used during that
longest stall: the rest it spent waiting, for a CPU core (a busy machine)
or for the Python interpreter lock (held by a worker thread). The app does
its start-up work (model loading, first-call caches) in a worker; the
script waits for it before the first click and prints how long it took.
Stall figures depend on the machine's load: measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "benchmarks")]
# recovery files and fine-tuned models go to a temporary folder, never the user's
os.environ.setdefault("MEDSEG_HOME", tempfile.mkdtemp(prefix="medseg_bench_"))

TARGET_MS = 50.0
INTERVAL_MS = 10


class StallMeter:
    """Records the gaps between ticks of a 10 ms timer, and the UI thread's CPU time in each."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer(interval=INTERVAL_MS)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self.cpu: list[float] = []
        self.ends: list[float] = []
        self._last = self._last_cpu = 0.0

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append(now - self._last)
        self.cpu.append(cpu - self._last_cpu)
        self.ends.append(now)
        self._last, self._last_cpu = now, cpu

    def longest(self, start: float, end: float) -> float:
        """Longest stall in ms among the gaps that end within ``[start, end]``."""
        gaps = [g for g, e in zip(self.gaps, self.ends) if start <= e <= end]
        return max(0.0, max(gaps) * 1000 - INTERVAL_MS) if gaps else float("nan")

    def busy(self) -> float:
        """CPU time in ms the UI thread itself used during the longest gap (the rest it waited).

        On a busy machine the rest is mostly waiting for a CPU core; on an
        idle one, for the Python interpreter lock a worker holds.
        """
        return max(zip(self.gaps, self.cpu))[1] * 1000 if self.gaps else float("nan")

    def start(self) -> None:
        self.gaps.clear()
        self.cpu.clear()
        self.ends.clear()
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        self.timer.start()

    def stop(self) -> tuple[float, int]:
        """Longest stall in ms (gap beyond the timer interval) and the number of ticks."""
        self.timer.stop()
        self._tick()
        longest = max(self.gaps) * 1000 if self.gaps else float("nan")
        return max(0.0, longest - INTERVAL_MS), len(self.gaps)


def _wait(condition: Callable[[], bool], timeout_s: float) -> None:
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


def _finetune_pairs(n: int, image, labels) -> tuple[list[tuple[str, object, object]], str]:
    """``n`` (name, image, mask) training pairs: dsb2018 fluorescence images, else crops of the benchmark image."""
    import csv

    from _common import DATA

    from medseg_core.io import read_image, read_labels

    folder = DATA / "dsb2018"
    if (folder / "index.csv").is_file():
        with open(folder / "index.csv", newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r["modality"] == "fluorescence" and 15 <= int(r["n_objects"]) <= 90]
        rows = [r for r in rows if (folder / "masks" / f"{r['name']}.tif").is_file()][:n]
        if len(rows) == n:
            pairs = [
                (
                    r["name"],
                    read_image(folder / "images" / f"{r['name']}.png").array,
                    read_labels(folder / "masks" / f"{r['name']}.tif"),
                )
                for r in rows
            ]
            return pairs, f"{n} dsb2018 fluorescence images with their masks"
    side = min(image.shape[:2]) // 2
    corners = [(0, 0), (0, side), (side, 0)][:n]
    pairs = [
        (f"crop{i}", image[y : y + side, x : x + side].copy(), labels[y : y + side, x : x + side].copy())
        for i, (y, x) in enumerate(corners)
    ]
    return pairs, f"{n} crops of the benchmark image with its segmentation (dsb2018 is missing)"


def _segment_click(viewer, window, meter: StallMeter, image_name: str) -> dict[str, float]:
    """Click Segment on ``image_name``; stalls until the Count panel shows the result."""
    segment, count = window.widgets["Segment"], window.widgets["Count"]
    viewer.layers.selection.active = viewer.layers[image_name]
    handled: list[float] = []
    original = segment._on_returned

    def on_returned(result) -> None:  # time the hand-over of the result to napari
        handled.append(time.perf_counter())
        original(result)
        handled.append(time.perf_counter())

    segment._on_returned = on_returned
    before = count.recounter.generation
    meter.start()
    started = time.perf_counter()
    segment.segment_button.click()
    _wait(lambda: not segment.running, 1200)
    done = time.perf_counter()  # an unchanged result is not recounted: then wait 1 s for late stalls
    _wait(
        lambda: (count.recounter.generation > before or time.perf_counter() - done > 1.0)
        and not count.recounter.busy
        and count.result is not None
        and count.result.layer is not None,
        120,
    )
    seconds = time.perf_counter() - started
    stall, ticks = meter.stop()
    del segment._on_returned
    return {
        "stall": stall,
        "busy": meter.busy(),
        "segmenting": meter.longest(started, handled[0]),
        "result": meter.longest(handled[0], float("inf")),
        "seconds": seconds,
        "ticks": ticks,
        "objects": count.count,
    }


def _finetune(viewer, window, meter: StallMeter, pairs: list, minutes: float, base: str) -> dict[str, float]:
    """Start a fine-tune run in the Fine-tune panel; stalls until the worker ends."""
    panel = window.widgets["Fine-tune"]
    window.docks["Fine-tune"].raise_()
    for name, image, mask in pairs:
        viewer.add_image(image, name=name)
        viewer.add_labels(mask, name=f"{name} labels")
    _wait(lambda: True, 0.5)
    panel.data.refresh_layers()
    for name, _image, _mask in pairs:
        panel.data.set_checked(name, True, f"{name} labels")
    for layer in list(viewer.layers):
        if layer.name not in {n for n, _, _ in pairs} | {f"{n} labels" for n, _, _ in pairs}:
            panel.data.set_checked(layer.name, False)
    if not panel.settings.set_base(base):
        raise SystemExit(f"model '{base}' is not offered by the Fine-tune panel")
    panel.settings.minutes_radio.setChecked(True)
    panel.settings.minutes_spin.setValue(minutes)
    _wait(lambda: True, 0.5)
    meter.start()
    started = time.perf_counter()
    if not panel.start():
        raise SystemExit(f"fine-tuning did not start: {panel.status_label.text()}")
    _wait(lambda: panel.worker is None, minutes * 60 + 900)
    seconds = time.perf_counter() - started
    stall, ticks = meter.stop()
    outcome = panel.outcome
    return {
        "stall": stall,
        "busy": meter.busy(),
        "seconds": seconds,
        "ticks": ticks,
        "steps": outcome.steps if outcome else 0,
        "error": outcome.error if outcome else "no outcome",
    }


def _recount(viewer, window, meter: StallMeter, layer, size: int) -> dict[str, float]:
    """Paint one stroke into ``layer``; stalls until the Count panel has recounted."""
    count = window.widgets["Count"]
    count.layer_combo.set_layer(layer)
    _wait(lambda: not count.recounter.busy, 120)
    before = count.recounter.generation
    meter.start()
    started = time.perf_counter()
    layer.selected_label = int(layer.data.max()) + 1
    layer.brush_size = 20
    layer.paint((size // 2, size // 2), layer.selected_label)
    painted = time.perf_counter()  # napari's own paint and layer refresh, on the UI thread
    _wait(lambda: count.recounter.generation > before and not count.recounter.busy, 120)
    seconds = time.perf_counter() - started
    stall_all, ticks = meter.stop()
    return {
        "stall": meter.longest(painted, float("inf")),
        "busy": meter.busy(),
        "with_paint": stall_all,
        "paint": (painted - started) * 1000,
        "seconds": seconds,
        "ticks": ticks,
    }


def _napari_floor(viewer, window, meter: StallMeter, labels, updates: int = 20) -> dict[str, float]:
    """Stalls of napari and Qt themselves in this window, for comparison with MedSeg's figures.

    ``add_labels``: the longest stall when ``viewer.add_labels`` adds a copy
    of ``labels`` as a new layer (napari builds the layer, its vispy visual
    and overlays, and paints it; MedSeg's panels follow the layer list as
    usual), until 1 s later. ``refresh``: the same for ``layer.refresh()``
    of that layer (napari slices it again, uploads the texture and paints),
    what any change of a whole layer's data costs. ``text``: median and
    longest stall of ``updates`` text changes of a docked label: with
    napari's OpenGL canvas in the window, Qt composes the whole window for
    every repaint of any widget.
    """

    def longest_stall(action: Callable[[], object]) -> float:
        meter.start()
        started = time.perf_counter()
        action()
        _wait(lambda: time.perf_counter() - started > 1.0, 10)
        return meter.stop()[0]

    copy = labels.copy()
    add_stall = longest_stall(lambda: viewer.add_labels(copy, name="napari floor"))
    layer = viewer.layers["napari floor"]
    refresh_stall = longest_stall(layer.refresh)
    viewer.layers.remove(layer)
    _wait(lambda: True, 0.5)
    label = window.widgets["Segment"].status_label
    text = label.text()
    stalls = []
    for i in range(updates):
        meter.start()
        label.setText(f"{text} ({i})")
        _wait(lambda: len(meter.gaps) >= 5, 10)
        stalls.append(meter.stop()[0])
    label.setText(text)
    return {
        "add_labels": add_stall,
        "refresh": refresh_stall,
        "text_median": statistics.median_high(stalls),
        "text_max": max(stalls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="image side in pixels")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--later-clicks", type=int, default=2, help="clicks after the first one")
    parser.add_argument(
        "--finetune-minutes", type=float, default=0.5, help="time budget of the fine-tune run (0: skip)"
    )
    parser.add_argument("--finetune-images", type=int, default=3)
    args = parser.parse_args()

    from _common import nuclei_image

    from medseg_core.device import describe_device, resolve_device
    from medseg_app._layer_state import set_baseline
    from medseg_app._segment_job import inference_threads
    from medseg_app._responsiveness import settle_after_startup
    from medseg_app.main import create_viewer, medseg_window

    model_path, model_text = _model_path()
    image, source = nuclei_image(args.size)
    viewer = create_viewer(show=True)
    window = medseg_window(viewer)
    settle_after_startup()  # as medseg-app does before its event loop starts
    segment = window.widgets["Segment"]
    segment.models.select(str(model_path))
    segment.tile_spin.setValue(args.tile)
    viewer.add_image(image, name="bench")
    started = time.perf_counter()
    _wait(lambda: segment.warmed == str(model_path), 300)  # the app's start-up work, in a worker
    warm_up_s = time.perf_counter() - started
    _wait(lambda: True, 1.0)  # let the window settle
    print(f"model: {model_text}")
    print(f"image: {image.shape[0]}x{image.shape[1]} {image.dtype}, {source}")
    device = describe_device(resolve_device("auto"))
    print(f"device: {device}; the app segments and fine-tunes with {inference_threads()} CPU thread(s)")
    load = os.getloadavg()[0]
    print(f"CPU load average over the last minute: {load:.2f} on {os.cpu_count()} cores (figures are pessimistic when busy)")
    print(f"start-up work in a worker (model loaded and run once, first-call caches): {warm_up_s:.1f} s")

    meter = StallMeter()
    figures: dict[str, tuple[float, float]] = {}  # name -> (longest stall, UI thread busy in it), ms
    first = _segment_click(viewer, window, meter, "bench")
    figures["first Segment click"] = first["stall"], first["busy"]
    print(
        f"first Segment click: {first['seconds']:.1f} s, {first['objects']} objects, {first['ticks']} timer ticks; "
        f"longest stall {first['stall']:.0f} ms (while segmenting {first['segmenting']:.0f} ms, "
        f"from the result to the updated table, napari building the new layer: {first['result']:.0f} ms)"
    )
    later = []
    for _ in range(args.later_clicks):
        later.append(_segment_click(viewer, window, meter, "bench"))
    if later:
        worst = max(later, key=lambda r: r["stall"])
        figures["later Segment clicks"] = worst["stall"], worst["busy"]
        each = ", ".join(f"{r['stall']:.0f}" for r in later)
        print(
            f"later Segment clicks ({len(later)}): longest stall {worst['stall']:.0f} ms "
            f"(each: {each} ms; {later[-1]['seconds']:.1f} s per click)"
        )

    layer = viewer.layers["bench labels"]
    recount = _recount(viewer, window, meter, layer, args.size)
    figures["recount"] = recount["stall"], recount["busy"]
    print(f"napari's paint of the brush stroke (UI thread, before MedSeg reacts): {recount['paint']:.0f} ms")
    print(
        f"recount after an edit: {recount['seconds'] * 1000:.0f} ms until the table updated, "
        f"{recount['ticks']} timer ticks; "
        f"longest stall {recount['stall']:.0f} ms ({recount['with_paint']:.0f} ms with the paint)"
    )

    if args.finetune_minutes > 0:
        pairs, pairs_text = _finetune_pairs(args.finetune_images, image, layer.data)
        run = _finetune(viewer, window, meter, pairs, args.finetune_minutes, model_path.stem)
        figures["fine-tune run"] = run["stall"], run["busy"]
        print(
            f"fine-tune: {args.finetune_minutes} min budget on {pairs_text}: {run['seconds']:.1f} s, "
            f"{run['steps']} steps, {run['ticks']} timer ticks{'; error: ' + run['error'] if run['error'] else ''}; "
            f"longest stall {run['stall']:.0f} ms"
        )

    floor = _napari_floor(viewer, window, meter, layer.data)
    print(
        f"napari's own floor in this window: viewer.add_labels of the same {args.size}x{args.size} labels "
        f"{floor['add_labels']:.0f} ms, its layer.refresh() {floor['refresh']:.0f} ms; a text change in a docked "
        f"label (Qt composes the window with the OpenGL canvas) median {floor['text_median']:.0f} ms, longest {floor['text_max']:.0f} ms"
    )
    print(f"longest event-loop stall (target < {TARGET_MS:.0f} ms), and the UI thread's own CPU time in it:")
    for name in ("first Segment click", "later Segment clicks", "fine-tune run", "recount"):
        if name in figures:
            value, busy = figures[name]
            verdict = "met" if value < TARGET_MS else "NOT met"
            print(f"  {name + ':':22s} {value:5.0f} ms  {verdict:7s}  (UI thread busy {busy:.0f} ms of it)")
    for name in list(window.unsaved_layers()):
        set_baseline(viewer.layers[name], saved=True)  # nothing to ask on exit
    viewer.close()


if __name__ == "__main__":
    main()
