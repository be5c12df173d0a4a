"""The gateway's checks, in the order a request meets them (:data:`CHECKS`).

Each check is a small function ``check(gateway, exchange)`` that reads the
policy (``gateway.policy``) and either returns or raises :class:`Refused`
with a reason of :data:`REASONS`; a switch that is off makes its check a
no-op, so a notebook can compare.  :class:`Exchange` carries what the checks
learn about the request on its way through.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from werkzeug.exceptions import MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request

from ...http.basic import parse_basic
from ...http.wsgi import MAX_BODY
from ..endpoints import B64TOKEN, REALM
from .introspection import IntrospectionFailed, digest
from .policy import CREDENTIAL_PARAMS, Route

#: Why the gateway answered as it did: reason -> (HTTP status, what it means).
#: "allowed" requests were forwarded; their status is the API's.
REASONS: dict[str, tuple[int | None, str]] = {
    "allowed": (None, "forwarded to the API"),
    "url_too_long": (414, "URL over the size limit"),
    "headers_too_large": (431, "headers over the size limit"),
    "body_too_large": (413, "body over the route's limit"),
    "not_in_allow_list": (404, "path not on the allow-list"),
    "method_not_allowed": (405, "method not allowed on this path"),
    "credential_in_url": (400, "token or password in the query string"),
    "duplicate_authorization": (400, "more than one Authorization header"),
    "basic_refused": (401, "HTTP Basic on a token-only route"),
    "missing_token": (401, "no Bearer token"),
    "unsupported_scheme": (401, "unknown authorization scheme"),
    "malformed_token": (400, "Bearer value is not a token"),
    "token_inactive": (401, "token revoked, expired or unknown"),
    "not_an_access_token": (401, "a refresh token (or another kind) sent as a Bearer access token"),
    "insufficient_scope": (403, "token lacks the route's scope"),
    "no_user": (403, "route needs a user; the token has none"),
    "rate_limited": (429, "over a rate limit"),
    "bad_request": (400, "malformed request"),
    "upstream_unavailable": (502, "the API or the authorization server did not answer"),
}


class Refused(Exception):
    """A check's verdict: answer *status* with ``{"error", "error_description"}`` and *headers*."""

    def __init__(self, reason: str, error: str, description: str, headers: dict | None = None):
        super().__init__(description)
        self.reason, self.error, self.description, self.headers = reason, error, description, headers
        self.status = REASONS[reason][0]


def challenge(error: str | None = None, scope: str | None = None) -> dict:
    """RFC 6750 section 3: ``WWW-Authenticate: Bearer realm=..., error=..., scope=...``."""
    params = [f'realm="{REALM}"'] + ([f'error="{error}"'] if error else []) + ([f'scope="{scope}"'] if scope else [])
    return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


@dataclass(slots=True)
class Exchange:
    """One request on its way through the checks, and what they learnt about it."""

    request: Request
    header_items: list = field(default_factory=list)
    route: Route | None = None
    body: bytes = b""
    scheme: str = ""               # of the Authorization header, lower case ("bearer", "basic", ...)
    credential: str = ""           # what follows the scheme
    claims: dict | None = None     # introspection's answer for an active token
    client: str | None = None
    user: str | None = None
    detail: str = ""
    address_hit: tuple | None = None     # (key, at) counted against the address before introspection


# -- 1. size limits: URL (414) and headers (431) -------------------------------------------------
def size_limits(gw, x: Exchange) -> None:
    p = gw.policy
    x.header_items = list(x.request.headers.items())
    if not p.size_limits:
        return
    raw_target = x.request.environ.get("RAW_URI") or x.request.full_path
    if len(raw_target) > p.max_url_bytes:
        raise Refused("url_too_long", "uri_too_long",
                      f"The request target is {len(raw_target)} bytes; the gateway's limit is {p.max_url_bytes}.")
    header_bytes = sum(len(k) + len(v) + 4 for k, v in x.header_items)
    if header_bytes > p.max_header_bytes:
        raise Refused("headers_too_large", "request_header_fields_too_large",
                      f"Request headers total {header_bytes} bytes; the gateway's limit is {p.max_header_bytes}.")


