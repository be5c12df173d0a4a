"""The authorization server over HTTP, with its sign-in and consent page.

Routes (all under the issuer URL):

``GET /.well-known/oauth-authorization-server``  RFC 8414 metadata
``GET /jwks``        RFC 7517 JWK Set: the public key of JWT access tokens (RFC 9068), the metadata's ``jwks_uri``
``GET /authorize``   the sign-in and consent page (RFC 6749 section 4.1.1)
``POST /authorize``  the user's answer: credentials, ticked scopes, approve or deny
``POST /token``      RFC 6749 sections 4.1.3, 4.4, 6
``POST /revoke``     RFC 7009
``POST /introspect`` RFC 7662

The user types the password into this server's page and nowhere else; the
client only ever receives a code on its redirect URI.  The form needs no
session or CSRF token because it carries the password itself: a forged
submission would have to know it.  Failed passwords are throttled per account
and per address (:mod:`.throttle`): HTTP 429 with ``Retry-After``.

A user who ticks *Stay signed in* gets a sign-in session (a cookie, ``HttpOnly``
and ``SameSite=Lax``, whose digest the store keeps, on the lab clock) and the
server remembers what they allowed the app.  Later, in that browser, a request
from a **confidential** client for no more than was allowed is authorized at
once, without a page, as real servers do; the request is validated exactly as
any other first (client, exact redirect URI, PKCE).  A public client always
gets the page: anyone can send its ``client_id`` (RFC 8252 s8.6).

Every redirect back to a client carries ``iss`` (RFC 9207), success and
error alike.  A 401 from the token, revocation or introspection endpoint
challenges with ``Basic`` (RFC 6749 s5.2: the scheme clients authenticate
with), not oauthlib's ``Bearer``.
"""
from __future__ import annotations

import html
from typing import Callable
from urllib.parse import urlsplit

from oauthlib.common import add_params_to_uri
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..http.hub import Edge
from ..http.wsgi import json_error, json_response
from .throttle import SignInThrottle
from .validator import CLIENT_ADDRESS

#: RFC 6749 s5.2 / RFC 7617: the challenge of a 401 ``invalid_client``.
CLIENT_CHALLENGE = 'Basic realm="apisec-lab authorization server", charset="UTF-8"'

#: RFC 8414 section 3: where the metadata of an issuer without a path lives.
METADATA_PATH = "/.well-known/oauth-authorization-server"

#: The sign-in session's cookie (HttpOnly, SameSite=Lax, on this server's origin only).
SIGN_IN_COOKIE = "lab_sign_in"
#: Seconds a sign-in session lasts on the lab clock, unless the lab says otherwise.
SIGN_IN_TTL = 8 * 3600

