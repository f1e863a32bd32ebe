"""The MedSeg desktop app: build the viewer (:func:`create_viewer`) and the CLI (:func:`main`).

Like micro-sam's annotators, the app has three entry points: the panel
widgets (napari.yaml), a function that builds a full viewer, and ``main``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import napari

from ._responsiveness import settle_after_startup, warm_up_labels_layers
from ._window import MedSegWindow, open_paths
from .finetune_job import guard_torch_imports


def create_viewer(
    files: Sequence[str | os.PathLike] = (),
    *,
    viewer: napari.viewer.Viewer | None = None,
    show: bool = True,
) -> napari.viewer.Viewer:
    """A napari viewer titled "MedSeg" with the MedSeg panels, menu and file handling.

    Parameters
    ----------
    files : sequence of path-like
        Images (or DICOM folders) to open.
    viewer : napari.viewer.Viewer, optional
        Turn this viewer into MedSeg instead of making a new one.
    show : bool
        Show the window (new viewers only).

    Returns
    -------
    napari.viewer.Viewer
        The viewer; :func:`medseg_window` returns its :class:`MedSegWindow`.
    """
    guard_torch_imports()  # before napari's OpenGL canvas loads Mesa's LLVM
    if viewer is None:
        viewer = napari.Viewer(title="MedSeg", show=show)
        _brand_application()
        warm_up_labels_layers(viewer)
    MedSegWindow(viewer)  # owned by the Qt main window; see medseg_window()
    if files:
        open_paths(viewer, files)
    return viewer


def _brand_application() -> None:
    """Give the application MedSeg's icon and desktop entry (``medseg.desktop``) instead of napari's."""
    from qtpy.QtGui import QGuiApplication

    from ._window import app_icon

    QGuiApplication.setWindowIcon(app_icon())
    QGuiApplication.setDesktopFileName("medseg")


def medseg_window(viewer: napari.viewer.Viewer) -> MedSegWindow | None:
    """The :class:`MedSegWindow` of a viewer made by :func:`create_viewer` (None otherwise).

    It is found through Qt ownership rather than stored on the viewer, so
    closing the viewer frees everything.
    """
    qt_window = getattr(viewer.window, "_qt_window", None)
    return qt_window.findChild(MedSegWindow, "medseg_window") if qt_window is not None else None


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``medseg-app``."""
    from medseg_core import __version__

    parser = argparse.ArgumentParser(
        prog="medseg-app",
        description="MedSeg desktop app: segment, correct and count objects in microscopy and radiology images.",
    )
    parser.add_argument("files", nargs="*", help="images or DICOM folders to open")
    parser.add_argument("--sample", action="store_true", help="also open the shipped nuclei sample image")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the sample, segment it, check the count, write a CSV to a temporary folder, close; exit 0 if all passed",
    )
    parser.add_argument("--version", action="version", version=f"MedSeg {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app (``medseg-app [FILES...]``)."""
    args = build_parser().parse_args(argv)
    if args.self_test:
        from .self_test import run_self_test

        return run_self_test()
    files = list(args.files)
    if args.sample:
        from ._sample_data import sample_path

        files.append(sample_path())
    create_viewer(files)
    settle_after_startup()
    napari.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
