"""PhotoPrint's website: a confidential OAuth client with accounts and sessions of its own (notebook 06).

Until notebook 05, PhotoPrint's redirect URI was a stand-in page on the apps'
server.  This is a real web client, registered as ``photoprint-web``: people
have PhotoPrint accounts (orders, an address) and a session cookie, and two
buttons use the authorization code flow, the code exchanged server side with
the client's secret and a PKCE verifier (requests-oauthlib's ``OAuth2Session``,
as a Python web app would):

``GET /``               home: who is signed in here, their orders and, with PhotoPrint's token, their lab photos
``GET /login``          *Sign in with the lab*: a fresh ``state`` and PKCE pair, then the authorization request
``GET /callback``       its redirect URI: the account linked to the lab user who signed in gets this session
``GET /link``           *Link your lab account* (signed in only)
``GET /link/callback``  its redirect URI: the lab user joins the signed-in account's linked identities
``GET /prints``         PhotoPrint's offers: a marketing page carrying its analytics partner's snippet
``GET /out?to=``        the exit-link tracker for links in PhotoPrint's e-mails: counts a click, then redirects

The hardened site checks that a callback's ``state`` is one this browser's
session started (RFC 6749 s10.12), redirects to ``/`` as soon as a code is
processed, sends ``Referrer-Policy: no-referrer`` on every page that can hold
a secret, and its tracker goes to PhotoPrint's own pages only.  Its marketing
page carries the partner's snippet, which asks for full referrers: harmless
while codes only ever arrive at the two callbacks (exact redirect matching),
not once a loose match lets them land there (notebook 06).
Three weakness switches undo one of these each (``client_skips_state``,
``referrer_leak``, ``open_redirect``); the site reads them on every request.

What happened is kept as records a check can read: :meth:`accounts`,
:meth:`sessions`, :meth:`events` (and their frames), :meth:`session_for` a
browser's cookie.  Session cookies and tokens are PhotoPrint's secrets: the
site keeps digests of the cookies, and its records show neither.
"""
from __future__ import annotations

import copy
import dataclasses
import html
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode, urlsplit

import pandas as pd
import requests
from oauthlib.oauth2 import WebApplicationClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..core import crypto
from ..core.cast import user_agent

CLIENT_ID = "photoprint-web"
#: The session cookie: HttpOnly, SameSite=Lax, this origin only.
COOKIE = "photoprint_session"
#: What each button asks the lab for.
SCOPES = {"sign_in": ["profile:read", "photos:read"], "link": ["profile:read"]}
CALLBACKS = {"sign_in": "/callback", "link": "/link/callback"}
#: A sign-in started but not finished is forgotten after this many seconds (lab clock).
PENDING_TTL = 600
#: The partner's tracking pixel, on the partner's server (``partner_url``), as the partner's snippet has it.
PIXEL_PATH = "/pixel.gif"
#: PhotoPrint's own requests (token endpoint, API) name it, so a diagram draws them in PhotoPrint's lane.
USER_AGENT = user_agent("PhotoPrint website")
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")

#: PhotoPrint's accounts when the lab starts: its own data, and the lab users linked to each.
SEED = [
    {"id": "alice", "name": "Alice Liddell", "address": "2 Rabbit Hole Lane, Oxford",
     "orders": ["12 prints: Tea party, long table", "Poster: White Rabbit at noon"], "lab_users": ["alice"]},
    {"id": "bob", "name": "Bob Builder", "address": "7 Scaffold Row, Bristol",
     "orders": ["Calendar 2026: Scaffolding at dawn"], "lab_users": ["bob"]},
]


@dataclass
class Account:
    """A PhotoPrint account: PhotoPrint's own data, and which lab users may sign in to it."""

    id: str
    name: str
    address: str
    orders: list[str]
    lab_users: list[str]
    #: lab user -> the access token PhotoPrint holds for them (to print their photos); never shown.
    tokens: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class Pending:
    """A sign-in this browser started and has not finished: what the callback must match."""

    state: str
    purpose: str             # "sign_in" or "link"
    verifier: str = field(repr=False)
    started_at: float = 0.0


