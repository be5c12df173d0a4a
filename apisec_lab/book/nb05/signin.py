"""Notebook 05's guessing on the sign-in page: the authorization server's own throttle, beside the gateway's.

The gateway guards the API's door (:mod:`.attacks`, ``brute_force_basic``); the authorization server's
sign-in page, where a password belongs, guards itself: failed passwords are counted per account and per
address on the lab clock (``lab.sign_in_throttle``, :mod:`apisec_lab.oauth.throttle`), and once a limit
is reached every attempt, the right password included, gets ``429`` with ``Retry-After``.
:func:`guess_on_sign_in_page` plays an attacker's script against the real page, through the wiretap.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from ...client import flows
from ...core.cast import DEMO_PASSWORDS
from ...lab import AuthorizationFailed
from ..common import Table
from ..widgets import page_error

#: How the attacker's script names itself in ``User-Agent`` (as the lab's actors do; a real one would not).
ATTACKER = flows.agent("Attacker")
#: Six wrong passwords; :func:`guess_on_sign_in_page` tries the user's own (the published demo one) last.
SIGN_IN_GUESSES = ("123456", "password", "bob2026", "qwerty", "builder", "letmein")


@dataclass(frozen=True)
class Attempt:
    """One guess and the sign-in page's answer: ``302`` (signed in), ``403`` (wrong) or ``429`` (throttled)."""

    guess: str
    status: int
    said: str
    retry_after: int | None = None


@dataclass(frozen=True)
class Guessing:
    """What :func:`guess_on_sign_in_page` got, and where its captures start in the wiretap (:attr:`first`)."""

    user: str
    attempts: tuple[Attempt, ...]
    first: int

    @property
    def found(self) -> int | None:
        """The number of the guess that signed in, or None."""
        return next((i for i, a in enumerate(self.attempts, 1) if a.status == 302), None)

    def __repr__(self) -> str:
        lines = [f"{len(self.attempts)} guesses at {self.user}'s password on the sign-in page:"]
        n = 1
        for (status, said), group in itertools.groupby(self.attempts, key=lambda a: (a.status, a.said)):
            count = len(list(group))
            which = f"guess {n}" if count == 1 else f"guesses {n}-{n + count - 1}"
            lines.append(f"  {which}: {status} {said}")
            n += count
        right = next((i for i, a in enumerate(self.attempts, 1) if a.guess == DEMO_PASSWORDS.get(self.user)), None)
        if self.found:
            lines.append(f"signed in on guess {self.found}")
        elif right:
            lines.append(f"the right password, guess {right}, was refused too: the account stays locked until "
                         "the window moves on")
        return "\n".join(lines)


def sign_in_limits(lab) -> Table:
    """The sign-in throttle's limits and what each does (``lab.sign_in_throttle.table()``, shown whole)."""
    return Table(lab.sign_in_throttle.table())


def guess_on_sign_in_page(lab, user: str = "bob", guesses=None) -> Guessing:
    """An attacker's script tries *guesses* on *user*'s account on the real sign-in page, through the wiretap.

    *guesses* defaults to :data:`SIGN_IN_GUESSES` and then *user*'s own password.  Bob's account by
    default: the notebook's other cells sign Alice in, and a locked account stays locked for 15 minutes
    on the lab clock.  Starts from a clear throttle (``lab.sign_in_throttle.reset()``), so re-running it
    shows the same thing.  Each guess is the form the page posts (``lab.authorize``), sent with the
    script's own ``User-Agent``.
    """
    guesses = (*SIGN_IN_GUESSES, DEMO_PASSWORDS[user]) if guesses is None else tuple(guesses)
    lab.sign_in_throttle.reset()
    first = lab.wiretap.mark()
    url = flows.OAuthApp(lab, "chatpal").start_login(["profile:read"])
    attempts = []
    for guess in guesses:
        try:
            lab.authorize(url, user, guess, tapped=True, user_agent=ATTACKER)
        except AuthorizationFailed as e:
            retry = e.response.headers.get("Retry-After")
            attempts.append(Attempt(guess, e.response.status_code, page_error(e.response),
                                    int(retry) if retry and retry.isdigit() else None))
            continue
        attempts.append(Attempt(guess, 302, "signed in: a code for ChatPal"))
        break
    return Guessing(user, tuple(attempts), first)
