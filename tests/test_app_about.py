"""Help > About MedSeg: version, licence, the shipped models' credits, where files are kept."""

from __future__ import annotations

import html

import pytest
from qtpy.QtWidgets import QTextBrowser

from medseg_core import __version__
from medseg_core.registry import list_models, user_models_dir
from medseg_app.about import AboutDialog, about_html
from medseg_app.recovery import recovery_dir
from medseg_app.settings import settings_path
from _app_support import *  # noqa: F403


def test_about_text_names_version_licence_models_and_folders():
    text = html.unescape(about_html())
    assert f"MedSeg {__version__}" in text
    assert "BSD 3-Clause" in text
    shipped = [entry for entry in list_models() if entry.shipped]
    assert {e.name for e in shipped} >= {"nuclei", "nuclei-he", "em-membranes", "cxr-lungs"}
    for entry in shipped:
        assert f"<b>{entry.name}</b>" in text
        for line in entry.info.provenance():  # data credits and licence of each model
            assert line in text
    assert "⚠ non-commercial, research use only" in text  # nuclei-he (MoNuSeg, CC BY-NC-SA)
    assert "<b>cxr-lungs</b>" in text and text.count("⚠") == sum(bool(e.info.use_restriction) for e in shipped)
    for folder in (user_models_dir(), recovery_dir(), settings_path()):
        assert str(folder) in text


@pytest.mark.gui
def test_help_menu_opens_the_about_dialog(app, qtbot):
    viewer, window = app
    actions = [a for a in viewer.window.help_menu.actions() if a.objectName() == "about_action"]
    assert len(actions) == 1
    actions[0].trigger()
    dialog = window.qt_window.findChild(AboutDialog, "medseg_about_dialog")
    assert dialog is not None and dialog.isVisible()
    shown = dialog.findChild(QTextBrowser, "about_text").toPlainText()
    assert f"MedSeg {__version__}" in shown and "nuclei-he" in shown and str(user_models_dir()) in shown
    dialog.close()
    window.teardown()
    assert window.about_action not in viewer.window.help_menu.actions()  # no action left behind
