"""Errors of the image IO layer, and the wrapper that turns library errors into them.

Every failure of :mod:`medseg_core.io` is a subclass of
:class:`medseg_core.errors.MedsegIOError` whose message is one line naming
the file and what was wrong with it, e.g.::

    Cannot read "/data/cells.tif": not a readable TIFF file (TiffFileError: not a TIFF file)

Only a file's own faults become these errors: what the reader libraries
raise on a file they cannot parse, and operating-system errors. A bug in
MedSeg's own code (an ``AttributeError`` in a reader, say) is logged and
propagates unchanged; see :func:`library_errors`.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import MedsegIOError

__all__ = [
    "CorruptFile",
    "FileNotFound",
    "ImageTooLarge",
    "InvalidData",
    "MedsegIOError",
    "NoPixelData",
    "PermissionDenied",
    "UnsupportedFormat",
    "UnsupportedShape",
    "WriteFailed",
    "file_error",
    "library_errors",
]

logger = logging.getLogger(__name__)

_MAX_DETAIL = 200

#: Packages whose exceptions, or whose code raising any exception, mean a file they cannot parse.
READER_LIBRARIES = frozenset({"tifffile", "imagecodecs", "PIL", "imageio", "pydicom", "nibabel"})

#: Built-in exceptions by which parsers report bad input, wherever they are raised.
_DATA_ERRORS = (OSError, ValueError, EOFError, struct.error, zlib.error)

_OWN_PACKAGE = __name__.partition(".")[0]


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


class ImageTooLarge(_FileError):
    """The header declares an image beyond the decompression-bomb limit or the free memory.

    See :mod:`medseg_core.io.limits`; the image is refused before decoding.
    """


class PermissionDenied(_FileError):
    """The operating system refused access to the file or folder."""


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
    """Re-raise a library's file error raised in the body as ``cls`` about ``path``.

    Converted, with the original chained as ``__cause__``: operating-system
    errors, ``ValueError``, ``EOFError``, ``struct.error``, ``zlib.error``,
    the exception classes of the reader libraries (:data:`READER_LIBRARIES`),
    and any other exception raised inside a reader library that MedSeg
    called (logged as a warning: a library that fails on a malformed file).
    A permission error becomes :class:`PermissionDenied`, a missing file
    :class:`FileNotFound`, PIL's decompression-bomb error
    :class:`ImageTooLarge`. Any other exception (a bug in MedSeg's own
    code) is logged and propagates unchanged. :class:`MedsegIOError` passes
    through; ``MemoryError`` and non-``Exception`` errors
    (``KeyboardInterrupt``) are never swallowed.

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
        if not (isinstance(exc, _DATA_ERRORS) or _from_library(exc)):
            _log_bug(exc, path, action)
            raise
        raise _translate(exc, path, what, cls, action) from exc


def _log_bug(exc: Exception, path: str | os.PathLike, action: str) -> None:
    """Log an exception of MedSeg's own code once, however many wrappers it passes."""
    if getattr(exc, "_medseg_logged", False):
        return
    try:
        exc._medseg_logged = True  # type: ignore[attr-defined]
    except AttributeError:
        pass
    doing = "reading" if action == "read" else "writing"
    logger.error("bug: %s while %s %s", type(exc).__name__, doing, os.fspath(path), exc_info=exc)


def _translate(exc: Exception, path: str | os.PathLike, what: str, cls: type[_FileError], action: str) -> _FileError:
    """The error for a library exception: its own class for permissions, missing files and bombs."""
    chain = _causes(exc)
    if any(isinstance(e, PermissionError) for e in chain):
        return file_error(
            PermissionDenied, path, f"permission denied; check that you may {action} it", action=action
        )
    if any(isinstance(e, FileNotFoundError) for e in chain):
        return file_error(FileNotFound, path, "no such file or folder", action=action)
    bomb = next((e for e in chain if type(e).__name__ == "DecompressionBombError"), None)
    if bomb is not None:
        return file_error(ImageTooLarge, path, f"image exceeds the decompression-bomb limit ({describe(bomb)})")
    callee = _callee(exc)
    if not isinstance(exc, _DATA_ERRORS) and not _library_class(exc):
        logger.warning("%s raised %s on %s", callee, type(exc).__name__, os.fspath(path), exc_info=exc)
    shown = chain[-1] if callee == "imageio" else exc  # imageio's own message is "an unknown error"
    return file_error(cls, path, f"{what} ({describe(shown)})", action=action)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its explicit causes, outermost first (imageio wraps the reader's error)."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    return chain


def _library_class(exc: BaseException) -> bool:
    """True for an exception class defined by a reader library (``TiffFileError``, ``InvalidDicomError``...)."""
    return type(exc).__module__.partition(".")[0] in READER_LIBRARIES


def _callee(exc: BaseException) -> str:
    """Top-level package of the code MedSeg called when ``exc`` was raised ("" if MedSeg's own)."""
    callee, tb = "", exc.__traceback__
    while tb is not None:
        package = str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0]
        if package == _OWN_PACKAGE:
            callee = ""
        elif not callee:
            callee = package
        tb = tb.tb_next
    return callee


def _from_library(exc: BaseException) -> bool:
    """True when ``exc`` was raised inside a reader library that MedSeg called, or is one of its classes."""
    return _library_class(exc) or _callee(exc) in READER_LIBRARIES
