"""Entry point of the frozen MedSeg bundle (PyInstaller, see ``medseg.spec``).

The bundle has two executables built from this one script and sharing one
``_internal`` folder: ``medseg-app`` starts the desktop app and ``medseg``
runs the command line. Which one runs is decided by the executable's name,
so the CLI costs no second copy of PyTorch and napari.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

#: Executable name (without ``.exe``) that runs the command line; any other starts the app.
CLI_NAME = "medseg"


def main() -> int:
    """Run the app or the CLI, by the name of the executable; returns the exit status."""
    multiprocessing.freeze_support()  # a frozen child process must not start another app
    if Path(sys.executable).stem == CLI_NAME:
        from medseg_core.cli import main as cli_main

        return cli_main()
    from medseg_app.main import main as app_main

    return app_main()


if __name__ == "__main__":
    raise SystemExit(main())
