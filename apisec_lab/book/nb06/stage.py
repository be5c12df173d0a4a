"""Notebook 06's stage: Mallory (you), his browser and lab account, PhotoSync, and the tables that show the wire.

- :func:`mallory`: Mallory's own browser (one per lab); :func:`mallory_user`: his account at the lab;
  :func:`mallory_sign_in`: the authorization request PhotoPrint sends his browser to (his state, his PKCE).
- :func:`swap`: a URL with some query parameters changed (how an attacker edits a captured request).
- :class:`PhotoSync`: a native app on Alice's machine (a public client) that listens on a fixed port for its
  redirect; :func:`ps` is what every account on that machine sees of it.
- :func:`hops`, :func:`short`: a browser's requests as a table, each lab server named.
"""
from __future__ import annotations

import html
import re
import secrets
import weakref
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pandas as pd

from ...agents import Browser
from ...client import flows
from ...core.cast import DEMO_PASSWORDS
from ..common import Table, Text

MALLORY = "mallory"
#: Mallory's password at the lab: he has an account there, like anyone.
MALLORY_PASSWORD = "through-the-looking-glass"
_browsers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def mallory(lab) -> Browser:
    """Mallory's own browser (the same one every time for this lab): where you plant what you steal."""
    if lab not in _browsers:
        _browsers[lab] = lab.browser("Mallory")
    return _browsers[lab]


def mallory_user(lab) -> str:
    """Mallory's account at the lab (created the first time; a lab reset removes it); his username."""
    if lab.store.user(MALLORY) is None:
        lab.add_user(MALLORY, MALLORY_PASSWORD, "Mallory Mirror", "mallory@example.net")
    return MALLORY


def mallory_sign_in(lab) -> str:
    """Mallory's browser starts "Sign in with the lab" at PhotoPrint; the authorization request it was sent to.

    PhotoPrint put a fresh ``state`` and PKCE challenge in it and keeps them
    in Mallory's session, with the verifier: a code that comes back to
    PhotoPrint in Mallory's browser with that ``state`` is exchanged there.
    Each works once; call this again for a new one.
    """
    page = mallory(lab).visit(lab.web_url + "/login")
    return page.url


def swap(url: str, **params) -> str:
    """*url* with query parameters replaced or added (``None`` removes one), everything else as it was."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, quote_via=quote), ""))


def params(url: str) -> dict[str, str]:
    """The query parameters of *url*."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


# -- PhotoSync, a native app --------------------------------------------------------------------------
class PhotoSync:
    """A photo-sync app on Alice's machine: a public client (PKCE, no secret) with a loopback redirect URI.

    PhotoSync listens for its redirect on one fixed port of ``127.0.0.1``.
    On this shared machine another account bound that port first: in the
    lab, that port is the attacker's server, so PhotoSync's registered
    redirect URI is ``lab.attacker.url + "/photosync/callback"``.  PhotoSync
    starts the browser with the authorization request on its command line,
    which every account on the machine can read (``ps``, ``/proc/<pid>/cmdline``):
    :func:`ps`.  It picks the PKCE method the way old clients did: ``plain``
    if the server offers it, else ``S256``.
    """

    NAME = "PhotoSync"
    SCOPES = ["profile:read", "photos:read"]

    def __init__(self, lab):
        self.lab = lab
        client = next((c for c in lab.clients.values() if c.name == self.NAME), None)
        if client is None or lab.store.client(client.client_id) is None:
            client = lab.register_client(self.NAME, redirect_uris=[self.redirect_uri], scopes=self.SCOPES, public=True,
                                         description="Syncs your lab photos to your laptop (a native app).")
        self.client = client
        self.pending: dict | None = None      # what PhotoSync keeps while Alice signs in (its verifier)
        self.command_line: str | None = None
        self.hops: list = []                  # Alice's browser's requests during the last sign-in

    @property
    def redirect_uri(self) -> str:
        return self.lab.attacker.url + "/photosync/callback"

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def method(self) -> str:
        """The PKCE method PhotoSync uses: ``plain`` when the server's metadata offers it (RFC 7636 s7.2 says no)."""
        return "plain" if "plain" in self.lab.metadata["code_challenge_methods_supported"] else "S256"

    def login(self) -> str:
        """Alice runs ``photosync login``: PhotoSync opens her browser, she signs in and allows it.

        Returns where her browser ended up.  PhotoSync's own listener never
        hears back: its port was taken.
        """
        verifier = secrets.token_urlsafe(32)
        pkce = flows.PKCE(verifier, verifier, "plain") if self.method() == "plain" else flows.make_pkce(verifier)
        state = flows.new_state()
        url = flows.authorization_url(self.lab, self.client_id, self.SCOPES, state=state, pkce=pkce,
                                      redirect_to=self.redirect_uri)
        self.pending = {"state": state, "code_verifier": verifier, "code_challenge": pkce.challenge,
                        "method": pkce.method}
        self.command_line = f"xdg-open {url}"
        alice = self.lab.victim
        before = len(alice.history)
        page = alice.visit(url)
        if page.forms:                  # PhotoSync is a public client: the lab always asks (RFC 8252 s8.6)
            page = alice.submit(username="alice", password=DEMO_PASSWORDS["alice"], decision="approve")
        self.hops = alice.history[before:]
        return page.url


