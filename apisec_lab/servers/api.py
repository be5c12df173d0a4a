"""The resource API: Alice's profile, photos, messages and payment details.

Every endpoint declares, in the single :data:`ENDPOINTS` table, its method,
path, the OAuth 2 scope it needs and how sensitive it is.  Authentication,
the OpenAPI document (:mod:`apisec_lab.servers.openapi`) and the gateway's route
policy all read that table, so a scope is written down exactly once.

Bearer tokens (RFC 6750) are checked through oauthlib's resource endpoint
against the authorization server's store, on every request, so revocation
takes effect at once.  A JWT access token (RFC 9068) is validated on its own
by :mod:`.jwtverify` (signature, ``alg``, ``typ``, ``iss``, ``aud``, ``exp``),
then its scope is checked and the store asked whether it was revoked: a
token the authorization server issued and then revoked is refused at once, as
an opaque one is.  HTTP Basic (RFC 7617) is accepted only while the
``basic_auth`` weakness is on.

Errors follow RFC 6750 section 3: ``401`` with
``WWW-Authenticate: Bearer error="invalid_token"`` for a bad token, ``403``
with ``error="insufficient_scope"`` and the needed ``scope`` for a token that
is too narrow, ``400`` with ``error="invalid_request"`` for a malformed one.

Unpublished operations (``/admin/users``) are answered exactly as an unknown
path is, a 404, unless the caller holds a token with their scope (or the
``open_admin_route`` weakness is on): a prober learns nothing from them
(OWASP API9:2023, improper inventory management).

:class:`ResourceAPI` receives what it uses (the store, the weakness switches,
the clock, the token verifier, its own URL and the OpenAPI document), not the
lab; every query it makes is a named method of
:class:`apisec_lab.core.store.Store`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..core import crypto
from ..http.basic import parse_basic
from ..http.jsonbody import read_json
from ..http.wsgi import json_error, json_response
from .account import AccountRoutes
from .endpoints import B64TOKEN, ENDPOINTS, MESSAGE_BODY, PAYMENT_BODY, PHOTO_BODY, REALM, USER_SCOPES, Endpoint
from .jwtverify import AccessTokenVerifier, Refused
from .outbound import Outbound
from .shop import ShopRoutes


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the API established it."""

    user: str | None
    client_id: str | None
    scopes: tuple[str, ...]
    via: str                    # "bearer" or "basic"
    grant_id: int | None = None


class AuthError(Exception):
    def __init__(self, response: Response):
        self.response = response


def _quoted(text: str) -> str:
    """*text* as an RFC 6750 ``error_description``: %x20-21 / %x23-5B / %x5D-7E only (no quote, no backslash)."""
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


def _challenge(status: int, error: str | None, description: str, scope: str | None = None,
               scheme: str = "Bearer") -> Response:
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
        params.append(f'error_description="{_quoted(description)}"')
    if scope:
        params.append(f'scope="{scope}"')
    return json_error(status, error or "unauthorized", description,
                      headers={"WWW-Authenticate": f"{scheme} {', '.join(params)}"})


def _url_map(endpoints) -> Map:
    return Map([Rule(e.path, endpoint=(e.method, e.path), methods=[e.method]) for e in endpoints])


