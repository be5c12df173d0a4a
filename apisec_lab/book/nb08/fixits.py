"""Notebook 08's fix-its: the learner writes the function the API should have had, and two corpora judge it.

As Damn Vulnerable RESTaurant judges a fix, every function meets an **attack corpus** (each case must be
refused) and a **functional corpus** (each legitimate case must still work), and the feedback names the
first case that failed and what the function did with it.

- :func:`judge_binder`: ``profile_changes(body) -> dict``, the fields of a ``PATCH /me`` body that may be
  written to the account (OWASP API3:2023, mass assignment). Raising ``ValueError`` refuses a body.
- :func:`judge_url_check`: ``webhook_allowed(url) -> bool``, asked by the lab's real fetcher
  (:class:`~apisec_lab.servers.outbound.Outbound`) before every request of a webhook test, the first and
  each redirect (OWASP API7:2023, server side request forgery). The cases are real URLs on the running
  lab; what the fetcher reached, through the wiretap, decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from ...servers.metadata import CREDENTIALS_PATH
from ...servers.outbound import Outbound

#: What a user may change about themselves with PATCH /me.
EDITABLE = ("display_name", "email")

# -- q2: a field allow-list for PATCH /me -----------------------------------------------------------------
#: (name, body): bodies an attacker sends; nothing outside EDITABLE may come out.
BINDER_ATTACKS = (
    ("upgrade the plan", {"display_name": "Alice", "plan": "pro"}),
    ("become staff", {"role": "staff"}),
    ("free print credits", {"print_credits": 1000}),
    ("take bob's name", {"username": "bob"}),
    ("a new password hash", {"email": "alice@example.org", "password_hash": "scrypt$1$..."}),
    ("everything at once", {"display_name": "A", "email": "a@b.c", "role": "staff", "plan": "pro",
                            "print_credits": 5}),
)
#: (name, body, changes): what honest users send, and what must come out.
BINDER_FUNCTIONAL = (
    ("change the name", {"display_name": "Alice L."}, {"display_name": "Alice L."}),
    ("change the email", {"email": "alice@wonderland.example"}, {"email": "alice@wonderland.example"}),
    ("change both", {"display_name": "Alice", "email": "a@b.c"}, {"display_name": "Alice", "email": "a@b.c"}),
    ("change nothing", {}, {}),
)


def _call(fn: Callable, arg):
    """``(result, None)``, or ``(None, exception)`` if *fn* raised."""
    try:
        return fn(arg), None
    except Exception as e:           # the learner's code: any exception is an answer to describe
        return None, e


def judge_binder(fn) -> str | None:
    """None if *fn* passes both corpora; otherwise what happened with the first case that failed."""
    if not callable(fn):
        return f"answer with your function itself (answer = profile_changes), not a {type(fn).__name__}."
    for name, body in BINDER_ATTACKS:
        result, error = _call(fn, dict(body))
        if error is not None:
            if isinstance(error, ValueError):
                continue             # refusing the whole body is a fine answer to an attack
            return f"attack '{name}' {body}: your function raised {type(error).__name__}: {error}."
        if not isinstance(result, dict):
            return f"attack '{name}' {body}: your function returned {result!r}; return a dict of the changes."
        smuggled = sorted(set(result) - set(EDITABLE))
        if smuggled:
            return (f"attack '{name}' {body}: your function returned {result}, so {', '.join(smuggled)} would be "
                    f"written to alice's account. A user may change only {' and '.join(EDITABLE)}.")
        changed = [k for k in result if result[k] != body.get(k)]
        if changed:
            return f"attack '{name}' {body}: your function changed the values of {changed}: pass them on as given."
    for name, body, expected in BINDER_FUNCTIONAL:
        result, error = _call(fn, dict(body))
        if error is not None:
            return (f"functional case '{name}' {body}: your function raised {type(error).__name__}: {error}; "
                    "an honest profile update must go through.")
        if result != expected:
            return (f"functional case '{name}' {body}: your function returned {result!r}, not {expected}: an honest "
                    "profile update must still go through, whole.")
    return None


# -- q3: the check a webhook URL must pass ----------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    url: str
    why: str = ""          # for an attack: what reaching it would mean


def url_attacks(lab) -> list[Case]:
    """URLs that lead inside the Photo API's network, or to something that is not a web page at all."""
    meta, outside = urlsplit(lab.metadata_service.url).port, urlsplit(lab.attacker.url).port
    creds = CREDENTIALS_PATH
    redirect = lab.attacker.redirect("/q3/redirect", f"http://127.0.0.1:{meta}{creds}")
    why = "the metadata service would hand over the API's cloud credentials"
    return [
        Case("the metadata service", f"http://127.0.0.1:{meta}{creds}", why),
        Case("the metadata service, as localhost", f"http://localhost:{meta}{creds}", why),
        Case("the metadata service, as 127.1", f"http://127.1:{meta}{creds}", why),
        Case("the metadata service, as a decimal address", f"http://2130706433:{meta}{creds}", why),
        Case("the metadata service, as a hex address", f"http://0x7f000001:{meta}{creds}", why),
        Case("the metadata service, as an IPv6-mapped address", f"http://[::ffff:127.0.0.1]:{meta}{creds}", why),
        Case("user info that looks like the outside web", f"http://127.0.0.1:{outside}@127.0.0.1:{meta}{creds}", why),
        Case("a public page that redirects inside", redirect, why),
        Case("the API itself, around the gateway", f"{lab.api_url}/admin/users",
             "the API would be called from inside its own network, where the gateway's checks do not apply"),
        Case("a file on the API's machine", "file:///etc/passwd",
             "a fetcher that speaks file: (urllib's does) would read the server's own files"),
    ]


