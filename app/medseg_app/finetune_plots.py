"""Live training plots (pyqtgraph): loss per step, validation metrics per epoch.

The plots hold no training logic: the panel appends the records the worker
yields. Appending only stores numbers; redraws are throttled by a
single-shot timer so a fast training loop cannot flood the UI thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QSize, QTimer
from qtpy.QtWidgets import QWidget

from medseg_core.finetune_data import METRIC_LABELS

#: Minimum time between two redraws of a plot, in milliseconds.
REDRAW_INTERVAL_MS = 200
#: Preferred size of a plot; a layout gives it any spare room (pyqtgraph asks for 465 x 484).
PLOT_SIZE = QSize(300, 160)

_COLOURS = {
    "accuracy": (170, 170, 170),
    "precision": (31, 119, 180),
    "recall": (255, 127, 14),
    "f1": (44, 160, 44),
    "iou": (214, 39, 40),
    "ap50": (148, 103, 189),
    "map": (140, 86, 75),
}


class _ThrottledPlot(pg.PlotWidget):
    """A PlotWidget whose :meth:`_redraw` runs at most every ``REDRAW_INTERVAL_MS``."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="k")
        self.setTitle(title, size="9pt")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMinimumHeight(140)
        self.redraws = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return PLOT_SIZE

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now (end of a run, tests)."""
        self._timer.stop()
        self._flush()

    def _flush(self) -> None:
        self.redraws += 1
        self._redraw()

    def _redraw(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LossPlot(_ThrottledPlot):
    """Training loss per optimiser step, raw and smoothed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Training loss per step", parent)
        self.setObjectName("loss_plot")
        self.setToolTip(
            "Loss of every training step (thin) and its running average (thick); lower is better."
        )
        self.steps: list[int] = []
        self.losses: list[float] = []
        self._raw = self.plot(pen=pg.mkPen((120, 160, 220), width=1))
        self._smooth = self.plot(pen=pg.mkPen((255, 200, 60), width=2))

    def append(self, step: int, loss: float) -> None:
        """Add one step's loss (the redraw follows within ``REDRAW_INTERVAL_MS``)."""
        self.steps.append(int(step))
        self.losses.append(float(loss))
        self._schedule()

    def clear_data(self) -> None:
        """Forget all points."""
        self.steps.clear()
        self.losses.clear()
        self.flush()

    def _redraw(self) -> None:
        x = np.asarray(self.steps, dtype=float)
        y = np.asarray(self.losses, dtype=float)
        self._raw.setData(x, y)
        self._smooth.setData(x, _running_mean(y))


class MetricsPlot(_ThrottledPlot):
    """Validation metrics per pass, one curve per metric, with a legend."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Validation scores per epoch (epoch 0: the base model)", parent)
        self.setObjectName("metrics_plot")
        self.setToolTip(
            "Scores on the validation images after every epoch (higher is better). "
            "AP@0.5: share of objects matched at IoU 0.5 (instance models)."
        )
        self.setYRange(0, 1.0, padding=0.02)
        self.getPlotItem().getViewBox().setLimits(yMin=-0.05, yMax=1.1)
        # the legend sits in its own row under the plot, never over the curves
        self.legend = pg.LegendItem(colCount=4, labelTextSize="8pt", horSpacing=8)  # two rows fit a side panel
        self.getPlotItem().layout.addItem(self.legend, 4, 1)
        self.keys: list[str] = []
        self.epochs: list[float] = []
        self.values: dict[str, list[float]] = {}
        self.baseline: dict[str, float] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}

    def set_keys(self, keys: Sequence[str]) -> None:
        """Choose the metrics to plot (clears the plot)."""
        for curve in self._curves.values():
            self.removeItem(curve)
        self.legend.clear()
        self.keys = list(keys)
        self._curves = {}
        for key in self.keys:
            colour = _COLOURS.get(key, (200, 200, 200))
            self._curves[key] = self.plot(
                pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour
            )
            self.legend.addItem(self._curves[key], METRIC_LABELS.get(key, key))
        self.clear_data()

    def set_baseline(self, metrics: Mapping[str, float]) -> None:
        """Scores of the base model, drawn at epoch 0."""
        self.baseline = {k: float(v) for k, v in metrics.items()}
        self._schedule()

    def append(self, epoch: float, metrics: Mapping[str, float]) -> None:
        """Add one validation pass."""
        self.epochs.append(float(epoch))
        for key in self.keys:
            self.values.setdefault(key, []).append(float(metrics.get(key, np.nan)))
        self._schedule()

    def clear_data(self) -> None:
        """Forget all points."""
        self.epochs.clear()
        self.values = {key: [] for key in self.keys}
        self.baseline = {}
        self.flush()

    def _redraw(self) -> None:
        step = max(1, math.ceil(max(self.epochs, default=1) / 8))
        self.getAxis("bottom").setTickSpacing(step, step)  # whole epochs only
        for key, curve in self._curves.items():
            x, y = list(self.epochs), list(self.values.get(key, []))
            if key in self.baseline:
                x, y = [0.0, *x], [self.baseline[key], *y]
            curve.setData(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def _running_mean(values: np.ndarray, window: int = 10) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start)."""
    if values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(0, idx - window)
    return (cumulative[idx] - cumulative[start]) / (idx - start)