# -- 2. allow-list: published routes and methods only (404, 405 with Allow) --------------------------
def allow_list(gw, x: Exchange) -> None:
    request = x.request
    try:
        x.route = gw.policy.match(request.method, request.path)
    except MethodNotAllowed as e:
        if gw.policy.allow_list:
            allowed = ", ".join(sorted(set(e.valid_methods or ())))
            raise Refused("method_not_allowed", "method_not_allowed",
                          f"{request.method} is not allowed on {request.path[:200]}; allowed: {allowed}.",
                          {"Allow": allowed}) from None
    except (NotFound, RequestRedirect):
        if gw.policy.allow_list:
            raise Refused("not_in_allow_list", "not_found",
                          f"No route {request.method} {request.path[:200]} at this gateway: only the API's "
                          f"published operations are forwarded.") from None


# -- 3. the body: within the route's limit (413) ---------------------------------------------------------
def body_limit(gw, x: Exchange) -> None:
    request, route, limit = x.request, x.route, MAX_BODY
    if gw.policy.size_limits:
        limit = route.max_body if route is not None else 16 * 1024
        length = request.content_length or 0
        if length > limit:
            _too_large(request, route, limit, length)
    # Read one byte past the limit: werkzeug stops a chunked body at the limit without a word.
    request.max_content_length = limit + 1
    x.body = request.get_data(cache=False)
    if len(x.body) > limit:
        if gw.policy.size_limits:
            _too_large(request, route, limit, None)
        raise RequestEntityTooLarge(f"The body is over {limit} bytes.")


def _too_large(request: Request, route: Route | None, limit: int, length: int | None):
    what = f"{request.method} {route.path}" if route else "this request"
    raise Refused("body_too_large", "request_too_large",
                  f"{what} takes no body." if limit == 0 else
                  f"The body is {'over ' + str(limit) if length is None else length} bytes; "
                  f"{what} accepts at most {limit}.")


# -- 4. credential placement: not in the URL, one Authorization header, no Basic on token routes (400, 401) ----
def credential_placement(gw, x: Exchange) -> None:
    request = x.request
    # werkzeug joins repeated headers with a comma, which no token or Basic value contains.
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    x.scheme, x.credential = scheme.lower(), value.strip()
    if x.scheme == "basic":      # who it claims to be, for the log; the API checks the password
        with contextlib.suppress(ValueError):
            x.user = parse_basic(header)[0]
    if gw.policy.credential_placement:
        leaked = sorted({k.lower() for k, _ in parse_qsl(request.environ.get("QUERY_STRING", ""),
                                                         keep_blank_values=True)} & CREDENTIAL_PARAMS)
        if leaked:
            raise Refused("credential_in_url", "invalid_request",
                          f"Credentials are not accepted in the URL ({', '.join(leaked)}): logs, proxies and "
                          f"browser history keep URLs. Send 'Authorization: Bearer <token>' (RFC 6750 section 2.1).")
        if x.scheme in ("bearer", "basic") and "," in value:
            raise Refused("duplicate_authorization", "invalid_request",
                          "Send exactly one Authorization header, with one credential.")
        if x.scheme == "basic" and not (x.route and x.route.basic):
            where = f"{request.method} {x.route.path}" if x.route else "this path"
            raise Refused("basic_refused", "unauthorized",
                          f"{where} accepts only Bearer tokens: HTTP Basic sends a password with every "
                          f"request and is refused at the gateway.", challenge())
    elif not header and "access_token" in request.args:
        # Only reachable with credential_placement off: RFC 6750 section 2.3's URI query parameter.
        x.scheme, x.credential = "bearer", request.args["access_token"].strip()


def _introspected(gw, x: Exchange) -> bool:
    """Will the token check ask the authorization server about this request's token?"""
    return gw.policy.introspection and x.route is not None and x.route.scope is not None


# -- 5. the address's limit, before introspection: anonymous and unproven traffic (429) --------------
def address_limit(gw, x: Exchange) -> None:
    """Traffic without a token known to be valid counts against its address *before* introspection.

    Anonymous and HTTP Basic requests, and Bearer tokens without a fresh
    active answer in the cache, so a flood of garbage tokens costs the
    authorization server at most ``per_address`` introspection calls per
    window.  A token that introspection then finds active is given its hit
    back and counts against its client and user instead (:func:`rate_limit`).
    """
    p = gw.policy
    if not p.rate_limit:
        return
    if x.scheme == "bearer" and x.credential:
        if not _introspected(gw, x):
            return             # not introspected: counted as its own client in rate_limit
        if gw.introspector.known_active(x.credential, p.cache_ttl):
            return             # no call to the authorization server: its client and user pay
    key, now = ("address", x.request.remote_addr), gw.clock.now()
    _take(gw, [(key, p.per_address)], now)
    x.address_hit = (key, now)