@dataclass
class Session:
    """One browser's session at PhotoPrint (the cookie holds its secret; PhotoPrint keeps the digest)."""

    number: int
    created_at: float
    account: str | None = None
    pending: dict[str, Pending] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something PhotoPrint did or refused, in order: what the labs' checks read."""

    id: int
    at: float
    session: int | None
    event: str               # signed_in, linked, refused, exit, started
    account: str | None = None
    lab_user: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class OAuthSettings:
    """What PhotoPrint knows about the lab: its client credentials and where to send people and requests."""

    client_id: str
    client_secret: str = field(repr=False)
    metadata: Callable[[], dict]      # the authorization server's RFC 8414 metadata, as served now
    api_url: str
    proxies: dict = field(default_factory=dict)   # PhotoPrint's own requests go through these (the wiretap)


class PhotoPrintSite:
    """The WSGI handler of PhotoPrint's website (the lab wraps it with :func:`apisec_lab.http.wsgi.guard`).

    *oauth* is set by the lab once the authorization server's address is
    known; *partner_url* is where PhotoPrint's analytics partner serves its
    pixel (the ``referrer_leak`` page loads it).
    """

    def __init__(self, clock, url: str, weaknesses, oauth: OAuthSettings | None = None, partner_url: str = ""):
        self.clock = clock
        self.url = url
        self.weaknesses = weaknesses
        self.oauth = oauth
        self.partner_url = partner_url
        self._lock = threading.RLock()
        self.urls = Map([
            Rule("/", endpoint="home", methods=["GET"]),
            Rule("/login", endpoint="login", methods=["GET"]),
            Rule("/callback", endpoint="callback", methods=["GET"]),
            Rule("/link", endpoint="link", methods=["GET"]),
            Rule("/link/callback", endpoint="link_callback", methods=["GET"]),
            Rule("/prints", endpoint="prints", methods=["GET"]),
            Rule("/out", endpoint="out", methods=["GET"]),
        ])
        self.reset()

    def reset(self) -> None:
        """Back to the seeded accounts; every session and event forgotten."""
        with self._lock:
            self._accounts = {a["id"]: Account(**copy.deepcopy(a)) for a in SEED}
            self._sessions: dict[str, Session] = {}
            self._events: list[Event] = []
            self._next_session = 1

    # -- records -------------------------------------------------------------------
    def accounts(self) -> list[Account]:
        with self._lock:
            return [dataclasses.replace(a, orders=list(a.orders), lab_users=list(a.lab_users), tokens={})
                    for a in self._accounts.values()]

    def account(self, account_id: str | None) -> Account | None:
        return next((a for a in self.accounts() if a.id == account_id), None)

    def account_of(self, lab_user: str) -> Account | None:
        """The account *lab_user* signs in to with the lab (the first one that links them), or None."""
        return next((a for a in self.accounts() if lab_user in a.lab_users), None)

    def sessions(self) -> list[Session]:
        with self._lock:
            return [dataclasses.replace(s, pending=dict(s.pending)) for s in self._sessions.values()]

    def session_for(self, cookie: str | None) -> Session | None:
        """The session a browser holding this cookie value has here, or None."""
        if not cookie:
            return None
        with self._lock:
            found = self._sessions.get(crypto.digest(cookie))
            return dataclasses.replace(found, pending=dict(found.pending)) if found else None

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def accounts_frame(self) -> pd.DataFrame:
        rows = [{"account": a.id, "name": a.name, "linked lab users": ", ".join(a.lab_users),
                 "orders": len(a.orders)} for a in self.accounts()]
        return pd.DataFrame(rows, columns=["account", "name", "linked lab users", "orders"]).set_index("account")

    def sessions_frame(self) -> pd.DataFrame:
        rows = [{"session": s.number, "signed in to": s.account or "(nobody)",
                 "sign-ins in progress": len(s.pending)} for s in self.sessions()]
        return pd.DataFrame(rows, columns=["session", "signed in to", "sign-ins in progress"]).set_index("session")

    def events_frame(self) -> pd.DataFrame:
        rows = [{"id": e.id, "session": e.session, "event": e.event, "account": e.account or "",
                 "lab user": e.lab_user or "", "detail": e.detail} for e in self.events()]
        return pd.DataFrame(rows, columns=["id", "session", "event", "account", "lab user", "detail"]).set_index("id")

    def _log(self, session: Session | None, event: str, account=None, lab_user=None, detail="") -> None:
        with self._lock:
            self._events.append(Event(len(self._events) + 1, self.clock.now(), session.number if session else None,
                                      event, account, lab_user, detail))

    # -- sessions ---------------------------------------------------------------------
    def _session(self, request: Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        with self._lock:
            return self._sessions.get(crypto.digest(cookie)) if cookie else None

    def _new_session(self) -> tuple[Session, str]:
        cookie = secrets.token_urlsafe(32)
        with self._lock:
            session = Session(self._next_session, self.clock.now())
            self._next_session += 1
            self._sessions[crypto.digest(cookie)] = session
        return session, cookie

    # -- serving ---------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        endpoint, _ = self.urls.bind_to_environ(request.environ).match()
        return getattr(self, f"on_{endpoint}")(request)

    def on_home(self, request):
        session = self._session(request)
        account = self._account_locked(session.account) if session and session.account else None
        if account is None:
            body = ("<p id=who>You are not signed in.</p>"
                    "<p><a id=sign-in href='/login'>Sign in with the lab</a></p>")
            return _page("PhotoPrint", body)
        photos = self._photo_titles(account)
        body = (f"<p id=who>Signed in as <b>{html.escape(account.name)}</b> (PhotoPrint account "
                f"<code>{html.escape(account.id)}</code>).</p>"
                f"<p>Linked lab accounts: {html.escape(', '.join(account.lab_users) or 'none')}. "
                "<a id=link href='/link'>Link your lab account</a></p>"
                f"<p>Ship to: {html.escape(account.address)}</p>"
                "<h2>Your orders</h2><ul id=orders>"
                + "".join(f"<li>{html.escape(o)}</li>" for o in account.orders) + "</ul>"
                + "<h2>Your lab photos</h2><ul id=photos>"
                + "".join(f"<li>{html.escape(t)}</li>" for t in photos) + "</ul>")
        return _page(f"PhotoPrint: {account.name}", body)

    def _account_locked(self, account_id: str) -> Account | None:
        with self._lock:
            return self._accounts.get(account_id)

    def _photo_titles(self, account: Account) -> list[str]:
        """What PhotoPrint can print for *account*: the lab photos its tokens open (one API call per token)."""
        titles = []
        for lab_user, token in list(account.tokens.items()):
            try:
                r = self._http().get(self.oauth.api_url + "/photos", headers={"Authorization": f"Bearer {token}"},
                                     timeout=10)
            except requests.RequestException:
                continue
            if r.status_code == 200:
                titles += [f"{p['title']} ({lab_user})" for p in r.json()]
        return titles

    def _http(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.proxies.update(self.oauth.proxies)
        s.headers["User-Agent"] = USER_AGENT
        return s

    # -- starting a sign-in -------------------------------------------------------------
    def on_login(self, request):
        return self._start(request, "sign_in")

    def on_link(self, request):
        session = self._session(request)
        if session is None or session.account is None:
            return _page("PhotoPrint: sign in first", "<p id=refused>Sign in to PhotoPrint before linking an "
                                                      "account: <a href='/login'>Sign in with the lab</a></p>", 403)
        return self._start(request, "link")

    def _start(self, request: Request, purpose: str) -> Response:
        """A fresh ``state`` and PKCE pair (RFC 7636 S256), kept in this browser's session; then off to the lab."""
        session, cookie = self._session(request), None
        if session is None:
            session, cookie = self._new_session()
        client = WebApplicationClient(self.oauth.client_id)
        verifier = client.create_code_verifier(43)
        challenge = client.create_code_challenge(verifier, "S256")
        oauth = OAuth2Session(self.oauth.client_id, redirect_uri=self.url + CALLBACKS[purpose], scope=SCOPES[purpose])
        location, state = oauth.authorization_url(self.oauth.metadata()["authorization_endpoint"],
                                                  code_challenge=challenge, code_challenge_method="S256")
        now = self.clock.now()
        with self._lock:
            session.pending = {s: p for s, p in session.pending.items() if now - p.started_at < PENDING_TTL}
            session.pending[state] = Pending(state, purpose, verifier, now)
        self._log(session, "started", session.account, None, f"{purpose.replace('_', ' ')}: off to the lab")
        response = Response(status=302, headers={"Location": location, **PAGE_HEADERS})
        if cookie:
            _set_cookie(response, cookie)
        return response

    # -- the redirect URIs -----------------------------------------------------------------
    def on_callback(self, request):
        return self._complete(request, "sign_in")

    def on_link_callback(self, request):
        return self._complete(request, "link")

    def _complete(self, request: Request, purpose: str) -> Response:
        session = self._session(request)
        args = request.args
        if args.get("error"):
            self._log(session, "refused", detail=f"the lab sent back error={args.get('error')[:60]}")
            return _page("PhotoPrint: not signed in",
                         f"<p id=refused>The lab sent back <b>{html.escape(args.get('error')[:60])}</b>: "
                         f"{html.escape(args.get('error_description', '')[:200])}</p>", 400)
        code, state = args.get("code"), args.get("state")
        if not code:
            return self._refuse(session, "the redirect carried no code")
        pending = self._take_pending(session, state, purpose)
        if pending is None and not self.weaknesses.client_skips_state:
            return self._refuse(session, "its state is not one of the sign-ins this browser started: refused "
                                         "(RFC 6749 section 10.12, cross-site request forgery)")
        if purpose == "link" and (session is None or session.account is None):
            return self._refuse(session, "this browser is not signed in to PhotoPrint, so there is no account to link")
        try:
            token, scopes = self._exchange(code, purpose, pending.verifier if pending else None)
            lab_user = self._who(token)
        except OAuth2Error as e:
            return self._refuse(session, f"the lab's token endpoint refused the code: {e.error}"
                                         + (f" ({e.description})" if e.description else ""))
        except (requests.RequestException, ValueError, KeyError, Warning) as e:
            return self._refuse(session, f"the lab could not be asked about the code ({type(e).__name__})")
        cookie = None
        if session is None:          # only with client_skips_state: a callback from a browser PhotoPrint never saw
            session, cookie = self._new_session()
        with self._lock:
            if purpose == "sign_in":
                account = next((a for a in self._accounts.values() if lab_user in a.lab_users), None)
                if account is None:          # a lab user PhotoPrint has not seen: a new account for them
                    account = Account(lab_user, lab_user.title(), "", [], [lab_user])
                    self._accounts[account.id] = account
                session.account = account.id
            else:
                account = self._accounts[session.account]
                if lab_user not in account.lab_users:
                    account.lab_users.append(lab_user)
            if "photos:read" in scopes:        # what PhotoPrint needs to print: kept, the rest let go
                account.tokens[lab_user] = token
        self._log(session, "signed_in" if purpose == "sign_in" else "linked", account.id, lab_user,
                  ("state checked" if pending else "state NOT checked") + f"; code exchanged for {lab_user}'s token")
        response = self._welcome(account, purpose)
        if cookie:
            _set_cookie(response, cookie)
        return response

    def _take_pending(self, session: Session | None, state: str | None, purpose: str) -> Pending | None:
        """The sign-in this callback finishes: the one whose state it carries, started in this browser (used once).

        With ``client_skips_state`` PhotoPrint no longer insists, and takes
        this browser's newest sign-in of that kind, if there is one, for its
        PKCE verifier.
        """
        if session is None:
            return None
        with self._lock:
            found = session.pending.get(state) if state else None
            if found is not None and found.purpose == purpose:
                return session.pending.pop(state)
            if self.weaknesses.client_skips_state:
                same = [p for p in session.pending.values() if p.purpose == purpose]
                if same:
                    newest = max(same, key=lambda p: p.started_at)
                    return session.pending.pop(newest.state)
        return None

    def _exchange(self, code: str, purpose: str, verifier: str | None) -> tuple[str, list[str]]:
        """RFC 6749 s4.1.3, server side: the code, the client's secret (HTTP Basic) and the PKCE verifier.

        The access token, and the scopes it carries."""
        oauth = OAuth2Session(self.oauth.client_id, redirect_uri=self.url + CALLBACKS[purpose])
        oauth.trust_env = False
        oauth.proxies.update(self.oauth.proxies)
        oauth.headers["User-Agent"] = USER_AGENT
        extra = {"code_verifier": verifier} if verifier else {}
        token = oauth.fetch_token(self.oauth.metadata()["token_endpoint"], code=code,
                                  client_secret=self.oauth.client_secret, timeout=10, **extra)
        scope = token.get("scope", [])
        return token["access_token"], scope.split() if isinstance(scope, str) else list(scope)

    def _who(self, token: str) -> str:
        r = self._http().get(self.oauth.api_url + "/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        r.raise_for_status()
        return r.json()["username"]

    def _refuse(self, session: Session | None, why: str) -> Response:
        self._log(session, "refused", detail=why)
        return _page("PhotoPrint: not signed in", f"<p id=refused>PhotoPrint did not use this sign-in: "
                                                  f"{html.escape(why)}.</p>", 400)

    def _welcome(self, account: Account, purpose: str) -> Response:
        """Hardened: 303 to ``/`` at once, so the page a person sees has no code in its URL.

        With ``referrer_leak``: the welcome page is shown at the callback URL,
        with the partner's tracking pixel and the partner's referrer setting.
        """
        if not self.weaknesses.referrer_leak:
            return Response(status=303, headers={"Location": self.url + "/", **PAGE_HEADERS})
        what = "signed in" if purpose == "sign_in" else "linked your lab account"
        body = (f"<p id=welcome>Welcome back, {html.escape(account.name)}: you {what}.</p>"
                "<p><a href='/'>Go to your orders</a></p>" + self._pixel("welcome"))
        return _page("PhotoPrint: welcome", body, headers={"Referrer-Policy": ""}, head=PARTNER_SNIPPET)

    def _pixel(self, page: str) -> str:
        return f"<img src='{html.escape(f'{self.partner_url}{PIXEL_PATH}?site=photoprint&page={page}')}' " \
               "width=1 height=1 alt=''>"

    # -- a marketing page ---------------------------------------------------------------
    def on_prints(self, request):
        """PhotoPrint's offers, with the analytics partner's snippet (it counts visits, and asks for full referrers)."""
        body = ("<h2>Our prints</h2><ul id=offers><li>Matte, 10x15: 0.19 each</li><li>Poster, A2: 12.00</li>"
                "<li>Calendar 2027: 19.00</li></ul><p><a href='/login'>Sign in with the lab</a> to print your "
                "photos.</p>" + self._pixel("prints"))
        return _page("PhotoPrint: our prints", body, headers={"Referrer-Policy": ""}, head=PARTNER_SNIPPET)

    # -- the exit-link tracker -------------------------------------------------------
    def on_out(self, request):
        """Count a click on a link in one of PhotoPrint's e-mails, then send the browser on.

        The other query parameters go along (campaign tags such as
        ``utm_source``).  Hardened, the target is one of PhotoPrint's own
        pages (a path); with ``open_redirect``, any web address.
        """
        session = self._session(request)
        target = request.args.get("to", "")
        own = target.startswith("/") and not target.startswith("//") and not _CONTROL.search(target)
        try:
            parts = None if _CONTROL.search(target) else urlsplit(target)
        except ValueError:              # "http://[::1/": not a URL at all
            parts = None
        other_site = (parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc))
        if not own and not (self.weaknesses.open_redirect and other_site):
            self._log(session, "refused", detail=f"exit link to {target[:80]!r}: not a PhotoPrint page")
            return _page("PhotoPrint: link refused", "<p id=refused>PhotoPrint's links only go to PhotoPrint's own "
                                                     "pages.</p>", 400)
        others = [(k, v) for k, v in request.args.items(multi=True) if k != "to"]
        location = (self.url + target if own else target) + (("&" if "?" in target else "?") + urlencode(others)
                                                              if others else "")
        if _CONTROL.search(location):
            return _page("PhotoPrint: link refused", "<p id=refused>That link is malformed.</p>", 400)
        self._log(session, "exit", detail=f"to {target[:80]}" + (f" with {', '.join(k for k, _ in others)}"
                                                                if others else ""))
        return Response(status=302, headers={"Location": location, **PAGE_HEADERS})


# -- pages -------------------------------------------------------------------------------
#: The analytics partner's snippet, pasted into a page's head as the partner's set-up guide says: it asks for
#: full referrers (``no-referrer-when-downgrade``, the browsers' default until 2020) so that visits can be counted.
PARTNER_SNIPPET = "<!-- partner analytics --><meta name=referrer content=no-referrer-when-downgrade>"
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:40em} code{font-size:.9em} "
         "h1{font-size:1.3em} h2{font-size:1.05em}")


def _page(title: str, body: str, status: int = 200, headers: dict | None = None, head: str = "") -> Response:
    doc = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
           f"<style>{STYLE}</style>{head}</head><body><h1>PhotoPrint</h1>{body}</body></html>")
    merged = {**PAGE_HEADERS, **(headers or {})}
    response = Response(doc, status=status, mimetype="text/html")
    for name, value in merged.items():
        if value:
            response.headers[name] = value
    return response


def _set_cookie(response: Response, value: str) -> None:
    response.set_cookie(COOKIE, value, path="/", httponly=True, samesite="Lax")
