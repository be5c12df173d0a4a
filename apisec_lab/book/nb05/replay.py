"""Notebook 05's machinery: the two doors to the API, what a replayed attack got, and the bookkeeping.

Every attack sends real HTTP requests ``via="api"`` (straight to the API) or
``via="gateway"`` (through the gateway, ``lab.gateway_url``) and returns an
:class:`Outcome`; :func:`compare` runs one both ways.  :class:`Replay` counts
which of an attack's requests the API itself answered (the gateway's log
says which it let through) and who refused the rest.
"""
from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field

import pandas as pd
import requests

from ..common import Table, Text

VIA = {"api": "straight to the API", "gateway": "through the gateway"}


# -- plumbing ------------------------------------------------------------------------------
def base_url(lab, via: str) -> str:
    """``lab.gateway_url`` for ``via="gateway"``, ``lab.api_url`` for ``via="api"``."""
    if via not in VIA:
        raise ValueError(f"via must be 'api' or 'gateway', not {via!r}")
    return lab.gateway_url if via == "gateway" else lab.api_url


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def error_of(r: requests.Response) -> str:
    """The RFC 6749/6750 ``error`` of a JSON answer, or ``""``."""
    try:
        return r.json().get("error", "")
    except ValueError:
        return ""


def same_answer(lab, path: str, token: str | None = None) -> Text:
    """The same GET sent through both doors, one line each; they answer alike."""
    lines = []
    with lab.session() as s:
        for via in VIA:
            r = s.get(base_url(lab, via) + path, headers=bearer(token) if token else {}, timeout=10)
            try:
                body = json.dumps(r.json())
            except ValueError:
                body = r.text
            lines.append(f"{VIA[via]:<20} GET {base_url(lab, via)}{path}\n{'':<20} -> {r.status_code} "
                         f"{body[:100]}" + (f"\n{'':<20}    Via: {r.headers['Via']}" if "Via" in r.headers else ""))
    return Text("\n".join(lines))


def show_policy(lab) -> Table:
    """The gateway's settings: six switches, the numbers they use, and what each does."""
    return Table(lab.gateway.policy.table())


LOG_COLUMNS = ["method", "path", "status", "reason", "client", "user", "authorization"]


def log(lab, last: int | None = None) -> pd.DataFrame:
    """The gateway's access log (as the gateway wrote it: masked while log_masking is on)."""
    return lab.gateway.log_frame(last)[LOG_COLUMNS]


def photo_owners(lab) -> pd.DataFrame:
    """Who owns which photo: the API's database, which the gateway never sees."""
    rows = lab.store.photos()
    return pd.DataFrame([{k: r[k] for k in ("id", "owner", "title")} for r in rows],
                        columns=["id", "owner", "title"]).set_index("id")


# -- outcomes -------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one replayed attack got."""

    attack: str
    via: str
    statuses: list[int]
    reached_api: int              # requests the API itself answered
    worked: bool                  # did the attacker get what they were after?
    verdict: str                  # one sentence
    short: str = ""               # a few words, for the scorecard
    responses: list = field(default_factory=list, repr=False)
    is_attack: bool = True

    @property
    def answers(self) -> str:
        counts = collections.Counter(self.statuses)
        return ", ".join(f"{n} × {status}" for status, n in counts.items())

    @property
    def label(self) -> str:
        return ("ATTACK WORKED" if self.worked else "attack failed") if self.is_attack else "not an attack"

    def line(self) -> str:
        return f"{VIA[self.via]:<20} {self.answers} · {self.reached_api} reached the API · {self.label}: {self.verdict}"

    def __repr__(self) -> str:
        return f"{self.attack}\n  {self.line()}"


@dataclass
class Comparison:
    """One attack replayed straight to the API and through the gateway."""

    api: Outcome
    gateway: Outcome

    def __repr__(self) -> str:
        return f"{self.api.attack}\n  {self.api.line()}\n  {self.gateway.line()}"


def compare(lab, attack, **kwargs) -> Comparison:
    """Run *attack* straight to the API, then through the gateway."""
    return Comparison(attack(lab, via="api", **kwargs), attack(lab, via="gateway", **kwargs))


class Replay:
    """Bookkeeping for one attack: responses, and how many of them the API itself answered."""

    def __init__(self, lab, via: str, fresh_window: bool = True):
        self.lab, self.via, self.url = lab, via, base_url(lab, via)
        self.responses: list[requests.Response] = []
        self.first_id = lab.gateway.records[-1].id + 1 if lab.gateway.records else 0
        if fresh_window and via == "gateway":
            # Each replay starts from empty rate-limit windows, so replays compare (and reruns agree).
            lab.gateway.clear_rate_windows()

    def send(self, session: requests.Session, method: str, path: str, **kwargs) -> requests.Response:
        r = session.request(method, self.url + path, timeout=10, **kwargs)
        self.responses.append(r)
        return r

    def reached_api(self) -> int:
        if self.via == "api":
            return len(self.responses)
        return sum(1 for rec in self.lab.gateway.records if rec.id >= self.first_id and rec.reason == "allowed")

    def refused_by(self, r: requests.Response) -> str:
        """'the gateway' if the gateway answered *r* itself, else 'the API'."""
        if self.via == "gateway":
            mine = [rec for rec in self.lab.gateway.records if rec.id >= self.first_id]
            if mine and mine[-1].reason != "allowed":
                return f"the gateway ({mine[-1].reason})"
        return "the API"

    def refused(self, attack: str, r: requests.Response) -> Outcome:
        """The attack failed: *r* was refused; say by whom and with which error."""
        return self.outcome(attack, False, f"{r.status_code} {error_of(r)} from {self.refused_by(r)}",
                            f"refused ({r.status_code})")

    def outcome(self, attack: str, worked: bool, verdict: str, short: str) -> Outcome:
        return Outcome(attack, self.via, [r.status_code for r in self.responses], self.reached_api(), worked,
                       verdict, short, self.responses)


def retry_after(responses) -> str:
    limited = [r for r in responses if r.status_code == 429]
    return f" (Retry-After {limited[-1].headers.get('Retry-After', '?')} s)" if limited else ""
