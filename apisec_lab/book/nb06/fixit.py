"""The fix-it: a redirect-URI matcher, judged by two corpora at once, as Damn Vulnerable RESTaurant judges a fix.

The learner writes ``matches(registered, candidate) -> bool``: is *candidate*, the ``redirect_uri`` of an
authorization request, one the client registered (*registered*, a tuple)?  The **attack corpus** holds
redirect URIs an attacker sends (every one must be refused), each with what it would do here; the **functional
corpus** the requests legitimate clients make (every one must pass).  The first case that goes wrong is named.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class Case:
    why: str
    registered: tuple[str, ...]
    candidate: object
    allowed: bool


def corpora(lab) -> tuple[list[Case], list[Case]]:
    """(attack corpus, functional corpus) for this lab's URLs."""
    web, attacker = lab.web_url, lab.attacker.url
    photoprint = lab.store.client("photoprint-web").redirect_uris
    photocli = lab.store.client("photocli").redirect_uris
    host = urlsplit(web).netloc
    other_port = f"http://127.0.0.1:{urlsplit(web).port + 1}"
    attacks = [
        ("a path under the callback: a browser opens /callback/../prints as /prints, whose partner pixel gets the "
         "code in its Referer (lab 2)", f"{web}/callback/../prints"),
        ("the exit-link tracker through dot segments: /out forwards the code (lab 3)",
         f"{web}/callback/../out?to={quote(attacker + '/steal', safe='')}"),
        ("your own server", f"{attacker}/callback"),
        ("the same host on another port (what a host-only matcher, or RFC 8252's any-port rule for native apps "
         "applied to web clients, lets through)", f"{other_port}/callback"),
        ("user info before the attacker's host (many servers take http://site@attacker/ for site)",
         f"http://{host}@{urlsplit(attacker).netloc}/callback"),
        ("an added query parameter (on many sites next= is a redirect of its own)", f"{web}/callback?next=/out"),
        ("a longer path that starts the same", f"{web}/callbackx"),
        ("a trailing slash: a different URI, and exact means exact", f"{web}/callback/"),
        ("a fragment (RFC 6749 s3.1.2: a redirection URI MUST NOT include one)", f"{web}/callback#x"),
        ("another client's redirect URI (PhotoCLI's)", photocli[0]),
        ("no redirect URI at all (empty)", ""),
        ("not a string (None)", None),
    ]
    functional = [(f"PhotoPrint's own {uri.rsplit('/', 2)[-2] if uri.endswith('/link/callback') else 'sign-in'} "
                   f"callback", photoprint, uri) for uri in photoprint]
    functional.append(("PhotoCLI's own callback, for PhotoCLI", photocli, photocli[0]))
    return ([Case(why, photoprint, uri, False) for why, uri in attacks],
            [Case(why, reg, uri, True) for why, reg, uri in functional])


def judge(lab, matcher) -> tuple[str | None, int, int]:
    """Run both corpora against *matcher*; (the first problem, attacks refused, legitimate requests passed)."""
    attacks, functional = corpora(lab)
    refused = passed = 0
    for case in functional + attacks:
        try:
            said = matcher(case.registered, case.candidate)
        except Exception as e:      # noqa: BLE001 - the learner's function; its failure is the feedback
            return (f"your matcher raised {type(e).__name__} ({e}) on {case.why}, {case.candidate!r}: a matcher says "
                    "False to what it cannot match, it never crashes the authorization server.", refused, passed)
        if not isinstance(said, bool):
            return (f"your matcher answered {said!r} on {case.why}: answer True or False.", refused, passed)
        if said != case.allowed:
            if case.allowed:
                return (f"it refuses a legitimate request: {case.why}, {case.candidate!r} (registered: "
                        f"{list(case.registered)}). A fix that breaks sign-in is not a fix.", refused, passed)
            return (f"it lets an attack through: {case.why}: {case.candidate!r}.", refused, passed)
        refused += not case.allowed
        passed += case.allowed
    return None, refused, passed


def corpus_table(lab, matcher=None):
    """Both corpora as a table: each case, what it must get, and (given a *matcher*) what it got."""
    import pandas as pd

    from ..common import Table
    from .stage import short
    attacks, functional = corpora(lab)
    rows = []
    for kind, case in [("legitimate", c) for c in functional] + [("attack", c) for c in attacks]:
        row = {"kind": kind, "redirect_uri": short(lab, case.candidate) if isinstance(case.candidate, str)
               else repr(case.candidate), "why": case.why, "must be": "allowed" if case.allowed else "refused"}
        if matcher is not None:
            try:
                said = matcher(case.registered, case.candidate)
                row["yours"] = ("allowed" if said else "refused") if isinstance(said, bool) else repr(said)
            except Exception as e:      # noqa: BLE001 - the learner's function
                row["yours"] = f"raised {type(e).__name__}"
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("redirect_uri")
    return Table(frame, (lambda row: "ok" if row["yours"] == row["must be"] else "bad") if matcher else None)
