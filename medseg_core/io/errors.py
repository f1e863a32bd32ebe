"""Errors of the image IO layer, and the wrapper that turns library errors into them.

Every failure of :mod:`medseg_core.io` is a subclass of
:class:`medseg_core.errors.MedsegIOError` whose message is one line naming
the file and what was wrong with it, e.g.::

    Cannot read "/data/cells.tif": not a readable TIFF file (TiffFileError: not a TIFF file)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import MedsegIOError

__all__ = [
    "CorruptFile",
    "FileNotFound",
    "InvalidData",
    "MedsegIOError",
    "NoPixelData",
    "UnsupportedFormat",
    "UnsupportedShape",
    "WriteFailed",
    "file_error",
    "library_errors",
]

_MAX_DETAIL = 200


class _FileError(MedsegIOError):
    """A :class:`MedsegIOError` that remembers the path it is about.

    Parameters
    ----------
    message : str
        The one-line message.
    path : str or os.PathLike, optional
        The file or folder concerned.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)

    def __reduce__(self):  # keep ``path`` when pickled to or from a worker process
        return (type(self), (str(self), self.path))


class FileNotFound(_FileError):
    """The file or folder does not exist."""


class UnsupportedFormat(_FileError):
    """The suffix or content is not a format MedSeg reads (or a folder without DICOM files)."""


class CorruptFile(_FileError):
    """The file has a known suffix but is empty, truncated, damaged or of another type."""


class NoPixelData(CorruptFile):
    """A DICOM file (or every file of a DICOM folder) has no pixel data."""


class UnsupportedShape(_FileError):
    """The image is too small, has no pixels, or has more axes than MedSeg handles."""


class InvalidData(_FileError):
    """The values cannot be used: complex pixels, negative or fractional labels, bad spacing."""


class WriteFailed(_FileError):
    """Writing a file failed (permissions, full disk, encoder error); nothing was replaced."""


def one_line(text: str) -> str:
    """Return ``text`` with line breaks escaped, so a message is always one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def describe(exc: BaseException) -> str:
    """Summarise a library exception as ``"Type: first line of message"`` (shortened)."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if len(first) > _MAX_DETAIL:
        first = first[: _MAX_DETAIL - 3] + "..."
    name = type(exc).__name__
    return f"{name}: {first}" if first else name


def file_error(
    cls: type[_FileError], path: str | os.PathLike, problem: str, *, action: str = "read"
) -> _FileError:
    """Build an error of class ``cls`` whose message names ``path`` and ``problem``.

    Parameters
    ----------
    cls : type
        One of the error classes of this module.
    path : str or os.PathLike
        The file or folder concerned.
    problem : str
        What was wrong, in a few words.
    action : str, optional
        ``"read"`` or ``"write"``; used in the message.

    Returns
    -------
    _FileError
        The error, ready to ``raise``.
    """
    return cls(one_line(f'Cannot {action} "{os.fspath(path)}": {problem}'), path)


@contextmanager
def library_errors(
    path: str | os.PathLike,
    what: str,
    cls: type[_FileError] = CorruptFile,
    *,
    action: str = "read",
) -> Iterator[None]:
    """Re-raise any library exception raised in the body as ``cls`` about ``path``.

    :class:`MedsegIOError` passes through unchanged; ``MemoryError`` and
    non-``Exception`` errors (``KeyboardInterrupt``) are never swallowed.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder being read or written.
    what : str
        Short description of the failure, e.g. ``"not a readable TIFF file"``;
        the library's own message is appended in parentheses.
    cls : type, optional
        Error class to raise, :class:`CorruptFile` by default.
    action : str, optional
        ``"read"`` or ``"write"``.
    """
    try:
        yield
    except (MedsegIOError, MemoryError):
        raise
    except Exception as exc:
        raise file_error(cls, path, f"{what} ({describe(exc)})", action=action) from None
