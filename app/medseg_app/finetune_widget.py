"""The Fine-tune panel: train a new model from layers or folders, watch it learn.

The panel gathers copies of the training data (the "Data" tab), the options
(the "Settings" tab), and runs :func:`~medseg_app.finetune_job.run_finetune`
in a napari thread worker. The yielded records feed the live plots (the
"Progress" tab, shown when training starts) and the status line; Stop asks
the engine to end after the current step and keep the best model so far.
The new model is saved in the user model folder, where the Segment panel
(and the base-model picker here) find it at once.

A record can arrive every few milliseconds, so nothing per record touches
the widgets: the plots only store the numbers and redraw on a timer, and
the status line and progress bar are updated at most every
:data:`STATUS_INTERVAL_MS`. The status line has a fixed height (three
lines), so a new text never changes the layout of the window. Training runs
on all CPU cores but one, as a Segment run does: the interface keeps one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QFileSystemWatcher, Qt, QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from medseg_core.errors import MedsegError
from medseg_core.finetune_data import METRIC_LABELS, compare_metrics, format_seconds, plotted_metrics, verdict
from medseg_core.model import read_info
from medseg_core.registry import resolve_model, user_models_dir
from medseg_core.training import StepEvent, ValidationEvent

from ._segment_job import inference_threads
from .finetune_job import (
    BaselineEvent,
    FineTuneJob,
    FineTuneOutcome,
    NoticeEvent,
    PhaseEvent,
    checkpoint_path,
    guard_torch_imports,
    run_finetune,
)
from .finetune_models import ModelManagerWidget
from .finetune_plots import LossPlot, MetricsPlot
from .finetune_settings import SettingsWidget
from .finetune_sources import TrainingDataWidget

if TYPE_CHECKING:
    import napari

#: Least time between two updates of the status line and progress bar while training.
STATUS_INTERVAL_MS = 250


def train_leaving_a_core(
    job: FineTuneJob, should_stop: Callable[[], bool]
) -> Generator[Any, None, FineTuneOutcome]:
    """:func:`~medseg_app.finetune_job.run_finetune` with one CPU core left to the interface.

    Run in the worker thread: torch's thread count set here applies to this
    thread's parallel work (see :func:`~medseg_app._segment_job.inference_threads`).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(inference_threads())
    try:
        return (yield from run_finetune(job, should_stop))
    finally:
        torch.set_num_threads(previous)


