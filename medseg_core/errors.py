"""Exception types raised by :mod:`medseg_core`.

Every error a user can cause (a bad file, a wrong model, a cancelled run)
is a subclass of :class:`MedsegError`, whose message is one readable line.
"""

from __future__ import annotations


class MedsegError(Exception):
    """Base class of every error MedSeg raises on purpose.

    Line breaks in the message are escaped (``\\n``), so that it always
    prints as one line, whatever file content it quotes.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message).replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(text, *args)


class MedsegIOError(MedsegError):
    """An image or label file could not be read or written."""


class ModelFileError(MedsegError):
    """A model file is missing, unreadable or inconsistent."""


class InputError(MedsegError):
    """An array handed to the engine cannot be segmented (shape, values)."""


class Cancelled(MedsegError):
    """A long-running operation was cancelled by its caller."""
