"""``medseg-app --self-test``: the whole app on the shipped sample, one printed line per step.

Opens the fluorescence nuclei sample through the MedSeg reader, segments it
with the shipped ``nuclei`` model from the Segment panel, checks the count,
writes the measurements CSV to a temporary folder, closes the window and
returns 0; any failure prints one ``self-test FAILED: reason`` line and
returns 1. The build script runs it on the frozen bundle under Xvfb, so it
also proves that the bundle finds its plugin manifest, models and data files.

The user's own folders are left alone: user models, recovery files and
settings go to the temporary folder for the duration of the test.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

#: Model the self-test segments with.
MODEL = "nuclei"
#: Nuclei the shipped ``nuclei`` model finds in the fluorescence sample (41 at the time of writing).
EXPECTED_COUNT = (30, 60)
#: Longest wait for any one step, in seconds.
TIMEOUT_S = 300.0
#: Environment variable holding the launch time (seconds since the epoch) of a script that starts the app.
LAUNCH_ENV = "MEDSEG_LAUNCH_TIME"


class SelfTestError(Exception):
    """A step of the self-test failed; the message says which and why, in one line."""


def launch_time() -> tuple[float, str]:
    """When the app was started (seconds since the epoch) and what that time counts from.

    ``$MEDSEG_LAUNCH_TIME`` when a launcher set it (includes the time before
    Python starts), else the creation time of this process.
    """
    value = os.environ.get(LAUNCH_ENV)
    if value:
        try:
            return float(value), "launch"
        except ValueError:
            pass
    try:
        import psutil

        return psutil.Process().create_time(), "process start"
    except (ImportError, OSError):
        return time.time(), "self-test start"


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    """Process Qt events until ``condition()`` holds; :class:`SelfTestError` after ``timeout_s``."""
    from qtpy.QtCore import QEventLoop
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SelfTestError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


@contextmanager
def _private_folders(root: Path) -> Iterator[None]:
    """Point MedSeg's user and settings folders into ``root`` for the duration."""
    saved = {name: os.environ.get(name) for name in ("MEDSEG_HOME", "MEDSEG_CONFIG_DIR")}
    os.environ["MEDSEG_HOME"] = str(root / "home")
    os.environ["MEDSEG_CONFIG_DIR"] = str(root / "config")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _steps(folder: Path, echo: Callable[[str], None], started: tuple[float, str]) -> None:
    """The self-test proper; raises :class:`SelfTestError` on the first failed step."""
    from napari.layers import Image, Labels

    from medseg_core.measure import write_measurements_csv
    from medseg_core.training.data import count_objects

    from ._export import full_table, image_column
    from ._sample_data import sample_path
    from .main import create_viewer, medseg_window

    sample = sample_path()
    viewer = create_viewer([sample], show=True)
    try:
        window = medseg_window(viewer)
        if window is None:
            raise SelfTestError("the MedSeg window was not built")
        wait_for(lambda: window.qt_window.isVisible(), "the window")
        launched, since = started
        echo(f"window shown: {time.time() - launched:.1f} s after {since}")

        images = [layer for layer in viewer.layers if isinstance(layer, Image)]
        if not images:
            raise SelfTestError(f"the sample {sample} did not open")
        image = images[0]
        echo(f"opened {sample.name}: {' x '.join(map(str, np.shape(image.data)))} pixels")

        segment = window.widgets.get("Segment")
        if segment is None:
            raise SelfTestError("the Segment panel did not start")
        if not segment.models.select(MODEL):
            raise SelfTestError(f"the shipped model '{MODEL}' is not listed (models found: {segment.models.names()})")
        viewer.layers.selection.active = image
        done: list[list[str]] = []
        segment.segmented.connect(done.append)
        tic = time.perf_counter()
        segment.run()
        wait_for(lambda: bool(done) or segment.worker is None, "segmentation")  # finished comes after returned
        if not done:
            raise SelfTestError(f"segmentation failed: {segment.status_label.text()}")
        labels = next(layer for layer in viewer.layers if isinstance(layer, Labels) and layer.name == done[0][0])
        count = count_objects(labels.data)
        low, high = EXPECTED_COUNT
        echo(f"segmented with '{MODEL}' in {time.perf_counter() - tic:.1f} s: {count} nuclei (expected {low}-{high})")
        if not low <= count <= high:
            raise SelfTestError(f"{count} nuclei found, expected {low} to {high}")

        csv_path = folder / f"{labels.name.replace(' ', '_')}_objects.csv"
        table = full_table(viewer, labels)
        write_measurements_csv(csv_path, table, extra={"image": image_column(viewer, labels)})
        rows = len(csv_path.read_text(encoding="utf-8").splitlines()) - 1
        echo(f"wrote {csv_path} ({rows} rows)")
        if rows != count:
            raise SelfTestError(f"the CSV has {rows} rows for {count} objects")
    finally:
        viewer.close()
    echo("closed the window")


def run_self_test(echo: Callable[[str], None] = print) -> int:
    """Run the self-test; returns the exit status (0 passed, 1 failed).

    Parameters
    ----------
    echo : callable
        Called with one line per step (``print`` by default); each line
        starts with ``"self-test: "``.
    """
    started = launch_time()

    def say(line: str) -> None:
        echo(f"self-test: {line}")

    with tempfile.TemporaryDirectory(prefix="medseg-self-test-") as tmp, _private_folders(Path(tmp)):
        try:
            _steps(Path(tmp), say, started)
        except SelfTestError as exc:
            say(f"FAILED: {exc}")
            return 1
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure in one line
            say(f"FAILED: {type(exc).__name__}: {exc}")
            return 1
    say("passed")
    return 0