def url_functional(lab) -> list[Case]:
    """Webhooks on public servers: each must still be delivered."""
    hook = lab.attacker.serve("/q3/hooks/alice", "ok")
    lab.attacker.serve("/q3/hooks/café", "ok")                # what /q3/hooks/caf%C3%A9 asks for
    lab.attacker.serve("/q3/hooks/new", "ok")
    moved = lab.attacker.redirect("/q3/moved", lab.attacker.url + "/q3/hooks/new")
    return [
        Case("a webhook on the outside web", hook),
        Case("with a query", hook + "?event=print.shipped&order=42"),
        Case("with an encoded path", lab.attacker.url + "/q3/hooks/caf%C3%A9"),
        Case("a webhook that moved (a redirect that stays outside)", moved),
        Case("the print partner's status page", f"{lab.partner.url}/v1/status"),
        Case("the Photo API's own public door (the gateway)", f"{lab.gateway_url}/health"),
    ]


def judge_url_check(fn, lab) -> str | None:
    """None if *fn* refuses every attack and lets every functional case through; else the first failure."""
    if not callable(fn):
        return f"answer with your function itself (answer = webhook_allowed), not a {type(fn).__name__}."
    if getattr(fn, "__self__", None) is lab.network:
        return ("that is the lab's own policy (lab.network.is_public, which the hardened API uses): of course it "
                "passes. Write your own, from the URL's parts.")
    outbound = Outbound(lab.network, lab.wiretap.proxies)
    for case in url_attacks(lab):
        asked: list[tuple[str, object]] = []
        fetched = outbound.fetch(case.url, _recording(fn, asked))
        allowed = [h for h in fetched.hops if h.allowed]
        inside = [h for h in allowed if h.status is not None and h.destination.zone == "internal"]
        fused = [h for h in allowed if h.destination is None]
        if inside or fused:
            hop = (inside or fused)[0]
            where = (f"the fetcher reached the {hop.server} server (internal)" if inside else
                     "only the lab's own fuse stopped the fetcher")
            which = "" if hop.url == case.url else f" on the redirect to {hop.url}"
            return f"attack '{case.name}' ({case.url}): your function allowed it{which}, and {where}: {case.why}."
    for case in url_functional(lab):
        asked = []
        fetched = outbound.fetch(case.url, _recording(fn, asked))
        refused = next((h for h in fetched.hops if not h.allowed), None)
        if refused is not None:
            said = next((a for u, a in asked if u == refused.url), False)
            how = f"raised {type(said).__name__}: {said}" if isinstance(said, Exception) else f"returned {said!r}"
            where = "" if refused.url == case.url else f" (on the redirect to {refused.url})"
            return (f"functional case '{case.name}' ({case.url}): your function {how}{where}: a webhook on a public "
                    "server must still be delivered.")
        if fetched.status != 200:
            return f"functional case '{case.name}' ({case.url}): not delivered ({fetched.last.note or fetched.status})."
    return None


def _recording(fn, asked: list):
    """*fn* as the fetcher's policy, keeping what it said (or raised) for each URL; a raise refuses."""
    def policy(url: str) -> bool:
        try:
            said = fn(url)
        except Exception as e:           # the learner's code: refuse, and say so in the feedback
            asked.append((url, e))
            return False
        asked.append((url, said))
        return bool(said)
    return policy
