"""Helpers, widgets and exercises for ``notebooks/05-gateway.ipynb``: the gateway as a shield.

The lab's API gateway (:mod:`apisec_lab.servers.gateway`) runs on its own port,
``lab.gateway_url``, in front of the API at ``lab.api_url``.  Every attack
here is a plain function that sends real HTTP requests ``via="api"``
(straight to the API) or ``via="gateway"`` (through the gateway) and returns
an :class:`Outcome`; :func:`compare` runs one both ways.  Each attack turns on,
for its own duration only, the API weakness it exploits (the gateway stands in
front of an API with holes, which is the case a gateway is sold for).

- Attacks: :func:`brute_force_basic`, :func:`token_in_url`, :func:`flood`,
  :func:`admin_route`, :func:`revoked_token`, :func:`oversized`, and
  :func:`bola`, the one a gateway cannot see; :func:`normal_request` for contrast.
- :func:`staleness_table`: how long a revoked token still passes the gateway,
  per introspection-cache lifetime.
- :class:`Dashboard`: buttons that fire the attacks, a gateway on/off toggle,
  the gateway's counters and its access log, updated after every click.
- :func:`scorecard`, :func:`owasp_top10`: what was shown, mapped to the OWASP
  API Security Top 10 (2023).
- Exercises :data:`q1` (a rate-limit policy), :data:`q2` (find the request
  the gateway let through), :data:`q3` (a cache lifetime).
"""
from __future__ import annotations

import collections
import html
import json
import re
from dataclasses import dataclass, field

import ipywidgets as widgets
import pandas as pd
import requests
from requests_oauthlib import OAuth2Session

from ..core.cast import DEMO_PASSWORDS
from ..servers.gateway import REASONS, Limit
from .exercises import Exercise

__all__ = ["sign_in", "base_url", "same_answer", "show_policy", "log", "Outcome", "Comparison", "compare",
           "brute_force_basic", "token_in_url", "flood", "admin_route", "revoked_token", "oversized", "bola",
           "normal_request", "staleness", "staleness_table", "Dashboard", "scorecard", "owasp_top10",
           "photo_owners", "mixed_traffic", "Limit", "q1", "q2", "q3"]

VIA = {"api": "straight to the API", "gateway": "through the gateway"}

#: What an attacker tries against alice's account: common passwords, then hers (the published demo one).
GUESSES = ("123456", "password", "alice", "alice2026", "qwerty", "letmein", "wonderland", "Wonderland1",
           "rabbit-hole", "drinkme", "eatme", "cheshire", "queen-of-hearts", DEMO_PASSWORDS["alice"])


# -- plumbing ------------------------------------------------------------------------------
def base_url(lab, via: str) -> str:
    """``lab.gateway_url`` for ``via="gateway"``, ``lab.api_url`` for ``via="api"``."""
    if via not in VIA:
        raise ValueError(f"via must be 'api' or 'gateway', not {via!r}")
    return lab.gateway_url if via == "gateway" else lab.api_url


