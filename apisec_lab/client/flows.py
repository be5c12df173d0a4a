"""How an app gets at a user's data: one plain function per HTTP step, and the apps built on them.

The authorization code grant with PKCE, taken apart so that a notebook, a
widget or a test can run it one step at a time and look at the wire between
steps::

    pkce = flows.make_pkce()
    state = flows.new_state()
    url = flows.authorization_url(lab, "photocli", ["photos:read"], state=state, pkce=pkce)
    redirect = lab.authorize(url, "alice", password)        # the user, on the sign-in page
    arrived = flows.follow_redirect(lab, redirect)           # the browser lands on the app
    r = flows.exchange_code(lab, "photocli", arrived.code, code_verifier=pkce.verifier)
    flows.call_api(lab, "/photos", token=r.json()["access_token"]).json()

and the same flow in one call, for everyone who is not studying it::

    app = flows.OAuthApp(lab, "photocli").sign_in("alice", password, ["photos:read"])
    app.call("/photos").json()

Specifications, section by section:

- RFC 6749 section 4.1, authorization code grant
  https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (:func:`authorization_url`,
  :func:`exchange_code`); section 4.4, client credentials (:func:`client_credentials`);
  section 6, refreshing an access token (:func:`refresh`); section 2.3.1, client
  password authentication (:func:`client_authentication`, the one place that decides it).
- RFC 7636, Proof Key for Code Exchange https://www.rfc-editor.org/rfc/rfc7636
  (:func:`make_pkce`, :func:`s256`).
- RFC 6750, bearer token usage https://www.rfc-editor.org/rfc/rfc6750 (:func:`call_api`).
- RFC 7009, token revocation https://www.rfc-editor.org/rfc/rfc7009 (:func:`revoke`).
- RFC 7617, HTTP Basic, for the pre-OAuth :class:`PasswordApp`.
- RFC 6749 section 4.3, the resource owner password credentials grant, which RFC 9700
  section 2.4 says MUST NOT be used (:func:`password_grant`, :class:`PasswordGrantApp`):
  here to be shown, and refused unless the ``password_grant`` weakness is on.

Every HTTP function returns the ``requests.Response`` as it came back, errors
included, so a caller can show a refusal as well as a success; ``tapped=True``
sends the request through the lab's wiretap, and ``user_agent=`` says who
sends it (the wiretap's sequence diagrams draw it in that lane).  Three app
models sit on top: :class:`PasswordApp` (the pre-OAuth way: the app keeps
the user's password), :class:`OAuthApp` (the app keeps tokens;
requests-oauthlib's ``OAuth2Session`` speaks to its token endpoint) and
:class:`PasswordGrantApp` (an OAuth app whose own login form takes the
password, to trade it for tokens).  Each has a ``storage`` dict: exactly what
a breach of that app would hand an attacker.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import requests
from oauthlib.oauth2 import LegacyApplicationClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from ..core.cast import BROWSER_AGENT
from ..core.cast import user_agent as agent
from ..core.store import Credentials
from ..servers.apps import Redirect

#: Sent as ``User-Agent`` unless a caller names itself: a stable, honest
#: string (and the same on every machine, so captured requests compare).
#: It names no one, so a sequence diagram places such a request by what it
#: carries; the apps below name themselves (:func:`~apisec_lab.core.cast.user_agent`),
#: and ``user_agent=`` lets any step do the same (``user_agent=flows.agent("Attacker")``).
USER_AGENT = "apisec-lab-client/1.0"

#: RFC 6749 section 3.3: "If the issued access token scope is different from the one
#: requested by the client, the authorization server MUST include the "scope" response
#: parameter to inform the client of the actual scope granted."  oauthlib, and so
#: requests-oauthlib, raise ``Warning('Scope has changed ...')`` then, unless this is set.
RELAX_ENV = "OAUTHLIB_RELAX_TOKEN_SCOPE"


class FlowError(Exception):
    """A step of a flow did not go as the app expected.

    ``response`` is the HTTP answer, if any; ``error`` and ``description`` are
    the server's RFC 6749 ``error`` and ``error_description``, if it sent them.
    """

    def __init__(self, message: str, response: requests.Response | None = None, *,
                 error: str | None = None, description: str | None = None):
        super().__init__(message)
        self.response = response
        self.error = error
        self.description = description

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in place of a traceback: the refusal, in one line (it is the lesson, not a bug)."""
        return [f"{type(self).__name__}: {self}"]


