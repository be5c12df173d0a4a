"""The lab clock: wall time plus an offset that a notebook can move forward.

Every expiry in the lab (authorization codes, access and refresh tokens, the
gateway's introspection cache) reads this clock, so a notebook can show a
token expiring with ``lab.clock.advance(minutes=16)`` instead of waiting.
The clock never goes backwards.  A measurement that must not depend on how
fast the kernel runs holds real time still for its duration:
``with lab.clock.frozen(): ...`` (then only ``advance`` moves the clock).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import threading
import time


class LabClock:
    """Seconds since the epoch, as :func:`time.time`, shifted by :attr:`offset`."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None     # real time held still, while frozen()
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of real time."""
        return self._offset

    def now(self) -> float:
        frozen = self._frozen_at
        return (time.time() if frozen is None else frozen) + self._offset

    @contextlib.contextmanager
    def frozen(self):
        """Within: real time stands still for the lab, and only :meth:`advance` moves the clock.

        For measurements on the lab clock (how long a revoked token still passes, how long a JWT outlives its
        revocation): they then come out the same on a laptop and in a hub kernel that shares two cores with
        thirty others.  On the way out the clock goes on from real time again, forward (the real seconds
        spent inside are skipped, never counted twice).  Nested, the outermost freeze holds.
        """
        with self._lock:
            outermost = self._frozen_at is None
            if outermost:
                self._frozen_at = time.time()
        try:
            yield self
        finally:
            if outermost:
                with self._lock:
                    self._frozen_at = None

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> float:
        """Move the clock forward and return the new time."""
        step = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if step < 0:
            raise ValueError("the lab clock only moves forward")
        with self._lock:
            self._offset += step
        return self.now()

    def reset(self) -> None:
        """Back to real time (a freeze in progress holds until its block ends)."""
        with self._lock:
            self._offset = 0.0

    def datetime(self, at: float | None = None) -> _dt.datetime:
        """``at`` (default: now) as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.now() if at is None else at, _dt.timezone.utc)

    def __repr__(self) -> str:
        return f"<LabClock {self.datetime():%Y-%m-%d %H:%M:%S} UTC, offset {self._offset:+.0f}s>"
