"""Report an unexpected exception: traceback to the log, one line to the user."""

from __future__ import annotations

import logging

from napari.utils.notifications import show_error

_log = logging.getLogger("medseg_app")


def report_bug(what: str, exc: BaseException) -> None:
    """Log an unexpected exception with its traceback and show a one-line notification.

    For failures that are not the user's doing (a bug, a broken install):
    they are never passed off as, say, a corrupt file, and never hidden.

    Parameters
    ----------
    what : str
        What failed, e.g. ``'Cannot open "x.tif"'``.
    exc : BaseException
        The exception; the notification names its innermost cause.
    """
    _log.error("%s", what, exc_info=exc)
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    lines = str(cause).splitlines()
    show_error(f"{what}: {type(cause).__name__}: {lines[0] if lines else ''} (details in the log)")