# -- RFC 7636: Proof Key for Code Exchange ---------------------------------
@dataclass(frozen=True)
class PKCE:
    """A PKCE pair: the app keeps ``verifier``; ``challenge`` travels in the authorization URL."""

    verifier: str
    challenge: str
    method: str = "S256"


def s256(verifier: str) -> str:
    """RFC 7636 section 4.2: ``code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``.

    Base64url without ``=`` padding (RFC 7636 appendix A).
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_pkce(verifier: str | None = None) -> PKCE:
    """A fresh PKCE pair (or the pair for a given *verifier*).

    RFC 7636 section 4.1: the verifier is "a high-entropy cryptographic random
    STRING using the unreserved characters", 43 to 128 characters long; 32
    random bytes in base64url give 43.
    """
    verifier = verifier if verifier is not None else secrets.token_urlsafe(32)
    if not 43 <= len(verifier) <= 128:
        raise ValueError("RFC 7636 section 4.1: a code verifier is 43 to 128 characters long")
    return PKCE(verifier, s256(verifier))


def new_state() -> str:
    """An unguessable ``state`` value (RFC 6749 section 10.12: binds the answer to this browser's request)."""
    return secrets.token_urlsafe(16)


def redirect_uri(lab, client_id: str) -> str:
    """Where the lab's apps receive the user back: ``{apps_url}/<client_id>/callback``."""
    return f"{lab.apps_url}/{client_id}/callback"


# -- step 1: the authorization request -------------------------------------
def authorization_url(lab, client_id: str, scopes, *, state: str, pkce: PKCE | None = None,
                      redirect_to: str | None = None) -> str:
    """RFC 6749 section 4.1.1: the URL the app sends the user's browser to.

    ``response_type`` "REQUIRED. Value MUST be set to "code"", then
    ``client_id``, ``redirect_uri``, ``scope``, ``state`` and, with PKCE
    (RFC 7636 section 4.3), ``code_challenge`` and ``code_challenge_method``.
    ``pkce=None`` leaves PKCE out (the lab's server refuses that unless the
    ``pkce_optional`` weakness is on).
    """
    params = {"response_type": "code", "client_id": client_id,
              "redirect_uri": redirect_to or redirect_uri(lab, client_id),
              "scope": " ".join(scopes), "state": state}
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method=pkce.method)
    return f"{lab.metadata['authorization_endpoint']}?{urlencode(params, quote_via=quote)}"


def follow_redirect(lab, redirect: Redirect, *, tapped: bool = False) -> Redirect:
    """What the browser does with the authorization server's answer: load the app's redirect URI.

    Returns what the app's web server received there (it keeps it in
    ``lab.inbox``), which is what the app's callback handler works with.
    The request names itself as the user's browser (``BROWSER_AGENT``).
    """
    with _session(lab, tapped, BROWSER_AGENT) as s:
        r = s.get(redirect.url, timeout=10)
    r.raise_for_status()
    client_id = urlsplit(redirect.url).path.strip("/").split("/")[0]
    arrived = lab.inbox.latest(client_id)
    if arrived is None:
        raise FlowError(f"nothing arrived at {client_id}'s redirect URI")
    return arrived


# -- client authentication, and the token endpoint ---------------------------
def credentials(lab, client) -> Credentials:
    """*client* as ``Credentials``: given, a seeded client's id, or an unknown id (a public client, no secret)."""
    if isinstance(client, Credentials):
        return client
    if client in lab.clients:
        return lab.clients[client]
    return Credentials(client, None, client)


