"""One stderr line rewritten in place: the CLI's progress display."""

from __future__ import annotations

import math
import sys
import time


class StatusLine:
    """Show a progress text on one stderr line, rewriting it at most every ``interval`` seconds.

    Parameters
    ----------
    interval : float
        Shortest time between two rewrites; a final text is always shown.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.width = 0
        self.shown_at = -math.inf

    def show(self, text: str, final: bool = False) -> None:
        """Replace the line with ``text``, unless the last rewrite is too recent and ``final`` is False."""
        now = time.monotonic()
        if not final and now - self.shown_at < self.interval:
            return
        self.shown_at = now
        print("\r" + text.ljust(self.width), end="", file=sys.stderr, flush=True)
        self.width = len(text)

    def clear(self) -> None:
        """Blank the line before a result is printed."""
        if self.width:
            print("\r" + " " * self.width + "\r", end="", file=sys.stderr, flush=True)
            self.width = 0
