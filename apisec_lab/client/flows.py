"""How an app gets at a user's data: one plain function per HTTP step.

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

Specifications, section by section:

- RFC 6749 section 4.1, authorization code grant
  https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (:func:`authorization_url`,
  :func:`exchange_code`); section 4.4, client credentials (:func:`client_credentials`);
  section 6, refreshing an access token (:func:`refresh`); section 2.3.1, client
  password authentication (confidential clients send HTTP Basic).
- RFC 7636, Proof Key for Code Exchange https://www.rfc-editor.org/rfc/rfc7636
  (:func:`make_pkce`, :func:`s256`).
- RFC 6750, bearer token usage https://www.rfc-editor.org/rfc/rfc6750 (:func:`call_api`).
- RFC 7009, token revocation https://www.rfc-editor.org/rfc/rfc7009 (:func:`revoke`).
- RFC 7617, HTTP Basic, for the pre-OAuth :class:`PasswordApp`.

Every HTTP function returns the ``requests.Response`` as it came back, errors
included, so a caller can show a refusal as well as a success; ``tapped=True``
sends the request through the lab's wiretap.  Two app models sit on top:
:class:`PasswordApp` (the pre-OAuth way: the app keeps the user's password)
and :class:`OAuthApp` (the app keeps tokens).  Each has a plain ``storage``
dict: exactly what a breach of that app would hand an attacker.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlencode, urlsplit

import pandas as pd
import requests

from ..core.store import Credentials
from ..servers.apps import Redirect

#: Sent as ``User-Agent`` unless a caller names itself: a stable, honest
#: string (and the same on every machine, so captured requests compare).
USER_AGENT = "apisec-lab-client/1.0"


class FlowError(Exception):
    """A step of a flow did not go as the app expected; ``response`` is the HTTP answer, if any."""

    def __init__(self, message: str, response: requests.Response | None = None):
        super().__init__(message)
        self.response = response


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
    """
    with _session(lab, tapped) as s:
        r = s.get(redirect.url, timeout=10)
    r.raise_for_status()
    client_id = urlsplit(redirect.url).path.strip("/").split("/")[0]
    arrived = lab.inbox.latest(client_id)
    if arrived is None:
        raise FlowError(f"nothing arrived at {client_id}'s redirect URI")
    return arrived


# -- the token endpoint -----------------------------------------------------
def _client(lab, client) -> Credentials:
    if isinstance(client, Credentials):
        return client
    if client in lab.clients:
        return lab.clients[client]
    return Credentials(client, None, client)   # a client_id the lab does not know: public, no secret


def token_request(lab, client, form: dict, *, tapped: bool = False) -> requests.Response:
    """POST *form* to the token endpoint, authenticated as *client*.

    A confidential client (one with a secret) uses HTTP Basic, each part
    form-urlencoded first (RFC 6749 section 2.3.1); a public client only
    names itself with ``client_id`` in the body.
    """
    creds = _client(lab, client)
    form = dict(form)
    auth = None
    if creds.client_secret:
        auth = (quote_plus(creds.client_id), quote_plus(creds.client_secret))
    else:
        form.setdefault("client_id", creds.client_id)
    with _session(lab, tapped) as s:
        return s.post(lab.metadata["token_endpoint"], data=form, auth=auth, timeout=10)


def exchange_code(lab, client, code: str, *, code_verifier: str | None = None,
                  redirect_to: str | None = None, tapped: bool = False) -> requests.Response:
    """RFC 6749 section 4.1.3: trade an authorization code for tokens.

    ``grant_type`` "REQUIRED. Value MUST be set to "authorization_code"",
    ``code``, ``redirect_uri`` (the same as in the authorization request) and,
    with PKCE, ``code_verifier`` (RFC 7636 section 4.5).
    """
    creds = _client(lab, client)
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_to or redirect_uri(lab, creds.client_id)}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return token_request(lab, creds, form, tapped=tapped)


def client_credentials(lab, client, scopes=None, *, tapped: bool = False) -> requests.Response:
    """RFC 6749 section 4.4: a confidential client asks for a token for itself (no user involved)."""
    form = {"grant_type": "client_credentials"}
    if scopes:
        form["scope"] = " ".join(scopes)
    return token_request(lab, client, form, tapped=tapped)


def refresh(lab, client, refresh_token: str, *, tapped: bool = False) -> requests.Response:
    """RFC 6749 section 6: a new access token for a refresh token (the lab rotates the refresh token too)."""
    return token_request(lab, client, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                         tapped=tapped)


