"""Where the tasks of a block run execute: in this process, or on a Dask cluster.

An executor maps a task function over argument tuples and yields each
outcome as it finishes, ``(position, result, error)``, with ``error`` a
one-line string when the task failed. :class:`LocalExecutor` runs them one
after the other in this process; the Dask executor
(:mod:`medseg_core.large.dask_run`) has the same two methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol


class Executor(Protocol):
    """What the block runner needs from an executor."""

    #: Whether tasks run in other processes (the model must then be loadable by name or path).
    remote: bool

    def map(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any, str | None]]:
        """Run ``fn(*a)`` for every ``a``; yield ``(position, result, error)`` as they finish."""

    def cancel(self) -> None:
        """Stop what is still running or waiting."""


def describe_error(exc: BaseException) -> str:
    """One line for a failed task: the MedSeg message, or the exception's type and text."""
    from ..errors import MedsegError  # noqa: PLC0415

    text = str(exc) if isinstance(exc, MedsegError) else f"{type(exc).__name__}: {exc}"
    return text.replace("\n", " ")[:300]


class LocalExecutor:
    """Run tasks one by one in this process (the default; nothing of Dask is imported)."""

    remote = False

    def map(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any, str | None]]:
        """Run ``fn(*a)`` for each ``a`` in order; a failure is reported and the next one runs."""
        for i, a in enumerate(args):
            try:
                result = fn(*a)
            except (KeyboardInterrupt, GeneratorExit):
                raise
            except Exception as exc:  # noqa: BLE001 (a failed block is reported, the run goes on)
                yield i, None, describe_error(exc)
            else:
                yield i, result, None

    def cancel(self) -> None:
        """Nothing runs between two outcomes."""
