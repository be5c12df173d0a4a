"""Sliding-window rate counters on the lab clock (the gateway's 429s, RFC 6585 section 4).

A window remembers when each request it let through arrived; a request is
over a :class:`~apisec_lab.servers.gateway.policy.Limit` when the last
``requests`` arrivals all fall within ``seconds``.  Thread-safe.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

from .policy import Limit


@dataclass(frozen=True)
class Over:
    """A request that a window refused: how long to wait, whose window, and its limit."""

    wait: float
    key: tuple
    limit: Limit


class SlidingWindows:
    """key -> times (lab clock) of the requests it let through.

    At most *max_keys* keys are kept (a flood of made-up tokens, each its own key, must not grow it
    without end): past that, keys whose every hit has left the longest window are forgotten.
    """

    def __init__(self, max_keys: int = 10_000):
        self._hits: dict[tuple, collections.deque] = {}
        self._lock = threading.Lock()
        self.max_keys, self._longest = max_keys, 0.0

    def take(self, keys: list[tuple[tuple, Limit]], now: float) -> Over | None:
        """Count one request against every key, or (when one is over its limit) against none of them."""
        with self._lock:
            if len(self._hits) >= self.max_keys:
                self._forget_idle(now)
            worst = None
            for key, limit in keys:
                self._longest = max(self._longest, limit.seconds)
                hits = self._hits.setdefault(key, collections.deque())
                while hits and hits[0] <= now - limit.seconds:
                    hits.popleft()
                if len(hits) >= limit.requests:
                    wait = hits[-limit.requests] + limit.seconds - now
                    if worst is None or wait > worst.wait:
                        worst = Over(wait, key, limit)
            if worst is not None:
                return worst
            for key, _ in keys:
                self._hits[key].append(now)
            return None

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self._longest]
        for k in idle:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:      # every key busy: start again rather than grow
            self._hits.clear()

    def __len__(self) -> int:
        return len(self._hits)

    def give_back(self, key: tuple, at: float) -> None:
        """Uncount one request that :meth:`take` counted against *key* at *at*."""
        with self._lock:
            hits = self._hits.get(key)
            if hits is not None and at in hits:
                hits.remove(at)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