class ResourceAPI(AccountRoutes, ShopRoutes):
    """The WSGI handler of the resource API (wrap with :func:`apisec_lab.http.wsgi.guard`).

    - *store*: the :class:`~apisec_lab.core.store.Store` (named queries only);
    - *weaknesses*: the :class:`~apisec_lab.core.weaknesses.Weaknesses`, read on every request;
    - *clock*: the lab clock (dates of new photos);
    - *verifier*: checks a Bearer token, oauthlib's ``ResourceEndpoint.verify_request``
      (the lab's :class:`~apisec_lab.oauth.server.LabAuthorizationServer`);
    - *base_url*: the API's own URL, which the verifier is told the request went to;
    - *document*: a callable returning the OpenAPI document (an
      :class:`~apisec_lab.servers.openapi.OpenAPIDocument`);
    - *jwt_verifier*: validates JWT access tokens (a :class:`~.jwtverify.AccessTokenVerifier`);
    - *outbound*: the API's client for URLs it did not choose (:class:`~apisec_lab.servers.outbound.Outbound`:
      the webhook test, the print partner); *partner_url*: the print partner's base URL.

    The account and print-shop routes are in :mod:`.account` and :mod:`.shop`.
    """

    def __init__(self, store, weaknesses, clock, verifier, base_url: str, document,
                 jwt_verifier: AccessTokenVerifier | None = None, outbound: Outbound | None = None,
                 partner_url: str = ""):
        self.store, self.weaknesses, self.clock = store, weaknesses, clock
        self.verifier, self.base_url, self.document = verifier, base_url, document
        self.jwt_verifier = jwt_verifier
        self.outbound, self.partner_url = outbound or Outbound(), partner_url
        self.endpoints = {(e.method, e.path): e for e in ENDPOINTS}
        self.published = _url_map(e for e in ENDPOINTS if e.published)
        self.unpublished = _url_map(e for e in ENDPOINTS if not e.published)

    def __call__(self, request: Request) -> Response:
        endpoint, args = self._route(request)
        if not endpoint.published:
            return self._unpublished(request, endpoint, args)
        principal = None
        if endpoint.scope is not None:
            try:
                principal = self.authenticate(request, endpoint)
            except AuthError as e:
                return e.response
        return self._serve(request, endpoint, principal, args)

    def _route(self, request: Request) -> tuple[Endpoint, dict]:
        """The endpoint and its arguments; an unknown path or method raises werkzeug's 404 or 405."""
        try:
            key, args = self.published.bind_to_environ(request.environ).match()
        except HTTPException as miss:
            try:      # an unpublished route, or (any other method on it) the same miss as before
                key, args = self.unpublished.bind_to_environ(request.environ).match()
            except HTTPException:
                raise miss from None
        return self.endpoints[key], args

    def _unpublished(self, request: Request, endpoint: Endpoint, args: dict) -> Response:
        """An unpublished route answers as an unknown path does, unless the caller holds its scope.

        The ``open_admin_route`` weakness: a route "nobody knows about" skips authentication.
        """
        if self.weaknesses.open_admin_route:
            return self._serve(request, endpoint, None, args)
        try:
            principal = self.authenticate(request, endpoint)
        except AuthError:
            raise NotFound() from None       # werkzeug's own 404, word for word the unknown path's
        return self._serve(request, endpoint, principal, args)

    def _serve(self, request: Request, endpoint: Endpoint, principal: Principal | None, args: dict) -> Response:
        if principal is not None and endpoint.for_user and principal.user is None:
            return _challenge(403, "insufficient_scope",
                              "This endpoint acts for a user; a client-credentials token has none.",
                              scope=endpoint.scope)
        if endpoint.role is not None and (refused := self._function_level(endpoint, principal)) is not None:
            return refused
        try:
            return getattr(self, endpoint.handler)(request, principal, **args)
        except _BadBody as e:
            return e.response

    def _function_level(self, endpoint: Endpoint, principal: Principal | None) -> Response | None:
        """OWASP API5:2023: the user behind the token must hold the function's role; a 403 otherwise.

        The scope says what the *app* may do for the user; the role, what the *user* may do. The ``bfla``
        weakness checks the scope only, as an API does when only its app hides the staff-only button.
        """
        row = self.store.user(principal.user) if principal is not None and principal.user else None
        if row is not None and row["role"] == endpoint.role:
            return None
        if self.weaknesses.bfla and principal is not None:
            self.store.exploited("bfla", f"{principal.user} (role {row['role'] if row else 'none'}) called "
                                         f"{endpoint.method} {endpoint.path}, a {endpoint.role} function",
                                 principal.grant_id, principal.client_id, principal.user)
            return None
        return _challenge(403, "insufficient_scope", f"{endpoint.method} {endpoint.path} is for {endpoint.role} only; "
                                                     "this token's user is not (OWASP API5:2023).")

    # -- authentication ----------------------------------------------------
    def authenticate(self, request: Request, endpoint: Endpoint) -> Principal:
        weak = self.weaknesses
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        in_query = "access_token" in request.args
        if in_query and not weak.token_in_query:
            raise AuthError(json_error(
                400, "invalid_request",
                "Access tokens are not accepted in the URL, where logs and proxies keep them; "
                "send 'Authorization: Bearer <token>' (RFC 6750 section 2.1)."))
        if scheme.lower() == "basic":
            return self._basic(header, endpoint)
        if scheme.lower() == "bearer":
            token = value.strip()
            if not token or not B64TOKEN.fullmatch(token):
                raise AuthError(_challenge(400, "invalid_request", "The Bearer credentials are empty or not a "
                                                                   "b64token (RFC 6750 section 2.1)."))
        elif header:
            raise AuthError(_challenge(401, None, f"Unsupported authorization scheme {scheme[:20]!r}; use Bearer."))
        elif not in_query:
            raise AuthError(_challenge(401, None, f"This endpoint needs a Bearer token with scope {endpoint.scope}.",
                                       scope=endpoint.scope))
        token = value.strip() if scheme.lower() == "bearer" else request.args["access_token"]
        if self.jwt_verifier is not None and token.count(".") == 2:     # a JWS compact serialization
            return self._jwt(token, request, endpoint)
        # Only the token reaches oauthlib: other query parameters are the
        # API's business, and oauthlib would refuse some perfectly legal ones.
        uri = self.base_url  # (building request.base_url costs more than the token check)
        if in_query:
            uri += "?" + urlencode({"access_token": request.args["access_token"]})
        try:
            valid, req = self.verifier.verify_request(uri, request.method, None,
                                                      {"Authorization": header} if header else {},
                                                      scopes=[endpoint.scope])
        except (ValueError, oauth_errors.OAuth2Error) as e:
            raise AuthError(_challenge(400, "invalid_request", f"Malformed request: {e}")) from None
        if not valid:
            error = getattr(req, "token_error", "invalid_token")
            description = getattr(req, "token_error_description", "The access token is not valid.")
            if error == "insufficient_scope":
                raise AuthError(_challenge(403, error, description, scope=endpoint.scope))
            raise AuthError(_challenge(401, error, description))
        self.store.record_use(req.grant_id, req.client_id, req.user, f"{request.method} {request.path}")
        return Principal(req.user, req.client_id, tuple(req.scopes), "bearer", req.grant_id)

    def _jwt(self, token: str, request: Request, endpoint: Endpoint) -> Principal:
        """A JWT access token: validated (:mod:`.jwtverify`), revocation looked up, scope checked.

        A token the store knows is the authorization server's own: its row says whose it is and whether
        it was revoked.  One the store has never seen can pass only through a weakness switch's flaw
        (the hardened checks need the server's private key); it then speaks for the user its ``sub``
        names, and the API records ``accepted_through_flaw``, the evidence notebook 07 reads.
        """
        try:
            verified = self.jwt_verifier.verify(token)
        except Refused as e:
            raise AuthError(_challenge(401, "invalid_token", str(e))) from None
        claims = verified.claims
        row = self.store.token(token, "access")
        if row is not None and self.store.token_state(row) == "revoked":
            raise AuthError(_challenge(401, "invalid_token", "The access token was revoked."))
        scope, client_id, sub = (claims.get(k) if isinstance(claims.get(k), str) else None
                                 for k in ("scope", "client_id", "sub"))
        if row is not None:
            user, client_id, grant_id = row["username"], row["client_id"], row["grant_id"]
        elif sub is not None and self.store.user(sub) is not None:
            user, grant_id = sub, None
        elif sub is not None and sub == client_id:
            user, grant_id = None, None          # client credentials: the client is the subject (RFC 9068 s2.2)
        else:
            raise AuthError(_challenge(401, "invalid_token", "The token's sub is no user of this API."))
        granted = scope.split() if scope else []
        if endpoint.scope not in granted:
            raise AuthError(_challenge(403, "insufficient_scope", f"This request needs scope {endpoint.scope}.",
                                       scope=endpoint.scope))
        # A token the store knows came from the server itself: a signature flaw let nothing in that the server
        # did not sign (with jwt_weak_secret on, it signs with the weak secret); a claims flaw still did.
        if verified.flaw and (row is None or verified.flaw == "jwt_claims_unchecked"):
            self.store.log("accepted_through_flaw", grant_id, client_id, user,
                           f"{verified.flaw}: {request.method} {request.path} as {user or client_id} "
                           f"(token {fingerprint(token)})")
        self.store.record_use(grant_id, client_id, user, f"{request.method} {request.path}")
        return Principal(user, client_id, tuple(granted), "bearer", grant_id)

    def _basic(self, header: str, endpoint: Endpoint) -> Principal:
        if not self.weaknesses.basic_auth:
            raise AuthError(_challenge(401, None, "HTTP Basic is switched off on this API: send a Bearer token "
                                                  "(turn on the basic_auth weakness to see why)."))
        try:
            user, password = parse_basic(header)
        except ValueError as e:
            challenge = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
            raise AuthError(json_error(400, "invalid_request", str(e), headers=challenge)) from None
        if not self.store.check_password(user, password):
            raise AuthError(json_error(401, "invalid_credentials", "Wrong username or password.",
                                       headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}))
        # A password has no scopes: it is the whole account (every operation that acts for a user).
        if endpoint.scope not in USER_SCOPES:
            raise AuthError(_challenge(403, "insufficient_scope", f"A user's password does not reach {endpoint.path}.",
                                       scope=endpoint.scope))
        return Principal(user, None, USER_SCOPES, "basic")

    # -- request bodies ----------------------------------------------------
    @staticmethod
    def _json_body(request: Request, schema: dict) -> dict:
        body = read_json(request)       # 415, or 400 past RFC 8259's limits (http/jsonbody.py)
        problem = _check(body, schema)
        if problem:
            raise _BadBody(400, "invalid_request", problem)
        integers = [k for k, spec in schema.get("properties", {}).items() if spec.get("type") == "integer"]
        return {k: int(v) if k in integers else v for k, v in body.items()}     # JSON's 2.0 is the integer 2

    # -- handlers ----------------------------------------------------------
    def health(self, request, principal):
        return json_response({"status": "ok"})

    def openapi(self, request, principal):
        return json_response(self.document())

    def me(self, request, principal):
        row = self.store.user(principal.user)
        return json_response({"username": row["username"], "display_name": row["display_name"], "email": row["email"]})

    def list_photos(self, request, principal):
        return json_response([dict(r) for r in self.store.photos(principal.user)])

    def get_photo(self, request, principal, photo_id):
        row = self.store.photo(photo_id)        # None beyond SQLite's integers too: no such photo, not a crash
        # Object-level authorization: a valid token is not enough, the photo
        # must be the caller's.  404, not 403, so ids of others' photos leak nothing.
        if row is None or (row["owner"] != principal.user and not self.weaknesses.bola):
            raise NotFound(f"No photo {photo_id} in your account.")
        return json_response(dict(row))

    def add_photo(self, request, principal):
        body = self._json_body(request, PHOTO_BODY)
        today = self.clock.datetime().date().isoformat()
        new_id = self.store.add_photo(principal.user, body["title"], today)
        return json_response({"id": new_id, "owner": principal.user, "title": body["title"], "taken": today}, 201)

    def list_messages(self, request, principal):
        return json_response([dict(r) for r in self.store.messages(principal.user)])

    def send_message(self, request, principal):
        body = self._json_body(request, MESSAGE_BODY)
        if self.store.user(body["to"]) is None:
            raise NotFound("No such recipient.")
        new_id = self.store.add_message(body["to"], principal.user, body["text"])
        return json_response({"id": new_id, "to": body["to"], "sender": principal.user, "text": body["text"]}, 201)

    def get_payment(self, request, principal):
        row = self.store.payment(principal.user)
        if row is None:
            raise NotFound("No saved card.")
        return json_response(dict(row))

    def set_payment(self, request, principal):
        body = self._json_body(request, PAYMENT_BODY)     # its keys are checked against the schema
        self.store.update_payment(principal.user, body)
        return self.get_payment(request, principal)

    def usage_report(self, request, principal):
        return json_response({"counts": self.store.counts(), "generated_for": principal.client_id})

    def admin_users(self, request, principal):
        return json_response([dict(r) for r in self.store.accounts()])