def client_authentication(creds: Credentials) -> tuple[tuple[str, str] | None, dict]:
    """RFC 6749 section 2.3.1: how *creds* authenticate to the authorization server.

    A confidential client (one with a secret) uses HTTP Basic: "the client
    identifier is encoded using the "application/x-www-form-urlencoded"
    encoding algorithm [...], and the encoded value is used as the username;
    the client password is encoded using the same algorithm and used as the
    password."  A public client has no password: it names itself with
    ``client_id`` in the request body (section 3.2.1), and PKCE proves the rest.

    Returns ``(auth, form)``: the ``auth`` pair for ``requests`` (None for a
    public client) and the fields to add to the form body.
    """
    if creds.client_secret:
        return (quote_plus(creds.client_id), quote_plus(creds.client_secret)), {}
    return None, {"client_id": creds.client_id}


def token_request(lab, client, form: dict, *, tapped: bool = False,
                  user_agent: str = USER_AGENT) -> requests.Response:
    """POST *form* to the token endpoint, authenticated as *client* (:func:`client_authentication`)."""
    auth, extra = client_authentication(credentials(lab, client))
    with _session(lab, tapped, user_agent) as s:
        return s.post(lab.metadata["token_endpoint"], data={**form, **extra}, auth=auth, timeout=10)


def exchange_code(lab, client, code: str, *, code_verifier: str | None = None,
                  redirect_to: str | None = None, tapped: bool = False,
                  user_agent: str = USER_AGENT) -> requests.Response:
    """RFC 6749 section 4.1.3: trade an authorization code for tokens.

    ``grant_type`` "REQUIRED. Value MUST be set to "authorization_code"",
    ``code``, ``redirect_uri`` (the same as in the authorization request) and,
    with PKCE, ``code_verifier`` (RFC 7636 section 4.5).
    """
    creds = credentials(lab, client)
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_to or redirect_uri(lab, creds.client_id)}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return token_request(lab, creds, form, tapped=tapped, user_agent=user_agent)


def client_credentials(lab, client, scopes=None, *, tapped: bool = False,
                       user_agent: str = USER_AGENT) -> requests.Response:
    """RFC 6749 section 4.4: a confidential client asks for a token for itself (no user involved)."""
    form = {"grant_type": "client_credentials"}
    if scopes:
        form["scope"] = " ".join(scopes)
    return token_request(lab, client, form, tapped=tapped, user_agent=user_agent)


def password_grant(lab, client, username: str, password: str, scopes=None, *, tapped: bool = False,
                   user_agent: str = USER_AGENT) -> requests.Response:
    """RFC 6749 section 4.3.2: the client sends the user's own username and password for tokens.

    ``grant_type`` "REQUIRED. Value MUST be set to "password"", ``username``,
    ``password`` and an optional ``scope``, with the client's authentication.
    RFC 9700 section 2.4: "The resource owner password credentials grant MUST
    NOT be used."  The lab answers ``unsupported_grant_type`` unless the
    ``password_grant`` weakness is on, and ``unauthorized_client`` to a client
    not registered for it.
    """
    form = {"grant_type": "password", "username": username, "password": password}
    if scopes:
        form["scope"] = " ".join(scopes)
    return token_request(lab, client, form, tapped=tapped, user_agent=user_agent)


def refresh(lab, client, refresh_token: str, *, scopes=None, tapped: bool = False,
            user_agent: str = USER_AGENT) -> requests.Response:
    """RFC 6749 section 6: a new access token for a refresh token (the lab rotates the refresh token too).

    *scopes* asks for a narrower access token; omitted, the scope is "treated
    as equal to the scope originally granted by the resource owner".
    """
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scopes is not None:
        form["scope"] = " ".join(scopes)
    return token_request(lab, client, form, tapped=tapped, user_agent=user_agent)


