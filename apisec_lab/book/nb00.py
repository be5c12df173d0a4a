"""Notebook 00, start here: the lab's servers and cast, and a first exercise to show how checks work.

    from apisec_lab import nb00
"""
from __future__ import annotations

import pandas as pd
import requests

from ..client import flows
from ..core.cast import CAST, DEMO_PASSWORDS
from . import progress
from .common import Table, current_lab
from .exercises import Exercise

__all__ = ["servers", "cast", "health", "Table", "warmup", "my_progress"]


def servers(lab) -> Table:
    """Every server of the lab: where it listens and what it plays in the story."""
    rows = [
        ("resource API", lab.api_url, "Alice's profile, photos, messages and saved card (what attackers want)"),
        ("API gateway", lab.gateway_url, "a reverse proxy in front of the API, same paths: checks every call "
                                         "(notebook 05)"),
        ("authorization server", lab.issuer, "signs users in, asks their consent, issues tokens"),
        ("apps' web server", lab.apps_url, "the apps' redirect URIs: where the user's browser comes back"),
        ("attacker's server", lab.attacker.url, "an attacker's own web pages, and a log of what reaches them"),
        ("PhotoPrint's website", lab.web_url, "a web app with its own accounts that signs people in with the lab "
                                              "(notebook 06's victim)"),
        ("metadata service", lab.metadata_service.url, "the API's cloud credentials, for the API's own network only "
                                                       "(notebook 08)"),
        ("print partner", lab.partner.url, "a third party the API sends print orders to (notebook 08)"),
        ("wiretap", lab.wiretap.url, "a recording proxy: shows the exact bytes a request put on the wire"),
    ]
    return Table(pd.DataFrame(rows, columns=["server", "url", "role"]).set_index("server"))


def cast() -> Table:
    """Who is who: the users and the apps, one line each (demo passwords included: they are public)."""
    rows = [(who, "user" if who in DEMO_PASSWORDS else "app", line, DEMO_PASSWORDS.get(who, ""))
            for who, line in CAST.items()]
    return Table(pd.DataFrame(rows, columns=["name", "kind", "role", "demo password"]).set_index("name"))


def health(lab) -> dict:
    """``GET /health`` on the API: the one route that needs no credentials."""
    return flows.call_api(lab, "/health").json()


def _check_health(answer) -> str | None:
    if isinstance(answer, requests.Response):
        return "that is the whole HTTP response: call .json() on it to get the body."
    if isinstance(answer, str):
        return "that is text: use .json() to get the body as a dict."
    if answer != {"status": "ok"}:
        return f"the API's /health body is not {answer!r}: call the API and look again."
    return None


warmup = Exercise(
    name="Warm-up",
    checker=_check_health,
    hint_text="flows.call_api(lab, '/health') returns the HTTP response; .json() gives its body.",
    solution_text="answer = flows.call_api(lab, '/health').json()",
    solver=lambda: health(current_lab()),
    success="the lab answers. Every exercise works like this one.",
)


def my_progress() -> progress.Picture:
    """Your progress across the workbook: one square per exercise, from your own progress record."""
    return progress.mine()