def sign_in(lab, client_id: str = "photocli", scopes=("profile:read", "photos:read"), user: str = "alice") -> str:
    """*user* signs in to *client_id* (authorization code + PKCE, notebook 02); the access token."""
    creds = lab.clients[client_id]
    oauth = OAuth2Session(client_id, redirect_uri=f"{lab.apps_url}/{client_id}/callback", scope=list(scopes),
                          pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, user, DEMO_PASSWORDS[user])
    auth = {"client_secret": creds.client_secret} if creds.client_secret else {"include_client_id": True}
    return oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url, **auth)["access_token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _error(r: requests.Response) -> str:
    try:
        return r.json().get("error", "")
    except ValueError:
        return ""


def same_answer(lab, path: str, token: str | None = None) -> str:
    """The same GET sent through both doors, one line each; they answer alike."""
    lines = []
    with lab.session() as s:
        for via in VIA:
            r = s.get(base_url(lab, via) + path, headers=_bearer(token) if token else {}, timeout=10)
            try:
                body = json.dumps(r.json())
            except ValueError:
                body = r.text
            lines.append(f"{VIA[via]:<20} GET {base_url(lab, via)}{path}\n{'':<20} -> {r.status_code} "
                         f"{body[:100]}" + (f"\n{'':<20}    Via: {r.headers['Via']}" if "Via" in r.headers else ""))
    return _Text("\n".join(lines))


class _Text(str):
    """A string that a notebook shows as plain lines (no quotes, no escapes)."""

    def __repr__(self) -> str:
        return str(self)


class Table:
    """A DataFrame shown whole (pandas cuts long cells at 50 characters); ``.frame`` holds it."""

    def __init__(self, frame: pd.DataFrame, colour=None):
        self.frame, self.colour = frame, colour

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(str(c))}</th>"
                       for c in [self.frame.index.name or "", *self.frame.columns])
        rows = []
        for index, row in self.frame.iterrows():
            colour = self.colour(row) if self.colour else None
            style = f" style='background:{colour}'" if colour else ""
            cells = "".join(f"<td style='text-align:left;padding:2px 8px;vertical-align:top'>{html.escape(str(v))}</td>"
                            for v in [index, *row.tolist()])
            rows.append(f"<tr{style}>{cells}</tr>")
        return (f"<table style='border-collapse:collapse;font-size:12px'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def __repr__(self) -> str:
        return self.frame.to_string()


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


class _Replay:
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

    def outcome(self, attack: str, worked: bool, verdict: str, short: str) -> Outcome:
        return Outcome(attack, self.via, [r.status_code for r in self.responses], self.reached_api(), worked,
                       verdict, short, self.responses)


def _retry_after(responses) -> str:
    limited = [r for r in responses if r.status_code == 429]
    return f" (Retry-After {limited[-1].headers.get('Retry-After', '?')} s)" if limited else ""


# -- the attacks ------------------------------------------------------------------------------
def brute_force_basic(lab, via: str = "gateway", user: str = "alice", guesses=GUESSES) -> Outcome:
    """Guess *user*'s password over HTTP Basic on ``GET /me`` (weakness ``basic_auth`` on: the API takes passwords)."""
    replay = _Replay(lab, via)
    found = None
    with lab.weaknesses.turned_on(basic_auth=True), lab.session() as s:
        for i, guess in enumerate(guesses, 1):
            if replay.send(s, "GET", "/me", auth=(user, guess)).status_code == 200:
                found = (i, guess)
                break
    attack = f"Brute-force {user}'s password over HTTP Basic ({len(guesses)} guesses)"
    if found:
        return replay.outcome(attack, True, f"password found on guess {found[0]}: {found[1]!r}",
                              f"password found (guess {found[0]})")
    rs = replay.responses
    if any(r.status_code == 429 for r in rs):
        first = next(i for i, r in enumerate(rs) if r.status_code == 429)
        return replay.outcome(attack, False, f"no password: cut off after {first} guesses{_retry_after(rs)}",
                              f"cut off after {first} guesses (429)")
    who = replay.refused_by(rs[-1])
    if who.startswith("the gateway"):
        return replay.outcome(attack, False, f"no password: HTTP Basic refused by {who} on every guess",
                              "Basic refused at the edge (401)")
    return replay.outcome(attack, False, "no password in the list", "not found")


def token_in_url(lab, via: str = "gateway", token: str | None = None) -> Outcome:
    """Send alice's access token as ``?access_token=`` (weakness ``token_in_query`` on), through the wiretap."""
    token = token or sign_in(lab, "photocli", ["profile:read"])
    replay = _Replay(lab, via)
    with lab.weaknesses.turned_on(token_in_query=True), lab.session(tapped=True) as s:
        r = replay.send(s, "GET", "/me", params={"access_token": token})
    attack = "Token in the URL (GET /me?access_token=...)"
    if r.status_code == 200:
        return replay.outcome(attack, True, f"served {r.json()['username']}'s profile; the URL, token and all, is "
                                            "now in every log it passed", "served (200)")
    return replay.outcome(attack, False, f"{r.status_code} {_error(r)} from {replay.refused_by(r)}; the token still "
                                         "crossed the wire in the URL: revoke it", f"refused ({r.status_code})")


def flood(lab, via: str = "gateway", n: int = 40, token: str | None = None) -> Outcome:
    """One client (PhotoCLI, for alice) fires *n* requests as fast as it can."""
    token = token or sign_in(lab, "photocli", ["profile:read"])
    replay = _Replay(lab, via)
    with lab.session() as s:
        for _ in range(n):
            replay.send(s, "GET", "/me", headers=_bearer(token))
    rs = replay.responses
    attack = f"Flood from one client ({n} requests at once)"
    served = sum(r.status_code == 200 for r in rs)
    if served == n:
        return replay.outcome(attack, True, f"all {n} served: nothing slows one client down", f"all {n} served")
    return replay.outcome(attack, False, f"cut off after {served}{_retry_after(rs)}",
                          f"cut off after {served} (429)")


def admin_route(lab, via: str = "gateway") -> Outcome:
    """``GET /admin/users`` with no credentials (weakness ``open_admin_route`` on: the API trusts obscurity)."""
    replay = _Replay(lab, via)
    with lab.weaknesses.turned_on(open_admin_route=True), lab.session() as s:
        r = replay.send(s, "GET", "/admin/users")
    attack = "Unpublished admin route (GET /admin/users, no token)"
    if r.status_code == 200:
        users = r.json()
        return replay.outcome(attack, True, f"the 'hidden' route listed {len(users)} accounts with their emails",
                              f"{len(users)} accounts listed (200)")
    return replay.outcome(attack, False, f"{r.status_code} {_error(r)} from {replay.refused_by(r)}",
                          f"refused ({r.status_code})")


def revoked_token(lab, via: str = "gateway") -> Outcome:
    """PhotoPrint uses a token, alice revokes the app, PhotoPrint's token is tried again at once."""
    token = sign_in(lab, "photoprint", ["profile:read"])
    replay = _Replay(lab, via)
    with lab.session() as s:
        first = s.get(replay.url + "/me", headers=_bearer(token), timeout=10)    # works, and warms the cache
        replay.first_id = (lab.gateway.records[-1].id + 1) if via == "gateway" else 0
        lab.revoke_app("alice", "photoprint")
        r = replay.send(s, "GET", "/me", headers=_bearer(token))
    attack = "Revoked token, used right after the revocation"
    assert first.status_code == 200, first.text
    if r.status_code == 200:
        return replay.outcome(attack, True, "the revoked token was served", "served (200)")
    if via == "gateway" and replay.reached_api():
        return replay.outcome(attack, False, "the gateway's cached introspection still said active and let it "
                                             f"through; the API's own check refused it ({r.status_code})",
                              f"passed the gateway, API refused ({r.status_code})")
    return replay.outcome(attack, False, f"{r.status_code} {_error(r)} from {replay.refused_by(r)}",
                          f"refused ({r.status_code})")


def oversized(lab, via: str = "gateway") -> Outcome:
    """A 10 KB header (over the gateway's 8 KiB limit, under the API's 16 KiB) on ``GET /health``."""
    replay = _Replay(lab, via)
    with lab.session() as s:
        r = replay.send(s, "GET", "/health", headers={"X-Padding": "p" * 10_000})
    attack = "Oversized request header (10 KB)"
    if r.status_code == 200:
        return replay.outcome(attack, True, "accepted: the API read it all", "accepted (200)")
    return replay.outcome(attack, False, f"{r.status_code} {_error(r)} from {replay.refused_by(r)}",
                          f"refused ({r.status_code})")


def bola(lab, via: str = "gateway", photo_id: int = 5, api_fixed: bool = False) -> Outcome:
    """Alice's valid token (PhotoCLI, ``photos:read``) asks for photo *photo_id*, which is bob's.

    The weakness ``bola`` (the API forgets its object-level check) is on unless
    ``api_fixed=True``: then the API checks who owns the photo, as it should.
    """
    token = sign_in(lab, "photocli", ["photos:read"])
    replay = _Replay(lab, via)
    with lab.weaknesses.turned_on(bola=not api_fixed), lab.session() as s:
        r = replay.send(s, "GET", f"/photos/{photo_id}", headers=_bearer(token))
    attack = f"Another user's object (alice's valid token, GET /photos/{photo_id})"
    if r.status_code == 200:
        photo = r.json()
        worked = photo["owner"] != "alice"
        return replay.outcome(attack, worked, f"alice read {photo['owner']}'s photo {photo_id}: {photo['title']!r}",
                              f"{photo['owner']}'s photo served (200)")
    return replay.outcome(attack, False, f"{r.status_code} {_error(r)} from {replay.refused_by(r)}",
                          f"refused ({r.status_code})")


def normal_request(lab, via: str = "gateway") -> Outcome:
    """What the gateway exists to let through: alice's app reads her profile."""
    token = sign_in(lab, "photocli", ["profile:read"])
    replay = _Replay(lab, via, fresh_window=False)
    with lab.session() as s:
        r = replay.send(s, "GET", "/me", headers=_bearer(token))
    if r.status_code == 200:
        why = "200: served"
    elif r.status_code == 429:
        # The rate window is not reset here on purpose: an app that flooded also blocks itself.
        why = (f"429: {_error(r)} (PhotoCLI's own burst still fills its window: a flood from one app "
               f"costs that app, not the others; try again after Retry-After {r.headers.get('Retry-After')} s)")
    else:
        why = f"{r.status_code}: {_error(r)}"
    outcome = replay.outcome("A normal request (PhotoCLI reads alice's profile)", False, why,
                             "served" if r.status_code == 200 else f"refused ({r.status_code})")
    outcome.is_attack = False
    return outcome


# -- introspection cache and revocation -------------------------------------------------------
def staleness(lab, cache_ttl: float | None = None, step: float = 0.5, limit: float = 120) -> float:
    """Lab seconds during which a revoked token still passes the gateway (polled every *step* s).

    Starts from empty rate-limit windows, like every replay here, so the polls are never throttled.
    """
    policy = lab.gateway.policy
    lab.gateway.clear_rate_windows()
    with policy.changed(cache_ttl=policy.cache_ttl if cache_ttl is None else cache_ttl), lab.session() as s:
        token = sign_in(lab, "photoprint", ["profile:read"])
        url = lab.gateway_url + "/me"
        if s.get(url, headers=_bearer(token), timeout=10).status_code != 200:
            raise RuntimeError("the fresh token did not work through the gateway")
        lab.revoke_app("alice", "photoprint")
        waited = 0.0
        while waited <= limit:
            s.get(url, headers=_bearer(token), timeout=10)
            if lab.gateway.records[-1].reason == "token_inactive":
                return waited
            lab.clock.advance(step)
            waited += step
    raise RuntimeError(f"the revoked token still passed the gateway after {limit} s")


def staleness_table(lab, ttls=(5, 1, 0)) -> pd.DataFrame:
    """For each cache lifetime: how long a revoked token still passes, and what the cache saves."""
    rows = []
    for ttl in ttls:
        stale = staleness(lab, ttl)      # (clears the rate-limit windows first)
        before = lab.gateway.introspections
        token = sign_in(lab, "photocli", ["profile:read"])
        with lab.gateway.policy.changed(cache_ttl=ttl), lab.session() as s:
            for _ in range(10):
                s.get(lab.gateway_url + "/me", headers=_bearer(token), timeout=10)
        rows.append({"cache_ttl (s)": ttl, "revoked token still passes the gateway for (s)": stale,
                     "introspection calls for 10 quick requests": lab.gateway.introspections - before})
    return pd.DataFrame(rows).set_index("cache_ttl (s)")


# -- the dashboard ------------------------------------------------------------------------------------
class Dashboard(widgets.VBox):
    """Fire attacks from buttons, through the gateway or straight to the API, and watch the gateway.

    - ``target``: a toggle, "Through the gateway" / "Straight to the API";
    - ``buttons``: one per attack in :attr:`ATTACKS` (by label), plus
      ``refresh_button`` ("Refresh") and ``clear_button`` ("Clear log");
    - ``status``: the last attack's outcome; ``counters``: the gateway's
      requests by decision and reason; ``log_view``: its last access-log lines.

    Each button calls :meth:`fire` (a cell or a test can call it directly).
    Requests sent straight to the API never show on the gateway's side: it
    never saw them.
    """

    ATTACKS = {"Brute-force Basic": brute_force_basic, "Token in URL": token_in_url, "Flood": flood,
               "Admin route": admin_route, "Revoked token": revoked_token, "Oversized header": oversized,
               "Another user's photo": bola, "Normal request": normal_request}

    def __init__(self, lab, last: int = 8):
        self.lab, self.last = lab, last
        self.target = widgets.ToggleButtons(options=[("Through the gateway", "gateway"),
                                                     ("Straight to the API", "api")],
                                            value="gateway", description="Send:",
                                            style={"button_width": "auto"})
        self.target.add_class("apisec-gw-target")
        self.buttons: dict[str, widgets.Button] = {}
        for label in self.ATTACKS:
            button = widgets.Button(description=label, button_style="" if label == "Normal request" else "warning",
                                    tooltip=self.ATTACKS[label].__doc__.splitlines()[0],
                                    layout=widgets.Layout(width="auto"))
            button.on_click(lambda _b, name=label: self.fire(name))
            self.buttons[label] = button
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="Show requests sent from cells too")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.clear_button = widgets.Button(description="Clear log", tooltip="Empty the gateway's log and counters")
        self.clear_button.on_click(lambda _b: self.clear())
        self.status = widgets.HTML("<i>Pick a target, then fire an attack.</i>")
        self.status.add_class("apisec-gw-status")
        self.counters = widgets.HTML()
        self.counters.add_class("apisec-gw-counters")
        self.log_view = widgets.HTML()
        self.log_view.add_class("apisec-gw-log")
        self.last_outcome: Outcome | None = None
        self.refresh()
        rows = [widgets.HBox(list(self.buttons.values())[i:i + 4]) for i in range(0, len(self.buttons), 4)]
        super().__init__([self.target, *rows, widgets.HBox([self.refresh_button, self.clear_button]),
                          self.status, widgets.HBox([self.counters, self.log_view])])
        self.add_class("apisec-gw-dashboard")

    def fire(self, name: str) -> Outcome:
        """What a button does: run the attack against the chosen target, then show everything."""
        outcome = self.ATTACKS[name](self.lab, via=self.target.value)
        self.last_outcome = outcome
        colour = "#fce8e6" if outcome.worked else "#e6f4ea"
        self.status.value = (f"<div style='background:{colour};padding:.4em .6em;border-radius:4px'>"
                             f"<b>{html.escape(outcome.attack)}</b>, {VIA[outcome.via]}: <br>"
                             f"{html.escape(outcome.answers)} · {outcome.reached_api} reached the API · "
                             f"<b>{outcome.label}</b>: {html.escape(outcome.verdict)}</div>")
        self.refresh()
        return outcome

    def counter_rows(self) -> list[tuple[str, int]]:
        """``[("allowed", n), ("rejected", m), (reason, k), ...]`` as the counters table shows."""
        counts = self.lab.gateway.counts()
        return list(counts.items())

    def refresh(self) -> None:
        """Redraw the counters and the log from the gateway."""
        counts = self.lab.gateway.counts()
        rows = [f"<tr><td style='padding:1px 8px'><b>allowed</b></td><td style='text-align:right'>"
                f"<b>{counts['allowed']}</b></td></tr>",
                f"<tr><td style='padding:1px 8px'><b>rejected</b></td><td style='text-align:right'>"
                f"<b>{counts['rejected']}</b></td></tr>"]
        rows += [f"<tr><td style='padding:1px 8px 1px 20px'>{html.escape(reason)} ({REASONS[reason][0]})</td>"
                 f"<td style='text-align:right'>{n}</td></tr>"
                 for reason, n in counts.items() if reason not in ("allowed", "rejected")]
        self.counters.value = ("<div style='margin-right:2em'><b>Gateway counters</b><table>"
                               + "".join(rows) + "</table></div>")
        frame = self.lab.gateway.log_frame(self.last)
        lines = "".join(
            f"<tr style='background:{'#e6f4ea' if row['decision'] == 'allowed' else '#fce8e6'}'>"
            + "".join(f"<td style='padding:1px 6px'>{html.escape(str(v))}</td>"
                      for v in (i, row["method"], row["path"][:60], row["status"], row["reason"], row["client"],
                                row["user"], row["authorization"]))
            + "</tr>" for i, row in frame.iterrows())
        head = "".join(f"<th style='text-align:left;padding:1px 6px'>{h}</th>"
                       for h in ("#", "method", "path", "status", "reason", "client", "user", "authorization"))
        self.log_view.value = (f"<b>Gateway access log</b> (last {self.last})<table style='font-size:12px'>"
                          f"<tr>{head}</tr>{lines}</table>" if len(frame) else
                          "<b>Gateway access log</b><br><i>empty: the gateway has seen no request</i>")

    def clear(self) -> None:
        """Empty the gateway's log and counters."""
        self.lab.gateway.clear_log()
        self.refresh()

    def status_text(self) -> str:
        """The status line as plain text."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value.replace(" <br>", " ")))

    def __repr__(self) -> str:
        return "Dashboard(gateway lab)"


# -- what was shown, mapped ---------------------------------------------------------------------------
SCORECARD = [
    ("brute_force_basic", brute_force_basic, "API2:2023 Broken Authentication"),
    ("token_in_url", token_in_url, "API2:2023 Broken Authentication"),
    ("flood", flood, "API4:2023 Unrestricted Resource Consumption"),
    ("oversized", oversized, "API4:2023 Unrestricted Resource Consumption"),
    ("admin_route", admin_route, "API5:2023 BFLA; API9:2023 Improper Inventory"),
    ("revoked_token", revoked_token, "API2:2023 Broken Authentication"),
    ("bola", bola, "API1:2023 Broken Object Level Authorization"),
]


def scorecard(lab) -> Table:
    """Every attack replayed both ways: did the gateway stop it, and which OWASP item it is."""
    rows = []
    for name, attack, owasp in SCORECARD:
        c = compare(lab, attack)
        if c.api.worked and not c.gateway.worked:
            stops = "yes"
        elif c.gateway.worked:
            stops = "NO"
        else:
            stops = "no (the API's own check stops it)"
        rows.append({"attack": name, "straight to the API": c.api.short, "through the gateway": c.gateway.short,
                     "gateway stops it?": stops, "OWASP API Top 10 (2023)": owasp})
    frame = pd.DataFrame(rows).set_index("attack")
    return Table(frame, lambda row: {"yes": "#e6f4ea", "NO": "#fce8e6"}.get(row["gateway stops it?"], "#fff8c5"))


OWASP_TOP10 = [
    ("API1:2023", "Broken Object Level Authorization", "bola", "no",
     "Only the API knows who owns object 5; every request was valid at the edge. Fix: an ownership check in the API."),
    ("API2:2023", "Broken Authentication", "brute_force_basic, token_in_url, revoked_token", "partly",
     "Tokens validated at the edge, Basic and URL credentials refused, guessing throttled; the API must still verify "
     "every token (the cache is stale for up to cache_ttl)."),
    ("API3:2023", "Broken Object Property Level Authorization", "", "no",
     "Which fields a caller may read or write is the API's business (schemas, per-field rules)."),
    ("API4:2023", "Unrestricted Resource Consumption", "flood, oversized", "yes",
     "Rate limits per client, user and address; size limits on URL, headers and body."),
    ("API5:2023", "Broken Function Level Authorization", "admin_route", "partly",
     "The allow-list and per-route scopes keep functions off the edge; the API must check roles too."),
    ("API6:2023", "Unrestricted Access to Sensitive Business Flows", "", "partly",
     "Rate limits slow automation down; deciding which flows are abuse is business logic."),
    ("API7:2023", "Server Side Request Forgery", "", "no",
     "The gateway sees the request, not the URLs the API later fetches on its own."),
    ("API8:2023", "Security Misconfiguration", "token_in_url (the log)", "partly",
     "One place for consistent headers, limits and log masking; the API's own configuration remains."),
    ("API9:2023", "Improper Inventory Management", "admin_route", "yes, for routes behind it",
     "The allow-list is an inventory: unpublished routes never reach the API, unless a path around the "
     "gateway exists."),
    ("API10:2023", "Unsafe Consumption of APIs", "", "no",
     "How the API trusts the third-party APIs it calls is out of the gateway's sight."),
]


def owasp_top10() -> Table:
    """The OWASP API Security Top 10 (2023): what this notebook showed, and whether a gateway helps."""
    frame = pd.DataFrame(OWASP_TOP10, columns=["item", "risk", "shown here by", "a gateway helps?", "why"])
    return Table(frame.set_index("item"),
                 lambda row: {"yes": "#e6f4ea", "no": "#fce8e6"}.get(row["a gateway helps?"].split(",")[0], "#fff8c5"))


# -- exercises ---------------------------------------------------------------------------------------------
def _current_lab():
    from .. import lab as _lab_module
    lab = _lab_module.current()
    if lab is None:
        raise RuntimeError("no lab is running: run the notebook's first cells")
    return lab


#: q1's story: PhotoCLI floods (100 requests at once); it legitimately needs 10 requests a minute,
#: and ChatPal, alice's other app, must keep working.
Q1_FLOOD, Q1_MAX, Q1_MIN, Q1_OTHER = 100, 20, 10, 5
_LIMITS = ("per_client", "per_user", "per_address")


def flood_test(lab, settings: dict) -> tuple[int, int]:
    """Under *settings*: (requests of PhotoCLI's flood served, of ChatPal's 5 requests served)."""
    flooder = sign_in(lab, "photocli", ["profile:read"])
    other = sign_in(lab, "chatpal", ["profile:read"])
    with lab.gateway.policy.changed(**settings), lab.session() as s:
        lab.gateway.clear_rate_windows()
        try:
            served = sum(s.get(lab.gateway_url + "/me", headers=_bearer(flooder), timeout=10).status_code == 200
                         for _ in range(Q1_FLOOD))
            others = sum(s.get(lab.gateway_url + "/me", headers=_bearer(other), timeout=10).status_code == 200
                         for _ in range(Q1_OTHER))
        finally:
            lab.gateway.clear_rate_windows()
    return served, others


def _check_flood_policy(answer) -> str | None:
    if not isinstance(answer, dict) or not answer:
        return "answer with a dict of gateway settings, e.g. {\"per_user\": nb05.Limit(100, 60)}."
    lab = _current_lab()
    known = set(lab.gateway.policy.table().index)
    unknown = sorted(set(answer) - known)
    if unknown:
        return f"the gateway has no setting {unknown}; its settings: {sorted(known)}."
    for key in _LIMITS:
        if key in answer and not isinstance(answer[key], Limit):
            return f"{key} takes a Limit, e.g. nb05.Limit(20, 60) for 20 requests per 60 s."
    served, others = flood_test(lab, answer)
    if served > Q1_MAX:
        return f"PhotoCLI's flood still got {served} of {Q1_FLOOD} requests through; allow at most {Q1_MAX}."
    if served < Q1_MIN:
        return f"PhotoCLI got only {served} requests through: it needs {Q1_MIN} a minute to do its job."
    if others < Q1_OTHER:
        return (f"ChatPal, alice's other app, got only {others} of {Q1_OTHER} through: a limit per *user* punishes "
                "all of alice's apps for one app's flood. Which key names one app?")
    return None


q1 = Exercise(
    "q1 (stop the flood, spare the other app)",
    _check_flood_policy,
    "The gateway counts requests per client (per_client), per user (per_user) and per address (per_address). "
    "PhotoCLI and ChatPal are two clients of one user. Answer with the settings to change, "
    "e.g. {\"per_xxx\": nb05.Limit(requests, seconds)}.",
    "answer = {\"per_client\": nb05.Limit(20, 60)}   # 20 requests a minute per app; alice's other apps carry on",
    lambda: {"per_client": Limit(20, 60)},
    success="one app is held to 20 a minute and alice's other app does not notice.")


def mixed_traffic(lab) -> _Text:
    """A morning of traffic through the gateway, legitimate and not, into a freshly cleared log.

    Alice and Bob use their apps; someone probes.  The API has the ``bola``
    weakness on meanwhile (its object-level check is missing), and one
    request exploits it: find it (exercise q2).
    """
    alice = sign_in(lab, "photocli", ["profile:read", "photos:read"])
    bob = sign_in(lab, "photocli", ["profile:read", "photos:read"], user="bob")
    bob_chat = sign_in(lab, "chatpal", ["messages:read"], user="bob")
    lab.gateway.clear_log()
    lab.gateway.clear_rate_windows()
    plan = [
        ("GET", "/health", {}),
        ("GET", "/me", _bearer(alice)),
        ("GET", "/photos", _bearer(alice)),
        ("GET", "/photos/2", _bearer(alice)),
        ("GET", "/admin/users", {}),
        ("GET", "/photos/4", _bearer(alice)),
        ("GET", "/messages", _bearer(bob_chat)),
        ("GET", "/me?access_token=" + alice, {}),
        ("GET", "/me", {"Authorization": "Basic Ym9iOmNhbi13ZS1maXgtaXQ="}),
        ("GET", "/photos/5", _bearer(bob)),
        ("GET", "/payment", _bearer(alice)),
        ("GET", "/photos/3", _bearer(alice)),
    ]
    with lab.weaknesses.turned_on(bola=True), lab.session() as s:
        for method, path, headers in plan:
            s.request(method, lab.gateway_url + path, headers=headers, timeout=10)
    c = lab.gateway.counts()
    return _Text(f"{len(plan)} requests through the gateway: {c['allowed']} allowed, {c['rejected']} rejected.")


def _check_leak(answer) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return f"answer with the log id of the request (an int, the log_frame() index), not {type(answer).__name__}."
    lab = _current_lab()
    record = next((r for r in lab.gateway.records if r.id == answer), None)
    if record is None:
        return f"there is no request #{answer} in the gateway's log: run nb05.mixed_traffic(lab) and look again."
    if record.reason != "allowed":
        return f"the gateway refused #{answer} ({record.reason}); the leak is a request it let through."
    m = re.fullmatch(r"/photos/(\d+)", record.path)
    if not m:
        return f"#{answer} is {record.method} {record.path}: allowed, and harmless. The leak is one photo."
    owner = photo_owners(lab)["owner"].get(int(m.group(1)))
    if owner == record.user:
        return f"#{answer} is {record.user} reading their own photo {m.group(1)}: that is what the API is for."
    if record.status != 200:
        return f"#{answer} got {record.status}: the API refused it, nothing leaked."
    return None


def _solve_leak() -> int:
    lab = _current_lab()
    if not any(r.path.startswith("/photos/") for r in lab.gateway.records):
        mixed_traffic(lab)
    frame = lab.gateway.log_frame()
    reads = frame[frame["path"].str.fullmatch(r"/photos/\d+") & (frame["status"] == 200)]
    owners = photo_owners(lab)["owner"]
    leaks = [i for i, row in reads.iterrows() if owners.get(int(row["path"].rsplit("/", 1)[1])) != row["user"]]
    return int(leaks[-1])


q2 = Exercise(
    "q2 (find the request the gateway let through)",
    _check_leak,
    "Every line the gateway allowed had a valid token with the right scope. Which photo reads were 200? "
    "Compare each with nb05.photo_owners(lab): the API's data, which the gateway never sees.",
    "log = lab.gateway.log_frame()\n"
    "reads = log[log.path.str.fullmatch(r\"/photos/\\d+\") & (log.status == 200)]\n"
    "owners = nb05.photo_owners(lab).owner\n"
    "answer = int(reads[[owners[int(p.rsplit('/', 1)[1])] != u for p, u in zip(reads.path, reads.user)]].index[0])",
    _solve_leak,
    success="alice's valid token read bob's photo 4. The gateway logged it as allowed: "
            "object-level authorization (OWASP API1:2023) can only be checked by the API.")


def _check_ttl(answer) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return f"answer with a number of seconds (got {type(answer).__name__})."
    if answer < 0:
        return "a cache lifetime cannot be negative."
    if answer == 0:
        return ("0 turns the cache off: revocation is seen at once, but every request costs an introspection call. "
                "Keep a cache.")
    if answer > 1:
        return f"with {answer} s a revoked token can pass the gateway for up to {answer} s; the target is 1 s."
    lab = _current_lab()
    stale = staleness(lab, answer, step=0.25)
    if stale > 1:
        return f"measured: the revoked token still passed for {stale} s."
    return None


q3 = Exercise(
    "q3 (a cache lifetime)",
    _check_ttl,
    "cache_ttl is how long the gateway reuses an introspection answer; 0 asks every time.",
    "answer = 1      # any 0 < ttl <= 1: a revoked token is refused at the edge within a second,\n"
    "                # and a burst of requests still costs one introspection call",
    lambda: 1,
    success="a revoked token is refused at the edge within a second, and bursts still hit the cache.")
