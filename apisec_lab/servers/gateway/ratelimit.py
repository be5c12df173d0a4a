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
    """key -> times (lab clock) of the requests it let through."""

    def __init__(self):
        self._hits: dict[tuple, collections.deque] = {}
        self._lock = threading.Lock()

    def take(self, keys: list[tuple[tuple, Limit]], now: float) -> Over | None:
        """Count one request against every key, or (when one is over its limit) against none of them."""
        with self._lock:
            worst = None
            for key, limit in keys:
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

    def give_back(self, key: tuple, at: float) -> None:
        """Uncount one request that :meth:`take` counted against *key* at *at*."""
        with self._lock:
            hits = self._hits.get(key)
            if hits is not None and at in hits:
                hits.remove(at)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
