"""Where results go: output places checked before any work, and distinct output names.

``medseg segment`` writes ``<stem>_labels.tif`` and ``<stem>_objects.csv``
for each input, and ``<stem>_classes.csv`` (area of each class) for
semantic models. The inputs' folders are kept below the output folder,
relative to the deepest folder that holds all of them: ``plate1/A01.png``
and ``plate2/A01.png`` give ``OUT/plate1/A01_labels.tif`` and
``OUT/plate2/A01_labels.tif``, while the files of a single folder go
straight into ``OUT``. Inputs that would still share a name (``he.tif`` and
``he.jpg``, or names differing only in case) are told apart by their
suffix: ``he_tif_labels.tif``, ``he_jpg_labels.tif``.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .io.errors import WriteFailed, file_error
from .training.data import file_stem

LABELS_SUFFIX = "_labels.tif"
OBJECTS_SUFFIX = "_objects.csv"
CLASSES_SUFFIX = "_classes.csv"


def is_output_name(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a label image MedSeg wrote (``*_labels.tif``)."""
    return Path(path).name.lower().endswith(LABELS_SUFFIX)


def display_path(path: str | os.PathLike) -> str:
    """``path`` as text that can always be printed and written as UTF-8.

    Bytes of a file name that are not valid UTF-8 (kept by Python as
    surrogates) are shown as ``\\xNN`` escapes.
    """
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def prepare_output_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check that files can be written in it.

    Call it before any long work, so that a wrong place fails at once.

    Raises
    ------
    WriteFailed
        ``folder`` is a file, cannot be created, or is not writable.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise file_error(WriteFailed, folder, "it is a file, not a folder", action="write")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".medseg-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise file_error(WriteFailed, folder, _reason(exc), action="write") from None
    return folder


def check_output_file(path: str | os.PathLike) -> Path:
    """Check before any work that ``path`` can be written (its folder is created).

    Raises
    ------
    WriteFailed
        ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise file_error(WriteFailed, path, "it is a folder, not a file", action="write")
    prepare_output_folder(path.parent)
    return path


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@dataclass(frozen=True)
class OutputPaths:
    """Where one input's results go.

    Attributes
    ----------
    labels : Path
        The label image (``..._labels.tif``).
    objects : Path
        The per-object measurements (``..._objects.csv``).
    classes : Path
        The area of each class (``..._classes.csv``; semantic models only).
    """

    labels: Path
    objects: Path
    classes: Path


def plan_outputs(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    owners: Mapping[str, str] | None = None,
) -> list[OutputPaths]:
    """Distinct output paths for each input (see the module notes for the rule).

    Parameters
    ----------
    inputs : sequence of path-like
        Input files (or DICOM folders), without duplicates.
    out_dir : path-like
        The output folder.
    owners : mapping, optional
        Labels paths relative to ``out_dir`` (lower case, ``/``-separated)
        written by earlier runs, to the input each belongs to; a name that
        belongs to another input is not reused, so runs into the same folder
        do not overwrite each other's results either.

    Returns
    -------
    list of OutputPaths
        In the order of ``inputs``; no two share a name, even on
        case-insensitive file systems.
    """
    out_dir = Path(out_dir)
    owners = owners or {}
    absolute = [Path(os.path.abspath(p)) for p in inputs]
    root = _common_folder(absolute)
    folders = [_relative_folder(p, root) for p in absolute]
    stems = [file_stem(p) for p in absolute]
    shared = Counter((str(f).lower(), s.lower()) for f, s in zip(folders, stems))
    used: set[str] = set()
    plans = []
    for path, folder, stem in zip(absolute, folders, stems):
        me = display_path(path)
        base = stem if shared[(str(folder).lower(), stem.lower())] == 1 else path.name.replace(".", "_")
        name, n = base, 1
        while True:
            key = display_path((folder / f"{name}{LABELS_SUFFIX}").as_posix()).lower()
            if key not in used and owners.get(key, me) == me:
                break
            n += 1
            name = f"{base}_{n}"
        used.add(key)
        stem_path = out_dir / folder / name
        suffixes = (LABELS_SUFFIX, OBJECTS_SUFFIX, CLASSES_SUFFIX)
        plans.append(OutputPaths(*(Path(f"{stem_path}{suffix}") for suffix in suffixes)))
    return plans


def _common_folder(paths: Sequence[Path]) -> Path | None:
    """Deepest folder holding every existing input (missing ones do not count)."""
    parents = [str(p.parent) for p in paths if p.exists()]
    if not parents:
        return None
    try:
        return Path(os.path.commonpath(parents))
    except ValueError:  # different drives
        return None


def _relative_folder(path: Path, root: Path | None) -> Path:
    if root is None:
        return Path()
    try:
        return path.parent.relative_to(root)
    except ValueError:
        return Path()
