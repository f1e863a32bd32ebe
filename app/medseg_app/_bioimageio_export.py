"""My models > Export as bioimage.io: the export runs in a worker thread, with progress and Cancel.

The work is :func:`medseg_core.exchange.bioimageio_export.export_bioimageio_iter`
(the same function as ``medseg export``); this module only asks where to
write, starts the worker and reports. The dialog goes through the
module-level :func:`choose_package_path`, so tests can replace it.
"""

from __future__ import annotations

from pathlib import Path

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QFileDialog, QWidget

from medseg_core.errors import MedsegError
from medseg_core.registry import ModelEntry

#: Whether the app runs bioimageio.core's test on the package before writing it (tests switch it off for speed).
TEST_PACKAGE = True


def choose_package_path(parent: QWidget | None, suggested: str) -> str | None:
    """Ask where to write a bioimage.io package; None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export as bioimage.io", suggested, "bioimage.io package (*.zip)")
    return path or None


def _export_job(entry: ModelEntry, destination: Path):
    """The worker's generator: load the model, then the export's progress; returns the package path or the error's text.

    The error is returned as text: superqt re-raises a returned exception.
    """
    from medseg_core.exchange.bioimageio_export import export_bioimageio_iter
    from medseg_core.model import load_model_file

    try:
        model = load_model_file(entry.path)
        return (yield from export_bioimageio_iter(model, destination, test=TEST_PACKAGE))
    except MedsegError as exc:
        return str(exc)


class PackageExporter(QObject):
    """Runs one export at a time and reports it in one-line messages.

    Signals
    -------
    message(str)
        Progress, the result, or why it failed.
    running(bool)
        An export started (True) or ended (False).
    """

    message = Signal(str)
    running = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = None

    def start(self, entry: ModelEntry, parent: QWidget | None = None) -> bool:
        """Ask for the file and start exporting ``entry``; False when cancelled or already running."""
        if self.worker is not None:
            return False
        destination = choose_package_path(parent, str(Path.home() / f"{entry.name}.bioimageio.zip"))
        if not destination:
            return False
        destination = Path(destination)
        if destination.suffix.lower() != ".zip":
            destination = destination.with_name(destination.name + ".zip")
        self.worker = create_worker(_export_job, entry, destination, _start_thread=False)
        self.worker.yielded.connect(lambda record: self.message.emit(f"Export of '{entry.name}': {record.message}"))
        self.worker.returned.connect(lambda result: self._done(entry, result))
        self.worker.errored.connect(lambda exc: self.message.emit(f"Export failed: {exc}"))
        self.worker.finished.connect(self._finished)
        self.running.emit(True)
        self.worker.start()
        return True

    def cancel(self) -> None:
        """Stop the export at its next step; nothing is written."""
        if self.worker is not None:
            self.message.emit("Cancelling the export…")
            self.worker.quit()

    def _done(self, entry: ModelEntry, result: object) -> None:
        if isinstance(result, Path):
            self.message.emit(f"Exported '{entry.name}' as a bioimage.io package: {result}")
        else:
            self.message.emit(f"Export failed: {result}")

    def _finished(self) -> None:
        if self.worker is not None and self.worker.abort_requested:
            self.message.emit("Export cancelled; nothing was written.")
        self.worker = None
        self.running.emit(False)