def ps(lab, sync: PhotoSync | None = None) -> Table:
    """What ``ps -ef`` shows every account on Alice's machine: PhotoSync's processes, command lines whole."""
    rows = [(4242, "alice", "photosync login")]
    if sync is not None and sync.command_line:
        rows.append((4243, "alice", sync.command_line))
    return Table(pd.DataFrame(rows, columns=["pid", "user", "command"]).set_index("pid"))


# -- showing the wire ---------------------------------------------------------------------------------
def names(lab) -> dict[str, str]:
    """Each lab server's origin and the name the notebook gives it."""
    return {lab.web_url: "photoprint", lab.issuer: "lab", lab.attacker.url: "your-server", lab.api_url: "api",
            lab.apps_url: "apps", lab.gateway_url: "gateway"}


def short(lab, url: str | None) -> str:
    """*url* with each lab origin written as its name, ``[photoprint]/callback?...``, percent-encoded ones too."""
    if not url:
        return ""
    for origin, name in names(lab).items():
        url = url.replace(origin, f"[{name}]").replace(quote(origin, safe=""), f"[{name}]")
    return url


def hops(lab, browser: Browser, since: int = 0, last: int | None = None) -> Table:
    """*browser*'s requests after number *since* (or its *last* ones): what it sent, to whom, what came back.

    A row is tinted when an authorization code or a Referer carrying one
    reached your server.
    """
    chosen = [h for h in browser.history if h.number > since]
    if last:
        chosen = chosen[-last:]
    rows = [{"#": h.number, "kind": h.kind, "request": f"{h.method} {short(lab, h.url)}",
             "status": "no answer" if h.status is None else h.status, "Referer": short(lab, h.referer),
             "cookies sent": ", ".join(h.cookies_sent)} for h in chosen]
    frame = pd.DataFrame(rows, columns=["#", "kind", "request", "status", "Referer", "cookies sent"]).set_index("#")

    def kind(row):
        leaked = "[your-server]" in row["request"] and ("code=" in row["request"] or "code=" in row["Referer"])
        return "bad" if leaked else None

    return Table(frame, kind)


def mallory_signs_in(lab) -> str:
    """Mallory signs in at PhotoPrint with the lab, as himself (his browser, his password); where he ends up."""
    mallory_user(lab)
    browser = mallory(lab)
    page = browser.visit(lab.web_url + "/login")
    if page.forms:
        page = browser.submit(username=MALLORY, password=MALLORY_PASSWORD, decision="approve")
    return short(lab, page.url)


def mallory_authorizes(lab, url: str) -> Text:
    """Mallory signs in at the lab with the authorization request *url* (his own account); what the lab answers."""
    from ...lab import AuthorizationFailed
    mallory_user(lab)
    try:
        back = lab.authorize(url, MALLORY, MALLORY_PASSWORD, tapped=True, user_agent=mallory(lab).user_agent)
    except AuthorizationFailed as e:
        return Text(f"HTTP {e.response.status_code}, no redirect: {refusal(e.response)}")
    return Text(f"HTTP 302 to {short(lab, back.url)}")


def refusal(response) -> str:
    """Why the lab refused, from its answer: a JSON error's code and description, or its error page's message."""
    try:
        body = response.json()
        return f"{body.get('error')}: {body.get('error_description', '')}".rstrip(": ")
    except ValueError:
        says = re.search(r"<p class=err[^>]*>(.*?)</p>", response.text or "", re.S)
        return html.unescape(re.sub(r"<[^>]+>", "", says.group(1))).strip() if says else f"HTTP {response.status_code}"


def log(lab, last: int | None = None) -> Table:
    """What reached your server (``lab.attacker``): method, path, query, Referer, lab servers named."""
    frame = lab.attacker.frame()[["method", "path", "query", "referer"]]
    if last:
        frame = frame.tail(last)
    frame = frame.assign(query=[short(lab, q) for q in frame["query"]],
                         referer=[short(lab, r) for r in frame["referer"]]).rename(columns={"referer": "Referer"})
    return Table(frame, lambda row: "bad" if "code=" in row["query"] or "code=" in row["Referer"] else None)


def exchange_text(lab, exchange, headers=("Cookie", "Set-Cookie", "Location", "Referer", "Referrer-Policy")) -> Text:
    """One exchange off the wire, its start lines and chosen headers (cookie values cut short), lab servers named."""
    def cut(value: str) -> str:         # a cookie's name and its kind (si_: a sign-in), never its value
        return re.sub(r"=((?:si|at|rt)_)?[A-Za-z0-9_\-]+", lambda m: "=" + (m.group(1) or "") + "…", value)

    lines = [f"--> {short(lab, exchange.request.start_line)}"]
    lines += [f"    {k}: {cut(v) if 'ookie' in k else short(lab, v)}" for k, v in exchange.request.headers.items()
              if k in headers]
    lines.append(f"<-- {exchange.response.start_line}")
    lines += [f"    {k}: {cut(v) if 'ookie' in k else short(lab, v)}" for k, v in exchange.response.headers.items()
              if k in headers]
    return Text("\n".join(lines))


def pkce_table() -> Table:
    """One verifier, its S256 and plain challenges: what travels in the authorization request for each."""
    verifier = secrets.token_urlsafe(32)
    rows = [("S256", verifier, flows.s256(verifier), "BASE64URL(SHA-256(verifier)): cannot be undone"),
            ("plain", verifier, verifier, "the verifier itself")]
    frame = pd.DataFrame(rows, columns=["method", "code_verifier (the app keeps it)",
                                        "code_challenge (in the request)", "so the challenge is"]).set_index("method")
    return Table(frame, lambda row: "bad" if row.name == "plain" else None)
