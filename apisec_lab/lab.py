"""The lab: every server, the store and the clock, started with one call.

>>> import apisec_lab
>>> lab = apisec_lab.start()          # safe to re-run: returns the same lab
>>> lab.api_url, lab.issuer           # doctest: +SKIP

One lab per process is current at a time; :func:`start` returns it while it
is healthy and replaces it cleanly otherwise, so a re-run notebook cell never
leaks a port or a thread.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote_plus, urlsplit

import pandas as pd
import requests

from .agents.browser import Browser
from .core import storedir
from .core.cast import BROWSER_AGENT, DEMO_PASSWORDS
from .core.clock import LabClock
from .core.store import DATA_DIR, Credentials, Store, load_seed
from .core.weaknesses import Weaknesses
from .http.cors import Cors, exact_origins
from .http.hub import Edge, PublicBase
from .http.wsgi import LOOPBACK, BackgroundServer, guard, stop_all
from .oauth.rfc9068 import JWTAccessTokens, SigningKeys
from .oauth.server import LabAuthorizationServer, metadata
from .oauth.throttle import SignInThrottle
from .oauth.validator import LabRequestValidator
from .oauth.web import METADATA_PATH, AuthorizationServerApp
from .servers.api import ResourceAPI
from .servers.apps import AppsWeb, Inbox, Redirect
from .servers.attacker import AttackerServer
from .servers.endpoints import ENDPOINTS
from .servers.gateway import Gateway, Introspector, Upstream
from .servers.jwtverify import AccessTokenVerifier
from .servers.metadata import MetadataService
from .servers.openapi import OpenAPIDocument
from .servers.outbound import LabNetwork, Outbound
from .servers.partner import PrintPartner
from .servers.photoprint import CLIENT_ID as PHOTOPRINT_WEB
from .servers.photoprint import OAuthSettings, PhotoPrintSite
from .servers.wiretap import Wiretap

# requests-oauthlib and oauthlib refuse http:// URLs unless told otherwise.
# Every lab URL is plain HTTP on loopback, which never leaves this machine.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

#: RFC 8414 section 3: where the authorization server's metadata is published.
#: The authorization server's endpoints that a browser page may call (with --cors): never the authorization endpoint.
CORS_ENDPOINTS = ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri")


def _not_ready(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "application/json")])
    return [b'{"error": "temporarily_unavailable"}']


@dataclass(frozen=True)
class LabConfig:
    """What a lab is started with; the defaults are the workbook's.

    Pass one to :func:`start` (or :class:`Lab`), as Flask's ``create_app(test_config)``
    takes a test configuration::

        lab = apisec_lab.start(config=apisec_lab.LabConfig(access_ttl=2))

    Lifetimes are seconds on the lab clock (``lab.clock``), so a notebook can
    also skip ahead instead of waiting.
    """

    #: RFC 6749 section 4.1.2: "A maximum authorization code lifetime of 10
    #: minutes is RECOMMENDED."  The lab uses one minute.
    code_ttl: int = 60
    #: Access tokens live 15 minutes: short enough that a leaked one soon dies.
    access_ttl: int = 15 * 60
    #: Refresh tokens live a day (and rotate on every use).
    refresh_ttl: int = 24 * 3600
    #: A browser that ticked "Stay signed in" on the sign-in page stays signed in this long.
    sign_in_ttl: int = 8 * 3600
    #: The interface every server binds.  Anything but loopback is warned about.
    host: str = LOOPBACK
    #: Where the seed JSON files are (users, clients, scopes, resources): the package's own by default.
    seed_dir: Path = DATA_DIR
    #: Where each lab makes its private store directory, and sweeps dead labs' ones
    #: (None: the system's temp folder).
    store_root: Path | None = None
    #: Exact origins (``"http://127.0.0.1:8000"``) of pages that may call the lab from a browser (CORS):
    #: the API, the gateway and the issuer's token, revocation, introspection and metadata endpoints.
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("code_ttl", "access_ttl", "refresh_ttl", "sign_in_ttl"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a whole number of seconds above 0, not {value!r}")
        object.__setattr__(self, "seed_dir", Path(self.seed_dir))
        missing = [f"{n}.json" for n in ("users", "clients", "scopes", "resources")
                   if not (self.seed_dir / f"{n}.json").is_file()]
        if missing:
            raise ValueError(f"seed_dir {str(self.seed_dir)!r} lacks {', '.join(missing)}")
        if self.store_root is not None:
            object.__setattr__(self, "store_root", Path(self.store_root))
        object.__setattr__(self, "cors_origins", exact_origins(self.cors_origins))

    def replace(self, **changes) -> "LabConfig":
        """A copy with *changes*: ``config.replace(access_ttl=2)``."""
        return dataclasses.replace(self, **changes)


class Lab:
    """A running lab.  Create it with :func:`apisec_lab.start`."""

    def __init__(self, config: LabConfig | None = None, *, host: str | None = None, cors_origins=None):
        config = config or LabConfig()
        if host is not None:
            config = config.replace(host=host)
        if cors_origins is not None:
            config = config.replace(cors_origins=cors_origins)
        self.config = config
        self.host = host = config.host
        self.cors_origins = config.cors_origins    # pages allowed to call the lab cross-origin
        self.clock = LabClock()
        self.weaknesses = Weaknesses()
        self.errors: list[dict] = []          # bugs the servers hit (tests assert it stays empty)
        self.inbox = Inbox()
        storedir.sweep(config.store_root)     # what labs killed outright left behind
        self._dir = storedir.StoreDir(config.store_root)
        self.db_path = self._dir.path / "lab.sqlite3"
        self.store = Store(self.db_path, self.clock, load_seed(config.seed_dir))
        self._stopped = False

        self._api = BackgroundServer(_not_ready, "api", host, errors=self.errors)
        self._issuer = BackgroundServer(_not_ready, "issuer", host, errors=self.errors)
        self._apps = BackgroundServer(_not_ready, "apps", host, errors=self.errors)
        self._web = BackgroundServer(_not_ready, "photoprint", host, errors=self.errors)
        self.api_url, self.issuer, self.apps_url = self._api.url, self._issuer.url, self._apps.url
        self.web_url = self._web.url
        # Every server's edge (apisec_lab/http/hub.py): only this account's connections, no hub credentials,
        # and behind JupyterHub or Binder public URLs for the browser (the kernel keeps these loopback ones).
        self.public = PublicBase.from_environ()
        self.edge = Edge(self.public, {self._api.port, self._issuer.port, self._apps.port, self._web.port})
        # The servers the API itself calls (notebook 08): the internal metadata service and a third party, the
        # print partner. The lab's network says which server each port is and whether the internet reaches it;
        # the wiretap relays to exactly these servers and records the API's own requests too.
        self._metadata = BackgroundServer(_not_ready, "metadata", host, errors=self.errors)
        self._partner = BackgroundServer(_not_ready, "partner", host, errors=self.errors)
        self.network = LabNetwork()
        self.wiretap = Wiretap(self.clock, self.network.names, errors=self.errors, store=self.store)

        self.clients: dict[str, Credentials] = self.store.init(self.apps_url, self.web_url)
        self.sign_in_throttle = SignInThrottle(self.clock)
        self.validator = LabRequestValidator(self.store, self.weaknesses, access_ttl=config.access_ttl,
                                             code_ttl=config.code_ttl, refresh_ttl=config.refresh_ttl,
                                             throttle=self.sign_in_throttle)
        # RFC 9068 JWT access tokens for clients registered with token_format="jwt": the authorization
        # server signs (its key pair made on first use, so start() stays fast), the API verifies.
        self.signing_keys = SigningKeys()
        self.auth_server = LabAuthorizationServer(
            self.validator, access_ttl=config.access_ttl,
            jwt_tokens=JWTAccessTokens(self.clock, self.signing_keys, self.issuer, self.api_url, self.weaknesses,
                                       config.access_ttl))

        # CORS (off unless cors_origins): the API and the gateway on every path; the issuer on its metadata
        # and the endpoints a client calls, never /authorize (RFC 9700 section 2.6); never the apps' pages.
        issuer_cors = Cors(self.cors_origins, {METADATA_PATH, *(urlsplit(self.metadata[k]).path
                                                                for k in CORS_ENDPOINTS)})
        self._issuer.server.app = guard(AuthorizationServerApp(self.auth_server, self.store, lambda: self.metadata,
                                                               self.sign_in_throttle, config.sign_in_ttl,
                                                               self.signing_keys.jwks),
                                        self.errors, issuer_cors, self.edge)
        document = OpenAPIDocument(self.api_url, self.issuer, self.store.scope_descriptions(), self.weaknesses)
        jwt_verifier = AccessTokenVerifier(self.signing_keys.public_keys, self.signing_keys.public_pem, self.issuer,
                                           self.api_url, self.clock, self.weaknesses, self._dir.path / "keys",
                                           fetchable=self._origins)
        self._api.server.app = guard(ResourceAPI(self.store, self.weaknesses, self.clock, self.auth_server,
                                                 self.api_url, document, jwt_verifier,
                                                 outbound=Outbound(self.network, self.wiretap.proxies),
                                                 partner_url=self._partner.url),
                                     self.errors, Cors(self.cors_origins), self.edge)
        self.metadata_service = MetadataService(self.clock, self._metadata.url)
        self._metadata.server.app = guard(self.metadata_service, self.errors, edge=self.edge)
        self.partner = PrintPartner(self.clock, self._partner.url)
        self._partner.server.app = guard(self.partner, self.errors, edge=self.edge)
        self._apps.server.app = guard(AppsWeb(self.store, self.inbox), self.errors, edge=self.edge)
        # The API gateway (apisec_lab/servers/gateway/): a reverse proxy in front of the API, which asks the
        # authorization server about tokens as the resource server's registered client (RFC 7662).
        self._gateway = BackgroundServer(_not_ready, "gateway", host, errors=self.errors)
        self.gateway_url = self._gateway.url
        rs, api = self.clients["resource-server"], urlsplit(self.api_url)
        self.gateway = Gateway(self.clock, Upstream(api.hostname, api.port),
                               Introspector(self.metadata["introspection_endpoint"], rs.client_id, rs.client_secret,
                                            self.clock), self.gateway_url)
        self._gateway.server.app = guard(self.gateway, self.errors, Cors(self.cors_origins), self.edge)
        # The attacker's own server (apisec_lab/servers/attacker.py), for the attack labs.
        self._attacker = BackgroundServer(_not_ready, "attacker", host, errors=self.errors)
        self.attacker = AttackerServer(self.clock, self._attacker.url)
        self._attacker.server.app = guard(self.attacker, self.errors, edge=self.edge)
        self.edge.ports.update({self._gateway.port, self._attacker.port, self._metadata.port, self._partner.port})
        # PhotoPrint's website (apisec_lab/servers/photoprint.py): notebook 06's victim app, a confidential
        # client of the lab whose own requests (token endpoint, API) go through the wiretap.  Its analytics
        # partner's server is the attacker's.
        web = self.clients[PHOTOPRINT_WEB]
        self.photoprint = PhotoPrintSite(
            self.clock, self.web_url, self.weaknesses,
            OAuthSettings(web.client_id, web.client_secret, lambda: self.metadata, self.api_url, self.wiretap.proxies),
            partner_url=self.attacker.url + "/partner")
        self._web.server.app = guard(self.photoprint, self.errors, edge=self.edge)
        self._servers = [self._api, self._issuer, self._apps, self._gateway, self._attacker, self._web,
                         self._metadata, self._partner]
        for server in self._servers:      # the API behind the gateway, and the metadata service: internal
            self.network.add(server.port, server.name, "internal" if server in (self._api, self._metadata) else
                             "public")
        self._victim: Browser | None = None
        self._victim_lock = threading.Lock()

    def _origins(self) -> set[str]:
        """The lab's own servers' origins (the wiretap aside): all the ``jwt_jku`` flaw may fetch from."""
        return {self.api_url, self.issuer, self.apps_url, self.gateway_url, self.attacker.url}

    @property
    def metadata(self) -> dict:
        """RFC 8414 metadata as the issuer serves it now: it follows the weakness switches."""
        return metadata(self.auth_server, self.issuer, sorted(self.store.scope_descriptions()),
                        password_grant=self.weaknesses.password_grant, pkce_plain=self.weaknesses.pkce_plain)

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "Lab":
        for s in self._servers:
            s.start()
        self.wiretap.start()
        return self

    def stop(self) -> None:
        """Stop every server and delete the store.  Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.gateway.close()
        stop_all([*self._servers, self.wiretap])
        self.store.close()
        self._dir.remove()

    def healthy(self) -> bool:
        """True while every server thread is serving."""
        return (not self._stopped and self.wiretap.thread.is_alive()
                and all(s.thread.is_alive() for s in self._servers))

    def reset(self) -> "Lab":
        """Back to the seeded state: data, tokens, switches, clock, captures.

        Seeded clients keep their secrets; clients and users added since are gone.
        """
        self.weaknesses.reset()
        self.clock.reset()
        self.clients = self.store.init(self.apps_url, self.web_url)
        self.signing_keys.rotate()            # JWTs signed before the reset no longer verify
        self.sign_in_throttle.reset()
        self.gateway.reset()
        self.wiretap.clear()
        self.attacker.clear()
        self.photoprint.reset()
        with self._victim_lock:
            self._victim = None               # signs in again when next asked for
        self.metadata_service.clear()
        self.partner.reset()
        self.inbox.clear()
        self.errors.clear()
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.healthy() else "stopped"
        return (f"<apisec_lab.Lab {state}: api {self.api_url}, gateway {self.gateway_url}, issuer {self.issuer}, "
                f"apps {self.apps_url}, wiretap {self.wiretap.url}>")

    # -- people and apps -------------------------------------------------
    def add_user(self, username: str, password: str, display_name: str = "", email: str = "") -> None:
        """Create a user who can sign in on the authorization server's page."""
        self.store.add_user(username, password, display_name, email)

    def change_password(self, username: str, new_password: str) -> None:
        """What a user does after a breach.  OAuth grants are deliberately left alone."""
        self.store.set_password(username, new_password)
        self.store.log("password_changed", username=username)

    def register_client(self, name: str, redirect_uris=(), scopes=(), grant_types=None,
                        public: bool = False, description: str = "", token_format: str = "opaque",
                        audience: str | None = None, access_ttl: int | None = None) -> Credentials:
        """Register an OAuth client; return its id and (confidential clients only) its secret.

        ``grant_types`` defaults to authorization code + refresh token when
        redirect URIs are given, else client credentials.  The secret is shown
        only here: the store keeps its SHA-256 digest.  A redirect URI may say
        ``{client_id}``, replaced by the new client's id:
        ``f"{lab.apps_url}/{{client_id}}/callback"`` is where the lab's apps
        server receives the browser (as :class:`~apisec_lab.client.flows.OAuthApp`
        expects).  ``token_format="jwt"``:
        its access tokens are RFC 9068 JWTs (signed RS256, verifiable with the
        key set at the metadata's ``jwks_uri``), for the API unless *audience*
        names another; *access_ttl*: their lifetime in seconds, if not the lab's.
        """
        if grant_types is None:
            grant_types = ["authorization_code", "refresh_token"] if redirect_uris else ["client_credentials"]
        creds = self.store.register_client(name, list(redirect_uris), list(scopes), list(grant_types),
                                           public, description, token_format, audience, access_ttl)
        self.clients[creds.client_id] = creds
        return creds

    def browser_url(self, url: str) -> str:
        """*url* (one of the lab's) as a browser must open it: behind JupyterHub or Binder, through the
        learner's server proxy (``/user/<name>/proxy/<port>/...``); on a laptop, unchanged."""
        return self.edge.browser_url(url)

    def session(self, tapped: bool = False) -> requests.Session:
        """A ``requests.Session`` that ignores proxy settings from the environment.

        With ``tapped=True`` every request goes through the wiretap.
        """
        if tapped:
            return self.wiretap.session()
        s = requests.Session()
        s.trust_env = False
        return s

    # -- browsers ------------------------------------------------------------
    def browser(self, name: str) -> Browser:
        """A fresh web browser for *name* (no cookies, no history), its requests through the wiretap."""
        return Browser(name, proxies=self.wiretap.proxies, clock=self.clock)

    @property
    def victim(self) -> Browser:
        """Alice's browser (notebook 06's victim), signed in at PhotoPrint's website and at the lab.

        The first time it is asked for after a start or a reset, Alice signs
        in at PhotoPrint with the lab, on the real pages: she types her
        password on the sign-in page and ticks *Stay signed in*, so her browser
        holds a sign-in cookie and the lab remembers she allowed PhotoPrint.
        From then on it opens whatever it is sent (:meth:`Browser.visit`).
        """
        with self._victim_lock:
            if self._victim is None:
                alice = self.browser("Alice")
                alice.visit(self.web_url + "/login")
                page = alice.submit(username="alice", password=DEMO_PASSWORDS["alice"], remember=True,
                                    decision="approve")
                session = self.photoprint.session_for(alice.cookies(self.web_url).get("photoprint_session"))
                if session is None or session.account != "alice":
                    raise RuntimeError(f"Alice's morning sign-in at PhotoPrint did not work: ended at {page!r}")
                self._victim = alice
            return self._victim

    # -- the user's side of the authorization endpoint -------------------
    def authorize(self, authorization_url: str, username: str, password: str, scopes=None,
                  approve: bool = True, tapped: bool = False, user_agent: str = BROWSER_AGENT) -> Redirect:
        """Do what the user does on the sign-in page: submit credentials and ticked scopes.

        Posts the form of the real ``/authorize`` page and returns where the
        authorization server redirects the browser (the code, or the error).
        ``scopes`` defaults to everything the app asked for.  The request names
        itself as the user's browser (*user_agent*), as the wiretap's sequence
        diagrams draw it.
        """
        query = dict(parse_qsl(urlsplit(authorization_url).query))
        ticked = query.get("scope", "").split() if scopes is None else list(scopes)
        form = {"username": username, "password": password, "scope": ticked,
                "decision": "approve" if approve else "deny"}
        with self.session(tapped) as s:
            r = s.post(authorization_url, data=form, allow_redirects=False, timeout=10,
                       headers={"User-Agent": user_agent})
        if r.status_code != 302:
            raise AuthorizationFailed(r)
        location = r.headers["Location"]
        return Redirect(location, dict(parse_qsl(urlsplit(location).query)))

    # -- tokens, grants, events -------------------------------------------
    def introspect(self, token: str) -> dict:
        """Ask the authorization server about a token, as the resource server does (RFC 7662)."""
        rs = self.clients["resource-server"]
        with self.session() as s:
            r = s.post(self.metadata["introspection_endpoint"], data={"token": token},
                       auth=(quote_plus(rs.client_id), quote_plus(rs.client_secret)), timeout=10)
        r.raise_for_status()
        return r.json()

    def connected_apps(self, username: str) -> pd.DataFrame:
        """Every app holding an active grant from *username*: scopes, granted and last used."""
        rows = [{"grant_id": g["id"], "client_id": g["client_id"], "app": g["client_name"],
                 "scopes": g["scopes"], "granted": self.clock.datetime(g["granted_at"]),
                 "last_used": None if g["last_used_at"] is None else self.clock.datetime(g["last_used_at"])}
                for g in self.store.active_grants(username=username)]
        columns = ["grant_id", "client_id", "app", "scopes", "granted", "last_used"]
        return pd.DataFrame(rows, columns=columns).set_index("grant_id")

    def revoke_app(self, username: str, client_id: str) -> int:
        """The user cuts one app off: revoke all its grants from *username*; return how many."""
        revoked = 0
        for g in self.store.active_grants(username=username, client_id=client_id):
            revoked += self.store.revoke_grant(g["id"], "revoked by the user")
        self.store.forget_consent(username, client_id)     # and it asks again next time
        return revoked

    def revoke_grant(self, grant_id: int, reason: str = "revoked by an administrator") -> bool:
        """Revoke one grant and every token descended from it, effective immediately."""
        return self.store.revoke_grant(grant_id, reason)

    def events(self, grant_id: int | None = None) -> pd.DataFrame:
        """The lab's event records (issued, used, refreshed, revoked...), oldest first."""
        rows = [{k: r[k] for k in r.keys() if k != "code"} for r in self.store.events(grant_id)]
        df = pd.DataFrame(rows, columns=["id", "at", "grant_id", "client_id", "username", "event", "detail"])
        df["at"] = pd.to_datetime(df["at"], unit="s", utc=True)
        df["grant_id"] = df["grant_id"].astype("Int64")
        return df.set_index("id")

    def exploits(self) -> pd.DataFrame:
        """Every time a weakness was really used, as the servers' own detectors recorded it (oldest first).

        Each row: when, the weakness switch, the user and client whose request used it, and what happened.
        """
        rows = [{"id": r["id"], "at": r["at"], "weakness": r["detail"].partition(": ")[0], "user": r["username"],
                 "client": r["client_id"], "what happened": r["detail"].partition(": ")[2]}
                for r in self.store.events(event="exploited")]
        df = pd.DataFrame(rows, columns=["id", "at", "weakness", "user", "client", "what happened"])
        df["at"] = pd.to_datetime(df["at"], unit="s", utc=True)
        return df.set_index("id")

    def endpoints(self) -> pd.DataFrame:
        """The API's endpoints and the scope each needs (published ones)."""
        return pd.DataFrame([{"method": e.method, "path": e.openapi_path, "scope": e.scope or "(none)",
                              "sensitivity": e.sensitivity, "summary": e.summary}
                             for e in ENDPOINTS if e.published])