def revoke(lab, client, token: str, *, hint: str | None = None, tapped: bool = False,
           user_agent: str = USER_AGENT) -> requests.Response:
    """RFC 7009: the client tells the authorization server it is done with *token*."""
    form = {"token": token}
    if hint:
        form["token_type_hint"] = hint
    auth, extra = client_authentication(credentials(lab, client))
    with _session(lab, tapped, user_agent) as s:
        return s.post(lab.metadata["revocation_endpoint"], data={**form, **extra}, auth=auth, timeout=10)


def tokens_from(response: requests.Response) -> dict:
    """The token response's JSON, or :class:`FlowError` naming the server's ``error``."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        error = body.get("error", f"HTTP {response.status_code}")
        raise _refused(error, body.get("error_description", ""), response)
    return body


def _refused(error: str, description: str | None, response=None) -> FlowError:
    return FlowError(f"the token endpoint refused: {error}" + (f" ({description})" if description else ""),
                     response, error=error, description=description or None)


@contextlib.contextmanager
def relaxed_token_scope(relax: bool = True):
    """Set (or unset) ``OAUTHLIB_RELAX_TOKEN_SCOPE`` for one block, then restore it.

    With it set, oauthlib accepts a token whose scope differs from what was
    asked for (the user unticked some); without it, it raises ``Warning``.
    """
    before = os.environ.get(RELAX_ENV)
    if relax:
        os.environ[RELAX_ENV] = "1"
    else:
        os.environ.pop(RELAX_ENV, None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RELAX_ENV, None)
        else:
            os.environ[RELAX_ENV] = before


# -- the resource API --------------------------------------------------------
def call_api(lab, path: str, *, token: str | None = None, basic: tuple[str, str] | None = None,
             method: str = "GET", json=None, tapped: bool = False,
             user_agent: str = USER_AGENT) -> requests.Response:
    """Call the lab's API with a bearer *token* (RFC 6750 section 2.1), HTTP *basic* (user, password), or neither."""
    headers = {"User-Agent": user_agent}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with _session(lab, tapped) as s:
        return s.request(method, lab.api_url + path, headers=headers, auth=basic, json=json, timeout=10)


# -- two ways for an app to hold on to a user --------------------------------
class PasswordApp:
    """A third-party app of the pre-OAuth era: it asks for the user's password and keeps it.

    Every call it makes sends the password (HTTP Basic, RFC 7617), so the API
    cannot tell the app from the user, and the app can do anything the user
    can.  The API accepts this only while ``lab.weaknesses.basic_auth`` is on.
    """

    def __init__(self, lab, name: str, *, tapped: bool = True):
        self.lab = lab
        self.name = name
        self.tapped = tapped
        self.user_agent = agent(name, "1.0")
        #: The app's own database: what a breach of the app hands over.
        self.storage: dict = {}

    def sign_in(self, username: str, password: str) -> "PasswordApp":
        """The user types their password into the app; the app keeps it, to use on every call."""
        self.storage.update(username=username, password=password)
        return self

    def call(self, path: str, method: str = "GET", json=None) -> requests.Response:
        """Call the API as the user, with the stored password."""
        if "password" not in self.storage:
            raise FlowError(f"{self.name} holds no password: call sign_in() first")
        return call_api(self.lab, path, basic=(self.storage["username"], self.storage["password"]),
                        method=method, json=json, tapped=self.tapped, user_agent=self.user_agent)

    def __repr__(self) -> str:
        who = self.storage.get("username", "nobody")
        return f"<PasswordApp {self.name!r} holding {who}'s password>"


