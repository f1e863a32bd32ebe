"""Progress records and helpers for generator-based long-running work.

Long operations in :mod:`medseg_core` are generators: they ``yield``
:class:`Progress` records (plain numbers, cheap to send across threads) and
``return`` their result. :func:`drain` runs such a generator to its end,
forwarding progress to a callback and honouring a cancel check, which is how
the non-generator public functions (``segment``, ``train``...) are built.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long-running operation.

    Parameters
    ----------
    stage : str
        Short name of what is being done (``"normalise"``, ``"network"``...).
    done : int
        Units of work finished in this stage.
    total : int
        Units of work in this stage (``>= 1``).
    message : str
        Human-readable one-liner for status bars.
    """

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """Fraction of the stage finished, in ``[0, 1]``."""
        return min(1.0, self.done / max(1, self.total))


def drain(
    gen: Generator[Any, None, T],
    callback: Callable[[Any], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> T:
    """Run a progress generator to completion and return its result.

    Parameters
    ----------
    gen : generator
        Yields progress records and returns the result.
    callback : callable, optional
        Called with every yielded record.
    cancel : callable, optional
        Polled after every record; when it returns True the generator is
        closed and :class:`~medseg_core.errors.Cancelled` is raised.

    Returns
    -------
    object
        What the generator returned.
    """
    try:
        while True:
            record = next(gen)
            if callback is not None:
                callback(record)
            if cancel is not None and cancel():
                gen.close()
                raise Cancelled("cancelled by the caller")
    except StopIteration as stop:
        return stop.value