def fingerprint(token: str) -> str:
    """A token's short name in the lab's records: the first 12 hex digits of its SHA-256 digest."""
    return crypto.digest(token)[:12]


class _BadBody(Exception):
    def __init__(self, status, error, description):
        super().__init__(description)
        self.response = json_error(status, error, description)


def _check(value, schema: dict) -> str | None:
    """Validate *value* against the small JSON-schema subset the API uses; a reason or None."""
    if schema.get("type") == "object":
        if not isinstance(value, dict):
            return "The body must be a JSON object."
        props = schema.get("properties", {})
        extra = set(value) - set(props)
        if extra and schema.get("additionalProperties") is False:
            return f"Unknown fields: {sorted(extra)}."
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            return f"Missing fields: {missing}."
        if len(value) < schema.get("minProperties", 0):
            return "The body must set at least one field."
        for k, v in value.items():
            problem = _check(v, props[k])
            if problem:
                return f"{k}: {problem}"
        return None
    if schema.get("type") == "string":
        if not isinstance(value, str):
            return "must be a string"
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**6):
            return f"length must be {schema.get('minLength', 0)} to {schema.get('maxLength')}"
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            return f"must match {schema['pattern']}"
    if schema.get("type") == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)                  # JSON Schema: a number with a zero fractional part is an integer
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
            return f"must be {schema.get('minimum')} to {schema.get('maximum')}"
    return None
