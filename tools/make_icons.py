"""Render the application icon ``resources/icons/medseg.svg`` to PNGs in the usual sizes.

Usage (from the repository root)::

    python tools/make_icons.py

Writes ``resources/icons/medseg-<size>.png`` for the freedesktop hicolor
sizes (16 to 512 px); the desktop package installs them under
``/usr/share/icons/hicolor/<size>x<size>/apps/medseg.png`` and the app uses
them as its window icon. Rendering goes through Qt's SVG renderer, so no
extra tool is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int, out: Path) -> None:
    """Render ``svg`` to a square ``size`` px PNG at ``out`` (transparent background)."""
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QImage, QPainter
    from qtpy.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG file")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out)):
        raise OSError(f"cannot write {out}")


def main() -> int:
    """Write every size; print one line per file."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qtpy.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs it alive
    for size in SIZES:
        out = ICONS / f"medseg-{size}.png"
        render(ICONS / "medseg.svg", size, out)
        print(f"{out.relative_to(ICONS.parents[1])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
