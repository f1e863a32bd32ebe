"""The MedSeg main window: docked panels, MedSeg menu, drops, close guard.

napari's window object is reached through ``viewer.window._qt_window`` and
``viewer.window._qt_viewer``; those two private names are used only here.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from typing import Any

import napari
from napari.layers import Labels
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from qtpy.QtGui import QAction, QDesktopServices, QGuiApplication
from qtpy.QtWidgets import QFrame, QScrollArea, QWidget

from medseg_core.registry import user_models_dir

from . import _dialogs
from ._layer_state import is_unsaved
from ._sample_data import SAMPLES
from .correct_widget import show_shortcuts
from .recovery import RecoveryManager

PLUGIN = "medseg"
#: (napari.yaml display name, class path, tabbed with the previous dock)
PANELS = (
    ("Segment", "medseg_app.segment_widget:SegmentWidget", False),
    ("Correct", "medseg_app.correct_widget:CorrectWidget", True),
    ("Fine-tune", "medseg_app.finetune_widget:FineTuneWidget", True),
    ("Count", "medseg_app.count_widget:CountWidget", False),
)
#: Panels whose minimum height exceeds this are docked inside a scroll area.
MAX_PANEL_HEIGHT = 420
OPEN_FILTER = "Images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp *.dcm *.dicom *.nii *.nii.gz);;All files (*)"


def open_paths(viewer: napari.viewer.Viewer, paths: Iterable[str | os.PathLike]) -> list:
    """Open files (or DICOM folders) with the MedSeg reader; unreadable ones only notify."""
    from medseg_core.io import is_supported

    layers = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.exists(path):
            show_error(f'Cannot open "{path}": no such file or folder')
            continue
        if not is_supported(path):
            show_error(f'MedSeg cannot open "{path}": not a supported image file or DICOM folder')
            continue
        try:
            layers.extend(viewer.open(path, plugin=PLUGIN))
        except Exception as exc:  # noqa: BLE001 - napari's own errors: one line, keep going
            show_error(f'Cannot open "{path}": {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}')
    return layers


def _load_class(spec: str) -> type | None:
    module, _, name = spec.partition(":")
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - an optional panel that fails to import is skipped
        return None


class MedSegWindow(QObject):
    """Turns a napari viewer into the MedSeg app (one per viewer, parented to its window).

    Attributes
    ----------
    widgets : dict of str to QWidget
        The docked panels by display name.
    recovery : RecoveryManager
        Autosave and restore.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.qt_window = viewer.window._qt_window
        super().__init__(self.qt_window)
        self.setObjectName("medseg_window")
        self.viewer = viewer
        self.widgets: dict[str, QWidget] = {}
        self.docks: dict[str, Any] = {}
        viewer.title = "MedSeg"
        self._dock_panels()
        self.recovery = RecoveryManager(viewer, self)
        self._samples_menu = None
        self.menu = self._build_menu()
        self.qt_window.installEventFilter(self)
        self.qt_viewer = viewer.window._qt_viewer
        self.qt_viewer.installEventFilter(self)

    # ---------------------------------------------------------------- panels
    def _dock_panels(self) -> None:
        window = self.viewer.window
        for name, spec, tabify in PANELS:
            cls = _load_class(spec)
            if cls is None:
                continue  # e.g. the Fine-tune panel is not installed
            try:
                widget = cls(self.viewer)
            except Exception:  # noqa: BLE001 - an optional panel that fails to start is skipped
                continue
            content = widget
            if widget.minimumSizeHint().height() > MAX_PANEL_HEIGHT:  # tall panels scroll instead
                content = QScrollArea(objectName=f"{widget.objectName()}_scroll", widgetResizable=True)
                content.setFrameShape(QFrame.Shape.NoFrame)
                content.setWidget(widget)
            # napari's own name for plugin docks, so Plugins > MedSeg > ... shows this dock, no duplicate
            dock = window.add_dock_widget(
                content, name=f"{name} ({PLUGIN})", area="right", tabify=tabify, add_vertical_stretch=name != "Count"
            )
            self.widgets[name] = widget
            self.docks[name] = dock
        QTimer.singleShot(0, self.arrange)

    def arrange(self) -> None:
        """Show the Segment tab and give the Count panel (with its table) half of the height."""
        if "Segment" in self.docks:
            self.docks["Segment"].raise_()
        if "Segment" in self.docks and "Count" in self.docks:
            height = max(400, self.qt_window.height())
            self.qt_window.resizeDocks(
                [self.docks["Segment"], self.docks["Count"]], [height // 2, height // 2], Qt.Orientation.Vertical
            )

    # ------------------------------------------------------------------ menu
    def _build_menu(self) -> Any:
        menu = self.viewer.window.main_menu.addMenu("&MedSeg")
        menu.setObjectName("medseg_menu")
        self._action(menu, "Open image…", self.open_dialog, "open_image_action")
        samples = self._samples_menu = menu.addMenu("Open sample")
        for key, (_file, title) in SAMPLES.items():
            self._action(samples, title, lambda _=False, k=key: self.viewer.open_sample(PLUGIN, k), f"sample_{key}_action")
        menu.addSeparator()
        self._action(menu, "Segment selected image", self._call("Segment", "run"), "segment_action")
        self._action(menu, "Export measurements (CSV)…", self._call("Count", "export_csv"), "export_csv_action")
        self._action(menu, "Save labels…", self._call("Count", "save_labels"), "save_labels_action")
        menu.addSeparator()
        self._action(menu, "Keyboard shortcuts…", lambda: show_shortcuts(self.qt_window), "shortcuts_action")
        self._action(menu, "Open user models folder", self.open_models_folder, "models_folder_action")
        return menu

    def _action(self, menu: Any, text: str, slot: Any, name: str) -> QAction:
        action = QAction(text, menu)
        action.setObjectName(name)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _call(self, panel: str, method: str) -> Any:
        def slot(*_args: Any) -> None:
            widget = self.widgets.get(panel)
            if widget is not None:
                self.docks[panel].raise_()
                getattr(widget, method)()

        return slot

    def open_dialog(self) -> list:
        """Ask for images and open them."""
        return open_paths(self.viewer, _dialogs.choose_open_paths(self.qt_window, "Open images", OPEN_FILTER))

    def open_models_folder(self) -> None:
        """Show the user models folder in the file manager."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(user_models_dir())))

    # ---------------------------------------------------------- event filter
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.qt_window and event.type() == QEvent.Type.Close:
            return self._on_close(event)
        if obj is self.qt_viewer and event.type() == QEvent.Type.Drop:
            return self._on_drop(event)
        return False

    def unsaved_layers(self) -> list[str]:
        """Names of labels layers with unsaved content."""
        return [layer.name for layer in self.viewer.layers if isinstance(layer, Labels) and is_unsaved(layer)]

    def teardown(self) -> None:
        """Release the menu actions and event hooks (their slots reference the viewer)."""
        if self.menu is None:
            return
        self.qt_window.removeEventFilter(self)
        self.qt_viewer.removeEventFilter(self)
        self.recovery.close()
        self._samples_menu.clear()  # deletes the actions the menus own, and their slots
        self.menu.clear()
        self.viewer.window.main_menu.removeAction(self.menu.menuAction())
        self.menu = self._samples_menu = None

    def _on_close(self, event: QEvent) -> bool:
        if not self.qt_viewer.isVisible():
            self.teardown()  # programmatic teardown (viewer.close()): nothing to ask
            return False
        unsaved = self.unsaved_layers()
        if unsaved and not _dialogs.ask_quit(self.qt_window, unsaved):
            event.ignore()
            return True
        if unsaved:
            self.recovery.autosave()
            self.recovery.wait()
        segment = self.widgets.get("Segment")
        if segment is not None and getattr(segment, "running", False):
            segment.cancel()
        self.teardown()
        return False

    def _on_drop(self, event: Any) -> bool:
        from medseg_core.io import is_supported

        modifiers = QGuiApplication.keyboardModifiers()
        if modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
            return False  # napari's stack / choose-reader drops
        mime = event.mimeData()
        urls = mime.urls() if mime is not None else []
        paths = [url.toLocalFile() for url in urls if url.isLocalFile()]
        if not paths or len(paths) != len(urls) or not all(is_supported(p) for p in paths):
            return False
        event.acceptProposedAction()
        open_paths(self.viewer, paths)
        return True
