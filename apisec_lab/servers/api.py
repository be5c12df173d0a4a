"""The resource API: Alice's profile, photos, messages and payment details.

Every endpoint declares, in the single :data:`ENDPOINTS` table, its method,
path, the OAuth 2 scope it needs and how sensitive it is.  Authentication,
the OpenAPI document (:mod:`apisec_lab.servers.openapi`) and the gateway's route
policy all read that table, so a scope is written down exactly once.

Bearer tokens (RFC 6750) are checked through oauthlib's resource endpoint
against the authorization server's store, on every request, so revocation
takes effect at once.  HTTP Basic (RFC 7617) is accepted only while the
``basic_auth`` weakness is on.

Errors follow RFC 6750 section 3: ``401`` with
``WWW-Authenticate: Bearer error="invalid_token"`` for a bad token, ``403``
with ``error="insufficient_scope"`` and the needed ``scope`` for a token that
is too narrow, ``400`` with ``error="invalid_request"`` for a malformed one.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..http.basic import parse_basic
from ..http.wsgi import json_error, json_response
from .endpoints import B64TOKEN, ENDPOINTS, MESSAGE_BODY, PAYMENT_BODY, PHOTO_BODY, REALM, Endpoint
from .openapi import openapi_document


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


def _challenge(status: int, error: str | None, description: str, scope: str | None = None,
               scheme: str = "Bearer") -> Response:
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
        params.append(f'error_description="{description}"')
    if scope:
        params.append(f'scope="{scope}"')
    return json_error(status, error or "unauthorized", description,
                      headers={"WWW-Authenticate": f"{scheme} {', '.join(params)}"})


class ResourceAPI:
    """The WSGI handler of the resource API (wrap with :func:`apisec_lab.http.wsgi.guard`)."""

    def __init__(self, lab):
        self.lab = lab
        self.store = lab.store
        self.endpoints = {(e.method, e.path): e for e in ENDPOINTS}
        self.urls = Map([Rule(e.path, endpoint=(e.method, e.path), methods=[e.method]) for e in ENDPOINTS])

    def __call__(self, request: Request) -> Response:
        key, args = self.urls.bind_to_environ(request.environ).match()
        endpoint = self.endpoints[key]
        principal = None
        # The open_admin_route weakness: an unpublished route "nobody knows about" skips authentication.
        careless = not endpoint.published and self.lab.weaknesses.open_admin_route
        if endpoint.scope is not None and not careless:
            try:
                principal = self.authenticate(request, endpoint)
            except AuthError as e:
                return e.response
            if endpoint.for_user and principal.user is None:
                return json_error(403, "insufficient_scope",
                                  "This endpoint acts for a user; a client-credentials token has none.")
        try:
            return getattr(self, endpoint.handler)(request, principal, **args)
        except _BadBody as e:
            return e.response

    # -- authentication ----------------------------------------------------
    def authenticate(self, request: Request, endpoint: Endpoint) -> Principal:
        weak = self.lab.weaknesses
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
        # Only the token reaches oauthlib: other query parameters are the
        # API's business, and oauthlib would refuse some perfectly legal ones.
        uri = self.lab.api_url  # (building request.base_url costs more than the token check)
        if in_query:
            uri += "?" + urlencode({"access_token": request.args["access_token"]})
        try:
            valid, req = self.lab.auth_server.verify_request(uri, request.method, None,
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

    def _basic(self, header: str, endpoint: Endpoint) -> Principal:
        if not self.lab.weaknesses.basic_auth:
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
        # A password has no scopes: it is the whole account.
        every_scope = tuple(s for s in self.store.scope_descriptions() if s not in ("admin", "reports:read"))
        if endpoint.scope not in every_scope:
            raise AuthError(json_error(403, "insufficient_scope", f"A user's password does not reach {endpoint.path}."))
        return Principal(user, None, every_scope, "basic")

    # -- request bodies ----------------------------------------------------
    @staticmethod
    def _json_body(request: Request, schema: dict) -> dict:
        if request.mimetype != "application/json":
            raise _BadBody(415, "unsupported_media_type", "Send the body as application/json.")
        try:
            body = json.loads(request.get_data(as_text=False).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _BadBody(400, "invalid_request", f"The body is not valid JSON: {e}") from None
        problem = _check(body, schema)
        if problem:
            raise _BadBody(400, "invalid_request", problem)
        return body

    # -- handlers ----------------------------------------------------------
    def health(self, request, principal):
        return json_response({"status": "ok"})

    def openapi(self, request, principal):
        return json_response(openapi_document(self.lab))

    def me(self, request, principal):
        row = self.store.user(principal.user)
        return json_response({"username": row["username"], "display_name": row["display_name"], "email": row["email"]})

    def list_photos(self, request, principal):
        rows = self.store.query("SELECT * FROM photos WHERE owner = ? ORDER BY id", (principal.user,))
        return json_response([dict(r) for r in rows])

    def get_photo(self, request, principal, photo_id):
        if photo_id > 2**63 - 1:  # beyond SQLite's integers: no such photo, not a crash
            raise NotFound(f"No photo {photo_id} in your account.")
        rows = self.store.query("SELECT * FROM photos WHERE id = ?", (photo_id,))
        # Object-level authorization: a valid token is not enough, the photo
        # must be the caller's.  404, not 403, so ids of others' photos leak nothing.
        if not rows or (rows[0]["owner"] != principal.user and not self.lab.weaknesses.bola):
            raise NotFound(f"No photo {photo_id} in your account.")
        return json_response(dict(rows[0]))

    def add_photo(self, request, principal):
        body = self._json_body(request, PHOTO_BODY)
        today = self.lab.clock.datetime().date().isoformat()
        new_id = self.store.execute("INSERT INTO photos (owner, title, taken) VALUES (?, ?, ?)",
                                    (principal.user, body["title"], today))
        return json_response({"id": new_id, "owner": principal.user, "title": body["title"], "taken": today}, 201)

    def list_messages(self, request, principal):
        rows = self.store.query("SELECT * FROM messages WHERE owner = ? ORDER BY id", (principal.user,))
        return json_response([dict(r) for r in rows])

    def send_message(self, request, principal):
        body = self._json_body(request, MESSAGE_BODY)
        if self.store.user(body["to"]) is None:
            return json_error(400, "invalid_request", "No such recipient.")
        new_id = self.store.execute("INSERT INTO messages (owner, sender, text) VALUES (?, ?, ?)",
                                    (body["to"], principal.user, body["text"]))
        return json_response({"id": new_id, "to": body["to"], "sender": principal.user, "text": body["text"]}, 201)

    def get_payment(self, request, principal):
        rows = self.store.query("SELECT * FROM payments WHERE owner = ?", (principal.user,))
        if not rows:
            raise NotFound("No saved card.")
        return json_response(dict(rows[0]))

    def set_payment(self, request, principal):
        body = self._json_body(request, PAYMENT_BODY)
        sets = ", ".join(f"{k} = ?" for k in body)   # keys were checked against the schema
        self.store.execute(f"UPDATE payments SET {sets} WHERE owner = ?", (*body.values(), principal.user))
        return self.get_payment(request, principal)

    def usage_report(self, request, principal):
        counts = {t: self.store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
                  for t in ("users", "photos", "messages", "grants")}
        return json_response({"counts": counts, "generated_for": principal.client_id})

    def admin_users(self, request, principal):
        rows = self.store.query("SELECT username, display_name, email FROM users ORDER BY username")
        return json_response([dict(r) for r in rows])


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
    return None