class AuthorizationFailed(Exception):
    """The sign-in page did not redirect (wrong password, broken request...)."""

    def __init__(self, response: requests.Response):
        self.response = response
        super().__init__(f"HTTP {response.status_code} from the authorization endpoint")

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in place of a traceback: the refusal, in one line (the page said no)."""
        return [f"{type(self).__name__}: {self}"]


_current: Lab | None = None
_current_lock = threading.Lock()


def start(config: LabConfig | None = None, *, host: str | None = None, fresh: bool = False,
          cors_origins=None) -> Lab:
    """Start the lab, or return the one already running in this process.

    *config* defaults to ``LabConfig()``, the workbook's settings; ``host``
    and ``cors_origins`` override its own.  ``fresh=True``, or a configuration
    other than the running lab's, stops the running lab first.  Binding
    anything but loopback must be asked for and is warned about.
    ``cors_origins``: exact origins (``"http://127.0.0.1:8000"``) of pages
    allowed to call the API, the gateway and the authorization server's
    token, revocation, introspection and metadata endpoints from a browser
    (Swagger UI, say); none by default.
    """
    global _current
    config = config or LabConfig()
    if host is not None:
        config = config.replace(host=host)
    if cors_origins is not None:
        config = config.replace(cors_origins=cors_origins)     # validated here, before anything stops
    with _current_lock:
        if _current is not None and not fresh and _current.config == config and _current.healthy():
            return _current
        if _current is not None:
            _current.stop()
        _current = Lab(config).start()
        return _current


def stop() -> None:
    """Stop the current lab, if any."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.stop()
            _current = None


def current() -> Lab | None:
    """The running lab, or None."""
    return _current