class OAuthApp:
    """An OAuth client app: it sends the user to the authorization server and keeps tokens.

    The steps are methods, so a notebook can run them one at a time:
    :meth:`start_login` (fresh ``state`` and PKCE pair, the authorization
    URL), :meth:`receive` (the callback handler: check ``state``, take the
    code), :meth:`exchange` (code and verifier for tokens), :meth:`call`;
    then :meth:`refresh` and :meth:`revoke`.  :meth:`sign_in` runs them all,
    the user's part played by ``lab.authorize``.

    At the token endpoint the app uses requests-oauthlib's ``OAuth2Session``
    (:attr:`oauth`), as a real app would: it builds the request, parses and
    checks the answer (a narrower scope than asked is a ``Warning`` unless
    ``strict_scope`` is False, the default) and keeps the token
    (:attr:`token`).  Client authentication is :func:`client_authentication`.

    :attr:`storage` is what the app keeps: its own credentials, the
    in-flight ``state`` and ``code_verifier`` while the user signs in, then the
    tokens; never the user's password.
    """

    def __init__(self, lab, client, *, name: str | None = None, tapped: bool = False, strict_scope: bool = False):
        creds = credentials(lab, client)
        self.lab = lab
        self.client = creds
        self.name = name or creds.name or creds.client_id
        self.tapped = tapped
        self.strict_scope = strict_scope
        self.redirect_uri = redirect_uri(lab, creds.client_id)
        #: Sent as ``User-Agent`` on every request the app makes: it names the app.
        self.user_agent = agent(self.name, "2.0")
        #: Who signed in through :meth:`sign_in` (None when the steps were run one by one).
        self.username: str | None = None
        #: The scopes the app asked for in its last authorization request.
        self.asked: list[str] = []
        #: The token endpoint's last answer, as JSON.
        self.last_token_response: dict = {}
        self.expires_at: int | None = None
        self._pending: dict = {}
        self._response: requests.Response | None = None
        self.oauth = OAuth2Session(creds.client_id, client=self._oauth_client(), redirect_uri=self.redirect_uri)
        self.oauth.trust_env = False                  # ignore proxy settings from the environment
        self.oauth.headers["User-Agent"] = self.user_agent
        if tapped:
            self.oauth.proxies.update(lab.wiretap.proxies)
        for hook in ("access_token_response", "refresh_token_response"):
            self.oauth.register_compliance_hook(hook, self._answered)

    def _oauth_client(self):
        """The oauthlib client behind :attr:`oauth` (None: requests-oauthlib's default, the code flow's)."""
        return None

    # -- what the app holds --------------------------------------------------
    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def token(self) -> dict:
        """The token as requests-oauthlib keeps it (``scope`` as a list)."""
        return self.oauth.token

    @property
    def access_token(self) -> str | None:
        return self.token.get("access_token")

    @property
    def refresh_token(self) -> str | None:
        return self.token.get("refresh_token")

    @property
    def granted(self) -> list[str]:
        """The scopes the token response says the app got (RFC 6749 section 3.3)."""
        if not self.access_token:
            return []
        scope = self.token.get("scope", self.asked)
        return scope.split() if isinstance(scope, str) else list(scope)

    @property
    def grant_id(self) -> int | None:
        """The grant (token family) in the lab's store; the app itself never needs it."""
        row = self.lab.store.token(self.access_token) if self.access_token else None
        return None if row is None else row["grant_id"]

    @property
    def storage(self) -> dict:
        """The app's own database: what a breach of the app hands over."""
        kept = {"client_id": self.client_id}
        if self.client.client_secret:
            kept["client_secret"] = self.client.client_secret
        kept.update(self._pending)
        if self.access_token:
            kept["access_token"] = self.access_token
            if self.refresh_token:
                kept["refresh_token"] = self.refresh_token
            kept["scope"] = " ".join(self.granted)
            if self.expires_at is not None:
                kept["expires_at"] = self.expires_at
        return kept

    # -- the steps -------------------------------------------------------------
    def start_login(self, scopes) -> str:
        """Step 1: remember a fresh ``state`` and PKCE verifier; return the authorization URL."""
        pkce, state = make_pkce(), new_state()
        self.asked = list(scopes)
        self.oauth.scope = self.asked
        self.oauth.token = {}                         # a new sign-in starts from nothing
        self.last_token_response, self.expires_at = {}, None
        self._pending = {"state": state, "code_verifier": pkce.verifier}
        return authorization_url(self.lab, self.client_id, self.asked, state=state, pkce=pkce,
                                 redirect_to=self.redirect_uri)

    def receive(self, redirect: Redirect) -> str:
        """Step 3, the app's callback handler: check ``state``, take the code (or the error)."""
        if redirect.error:
            self._pending = {}
            description = redirect.params.get("error_description", "")
            raise FlowError(f"the authorization server sent back error={redirect.error}: {description}".rstrip(": "),
                            error=redirect.error, description=description or None)
        expected = self._pending.get("state")
        if expected is None:
            raise FlowError(f"{self.name} has no sign-in in progress (each state and code work once): "
                            "start a new one with start_login()")
        if redirect.state != expected:
            raise FlowError("state does not match the sign-in this app started: refusing the code "
                            "(RFC 6749 section 10.12, cross-site request forgery)")
        if not redirect.code:
            raise FlowError("the redirect carried no code")
        return redirect.code

    def exchange(self, code: str) -> dict:
        """Step 4: trade the code and the stored verifier for tokens; keep them; return the token response."""
        if not self._pending:
            raise FlowError(f"{self.name} has no sign-in in progress: its code was already exchanged (a code "
                            "works once); start a new sign-in with start_login()")
        auth, form = client_authentication(self.client)
        try:
            with relaxed_token_scope(not self.strict_scope):
                self.oauth.fetch_token(self.lab.metadata["token_endpoint"], code=code, auth=auth,
                                       include_client_id=bool(form), timeout=10,
                                       code_verifier=self._pending.get("code_verifier"))
        except OAuth2Error as e:
            raise _refused(e.error, e.description, self._response) from None
        self._pending = {}
        return self._kept()

    def call(self, path: str, method: str = "GET", json=None) -> requests.Response:
        """Step 5: call the API with the stored access token (sent as it is, even if expired)."""
        if not self.access_token:
            raise FlowError(f"{self.name} holds no access token: the user has not signed in")
        return call_api(self.lab, path, token=self.access_token, method=method, json=json,
                        tapped=self.tapped, user_agent=self.user_agent)

    def refresh(self, scopes=None) -> dict:
        """RFC 6749 section 6: new tokens for the stored refresh token; *scopes* asks for a narrower access token.

        The lab rotates refresh tokens: the answer carries a new one and the
        old one is spent.  A refusal leaves the app as it was.
        """
        if not self.refresh_token:
            raise FlowError(f"{self.name} holds no refresh token")
        previous = self.oauth.scope
        if scopes is not None:
            self.oauth.scope = list(scopes)
        auth, form = client_authentication(self.client)
        try:
            with relaxed_token_scope(not self.strict_scope):
                self.oauth.refresh_token(self.lab.metadata["token_endpoint"], refresh_token=self.refresh_token,
                                         auth=auth, timeout=10, **form)
        except OAuth2Error as e:
            self.oauth.scope = previous
            raise _refused(e.error, e.description, self._response) from None
        return self._kept()

    def revoke(self, which: str = "refresh_token") -> requests.Response:
        """RFC 7009: the app asks the authorization server to revoke its own ``refresh_token`` or ``access_token``."""
        return revoke(self.lab, self.client, self.token[which], hint=which, tapped=self.tapped,
                      user_agent=self.user_agent)

    def sign_in(self, username: str, password: str, scopes=None, *, grant=None) -> "OAuthApp":
        """The whole flow in one go, the user's part played by ``lab.authorize`` and :func:`follow_redirect`.

        *scopes*: what the app asks for (default: every scope it is registered
        for); *grant*: what the user ticks on the consent page (default: all
        it asked for).
        """
        scopes = list(scopes) if scopes is not None else list(self.lab.store.client(self.client_id).scopes)
        url = self.start_login(scopes)
        redirect = self.lab.authorize(url, username, password, scopes=grant, tapped=self.tapped)
        follow_redirect(self.lab, redirect, tapped=self.tapped)     # the browser lands on the app's callback
        self.username = username
        self.exchange(self.receive(redirect))    # what it brought there (the redirect itself: no other sign-in's)
        return self

    def _answered(self, response: requests.Response) -> requests.Response:
        self._response = response
        return response

    def _kept(self) -> dict:
        body = self._response.json()
        self.last_token_response = body
        if "expires_in" in body:
            self.expires_at = round(self.lab.clock.now() + body["expires_in"])
        self.oauth.scope = self.granted               # later refreshes ask for at most what was granted
        return body

    def __repr__(self) -> str:
        who = f" for {self.username}" if self.username else ""
        if not self.access_token:
            return f"<OAuthApp {self.name} ({self.client_id}){who}: not signed in>"
        return f"<OAuthApp {self.name}{who}: asked {' '.join(self.asked)}; granted {' '.join(self.granted)}>"


