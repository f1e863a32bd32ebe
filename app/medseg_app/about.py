"""Help > About MedSeg: version, licence, the shipped models' data credits, and where files are kept."""

from __future__ import annotations

import html

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from medseg_core import __version__
from medseg_core.registry import list_models, user_models_dir

from .recovery import recovery_dir
from .settings import settings_path

#: The licence of MedSeg's own code (the file LICENSE; the shipped models carry their data's terms).
LICENCE = "BSD 3-Clause"


def about_html() -> str:
    """The About text as HTML: version, licence, each shipped model's credits, the folders used.

    Models whose training data limits their use are marked with that
    restriction (:attr:`~medseg_core.model.ModelInfo.use_restriction`).
    """
    esc = html.escape
    parts = [
        f"<h2>MedSeg {esc(__version__)}</h2>",
        "<p>Segment, correct, count and measure objects in microscopy and radiology images.</p>",
        f"<p><b>Licence:</b> {LICENCE} (the program). Each shipped model also carries the terms of its "
        "training data, listed below. MedSeg is not a medical device: do not use it for diagnosis.</p>",
        "<h3>Shipped models</h3>",
    ]
    shipped = [entry for entry in list_models() if entry.shipped]
    if not shipped:
        parts.append("<p>No shipped models found: the installation is incomplete.</p>")
    for entry in shipped:
        restriction = entry.info.use_restriction
        mark = f' <span style="color:#c0392b"><b>⚠ {esc(restriction)}</b></span>' if restriction else ""
        items = "".join(f"<li>{esc(line)}</li>" for line in entry.info.provenance())
        parts.append(f"<p><b>{esc(entry.name)}</b>{mark}<br>{esc(entry.info.description)}</p><ul>{items}</ul>")
    parts += [
        "<h3>Where MedSeg keeps files</h3><ul>",
        f"<li>Your models (fine-tuned or copied there): {esc(str(user_models_dir()))}</li>",
        f"<li>Recovery files (autosaved corrections): {esc(str(recovery_dir()))}</li>",
        f"<li>Settings (window, last model, device, brush): {esc(str(settings_path()))}</li>",
        "</ul>",
    ]
    return "\n".join(parts)


class AboutDialog(QDialog):
    """A dialog showing :func:`about_html`, with a Close button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("medseg_about_dialog")
        self.setWindowTitle("About MedSeg")
        self.text = QTextBrowser(objectName="about_text", openExternalLinks=True)
        self.text.setHtml(about_html())
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 560)
