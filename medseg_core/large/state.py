"""The resumable state of a block run: a work folder with one file per finished block.

``<work>/run.json`` records what the run is (input, its size and modification
time, model, options, block plan); ``<work>/blocks/<index>.npz`` holds one
finished block's objects, written atomically, so a run that dies (a killed
worker, a power cut) keeps every block it finished. A later run with the same
``run.json`` skips them; a run with different settings refuses to mix its
blocks with the old ones and starts afresh.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..atomic import atomic_path, atomic_write_text
from ..io.errors import WriteFailed, library_errors
from .block import BlockObjects


class RunState:
    """The work folder of one block run.

    Parameters
    ----------
    folder : path-like
        Created when missing.
    identity : dict
        JSON-able description of the run; blocks of a folder whose
        ``run.json`` differs are discarded.
    """

    def __init__(self, folder: str | os.PathLike, identity: dict) -> None:
        self.folder = Path(folder)
        self.identity = json.loads(json.dumps(identity))
        with library_errors(self.folder, "cannot create the work folder", WriteFailed, action="write"):
            manifest = self.folder / "run.json"
            if manifest.exists():
                try:
                    old = json.loads(manifest.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    old = None
                if old != self.identity:
                    shutil.rmtree(self.folder / "blocks", ignore_errors=True)
            self.blocks_folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(manifest, json.dumps(self.identity, indent=1))

    @property
    def blocks_folder(self) -> Path:
        """Where finished blocks are stored."""
        return self.folder / "blocks"

    def block_path(self, index: int) -> Path:
        """The file of block ``index``."""
        return self.blocks_folder / f"{index}.npz"

    def finished(self) -> set[int]:
        """Indices of the blocks already done."""
        return {int(p.stem) for p in self.blocks_folder.glob("*.npz") if p.stem.isdigit()}

    def save(self, index: int, objects: BlockObjects) -> None:
        """Store a finished block atomically."""
        save_block(self.block_path(index), objects)

    def remove(self) -> None:
        """Delete the work folder (after a complete run)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def save_block(path: Path, objects: BlockObjects) -> None:
    """Write a block's objects to ``path`` atomically (also from a Dask worker)."""
    with library_errors(path, "writing a block failed", WriteFailed, action="write"):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                objects.save(fh)