class PasswordGrantApp(OAuthApp):
    """An OAuth app with a login form of its own: it takes the user's password and trades it for tokens.

    RFC 6749 section 4.3, the resource owner password credentials grant: "the client
    obtains the resource owner's credentials" and sends them to the token endpoint
    (requests-oauthlib's ``OAuth2Session`` with oauthlib's ``LegacyApplicationClient``).
    It gets tokens, and keeps only tokens (:attr:`storage`), but its form had the
    password in hand (:attr:`login_form`), as the Basic-auth apps of notebook 01 did;
    the user never saw the authorization server's page, so chose no scopes and could
    not tell this app's form from a copy's.  RFC 9700 section 2.4: "MUST NOT be
    used"; the lab refuses it unless the ``password_grant`` weakness is on, for a
    client registered with ``grant_types=["password", ...]``.
    """

    #: What the app's own login form received in :meth:`sign_in` (the user's password, in the app's hands).
    login_form: dict = {}

    def __init__(self, lab, client, *, name: str | None = None, tapped: bool = False, strict_scope: bool = False):
        super().__init__(lab, client, name=name, tapped=tapped, strict_scope=strict_scope)
        self.redirect_uri = self.oauth.redirect_uri = None      # no redirect: the app's own form is the page

    def _oauth_client(self):
        return LegacyApplicationClient(client_id=self.client.client_id)

    def sign_in(self, username: str, password: str, scopes=None) -> "PasswordGrantApp":
        """The user types *username* and *password* into the app's form; the app sends them to the token endpoint.

        *scopes*: what the app asks for (default: every scope it is registered for).  There is
        no consent page, so nothing for the user to untick.  A refusal raises :class:`FlowError`,
        after the password has crossed the wire all the same.
        """
        scopes = list(scopes) if scopes is not None else list(self.lab.store.client(self.client_id).scopes)
        self.login_form = {"username": username, "password": password}
        self.asked, self.username = scopes, username
        self.oauth.scope = scopes
        self.oauth.token = {}
        self.last_token_response, self.expires_at = {}, None
        auth, form = client_authentication(self.client)
        try:
            with relaxed_token_scope(not self.strict_scope):
                self.oauth.fetch_token(self.lab.metadata["token_endpoint"], username=username, password=password,
                                       scope=scopes, auth=auth, include_client_id=bool(form), timeout=10)
        except OAuth2Error as e:
            raise _refused(e.error, e.description, self._response) from None
        self._kept()
        return self

    def __repr__(self) -> str:
        held = f"; its form took {self.login_form['username']}'s password" if self.login_form else ""
        return super().__repr__()[:-1] + held + ">"


# -- the whole flow in one call ------------------------------------------------
def code_flow(lab, client, username: str, password: str, scopes=None, *, grant=None, tapped: bool = False) -> dict:
    """The authorization code flow with PKCE for *username*, in one call; the token response.

    :meth:`OAuthApp.sign_in` does it; *grant* is what the user ticks
    (default: every scope asked for).
    """
    return dict(OAuthApp(lab, client, tapped=tapped).sign_in(username, password, scopes, grant=grant)
                .last_token_response)


def _session(lab, tapped: bool, agent: str = USER_AGENT) -> requests.Session:
    s = lab.session(tapped)
    s.headers["User-Agent"] = agent
    return s
