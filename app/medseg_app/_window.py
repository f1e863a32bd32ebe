"""The MedSeg main window: docked panels, MedSeg menu, drops, close guard.

napari's window object is reached through ``viewer.window._qt_window`` and
``viewer.window._qt_viewer``; those two private names are used only here.

The window opens where the user left it (:mod:`.settings`), or at 80 % of
its screen; the last model, device and brush size come back too.

Layout: Segment, Correct and Fine-tune share one tabbed dock on the right,
with Count below it. The Fine-tune panel (data, settings, live plots) needs
the full height of a laptop screen, so Count gives way while Fine-tune is
the shown tab and comes back with the other tabs.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from typing import Any

import napari
from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtCore import QByteArray, QEvent, QObject, Qt, QThreadPool, QTimer, QUrl
from qtpy.QtGui import QAction, QDesktopServices, QGuiApplication, QIcon
from qtpy.QtWidgets import QFrame, QScrollArea, QWidget

from medseg_core.registry import resources_dir, user_models_dir

from . import _dialogs
from .about import AboutDialog
from ._layer_state import info, is_unsaved
from ._layers import pair_with_image
from ._report import report_bug
from ._sample_data import SAMPLES
from ._units import ConsistentUnits
from .correct_widget import show_shortcuts
from .recovery import RecoveryManager
from .settings import AppSettings

_log = logging.getLogger(__name__)

PLUGIN = "medseg"
#: (napari.yaml display name, class path, tabbed with the previous dock)
PANELS = (
    ("Segment", "medseg_app.segment_widget:SegmentWidget", False),
    ("Correct", "medseg_app.correct_widget:CorrectWidget", True),
    ("Fine-tune", "medseg_app.finetune_widget:FineTuneWidget", True),
    ("Count", "medseg_app.count_widget:CountWidget", False),
)
#: Panels whose minimum height exceeds this are docked inside a scroll area, so that the
#: docks' minimum heights together never make the window taller than a laptop screen.
MAX_PANEL_HEIGHT = 420
#: Width of the right dock area at start (wider when a panel needs it).
DOCK_WIDTH = 380
#: Share of the screen's available area the window takes at a first start.
SCREEN_SHARE = 0.8
#: Smallest window size at start (the Fine-tune panel needs it); smaller screens get their whole area.
MIN_WINDOW = (1280, 760)
#: How long closing the window waits for the workers it stopped to end.
SHUTDOWN_WAIT_MS = 10_000
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
            opened = viewer.open(path, plugin=PLUGIN)
        except Exception as exc:  # noqa: BLE001 - the reader reports bad files itself: this is a bug; keep going
            report_bug(f'Cannot open "{path}"', exc)
            continue
        if len(opened) > 1:  # one layer per channel: channel 0 is segmented (medseg_core.normalize.select_channel)
            viewer.layers.selection.active = opened[0]
        layers.extend(opened)
    return layers


def window_size(available_width: int, available_height: int) -> tuple[int, int]:
    """Window size at a first start on a screen with this available area.

    :data:`SCREEN_SHARE` of the area, but at least :data:`MIN_WINDOW`, and
    never more than the area: a 1366 x 768 laptop gets its whole screen, a
    1920 x 1080 one 1536 x 864.
    """
    width = min(available_width, max(int(SCREEN_SHARE * available_width), MIN_WINDOW[0]))
    height = min(available_height, max(int(SCREEN_SHARE * available_height), MIN_WINDOW[1]))
    return width, height


def app_icon() -> QIcon:
    """The MedSeg application icon, in every size shipped in ``resources/icons``."""
    icon = QIcon()
    for png in sorted((resources_dir() / "icons").glob("medseg-*.png")):
        icon.addFile(str(png))
    return icon


def _load_class(spec: str) -> type | None:
    """The class ``"module:Name"``; None when importing it fails (reported, see :func:`report_bug`)."""
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except Exception as exc:  # noqa: BLE001 - the other panels still start; the failure is reported
        report_bug(f"The {name} panel could not be loaded", exc)
        return None


class MedSegWindow(QObject):
    """Turns a napari viewer into the MedSeg app (one per viewer, parented to its window).

    Attributes
    ----------
    widgets : dict of str to QWidget
        The docked panels by display name.
    settings : AppSettings
        The values remembered from the last session (:mod:`.settings`).
    brush_size : int
        Brush size given to new labels layers: the last one used.
    recovery : RecoveryManager
        Autosave and restore.
    units : ConsistentUnits
        Keeps the layers' units consistent.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.qt_window = viewer.window._qt_window
        super().__init__(self.qt_window)
        self.setObjectName("medseg_window")
        self.viewer = viewer
        self.widgets: dict[str, QWidget] = {}
        self.docks: dict[str, Any] = {}
        self.brush_size = AppSettings.brush_size  # the brush of new labels layers; see apply_settings
        self._count_gave_way = False
        viewer.title = "MedSeg"
        self.qt_window.setWindowIcon(app_icon())
        self.settings = AppSettings.load()
        self.place_window(self.settings.geometry)
        self._dock_panels()
        self.apply_settings(self.settings)
        self.recovery = RecoveryManager(viewer, self)
        self.units = ConsistentUnits(viewer)
        viewer.layers.events.inserted.connect(self._on_inserted)
        self._samples_menu = None
        self.menu = self._build_menu()
        self.qt_window.installEventFilter(self)
        self.qt_viewer = viewer.window._qt_viewer
        self.qt_viewer.installEventFilter(self)

    # ---------------------------------------------------------------- panels
    def place_window(self, geometry: str = "") -> None:
        """Restore a remembered geometry when it is on a screen now; otherwise fit the screen.

        Parameters
        ----------
        geometry : str
            ``QWidget.saveGeometry()`` in base64 (:attr:`AppSettings.geometry`);
            "" (or one that lies off every screen now) sizes the window with
            :func:`window_size`, centred on its screen.
        """
        if geometry and self.qt_window.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii"))):
            frame = self.qt_window.frameGeometry()
            if any(screen.availableGeometry().intersects(frame) for screen in QGuiApplication.screens()):
                return
        screen = self.qt_window.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        if self.qt_window.isMaximized() or self.qt_window.isFullScreen():
            self.qt_window.showNormal()
        width, height = window_size(area.width(), area.height())
        self.qt_window.resize(width, height)
        self.qt_window.move(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2)

    def apply_settings(self, settings: AppSettings) -> None:
        """Select the remembered model and device, and set the remembered brush size.

        A remembered model or device that is gone now leaves the panel's default.
        """
        segment = self.widgets.get("Segment")
        if segment is not None:
            if settings.model:
                segment.models.select(settings.model)
            segment.select_device(settings.device)
            segment.select_backend(settings.backend)
        self.brush_size = settings.brush_size
        correct = self.widgets.get("Correct")
        if correct is not None:
            correct.brush_size_spin.setValue(settings.brush_size)

    def current_settings(self) -> AppSettings:
        """The values to remember now: window geometry, model, device and brush size."""
        settings = AppSettings(**vars(self.settings))
        settings.geometry = bytes(self.qt_window.saveGeometry().toBase64()).decode("ascii")
        segment = self.widgets.get("Segment")
        if segment is not None:
            settings.model = segment.models.current_path() or ""
            settings.device = segment.device()
            settings.backend = segment.backend()
        settings.brush_size = self.brush_size
        return settings

    def _dock_panels(self) -> None:
        window = self.viewer.window
        for name, spec, tabify in PANELS:
            cls = _load_class(spec)
            if cls is None:
                continue
            try:
                widget = cls(self.viewer)
            except Exception as exc:  # noqa: BLE001 - the other panels still start; the failure is reported
                report_bug(f"The {name} panel could not start", exc)
                continue
            content = widget
            hint = widget.minimumSizeHint()
            if hint.height() > MAX_PANEL_HEIGHT:  # tall panels scroll on small screens, never sideways
                content = QScrollArea(objectName=f"{widget.objectName()}_scroll", widgetResizable=True)
                content.setFrameShape(QFrame.Shape.NoFrame)
                content.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
                content.setWidget(widget)
                content.setMinimumWidth(hint.width() + content.verticalScrollBar().sizeHint().width())
            # napari's own name for plugin docks, so Plugins > MedSeg > ... shows this dock, no duplicate
            dock = window.add_dock_widget(
                content, name=f"{name} ({PLUGIN})", area="right", tabify=tabify, add_vertical_stretch=name != "Count"
            )
            self.widgets[name] = widget
            self.docks[name] = dock
        if "Fine-tune" in self.docks:
            self.docks["Fine-tune"].visibilityChanged.connect(self._on_finetune_visible)
        QTimer.singleShot(0, self.arrange)

    def arrange(self) -> None:
        """Show the Segment tab, give the right docks their width and Count half of the height."""
        if "Segment" in self.docks:
            self.docks["Segment"].raise_()
            self.qt_window.resizeDocks([self.docks["Segment"]], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self._split_height()

    def _split_height(self) -> None:
        if "Segment" in self.docks and "Count" in self.docks:
            height = max(400, self.qt_window.height())
            self.qt_window.resizeDocks(
                [self.docks["Segment"], self.docks["Count"]], [height // 2, height // 2], Qt.Orientation.Vertical
            )

    def _on_finetune_visible(self, visible: bool) -> None:
        """Count gives way to the Fine-tune panel (see the module docstring)."""
        count = self.docks.get("Count")
        if count is None:
            return
        if visible and count.isVisible():
            self._count_gave_way = True
            count.hide()
        elif not visible and self._count_gave_way:
            self._count_gave_way = False
            count.show()
            self._split_height()

    def _on_brush_size(self, event: Any) -> None:
        """Remember the brush size last set on any labels layer (panel, keys or napari's controls)."""
        self.brush_size = int(event.source.brush_size)

    def _on_inserted(self, event: Any) -> None:
        """Link labels opened from a saved file with their image (either may come first)."""
        layer = event.value
        if isinstance(layer, Labels):
            pair_with_image(self.viewer, layer)
            layer.brush_size = self.brush_size  # new labels take the last brush size used (remembered)
            layer.events.brush_size.connect(self._on_brush_size)
        elif isinstance(layer, Image):
            for labels in [item for item in self.viewer.layers if isinstance(item, Labels)]:
                if not info(labels).get("source"):
                    pair_with_image(self.viewer, labels)

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
        self.about_action = self._action(self.viewer.window.help_menu, "About MedSeg…", self.show_about, "about_action")
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

    def show_about(self) -> AboutDialog:
        """Show Help > About MedSeg (version, licence, model credits, folders)."""
        dialog = AboutDialog(self.qt_window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

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
        """Stop the panels' work, then release the menu actions and event hooks.

        Every panel with a ``shutdown()`` method stops starting work and asks
        its running workers to end; this waits for them (up to
        :data:`SHUTDOWN_WAIT_MS`), so none outlives the window and emits a
        signal of a deleted object.
        """
        if self.menu is None:
            return
        self.qt_window.removeEventFilter(self)
        self.qt_viewer.removeEventFilter(self)
        if "Fine-tune" in self.docks:
            self.docks["Fine-tune"].visibilityChanged.disconnect(self._on_finetune_visible)
        self.viewer.layers.events.inserted.disconnect(self._on_inserted)
        self.units.close()
        self.recovery.close()
        for widget in self.widgets.values():
            shutdown = getattr(widget, "shutdown", None)
            if shutdown is not None:
                shutdown()
        if not QThreadPool.globalInstance().waitForDone(SHUTDOWN_WAIT_MS):
            _log.warning("workers still running %d s after the window closed", SHUTDOWN_WAIT_MS // 1000)
        self._samples_menu.clear()  # deletes the actions the menus own, and their slots
        self.menu.clear()
        self.viewer.window.main_menu.removeAction(self.menu.menuAction())
        self.viewer.window.help_menu.removeAction(self.about_action)
        self.about_action.deleteLater()
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
        self.current_settings().save()  # only when the user closes the window: not programmatic closes
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