# -- 6. the token: a Bearer b64token, active per RFC 7662 introspection (400, 401) ----------------------------
def token(gw, x: Exchange) -> None:
    if not _introspected(gw, x) or x.scheme == "basic":   # Basic: allowed on this route, the API checks it
        return
    scope = x.route.scope
    if x.scheme != "bearer":
        if x.request.headers.get("Authorization"):
            raise Refused("unsupported_scheme", "unauthorized",
                          "Unsupported authorization scheme; send 'Authorization: Bearer <token>'.", challenge())
        raise Refused("missing_token", "unauthorized", f"This route needs a Bearer token with scope {scope}.",
                      challenge(scope=scope))
    if not B64TOKEN.fullmatch(x.credential):
        raise Refused("malformed_token", "invalid_request",
                      "The Bearer credentials are empty or not a b64token (RFC 6750 section 2.1).",
                      challenge("invalid_request"))
    try:
        claims, age = gw.introspector.claims(x.credential, gw.policy.cache_ttl)
    except IntrospectionFailed as e:
        raise Refused("upstream_unavailable", "temporarily_unavailable",
                      f"The authorization server's introspection endpoint answered {e.status}.") from None
    if claims is None:
        raise Refused("token_inactive", "invalid_token",
                      "The access token is not active (revoked, expired or unknown), per introspection.",
                      challenge("invalid_token"))
    x.claims, x.client, x.user = claims, claims.get("client_id"), claims.get("username")
    x.detail = "introspected now" if age == 0 else f"introspection cached {age:.1f} s ago"


# -- 7. what the token grants: an access token, the route's scope, a user (401, 403) ----------------------------
def token_grants_route(gw, x: Exchange) -> None:
    if x.claims is None:
        return
    scope = x.route.scope
    if str(x.claims.get("token_type", "")).lower() != "bearer":
        # RFC 6750 section 1.2: only an access token is a Bearer credential; a refresh token is for the
        # authorization server alone (RFC 6749 section 1.5).
        raise Refused("not_an_access_token", "invalid_token",
                      "This is not an access token; send the access token, not the refresh token.",
                      challenge("invalid_token"))
    if scope not in x.claims.get("scope", "").split():
        raise Refused("insufficient_scope", "insufficient_scope", f"This request needs scope {scope}.",
                      challenge("insufficient_scope", scope))
    if x.route.for_user and not x.claims.get("username"):
        raise Refused("no_user", "insufficient_scope",
                      "This route acts for a user; a client-credentials token has none.",
                      challenge("insufficient_scope", scope))


# -- 8. rate limits: per client and per user, or per token when not introspected (429) -----------------------
def rate_limit(gw, x: Exchange) -> None:
    p = gw.policy
    if not p.rate_limit:
        return
    if x.claims is not None:
        if x.address_hit is not None:       # proven valid: the address gets its hit back
            gw.windows.give_back(*x.address_hit)
            x.address_hit = None
        keys = [(("client", x.claims.get("client_id")), p.per_client)]
        if x.claims.get("username"):
            keys.append((("user", x.claims["username"]), p.per_user))
    elif x.scheme == "bearer" and x.credential and not _introspected(gw, x):
        keys = [(("token", digest(x.credential)[:16]), p.per_client)]   # one client per token
    else:
        return                              # anonymous, Basic: counted against the address already
    _take(gw, keys, gw.clock.now())


def _take(gw, keys: list, now: float) -> None:
    over = gw.windows.take(keys, now)
    if over is not None:
        wait, (kind, who), limit = over
        retry = max(1, math.ceil(wait))
        name = who if kind != "token" else "this token"
        raise Refused("rate_limited", "too_many_requests",
                      f"Rate limit for {kind} {name}: {limit}. Retry after {retry} s.",
                      {"Retry-After": str(retry)})


#: The checks, in order; the first that refuses answers, and the request never reaches the API.
CHECKS = (size_limits, allow_list, body_limit, credential_placement, address_limit, token, token_grants_route,
          rate_limit)
