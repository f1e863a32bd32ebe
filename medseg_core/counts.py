"""``counts.csv``: one row per segmented input, kept across runs into the same folder.

Each run of ``medseg segment`` appends its rows to the table already in the
output folder (a table of an earlier MedSeg version, with fewer columns, is kept
with the new columns left empty). Columns:

``file``
    Input file name.
``count``
    Objects found.
``counted``
    What ``count`` counts: ``objects`` (instance models), ``cells (regions
    enclosed by membrane)`` or ``regions (connected areas of each class)``
    (semantic models, :mod:`medseg_core.semantic_summary`).
``input``
    Absolute path of the input.
``labels``, ``objects``, ``classes``
    The label image, measurements and (semantic models) class areas
    written, relative to the output folder.
``model``
    Model name.
``run``
    Local start time of the run (ISO 8601), the same for all rows of a run.

Values are CSV-quoted where needed (names with commas, quotes or line breaks).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .atomic import atomic_path
from .io.errors import CorruptFile, WriteFailed, describe, file_error, library_errors

COUNTS_NAME = "counts.csv"
COLUMNS = ("file", "count", "counted", "input", "labels", "objects", "classes", "model", "run")


def read_counts(out_dir: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of the ``counts.csv`` in ``out_dir``; empty when there is none.

    Raises
    ------
    CorruptFile
        The file is not a MedSeg counts table (other columns, not UTF-8 text).
    """
    path = Path(out_dir) / COUNTS_NAME
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise file_error(CorruptFile, path, f"not a readable CSV file ({describe(exc)})") from None
    unknown = [name for name in header if name not in COLUMNS]
    if header and (unknown or not {"file", "count"} <= set(header)):
        problem = f"not a MedSeg counts table (columns {', '.join(header)}); move it away or choose another folder"
        raise file_error(CorruptFile, path, problem)
    return [{name: row.get(name) or "" for name in COLUMNS} for row in rows]


def label_owners(rows: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Labels path (lower case) -> the input it was made from; later rows win."""
    return {row["labels"].lower(): row["input"] for row in rows if row.get("labels") and row.get("input")}


def write_counts(out_dir: str | os.PathLike, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write ``rows`` (all of them: earlier runs' and this run's) as ``counts.csv``, atomically.

    Raises
    ------
    WriteFailed
        The file could not be written; an existing table is left as it was.
    """
    path = Path(out_dir) / COUNTS_NAME
    with library_errors(path, "writing failed", WriteFailed, action="write"):
        with atomic_path(path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
    return path
