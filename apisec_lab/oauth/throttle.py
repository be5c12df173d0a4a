"""Sign-in throttling: failed passwords counted per account and per address, on the lab clock.

OWASP API2:2023 (broken authentication) names an API that "permits credential
stuffing" or brute force "without presenting captcha/account lockout"; RFC
6749 section 4.3.2 says a server that takes passwords at its token endpoint
"MUST protect the endpoint against brute force attacks (e.g., using
rate-limitation ...)".  The authorization server's sign-in page and, while the
``password_grant`` weakness is on, the password grant share one throttle:

- **per account**: at most :attr:`SignInLimits.per_account` failures in a
  sliding window, whoever sends them (a distributed guesser cannot spread
  its guesses over addresses); a successful sign-in clears the account's count;
- **per address**: at most :attr:`SignInLimits.per_address` failures from one
  address, whichever accounts they name (one guesser cannot spread its
  guesses over accounts); a success does not clear it, or a guesser with an
  account of its own could wipe its count between guesses.

While a limit is reached every attempt is refused before the password is
checked (HTTP 429 with ``Retry-After``), so even the right password does not
get in until the window moves on.  Unknown usernames are counted like known
ones: the answer does not tell which accounts exist.

>>> lab.sign_in_throttle.table()          # the limits      # doctest: +SKIP
>>> lab.sign_in_throttle.frame()          # who is counted  # doctest: +SKIP
>>> lab.clock.advance(minutes=15)         # skip the wait   # doctest: +SKIP
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, fields

import pandas as pd

from ..core import switches
from ..core.clock import LabClock
from ..core.limits import Limit, SlidingWindows

#: Keys kept before stale ones (no failure left in the window) are swept out.
_SWEEP_AT = 10_000


def _setting(default: Limit, doc: str):
    return field(default=default, metadata={"doc": doc})


@dataclass
class SignInLimits:
    per_account: Limit = _setting(Limit(5, 15 * 60), "Failed sign-ins one account may take in the window, "
                                                     "from anywhere; a success clears them.")
    per_address: Limit = _setting(Limit(20, 15 * 60), "Failed sign-ins one address may make in the window, "
                                                      "for any accounts.")


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused: which limit, and for how many more seconds."""

    retry_after: int
    kind: str            # "account" or "address"
    limit: Limit

    @property
    def message(self) -> str:
        minutes = math.ceil(self.retry_after / 60)
        when = f"{self.retry_after} seconds" if self.retry_after <= 90 else f"{minutes} minutes"
        who = "for this account" if self.kind == "account" else "from your address"
        return f"Too many failed sign-ins {who}. Try again in {when}."


class SignInThrottle:
    """Counts failed sign-ins; see the module docstring for the rules."""

    def __init__(self, clock: LabClock, limits: SignInLimits | None = None):
        self.clock = clock
        self.limits = limits or SignInLimits()
        self._windows = SlidingWindows()
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[tuple, Limit]]:
        return [(("account", username), self.limits.per_account),
                (("address", address or "unknown"), self.limits.per_address)]

    def check(self, username: str, address: str | None) -> Refusal | None:
        """None if *username* may try a password from *address* now, else why not."""
        with self._lock:
            over = self._windows.wait(self._keys(username, address), self.clock.now())
        if over is None:
            return None
        wait, (kind, _), limit = over
        return Refusal(max(1, math.ceil(wait)), kind, limit)

    def retry_after(self, username: str, address: str | None) -> int:
        """Seconds until *username* may try again from *address* (0: now)."""
        refusal = self.check(username, address)
        return refusal.retry_after if refusal else 0

    def failed(self, username: str, address: str | None) -> None:
        """Count one wrong password against the account and the address."""
        now = self.clock.now()
        with self._lock:
            self._windows.add(self._keys(username, address), now)
            if len(self._windows.keys()) > _SWEEP_AT:
                for key in self._windows.keys():
                    self._windows.count(key, self._limit(key[0]), now)   # drops keys with nothing left

    def succeeded(self, username: str) -> None:
        """The right password: the account's failures are forgiven (the address's are not)."""
        with self._lock:
            self._windows.forget(("account", username))

    def _limit(self, kind: str) -> Limit:
        return self.limits.per_account if kind == "account" else self.limits.per_address

    # -- for notebooks and tests -------------------------------------------
    def frame(self) -> pd.DataFrame:
        """Every account and address with failures in its window: count, limit, seconds until free."""
        now = self.clock.now()
        rows = []
        with self._lock:
            for kind, who in sorted(self._windows.keys()):
                limit = self._limit(kind)
                failures = self._windows.count((kind, who), limit, now)
                if not failures:
                    continue
                over = self._windows.wait([((kind, who), limit)], now)
                rows.append({"kind": kind, "who": who, "failures": failures, "limit": str(limit),
                             "blocked": over is not None,
                             "retry_after": max(1, math.ceil(over[0])) if over else 0})
        return pd.DataFrame(rows, columns=["kind", "who", "failures", "limit", "blocked", "retry_after"])

    def table(self) -> pd.DataFrame:
        """The limits and what each does."""
        return pd.DataFrame([{"setting": f.name, "value": str(getattr(self.limits, f.name)),
                              "what it does": f.metadata["doc"]} for f in fields(self.limits)]).set_index("setting")

    def changed(self, **limits: Limit):
        """Other limits for a ``with`` block, e.g. ``changed(per_account=Limit(3, 60))``."""
        return switches.changed(self.limits, "sign-in limit", **limits)

    def reset(self) -> None:
        """Forget every failure; default limits."""
        with self._lock:
            self._windows.clear()
        switches.reset(self.limits)
