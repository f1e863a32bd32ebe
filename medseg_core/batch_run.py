"""One batch run into an output folder: its planned outputs and its rows of ``counts.csv``.

Every way of segmenting files shares it: whole images
(:func:`medseg_core.batch.segment_files`), large images in blocks
(:func:`medseg_core.large.files.segment_large_files`) and files on a cluster
(:func:`medseg_core.large.files.segment_files_distributed`). So their outputs
never collide with each other or with an earlier run's, and ``counts.csv``
gets the rows of the inputs that succeeded, in input order, also when the
run is interrupted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

from .counts import label_owners, read_counts, write_counts
from .outputs import OutputPaths, display_path, plan_outputs, prepare_output_folder


@dataclass
class FileOutcome:
    """What happened to one input of a batch run."""

    path: Path
    count: int | None = None
    counted: str = ""
    error: str | None = None
    outputs: list[Path] = field(default_factory=list)


class BatchRun:
    """Plans a run's outputs up front; writes ``counts.csv`` when the run ends, however it ends.

    Use it as a context manager::

        with BatchRun(paths, out_dir, model.info.name) as run:
            for i, (path, plan) in enumerate(zip(paths, run.plans)):
                outcome = ...  # segment path, write plan.labels, plan.objects
                run.add(i, outcome)

    Parameters
    ----------
    paths : sequence of Path
        The run's inputs.
    out_dir : path-like
        The output folder; checked (and made) before any work
        (:func:`~medseg_core.outputs.prepare_output_folder`).
    model : str
        Model name for the ``model`` column.

    Raises
    ------
    MedsegIOError
        The output folder cannot be written or holds a ``counts.csv`` that is
        not MedSeg's; or, on leaving, ``counts.csv`` could not be written.
    """

    def __init__(self, paths: Sequence[Path], out_dir: str | os.PathLike, model: str) -> None:
        self.out_dir = prepare_output_folder(out_dir)
        self._earlier = read_counts(self.out_dir)
        #: Where each input's outputs go, in input order (never an earlier run's names).
        self.plans: list[OutputPaths] = plan_outputs(paths, self.out_dir, label_owners(self._earlier))
        self.model = model
        self.started = datetime.now().astimezone().isoformat(timespec="seconds")
        self._rows: dict[int, dict[str, object]] = {}

    def add(self, index: int, outcome: FileOutcome, plan: OutputPaths | None = None) -> None:
        """Record input ``index``'s outcome; one that succeeded gets a ``counts.csv`` row.

        ``plan`` replaces the planned outputs where the input's differ (the
        block runner's OME-Zarr labels).
        """
        if outcome.error is None:
            self._rows[index] = self._row(outcome, plan or self.plans[index])

    def __enter__(self) -> BatchRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        write_counts(self.out_dir, [*self._earlier, *(self._rows[i] for i in sorted(self._rows))])

    def _row(self, outcome: FileOutcome, plan: OutputPaths) -> dict[str, object]:
        semantic = plan.classes in outcome.outputs
        return {
            "file": display_path(outcome.path.name),
            "count": outcome.count,
            "counted": outcome.counted,
            "input": display_path(os.path.abspath(outcome.path)),
            "labels": display_path(plan.labels.relative_to(self.out_dir).as_posix()),
            "objects": display_path(plan.objects.relative_to(self.out_dir).as_posix()),
            "classes": display_path(plan.classes.relative_to(self.out_dir).as_posix()) if semantic else "",
            "model": self.model,
            "run": self.started,
        }
