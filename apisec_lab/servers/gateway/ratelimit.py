"""The gateway's rate windows: :class:`apisec_lab.core.limits.SlidingWindows`, shared by its threads.

A window remembers when each request it let through arrived; a request is
over a :class:`~apisec_lab.core.limits.Limit` when the last ``requests``
arrivals all fall within ``seconds`` (lab-clock seconds; RFC 6585 section 4's
429 says how long to wait).  Here the windows are locked for the servers'
threads and bounded: a flood of made-up tokens, each its own key while
introspection is off, must not grow them without end.
"""
from __future__ import annotations

import threading

from ...core.limits import Limit, SlidingWindows


class RateWindows:
    """Thread-safe, bounded :class:`~apisec_lab.core.limits.SlidingWindows`.

    Past *max_keys* keys, those with nothing left in the longest window used
    are forgotten (and if every key is busy, all of them: start again rather
    than grow).
    """

    def __init__(self, max_keys: int = 10_000):
        self._windows = SlidingWindows()
        self._lock = threading.Lock()
        self.max_keys, self._longest = max_keys, 0.0

    def take(self, keys: list[tuple[tuple, Limit]], now: float) -> tuple[float, tuple, Limit] | None:
        """Count one request against every key, or (one is at its limit) none: then (wait, key, limit)."""
        with self._lock:
            self._longest = max([self._longest, *(limit.seconds for _, limit in keys)])
            if len(self._windows.keys()) >= self.max_keys:
                idle = Limit(1, self._longest)
                for key in self._windows.keys():
                    self._windows.count(key, idle, now)      # drops a key with nothing left in the window
                if len(self._windows.keys()) >= self.max_keys:
                    self._windows.clear()
            return self._windows.take(keys, now)

    def give_back(self, key: tuple, at: float) -> None:
        """Uncount one request that :meth:`take` counted against *key* at *at*."""
        with self._lock:
            self._windows.give_back(key, at)

    def __len__(self) -> int:
        with self._lock:
            return len(self._windows.keys())

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()
