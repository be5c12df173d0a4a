"""Sliding-window limits on the lab clock: at most N counted events per window, per key.

The authorization server counts failed sign-ins with them (per account, per
address), the gateway its requests (per client, user and address); the times
are lab-clock seconds, so ``lab.clock.advance(...)`` ends a wait without sleeping.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` counted events in any sliding window of ``seconds`` (lab-clock seconds)."""

    requests: int
    seconds: float

    def __post_init__(self):
        if not (isinstance(self.requests, int) and self.requests >= 1 and self.seconds > 0):
            raise ValueError("a Limit needs requests >= 1 (an int) and seconds > 0")

    def __str__(self) -> str:
        return f"{self.requests} per {self.seconds:g} s"


class SlidingWindows:
    """key -> lab-clock times of the events counted against it.

    Not locked: its owner holds a lock around each call.
    """

    def __init__(self):
        self._hits: dict[tuple, collections.deque] = {}

    def _live(self, key: tuple, limit: Limit, now: float) -> collections.deque | None:
        hits = self._hits.get(key)
        while hits and hits[0] <= now - limit.seconds:
            hits.popleft()
        if hits is not None and not hits:
            del self._hits[key]
            return None
        return hits

    def count(self, key: tuple, limit: Limit, now: float) -> int:
        """Events of *key* inside its window now."""
        hits = self._live(key, limit, now)
        return len(hits) if hits else 0

    def wait(self, keys: list[tuple[tuple, Limit]], now: float) -> tuple[float, tuple, Limit] | None:
        """(seconds to wait, key, limit) for the key at its limit that frees up last; None if none is."""
        worst = None
        for key, limit in keys:
            hits = self._live(key, limit, now)
            if hits and len(hits) >= limit.requests:
                wait = hits[-limit.requests] + limit.seconds - now
                if worst is None or wait > worst[0]:
                    worst = (wait, key, limit)
        return worst

    def add(self, keys: list[tuple[tuple, Limit]], now: float) -> None:
        """Count one event against every key."""
        for key, _ in keys:
            self._hits.setdefault(key, collections.deque()).append(now)

    def take(self, keys: list[tuple[tuple, Limit]], now: float) -> tuple[float, tuple, Limit] | None:
        """Count one event against every key, or against none of them when one is at its limit."""
        over = self.wait(keys, now)
        if over is None:
            self.add(keys, now)
        return over

    def give_back(self, key: tuple, at: float) -> None:
        """Uncount one event counted against *key* at *at* (one that turned out not to count)."""
        hits = self._hits.get(key)
        if hits and at in hits:
            hits.remove(at)

    def forget(self, key: tuple) -> None:
        self._hits.pop(key, None)

    def keys(self) -> list[tuple]:
        return list(self._hits)

    def clear(self) -> None:
        self._hits.clear()