class FineTuneWidget(QWidget):
    """Fine-tune a segmentation model on the user's own annotated images.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose image and labels layers can be trained on.

    Attributes
    ----------
    worker : GeneratorWorker or None
        The running training worker.
    outcome : FineTuneOutcome or None
        How the last run ended.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        guard_torch_imports()
        self.viewer = napari_viewer
        self.worker = None
        self.outcome: FineTuneOutcome | None = None
        self._stop = threading.Event()
        self._epochs_total: int | None = None
        self._warn = False
        self._show_progress = qthrottled(self._apply_progress, timeout=STATUS_INTERVAL_MS, parent=self)
        self.data = TrainingDataWidget(napari_viewer)
        self.settings = SettingsWidget()
        self.models = ModelManagerWidget()
        self.start_button = _button(
            "Start training", "finetune_start_button", "Fine-tune the base model on the chosen data."
        )
        self.stop_button = _button(
            "Stop",
            "finetune_stop_button",
            "End training after the current step and keep the best model so far.",
        )
        self.stop_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setObjectName("finetune_progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self._unimproved = None
        self.discard_button = _button(
            "Discard", "finetune_discard_button", "Delete the model of the last run: it is a copy of its base."
        )
        self.discard_button.clicked.connect(self.discard_unimproved)
        self.discard_button.hide()
        self.status_label = QLabel("Choose the data, then press Start training.")
        self.status_label.setObjectName("finetune_status_label")
        self.status_label.setWordWrap(True)
        # three lines, always: a label whose height follows its text relays out the whole window
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.status_label.setFixedHeight(3 * self.status_label.fontMetrics().lineSpacing() + 4)
        self.loss_plot = LossPlot()
        self.metrics_plot = MetricsPlot()
        self.compare_table = QTableWidget(0, 2)
        self.compare_table.setObjectName("finetune_compare_table")
        self.compare_table.setHorizontalHeaderLabels(["Base model", "New model"])
        self.compare_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.compare_table.verticalHeader().setDefaultSectionSize(20)
        self.compare_table.horizontalHeader().setFixedHeight(22)
        self.compare_table.setFixedHeight(len(METRIC_LABELS) * 20 + 22 + 4)  # one row per metric
        self.compare_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.compare_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.compare_table.setToolTip(
            "Scores on the validation images: the model you started from vs the new one "
            "(mAP: average precision over IoU thresholds 0.5 to 0.95)."
        )
        self.tabs = QTabWidget()
        self.tabs.setObjectName("finetune_tabs")
        self.tabs.addTab(self.data, "Data")
        self.tabs.addTab(self.settings, "Settings")
        self.tabs.addTab(self.models, "My models")
        self.progress_tab = self._progress_tab()
        self.tabs.addTab(self.progress_tab, "Progress")
        self._layout()
        self._watcher = QFileSystemWatcher([str(user_models_dir())], self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(300)
        self._refresh_timer.timeout.connect(self.refresh_models)
        self._watcher.directoryChanged.connect(lambda *_: self._refresh_timer.start())
        self.models.models_changed.connect(self.refresh_models)
        self.models.message.connect(self._set_status)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.abort)

    def _progress_tab(self) -> QWidget:
        """The "Progress" tab: loss and validation plots, base vs new model."""
        tab = QWidget()
        tab.setObjectName("finetune_progress_tab")
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.loss_plot, 2)
        layout.addWidget(self.metrics_plot, 3)  # its legend takes two rows
        layout.addWidget(self.compare_table)
        return tab

    def _layout(self) -> None:
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.discard_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)

    # ---- running --------------------------------------------------------------
    def start(self) -> bool:
        """Check the choices and start training in a worker thread.

        Returns
        -------
        bool
            True when a worker was started; False when refused (the reason
            is in the status line and a notification).
        """
        if self.worker is not None:
            return False
        try:
            base = self.settings.base_name()
            if not base:
                raise MedsegError("there is no model to start from")
            task = read_info(resolve_model(base)).task
            name, path = self.settings.output_path()
            plan, data = self.data.plan(copy=True)
            config = self.settings.config()
        except MedsegError as exc:
            self._refuse(str(exc))
            return False
        job = FineTuneJob(
            base=base, name=name, out_path=path, plan=plan, config=config, data={**data, "base": base},
            checkpoint=checkpoint_path(name),
        )
        self._epochs_total = config.epochs
        self.loss_plot.clear_data()
        self.metrics_plot.set_keys(plotted_metrics(task))
        self._fill_compare({}, {})
        self.outcome = None
        self._unimproved = None
        self.discard_button.hide()
        self._stop.clear()
        connect = {
            "yielded": self._on_event,
            "returned": self._on_returned,
            "errored": self._on_errored,
            "finished": self._on_finished,
        }
        worker = create_worker(train_leaving_a_core, job, self._stop.is_set, _connect=connect, _start_thread=False)
        self.destroyed.connect(lambda *_: worker.quit())
        self.worker = worker
        self._set_running(True)
        self.progress.setValue(0)
        self._set_status(f"Starting: {plan.summary()}.")
        self.tabs.setCurrentWidget(self.progress_tab)
        worker.start()
        return True

    def stop(self) -> None:
        """End training after the current step, keeping the best model so far."""
        if self.worker is not None:
            self._stop.set()
            self.stop_button.setEnabled(False)
            self._set_status("Stopping after the current step…")

    def abort(self) -> None:
        """Abandon a run (the application is closing): nothing is saved."""
        if self.worker is not None:
            self._stop.set()
            self.worker.quit()

    def shutdown(self) -> None:
        """Abandon a run and stop reading folders (the window is closing)."""
        self.abort()
        self.data.shutdown()

    def refresh_models(self, select: str | None = None) -> None:
        """Re-read the model folders into the base-model combo and the manager."""
        self.settings.refresh_models()
        self.models.refresh(select=select)

    # ---- worker signals -------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        if isinstance(event, StepEvent):
            self.loss_plot.append(event.step, event.loss)
            text = self._progress_text(event.epoch, event.step, event.elapsed_s, event.remaining_s)
            text += f", loss {event.loss:.3f}"
            self._show_progress(event.fraction, text)
        elif isinstance(event, ValidationEvent):
            self.metrics_plot.append(event.epoch, event.metrics)
            best = " (best so far)" if event.is_best else ""
            score = event.metrics.get("ap50", event.metrics.get("f1", 0.0))
            text = self._progress_text(event.epoch, event.step, event.elapsed_s, event.remaining_s)
            self._show_progress(None, f"{text}, validation {score:.3f}{best}")
        elif isinstance(event, BaselineEvent):
            self.metrics_plot.set_baseline(event.metrics)
            self._fill_compare(event.metrics, {})
        elif isinstance(event, PhaseEvent):
            self._show_progress(None, event.message[:1].upper() + event.message[1:] + "…")
        elif isinstance(event, NoticeEvent):
            show_warning(f"Fine-tuning: {event.message}")

    def _apply_progress(self, fraction: float | None, text: str) -> None:
        """Show a record's progress (throttled: see the module docstring)."""
        if self.worker is None:
            return
        if fraction is not None:
            self.progress.setValue(int(1000 * min(1.0, fraction)))
        self._set_status(text)

    def _progress_text(self, epoch: int, step: int, elapsed: float, left: float | None) -> str:
        of = f"/{self._epochs_total}" if self._epochs_total else ""
        times = f"elapsed {format_seconds(elapsed)}, about {format_seconds(left)} left"
        return f"Epoch {epoch}{of}, step {step}, {times}"

    def _on_returned(self, outcome: FineTuneOutcome) -> None:
        self._show_progress.cancel()
        self.outcome = outcome
        self.loss_plot.flush()
        self.metrics_plot.flush()
        self._fill_compare(outcome.before, outcome.after)
        problem = outcome.error or ("; ".join(outcome.notices) if outcome.path is None else "")
        if problem:
            self._set_status(problem[:1].upper() + problem[1:] + ".", warn=True)
            show_warning(f"Fine-tuning: {problem}")
            return
        how = "Stopped; kept the best model so far" if outcome.stopped else "Done"
        note = verdict(outcome.before, outcome.after)
        self._set_status(
            f"{how}: saved '{outcome.path.stem}' ({outcome.steps} steps, "
            f"{format_seconds(outcome.minutes * 60)}). It is now in the model pickers. {note}",
            warn=note.startswith("The new model scores lower"),
        )
        self.progress.setValue(1000)
        self.refresh_models(select=outcome.path.stem)
        self.settings.reset_name()
        if outcome.before and not outcome.improved:
            self._offer_discard(outcome)  # the run's notice has said so already: no second notification
            return
        show_info(f"New model '{outcome.path.stem}' saved.")

    def _offer_discard(self, outcome: FineTuneOutcome) -> None:
        """No epoch beat the base model: say so plainly and offer to discard the copy (no modal dialog)."""
        key = "ap50" if "ap50" in outcome.before else "f1"
        held = ", ".join(outcome.held_back) if not outcome.reuses_training else "the training images"
        self._unimproved = outcome.path
        self.discard_button.setText(f"Discard '{outcome.path.stem}'")
        self.discard_button.show()
        self._set_status(
            f"{'Stopped. ' if outcome.stopped else ''}No training epoch beat the base model on the held-back images ({held}: "
            f"{METRIC_LABELS[key]} {outcome.before.get(key, float('nan')):.3f}), so '{outcome.path.stem}' keeps the "
            "base model's weights. Discard it, or correct more objects and train again.",
            warn=True,
        )

    def discard_unimproved(self) -> None:
        """Delete the model saved by a run that did not improve on its base."""
        if self._unimproved is not None:
            self._unimproved.unlink(missing_ok=True)
            self._set_status(f"Discarded '{self._unimproved.stem}'; the base model is unchanged.")
            self._unimproved = None
            self.refresh_models()
        self.discard_button.hide()

    def _on_errored(self, exc: BaseException) -> None:
        self._show_progress.cancel()
        self._set_status(f"Training failed: {exc}", warn=True)
        self._set_running(False)

    def _on_finished(self) -> None:
        self._show_progress.cancel()
        self.worker = None
        self._set_running(False)

    # ---- helpers ---------------------------------------------------------------
    def _refuse(self, reason: str) -> None:
        text = reason[:1].upper() + reason[1:]
        self._set_status(f"Cannot start: {text}", warn=True)
        show_warning(f"Fine-tuning cannot start: {reason}")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for widget in (self.data, self.settings):
            widget.setEnabled(not running)

    def _set_status(self, text: str, warn: bool = False) -> None:
        if self.worker is not None and self._stop.is_set() and not text.startswith("Stopping"):
            text = f"Stopping after the current step… {text}"
        self.status_label.setText(text)
        self.status_label.setToolTip(text)  # the label shows three lines at most
        if warn != self._warn:  # a style sheet change re-polishes the label: only when it changes
            self._warn = warn
            self.status_label.setStyleSheet("color: orange;" if warn else "")

    def _fill_compare(self, before: dict, after: dict) -> None:
        rows = compare_metrics(before, after)
        self.compare_table.setRowCount(len(rows))
        self.compare_table.setVerticalHeaderLabels([label for label, _, _ in rows])
        for row, (_, old, new) in enumerate(rows):
            for column, value in enumerate((old, new)):
                item = QTableWidgetItem("–" if value is None else f"{value:.3f}")
                if column == 1 and old is not None and new is not None and abs(new - old) > 1e-3:
                    item.setForeground(QColor(90, 200, 90) if new > old else QColor(230, 120, 60))
                self.compare_table.setItem(row, column, item)


def _button(text: str, name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    return button