def revoke(lab, client, token: str, *, hint: str | None = None, tapped: bool = False) -> requests.Response:
    """RFC 7009: the client tells the authorization server it is done with *token*."""
    creds = _client(lab, client)
    form = {"token": token}
    if hint:
        form["token_type_hint"] = hint
    auth = None
    if creds.client_secret:
        auth = (quote_plus(creds.client_id), quote_plus(creds.client_secret))
    else:
        form["client_id"] = creds.client_id
    with _session(lab, tapped) as s:
        return s.post(lab.metadata["revocation_endpoint"], data=form, auth=auth, timeout=10)


def tokens_from(response: requests.Response) -> dict:
    """The token response's JSON, or :class:`FlowError` naming the server's ``error``."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        error = body.get("error", f"HTTP {response.status_code}")
        detail = body.get("error_description", "")
        raise FlowError(f"the token endpoint refused: {error}" + (f" ({detail})" if detail else ""), response)
    return body


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


# -- the whole flow in one call (for later notebooks) ------------------------
def code_flow(lab, client, username: str, password: str, scopes, *, tapped: bool = False) -> dict:
    """Run the whole authorization code flow with PKCE for *username*; return the token response.

    The user's part (signing in, approving every scope asked for) is done by
    ``lab.authorize``, as in the browser.
    """
    app = OAuthApp(lab, client, tapped=tapped)
    app.sign_in(username, password, scopes)
    return dict(app.last_token_response)


# -- what crossed the wire ---------------------------------------------------
def _forms_of(secret: str, username: str | None) -> dict[bytes, str]:
    forms = {secret.encode(): "as typed"}
    forms.setdefault(quote_plus(secret).encode(), "URL-encoded")
    if username is not None:
        forms[base64.b64encode(f"{username}:{secret}".encode())] = "base64 of user:password (HTTP Basic)"
    return forms


def sightings(lab, secret: str, username: str | None = None) -> pd.DataFrame:
    """Every captured exchange that carried *secret*, and where in the message it was.

    Looks for the secret as typed, URL-encoded, and (given *username*) inside
    an HTTP Basic header, in requests and responses alike.
    """
    rows = []
    for x in lab.wiretap.records:
        for side, message in (("request", x.request), ("response", x.response)):
            start, _, rest = message.raw.partition(b"\r\n")
            head, _, body = rest.partition(b"\r\n\r\n")
            for needle, form in _forms_of(secret, username).items():
                if needle in start:
                    where = "URL" if side == "request" else "status line"
                elif needle in head:
                    line = next(ln for ln in head.split(b"\r\n") if needle in ln)
                    where = line.split(b":", 1)[0].decode("latin-1") + " header"
                elif needle in body:
                    where = "body"
                else:
                    continue
                rows.append({"id": x.id, "server": x.server, "method": x.method,
                             "path": x.path.split("?")[0], "in": f"{side} {where}", "form": form})
                break
    return pd.DataFrame(rows, columns=["id", "server", "method", "path", "in", "form"]).set_index("id")


def credentials_of(lab, exchange) -> str:
    """In words, the credentials a captured request carried (header, form body and URL)."""
    found = []
    scheme, _, value = exchange.request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            who = unquote_plus(base64.b64decode(value.strip()).decode("utf-8").partition(":")[0])
        except (ValueError, UnicodeDecodeError):
            who = "?"
        kind = "client secret" if lab.store.client(who) is not None else "password"
        found.append(f"{kind} of {who} (Basic)")
    elif scheme.lower() == "bearer":
        found.append("access token (Bearer)")
    if exchange.request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(exchange.request.body.decode("utf-8", "replace")))
        if "password" in form:
            found.append(f"password of {form.get('username', '?')} (form)")
        if "client_secret" in form:
            found.append("client secret (form)")
        if "code" in form:
            found.append("code + code verifier" if "code_verifier" in form else "code")
        if "refresh_token" in form:
            found.append("refresh token")
    query = dict(parse_qsl(urlsplit(exchange.path).query))
    if "code" in query:
        found.append("code (in the URL)")
    if "access_token" in query:
        found.append("access token (in the URL)")
    return ", ".join(found) or "none"


def traffic(lab) -> pd.DataFrame:
    """Every captured exchange with the credentials its request carried, in words."""
    rows = [{"id": x.id, "server": x.server, "method": x.method, "path": x.path.split("?")[0],
             "status": x.status, "credentials": credentials_of(lab, x)} for x in lab.wiretap.records]
    return pd.DataFrame(rows, columns=["id", "server", "method", "path", "status", "credentials"]).set_index("id")


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
        self.user_agent = "".join(name.split()) + "/1.0"
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

    ``storage`` holds the client's own credentials, the in-flight ``state``
    and ``code_verifier`` while the user signs in, then the tokens: never the
    user's password.
    """

    def __init__(self, lab, client, *, name: str | None = None, tapped: bool = False):
        creds = _client(lab, client)
        self.lab = lab
        self.client = creds
        self.name = name or creds.name or creds.client_id
        self.tapped = tapped
        self.redirect_uri = redirect_uri(lab, creds.client_id)
        self.user_agent = "".join(self.name.split()) + "/2.0"
        self.last_token_response: dict = {}
        #: The app's own database: what a breach of the app hands over.
        self.storage: dict = {"client_id": creds.client_id}
        if creds.client_secret:
            self.storage["client_secret"] = creds.client_secret

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def start_login(self, scopes) -> str:
        """Step 1: remember a fresh ``state`` and PKCE verifier; return the authorization URL."""
        pkce, state = make_pkce(), new_state()
        for key in ("access_token", "refresh_token", "scope", "expires_at"):
            self.storage.pop(key, None)
        self.storage.update(state=state, code_verifier=pkce.verifier)
        return authorization_url(self.lab, self.client_id, scopes, state=state, pkce=pkce,
                                 redirect_to=self.redirect_uri)

    def receive(self, redirect: Redirect) -> str:
        """Step 3, the app's callback handler: check ``state``, take the code (or the error)."""
        if redirect.error:
            self.storage.pop("state", None)
            self.storage.pop("code_verifier", None)
            raise FlowError(f"the authorization server sent back error={redirect.error}: "
                            f"{redirect.params.get('error_description', '')}".rstrip(": "))
        expected = self.storage.get("state")
        if expected is None or redirect.state != expected:
            raise FlowError("state does not match the sign-in this app started: refusing the code "
                            "(RFC 6749 section 10.12, cross-site request forgery)")
        if not redirect.code:
            raise FlowError("the redirect carried no code")
        return redirect.code

    def exchange(self, code: str) -> dict:
        """Step 4: trade the code and the stored verifier for tokens; keep them."""
        verifier = self.storage.get("code_verifier")
        r = exchange_code(self.lab, self.client, code, code_verifier=verifier,
                          redirect_to=self.redirect_uri, tapped=self.tapped)
        body = tokens_from(r)
        self.storage.pop("state", None)
        self.storage.pop("code_verifier", None)
        self._keep(body)
        return body

    def refresh(self) -> dict:
        """A new access token for the stored refresh token; keep both new tokens."""
        if "refresh_token" not in self.storage:
            raise FlowError(f"{self.name} holds no refresh token")
        body = tokens_from(refresh(self.lab, self.client, self.storage["refresh_token"], tapped=self.tapped))
        self._keep(body)
        return body

    def call(self, path: str, method: str = "GET", json=None) -> requests.Response:
        """Step 5: call the API with the stored access token."""
        if "access_token" not in self.storage:
            raise FlowError(f"{self.name} holds no access token: the user has not signed in")
        return call_api(self.lab, path, token=self.storage["access_token"], method=method, json=json,
                        tapped=self.tapped, user_agent=self.user_agent)

    def sign_in(self, username: str, password: str, scopes=None) -> "OAuthApp":
        """The whole flow in one go, the user's part played by ``lab.authorize`` (approving everything)."""
        scopes = list(scopes) if scopes is not None else list(self.lab.store.client(self.client_id).scopes)
        url = self.start_login(scopes)
        redirect = self.lab.authorize(url, username, password, tapped=self.tapped)
        self.exchange(self.receive(redirect))
        return self

    def _keep(self, body: dict) -> None:
        self.last_token_response = body
        self.storage["access_token"] = body["access_token"]
        if "refresh_token" in body:
            self.storage["refresh_token"] = body["refresh_token"]
        self.storage["scope"] = body.get("scope", "")
        if "expires_in" in body:
            self.storage["expires_at"] = round(self.lab.clock.now() + body["expires_in"])

    def __repr__(self) -> str:
        state = "signed in" if "access_token" in self.storage else "not signed in"
        return f"<OAuthApp {self.name!r} ({self.client_id}), {state}>"


def _session(lab, tapped: bool) -> requests.Session:
    s = lab.session(tapped)
    s.headers["User-Agent"] = USER_AGENT
    return s