PAGE_HEADERS = {
    # The consent page must never be framed by another site (clickjacking).
    "Content-Security-Policy":
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"

STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f6f8;margin:0;padding:2em}
main{max-width:30em;margin:auto;background:#fff;border-radius:8px;padding:1.5em 2em;box-shadow:0 1px 4px #0002}
h1{font-size:1.3em} .who{color:#555} .err{background:#fde8e8;color:#900;padding:.6em;border-radius:4px}
label{display:block;margin:.4em 0} input[type=text],input[type=password]{width:100%;padding:.4em;box-sizing:border-box}
fieldset{border:1px solid #ddd;border-radius:4px;margin:1em 0} code{font-size:.9em}
button{padding:.5em 1.2em;margin-right:.5em;font-size:1em} .issuer{color:#777;font-size:.85em}
"""


def _page(title: str, body: str, status: int = 200, redirect_uri: str | None = None,
          extra_headers: dict | None = None) -> Response:
    """An HTML page.  A page whose form ends in a redirect to *redirect_uri* must
    allow that origin in ``form-action``: browsers apply it to the redirect too."""
    doc = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
           f"<style>{STYLE}</style></head><body><main>{body}</main></body></html>")
    headers = {**PAGE_HEADERS, **(extra_headers or {})}
    if redirect_uri:
        headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
            "form-action 'self'", f"form-action 'self' {_origin(redirect_uri)}")
    return Response(doc, status=status, mimetype="text/html", headers=headers)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _oauth_response(headers, body, status) -> Response:
    """oauthlib's (headers, body, status) as a response, as RFC 6749 s5.2 and RFC 7009 want it."""
    headers = dict(headers or {})
    headers.setdefault("Cache-Control", "no-store")
    if status == 401:
        headers["WWW-Authenticate"] = CLIENT_CHALLENGE
    response = Response(body or "", status=status, headers=headers,
                        mimetype=None if "Content-Type" in headers else "application/json")
    if not body:   # e.g. a successful revocation: no body, so no claim that it is JSON
        del response.headers["Content-Type"]
    return response


class AuthorizationServerApp:
    """The WSGI handler for the issuer; see the module docstring for routes.

    *metadata* returns the RFC 8414 document as it is now (it follows the
    weakness switches); *throttle* counts failed sign-ins; *jwks* returns
    the JWK Set of the public signing keys (:meth:`.rfc9068.SigningKeys.jwks`).
    """

    def __init__(self, server, store, metadata: Callable[[], dict], throttle: SignInThrottle,
                 sign_in_ttl: int = SIGN_IN_TTL, jwks: Callable[[], dict] | None = None):
        self.server = server
        self.jwks = jwks or (lambda: {"keys": []})
        self.store = store
        self.metadata = metadata
        self.issuer = metadata()["issuer"]
        self.throttle = throttle
        self.sign_in_ttl = sign_in_ttl
        self.urls = Map([
            Rule("/", endpoint="index", methods=["GET"]),
            Rule(METADATA_PATH, endpoint="metadata", methods=["GET"]),
            Rule("/jwks", endpoint="jwks", methods=["GET"]),
            Rule("/authorize", endpoint="authorize", methods=["GET", "POST"]),
            Rule("/token", endpoint="token", methods=["POST"]),
            Rule("/revoke", endpoint="revoke", methods=["POST"]),
            Rule("/introspect", endpoint="introspect", methods=["POST"]),
        ])

    def __call__(self, request: Request) -> Response:
        endpoint, _ = self.urls.bind_to_environ(request.environ).match()
        try:
            return getattr(self, f"on_{endpoint}")(request)
        except oauth_errors.OAuth2Error as e:  # includes FatalClientError
            return _oauth_response({**e.headers, "Content-Type": "application/json"}, e.json, e.status_code)
        except ValueError as e:  # oauthlib refuses to parse, e.g. invalid characters in the query
            return json_error(400, "invalid_request", f"Malformed request: {e}")

    # -- plain pages -------------------------------------------------------
    def _metadata(self, request) -> dict:
        """The metadata as this side sees it: behind JupyterHub, a browser that came through the server
        proxy gets the public issuer and endpoints (RFC 8414 s3.3: the issuer it fetched it from); the
        kernel, on loopback, the loopback ones."""
        view = Edge.view(request.environ)
        return self.metadata() if view is None else view.urls(self.metadata())

    def on_index(self, request):
        shown = self._metadata(request)
        rows = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(str(v))}</li>"
                       for k, v in shown.items() if k.endswith("endpoint"))
        return _page("apisec-lab authorization server",
                     "<h1>apisec-lab authorization server</h1>"
                     f"<p class=issuer>{html.escape(shown['issuer'])}</p>"
                     f"<ul>{rows}</ul><p>Metadata: <code>/.well-known/oauth-authorization-server</code></p>")

    def on_metadata(self, request):
        return json_response(self._metadata(request))

    def on_jwks(self, request):
        """RFC 7517 s8.5: served as ``application/jwk-set+json``; public keys only."""
        response = json_response(self.jwks())
        response.mimetype = "application/jwk-set+json"
        return response

    # -- token, revocation, introspection: oauthlib does it all ----------
    def _oauthlib(self, create, request) -> Response:
        headers = dict(request.headers)
        headers[CLIENT_ADDRESS] = request.remote_addr or ""   # for the password grant's throttle
        return _oauth_response(*create(request.url, request.method, request.get_data(as_text=True), headers))

    def on_token(self, request):
        request.get_data()  # cache the body first, so reading the form does not consume it
        if not request.form.get("grant_type"):
            # RFC 6749 s5.2: a missing required parameter is invalid_request
            # (oauthlib would route it to a grant and say unsupported_grant_type).
            return json_error(400, "invalid_request", "Missing grant_type parameter.")
        return self._oauthlib(self.server.create_token_response, request)

    def on_revoke(self, request):
        return self._oauthlib(self.server.create_revocation_response, request)

    def on_introspect(self, request):
        return self._oauthlib(self.server.create_introspect_response, request)

    # -- the authorization endpoint --------------------------------------
    def _validate(self, request):
        """Validate the query; a response if it cannot go on, else (scopes, info)."""
        try:
            scopes, info = self.server.validate_authorization_request(
                request.url, "GET", None, dict(request.headers))
        except oauth_errors.FatalClientError as e:
            # RFC 6749 s4.1.2.1: bad client_id or redirect_uri -> tell the user, never redirect.
            if _wants_html(request):
                return _page("Authorization error",
                             f"<h1>This sign-in link is broken</h1><p class=err><b>{html.escape(e.error)}</b>: "
                             f"{html.escape(e.description or '')}</p><p>The app sent you here with a request "
                             f"this server will not answer. Nothing was shared.</p>", e.status_code)
            raise
        except oauth_errors.OAuth2Error as e:
            if e.redirect_uri:
                return self._to_client(e.in_uri(e.redirect_uri))
            raise
        return scopes, info

    def _to_client(self, location: str, status: int = 302, headers: dict | None = None) -> Response:
        """Send the browser back to the client.  RFC 9207 s2: the response carries ``iss``, so a
        client talking to several authorization servers can tell which one answered (mix-up)."""
        return Response(status=status, headers={**(headers or {}), **PAGE_HEADERS,
                                                "Location": add_params_to_uri(location, [("iss", self.issuer)])})

    def on_authorize(self, request):
        checked = self._validate(request)
        if isinstance(checked, Response):
            return checked
        scopes, info = checked
        if request.method == "GET":
            return self._remembered(request, scopes, info) or self._consent_page(request, scopes, info)
        form = request.form
        redirect_uri = info["redirect_uri"]
        if form.get("decision") != "approve":
            return self._deny(redirect_uri, info, "The user denied the request.")
        username = form.get("username", "")
        address = request.remote_addr
        refusal = self.throttle.check(username, address)
        if refusal:   # refused before the password is looked at: the right one does not get in either
            return self._consent_page(request, scopes, info, error=refusal.message, username=username,
                                      ticked=form.getlist("scope"), status=429,
                                      headers={"Retry-After": str(refusal.retry_after)})
        if not self.store.check_password(username, form.get("password", "")):
            self.throttle.failed(username, address)
            return self._consent_page(request, scopes, info, error="Wrong username or password.",
                                      username=username, ticked=form.getlist("scope"), status=403)
        self.throttle.succeeded(username)
        granted = [s for s in scopes if s in form.getlist("scope")]
        if not granted:
            return self._deny(redirect_uri, info, "The user granted no scopes.")
        headers, _, status = self.server.create_authorization_response(
            request.url, "GET", None, dict(request.headers), scopes=granted,
            credentials={"user": username, "asked_scopes": scopes})
        headers = dict(headers)
        response = self._to_client(headers.pop("Location"), status, headers)
        if form.get("remember") == "on" and status == 302:
            self._stay_signed_in(response, username, info["client_id"], granted)
        return response

    # -- staying signed in ---------------------------------------------------
    def _stay_signed_in(self, response: Response, username: str, client_id: str, granted) -> None:
        """The user ticked *Stay signed in*: a sign-in session cookie, and what they allowed remembered."""
        token = self.store.new_sign_in(username, self.sign_in_ttl)
        response.set_cookie(SIGN_IN_COOKIE, token, max_age=self.sign_in_ttl, path="/", httponly=True, samesite="Lax")
        self.store.remember_consent(username, client_id, granted)
        self.store.log("signed_in", client_id=client_id, username=username,
                       detail="stays signed in on this browser; remembers what was allowed")

    def _remembered(self, request, scopes, info) -> Response | None:
        """Authorize at once, without a page, if this browser is signed in and the user allowed this already.

        Only for a confidential client: RFC 8252 s8.6 says a server "SHOULD
        NOT process authorization requests automatically without user consent
        or interaction, except when the identity of the client can be
        assured"; a public client's ``client_id`` is anyone's to send.  The
        request passed the same validation as every other one (client, exact
        redirect URI, PKCE) before it got here.
        """
        username = self.store.signed_in(request.cookies.get(SIGN_IN_COOKIE))
        client = self.store.client(info["client_id"]) if username else None
        if client is None or client.public or not set(scopes) <= self.store.consent(username, client.client_id):
            return None
        headers, _, status = self.server.create_authorization_response(
            request.url, "GET", None, dict(request.headers), scopes=scopes,
            credentials={"user": username, "asked_scopes": scopes, "remembered_consent": True})
        headers = dict(headers)
        return self._to_client(headers.pop("Location"), status, headers)

    def _deny(self, redirect_uri, info, why):
        error = oauth_errors.AccessDeniedError(description=why, state=info.get("state"))
        self.store.log("denied", client_id=info["client_id"], detail=why)
        return self._to_client(error.in_uri(redirect_uri))

    def _consent_page(self, request, scopes, info, error="", username="", ticked=None, status=200,
                      headers=None):
        client = self.store.client(info["client_id"])
        described = self.store.scope_descriptions()
        ticked = scopes if ticked is None else ticked
        boxes = "".join(
            f"<label><input type=checkbox name=scope value='{html.escape(s)}'"
            f"{' checked' if s in ticked else ''}> {html.escape(described.get(s, s))} "
            f"<code>{html.escape(s)}</code></label>"
            for s in scopes)
        view = Edge.view(request.environ)         # behind JupyterHub: what the learner's browser sees
        host = self.issuer if view is None else view.url(self.issuer)
        redirect_host = html.escape((info["redirect_uri"] if view is None else view.url(info["redirect_uri"])) or "")
        body = (
            f"<p class=issuer>apisec-lab sign-in &middot; {html.escape(host)}</p>"
            f"<h1><span id=client-name>{html.escape(client.name)}</span> wants to access your account</h1>"
            f"<p class=who>{html.escape(client.description)}</p>"
            + (f"<p class=err id=error>{html.escape(error)}</p>" if error else "")
            + "<form method=post>"
            "<label>Username <input type=text name=username autocomplete=username "
            f"value='{html.escape(username)}'></label>"
            "<label>Password <input type=password name=password autocomplete=current-password></label>"
            f"<fieldset><legend>Allow {html.escape(client.name)} to:</legend>{boxes}</fieldset>"
            "<label><input type=checkbox name=remember value=on id=remember> Stay signed in on this browser</label>"
            f"<p class=who>You will be sent back to <code>{redirect_host}</code>. "
            f"{html.escape(client.name)} never sees your password.</p>"
            "<button type=submit name=decision value=approve id=approve>Allow</button>"
            "<button type=submit name=decision value=deny id=deny>Deny</button>"
            "</form>")
        return _page(f"Sign in to allow {client.name}", body, status, redirect_uri=info["redirect_uri"],
                     extra_headers=headers)

