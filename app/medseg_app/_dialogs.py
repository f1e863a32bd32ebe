"""Every question the app asks the user, as module-level functions.

Widgets call these through the module (``_dialogs.ask_overwrite(...)``), so
tests replace them with ``monkeypatch.setattr(_dialogs, "ask_overwrite", ...)``
and never block on a modal dialog.
"""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtWidgets import QFileDialog, QMessageBox, QWidget


def choose_save_path(parent: QWidget | None, caption: str, suggested: str, file_filter: str) -> str | None:
    """Ask for a file to write; None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, caption, suggested, file_filter)
    return path or None


def choose_open_paths(parent: QWidget | None, caption: str, file_filter: str) -> list[str]:
    """Ask for files to open; empty when cancelled."""
    paths, _ = QFileDialog.getOpenFileNames(parent, caption, "", file_filter)
    return list(paths)


def _yes_no(parent: QWidget | None, title: str, text: str, yes: str, no: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(no, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(yes_button)
    box.exec()
    return box.clickedButton() is yes_button


def ask_overwrite(parent: QWidget | None, names: Sequence[str]) -> bool:
    """Ask before a new segmentation replaces edited labels layers."""
    listed = ", ".join(f"'{n}'" for n in names)
    return _yes_no(
        parent,
        "Replace edited labels?",
        f"{listed} {'has' if len(names) == 1 else 'have'} been edited. "
        "Segmenting again replaces the edits (you can still undo with Ctrl+Z).",
        "Replace",
        "Keep my edits",
    )


def ask_restore(parent: QWidget | None, image: str, saved: str) -> bool:
    """Offer to restore autosaved labels of ``image`` (saved at ``saved``)."""
    return _yes_no(
        parent,
        "Restore unsaved labels?",
        f"MedSeg kept unsaved labels for '{image}' from {saved}. Restore them?",
        "Restore",
        "Discard",
    )


def ask_quit(parent: QWidget | None, names: Sequence[str]) -> bool:
    """Ask before quitting with unsaved labels; True means quit anyway."""
    listed = "\n".join(f"  • {n}" for n in names)
    return _yes_no(
        parent,
        "Unsaved labels",
        f"These labels layers are not saved:\n{listed}\n\n"
        "Quit anyway? (An autosaved copy is offered again when you reopen the image.)",
        "Quit without saving",
        "Cancel",
    )

