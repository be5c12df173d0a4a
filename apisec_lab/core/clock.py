"""The lab clock: wall time plus an offset that a notebook can move forward.

Every expiry in the lab (authorization codes, access and refresh tokens, the
gateway's introspection cache) reads this clock, so a notebook can show a
token expiring with ``lab.clock.advance(minutes=16)`` instead of waiting.
The clock never goes backwards.
"""
from __future__ import annotations

import datetime as _dt
import threading
import time


class LabClock:
    """Seconds since the epoch, as :func:`time.time`, shifted by :attr:`offset`."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of real time."""
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> float:
        """Move the clock forward and return the new time."""
        step = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if step < 0:
            raise ValueError("the lab clock only moves forward")
        with self._lock:
            self._offset += step
        return self.now()

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0

    def datetime(self, at: float | None = None) -> _dt.datetime:
        """``at`` (default: now) as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.now() if at is None else at, _dt.timezone.utc)

    def __repr__(self) -> str:
        return f"<LabClock {self.datetime():%Y-%m-%d %H:%M:%S} UTC, offset {self._offset:+.0f}s>"
