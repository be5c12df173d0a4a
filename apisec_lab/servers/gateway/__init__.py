"""The API gateway: an API manager in front of the resource API, used as a reverse proxy.

The gateway listens on its own loopback port (``lab.gateway_url``) and serves
the same paths as the API (``lab.api_url``).  Every request meets one
declarative :class:`GatewayPolicy`, checked in this order; the first check
that fails answers with a JSON error (``{"error", "error_description"}``,
as RFC 6749 section 5.2) and the request never reaches the API:

1. **size limits**: URL (414), headers (431) and body (413) against the
   policy's and the route's limits;
2. **allow-list**: only the published routes and methods of
   :data:`apisec_lab.servers.endpoints.ENDPOINTS` (404, 405 with ``Allow``);
3. **credential placement**: no credentials in the query string (400), a
   single ``Authorization`` header (400), no HTTP Basic on token-only routes
   (401);
4. **token validation**: RFC 7662 introspection against the authorization
   server, cached for :attr:`GatewayPolicy.cache_ttl` seconds on the lab
   clock, then the route's scope (401 ``invalid_token``, 403
   ``insufficient_scope``, as RFC 6750 section 3);
5. **rate limits**: a sliding window per client and per user (from
   introspection), per remote address for traffic without a valid token
   (429 with ``Retry-After``, RFC 6585 section 4);

then it forwards the request and writes an access-log record, with secrets
masked (:attr:`GatewayPolicy.log_masking`).  Each check has a switch on the
policy; a switch that is off genuinely lets traffic through, so a notebook
can compare.  The API behind still checks every token itself: the gateway is
one layer of defence, not the only one.

>>> gw = lab.gateway                                  # doctest: +SKIP
>>> with gw.policy.changed(rate_limit=False): ...     # doctest: +SKIP
>>> gw.log_frame(); gw.counters()                     # doctest: +SKIP
"""
from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import json
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit

import pandas as pd
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from ...core import switches
from ...http.basic import parse_basic
from ...http.wsgi import MAX_BODY, json_error
from ..endpoints import B64TOKEN, ENDPOINTS, REALM, Endpoint, openapi_path

#: Query parameters that carry a credential.  RFC 6750 section 2.3 allows
#: ``access_token`` in the URL only as a last resort ("SHOULD NOT"); URLs end
#: up in server logs, proxy logs, browser history and ``Referer`` headers.
CREDENTIAL_PARAMS = frozenset({"access_token", "token", "refresh_token", "id_token", "password", "passwd",
                               "pwd", "client_secret", "api_key", "apikey"})
#: Connection-level headers (RFC 9110 section 7.6.1) that a proxy must not forward,
#: plus those the gateway sets itself.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
                        "expect",
                        "transfer-encoding", "upgrade", "host", "content-length", "forwarded",
                        "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "via"})
RESPONSE_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})
VIA = "1.1 apisec-lab-gateway"
_TOKEN_LIKE = re.compile(r"\b(at|rt)_[A-Za-z0-9_\-]{8,}")
_SQLITE_INT_MAX = 2**63 - 1
_MAX_UPSTREAM_HEAD = 64 * 1024
_LOG_TARGET = 300                 # characters of the request target the log keeps
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

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
    "insufficient_scope": (403, "token lacks the route's scope"),
    "no_user": (403, "route needs a user; the token has none"),
    "rate_limited": (429, "over a rate limit"),
    "bad_request": (400, "malformed request"),
    "upstream_unavailable": (502, "the API or the authorization server did not answer"),
}


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` in any sliding window of ``seconds`` (lab-clock seconds)."""

    requests: int
    seconds: float

    def __post_init__(self):
        if not (isinstance(self.requests, int) and self.requests >= 1 and self.seconds > 0):
            raise ValueError("a Limit needs requests >= 1 (an int) and seconds > 0")

    def __str__(self) -> str:
        return f"{self.requests} per {self.seconds:g} s"


@dataclass
class Route:
    """One allowed operation: the gateway's view of an :class:`apisec_lab.servers.endpoints.Endpoint`."""

    method: str
    path: str                  # the werkzeug rule, exactly as in api.ENDPOINTS
    scope: str | None          # None: public, no token needed
    for_user: bool = True      # the token must carry a user (not client credentials)
    basic: bool = False        # also accept HTTP Basic here (a legacy exception); tokens only by default
    max_body: int = 0          # bytes; 0 means the route takes no body

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def routes_from_endpoints(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> list[Route]:
    """The allow-list: every *published* endpoint, with its scope; nothing else.

    Routes that take a JSON body may send up to 16 KiB (the largest valid
    body, a 2000-character message, fits comfortably); the others none.
    """
    return [Route(e.method, e.path, e.scope, e.for_user and e.scope is not None,
                  max_body=16 * 1024 if e.body else 0)
            for e in endpoints if e.published]


def _switch(doc: str):
    return field(default=True, metadata={"doc": doc, "switch": True})


def _setting(default, doc: str):
    return field(default=default, metadata={"doc": doc})


@dataclass
class GatewayPolicy:
    """Everything the gateway enforces, as data.  Read on every request.

    Six switches (on by default) and the numbers they use; ``routes`` is the
    per-route part, derived from :data:`apisec_lab.servers.endpoints.ENDPOINTS`.
    """

    introspection: bool = _switch(
        "Validate Bearer tokens at the edge by RFC 7662 introspection (cached for cache_ttl s), "
        "and check the route's scope.")
    rate_limit: bool = _switch(
        "Sliding-window limits per client and per user, and per address for traffic without a valid token; "
        "429 with Retry-After.")
    credential_placement: bool = _switch(
        "Refuse credentials in the query string, duplicate Authorization headers, and HTTP Basic on "
        "token-only routes.")
    size_limits: bool = _switch(
        "Refuse over-long URLs (414), over-large headers (431) and bodies over the route's limit (413).")
    allow_list: bool = _switch(
        "Forward only the published routes and methods; anything else is answered 404/405 at the edge.")
    log_masking: bool = _switch(
        "Mask tokens, passwords and Authorization values in the gateway's own access log.")
    cache_ttl: float = _setting(5.0, "Seconds (lab clock) an introspection answer is reused; 0 asks every time.")
    per_client: Limit = _setting(Limit(30, 60), "Requests per window for one OAuth client (all its users).")
    per_user: Limit = _setting(Limit(60, 60), "Requests per window for one user (all their apps).")
    per_address: Limit = _setting(Limit(10, 60), "Requests per window from one address without a valid token "
                                                 "(anonymous or HTTP Basic).")
    max_url_bytes: int = _setting(2048, "Longest request target (path and query) accepted.")
    max_header_bytes: int = _setting(8 * 1024, "Largest total size of the request headers.")
    routes: list[Route] = field(default_factory=routes_from_endpoints,
                                metadata={"doc": "The allow-list, one Route per published endpoint."})

    # -- reading -----------------------------------------------------------
    def route(self, key: str, path: str | None = None) -> Route:
        """The route ``"GET /me"`` (or ``route("GET", "/me")``), to read or change."""
        method, _, rule = (f"{key} {path}" if path else key).partition(" ")
        for r in self.routes:
            if r.method == method.upper() and r.path == rule:
                return r
        raise KeyError(f"no route {key!r}{' ' + path if path else ''}; known: {[r.key for r in self.routes]}")

    def switches(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("switch")}

    def table(self) -> pd.DataFrame:
        """Every setting except the routes, its value and what it does."""
        return pd.DataFrame([{"setting": f.name, "value": str(getattr(self, f.name)), "what it does": f.metadata["doc"]}
                             for f in fields(self) if f.name != "routes"]).set_index("setting")

    def routes_frame(self) -> pd.DataFrame:
        """The allow-list as a table: method, path, scope, Basic allowed, body limit."""
        return pd.DataFrame([{"method": r.method, "path": openapi_path(r.path),
                              "scope": r.scope or "(public)", "needs user": r.for_user, "basic": r.basic,
                              "max body": r.max_body} for r in self.routes])

    # -- changing ----------------------------------------------------------
    def reset(self) -> None:
        """Every setting back to its default, routes re-derived from the API's table."""
        switches.reset(self)

    def changed(self, **settings):
        """Change settings for a ``with`` block, then restore them.

        >>> with lab.gateway.policy.changed(rate_limit=False, cache_ttl=0): ...   # doctest: +SKIP
        """
        return switches.changed(self, "gateway setting", **settings)


@dataclass
class LogRecord:
    """One line of the gateway's access log."""

    id: int
    at: float                  # lab clock
    method: str
    path: str                  # with query; secrets masked while log_masking is on
    authorization: str         # the header, masked while log_masking is on
    status: int
    reason: str                # a key of REASONS
    client: str | None
    user: str | None
    latency_ms: float          # real time spent in the gateway, upstream included
    address: str
    detail: str = ""

    @property
    def decision(self) -> str:
        return "allowed" if self.reason == "allowed" else "rejected"


class _Refused(Exception):
    def __init__(self, reason: str, error: str, description: str, headers: dict | None = None):
        super().__init__(description)
        self.reason, self.error, self.description, self.headers = reason, error, description, headers
        self.status = REASONS[reason][0]


def mask_authorization(value: str) -> str:
    """``Bearer at_xyz...`` -> ``Bearer at_…(masked)``; ``Basic ...`` -> ``Basic …(masked)``."""
    if not value:
        return ""
    scheme, _, credentials = value.strip().partition(" ")
    if not credentials.strip():
        return scheme
    prefix = credentials.strip()[:3] if credentials.strip()[:3] in ("at_", "rt_") else ""
    return f"{scheme} {prefix}…(masked)"


def mask_target(target: str) -> str:
    """Mask credential parameters (``access_token=***``) and anything shaped like a lab token."""
    path, sep, query = target.partition("?")
    if sep:
        parts = query.split("&")
        for i, part in enumerate(parts):
            name, eq, _ = part.partition("=")
            if eq and unquote_plus(name).strip().lower() in CREDENTIAL_PARAMS:
                parts[i] = f"{name}=***"
        query = "&".join(parts)
    return _TOKEN_LIKE.sub(r"\1_…(masked)", path + sep + query)


class _Windows:
    """Sliding-window counters: key -> times (lab clock) of the requests it let through."""

    def __init__(self):
        self._hits: dict[tuple, collections.deque] = {}

    def take(self, keys: list[tuple[tuple, Limit]], now: float) -> tuple[float, tuple] | None:
        """Count one request against every key, or none of them: (retry_after, key) when over a limit."""
        worst = None
        for key, limit in keys:
            hits = self._hits.setdefault(key, collections.deque())
            while hits and hits[0] <= now - limit.seconds:
                hits.popleft()
            if len(hits) >= limit.requests:
                wait = hits[-limit.requests] + limit.seconds - now
                if worst is None or wait > worst[0]:
                    worst = (wait, key, limit)
        if worst is not None:
            return worst
        for key, _ in keys:
            self._hits[key].append(now)
        return None

    def clear(self) -> None:
        self._hits.clear()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class Gateway:
    """The gateway's WSGI handler (the lab wraps it with :func:`apisec_lab.http.wsgi.guard`).

    ``lab.gateway.policy`` is the :class:`GatewayPolicy`; ``log_frame()``,
    ``counters()`` and ``records`` show what it did.
    """

    def __init__(self, lab, keep: int = 1000):
        self.lab = lab
        self.clock = lab.clock
        self.policy = GatewayPolicy()
        self._lock = threading.Lock()
        self._records: collections.deque[LogRecord] = collections.deque(maxlen=keep)
        self._counts: collections.Counter[str] = collections.Counter()
        self._next_id = 1
        self._cache: dict[str, tuple[dict | None, float]] = {}
        self._windows = _Windows()
        self.introspections = 0          # calls made to the authorization server
        self._adapter: tuple = ((), None)     # (the routes it was built for, a werkzeug MapAdapter)
        api = urlsplit(lab.api_url)
        self._api = (api.hostname, api.port)
        self.upstream = Upstream(api.hostname, api.port)

    # -- the public face -------------------------------------------------
    @property
    def records(self) -> list[LogRecord]:
        with self._lock:
            return list(self._records)

    def log_frame(self, last: int | None = None) -> pd.DataFrame:
        """The access log as a DataFrame (newest last), secrets masked if the policy said so.

        ``client`` and ``user`` are ``"-"`` when the gateway did not learn them.
        """
        records = self.records[-last:] if last else self.records
        columns = ["at", "method", "path", "status", "decision", "reason", "client", "user", "authorization",
                   "latency_ms", "address", "detail"]
        rows = [{"id": r.id, **{c: getattr(r, c) for c in columns}, "client": r.client or "-", "user": r.user or "-"}
                for r in records]
        df = pd.DataFrame(rows, columns=["id", *columns])
        df["at"] = pd.to_datetime(df["at"], unit="s", utc=True)
        return df.set_index("id")

    def counters(self) -> pd.DataFrame:
        """Requests seen, by decision and reason (allowed first)."""
        with self._lock:
            counts = dict(self._counts)
        order = [r for r in REASONS if r in counts]
        return pd.DataFrame([{"reason": r, "decision": "allowed" if r == "allowed" else "rejected",
                              "status": REASONS[r][0] or "(API's)", "requests": counts[r],
                              "meaning": REASONS[r][1]} for r in order],
                            columns=["reason", "decision", "status", "requests", "meaning"]).set_index("reason")

    def counts(self) -> dict[str, int]:
        """``{"allowed": n, "rejected": m, <reason>: k, ...}``."""
        with self._lock:
            counts = dict(self._counts)
        allowed = counts.get("allowed", 0)
        return {"allowed": allowed, "rejected": sum(counts.values()) - allowed,
                **{r: counts[r] for r in REASONS if r in counts and r != "allowed"}}

    def clear_log(self) -> None:
        """Empty the access log and the counters; ids start again at 1 (not the cache or the rate windows)."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._next_id = 1

    def clear_rate_windows(self) -> None:
        """Forget every request the rate limiter counted, as if a quiet minute had passed."""
        with self._lock:
            self._windows.clear()

    def clear_cache(self) -> None:
        """Forget every cached introspection answer."""
        with self._lock:
            self._cache.clear()

    def reset(self) -> None:
        """Default policy, empty log, counters, cache and rate windows."""
        self.policy.reset()
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._cache.clear()
            self._windows.clear()
            self._next_id = 1
            self.introspections = 0

    def close(self) -> None:
        """Release the warm upstream connection (the lab calls this when it stops)."""
        self.upstream.close()

    def __repr__(self) -> str:
        c = self.counts()
        off = [k for k, v in self.policy.switches().items() if not v]
        return (f"<apisec_lab.Gateway {getattr(self.lab, 'gateway_url', '')} -> "
                f"{self.lab.api_url}: {c['allowed']} allowed, {c['rejected']} rejected; "
                f"switched off: {', '.join(off) or 'none'}>")

    # -- WSGI ------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        seen: dict = {"client": None, "user": None, "detail": ""}
        try:
            response = self._handle(request, seen)
            reason = "allowed"
        except _Refused as r:
            headers = dict(r.headers or {})
            headers["Via"] = VIA
            response = json_error(r.status, r.error, r.description, headers)
            reason = r.reason
            seen["detail"] = r.description
        except HTTPException as e:    # werkzeug refused to parse something: the input's fault
            response = json_error(e.code or 400, "invalid_request", e.description or e.name, {"Via": VIA})
            reason = "body_too_large" if isinstance(e, RequestEntityTooLarge) else "bad_request"
            seen["detail"] = e.description or e.name
        self._record(request, response.status_code, reason, seen, started)
        return response

    def _record(self, request: Request, status: int, reason: str, seen: dict, started: float) -> None:
        target = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        authorization = request.headers.get("Authorization", "")
        if self.policy.log_masking:
            target, authorization = mask_target(target), mask_authorization(authorization)
            seen["detail"] = _TOKEN_LIKE.sub(r"\1_…(masked)", seen["detail"])
        if len(target) > _LOG_TARGET:
            target = target[:_LOG_TARGET] + f"…(+{len(target) - _LOG_TARGET} chars)"
        with self._lock:
            record = LogRecord(self._next_id, self.clock.now(), request.method, target, authorization, status,
                               reason, seen["client"], seen["user"], (time.perf_counter() - started) * 1000,
                               request.remote_addr or "", seen["detail"])
            self._next_id += 1
            self._records.append(record)
            self._counts[reason] += 1

    def _handle(self, request: Request, seen: dict) -> Response:
        p = self.policy
        raw_target = request.environ.get("RAW_URI") or request.full_path
        header_items = list(request.headers.items())
        if p.size_limits:
            if len(raw_target) > p.max_url_bytes:
                raise _Refused("url_too_long", "uri_too_long",
                               f"The request target is {len(raw_target)} bytes; the gateway's limit is "
                               f"{p.max_url_bytes}.")
            header_bytes = sum(len(k) + len(v) + 4 for k, v in header_items)
            if header_bytes > p.max_header_bytes:
                raise _Refused("headers_too_large", "request_header_fields_too_large",
                               f"Request headers total {header_bytes} bytes; the gateway's limit is "
                               f"{p.max_header_bytes}.")
        route = self._match(request)
        body = self._body(request, route)

        # -- where are the credentials? ---------------------------------
        # werkzeug joins repeated headers with a comma, which no token or Basic value contains.
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":      # who it claims to be, for the log; the API checks the password
            with contextlib.suppress(ValueError):
                seen["user"] = parse_basic(header)[0]
        if p.credential_placement:
            leaked = sorted({k.lower() for k, _ in parse_qsl(request.environ.get("QUERY_STRING", ""),
                                                              keep_blank_values=True)} & CREDENTIAL_PARAMS)
            if leaked:
                raise _Refused("credential_in_url", "invalid_request",
                               f"Credentials are not accepted in the URL ({', '.join(leaked)}): logs, proxies and "
                               f"browser history keep URLs. Send 'Authorization: Bearer <token>' "
                               f"(RFC 6750 section 2.1).")
            if scheme in ("bearer", "basic") and "," in value:
                raise _Refused("duplicate_authorization", "invalid_request",
                               "Send exactly one Authorization header, with one credential.")
            if scheme == "basic" and not (route and route.basic):
                where = f"{request.method} {route.path}" if route else "this path"
                raise _Refused("basic_refused", "invalid_request",
                               f"{where} accepts only Bearer tokens: HTTP Basic sends a password with every "
                               f"request and is refused at the gateway.",
                               {"WWW-Authenticate": f'Bearer realm="{REALM}"'})

        # -- who is it? -------------------------------------------------
        claims = None
        if not header and "access_token" in request.args:
            # Only reachable with credential_placement off: RFC 6750 section 2.3's URI query parameter.
            scheme, value = "bearer", request.args["access_token"]
        if p.introspection and route is not None and route.scope is not None:
            claims = self._authenticate(route, scheme, value.strip(), header, seen)

        # -- how often? ---------------------------------------------------
        if p.rate_limit:
            self._rate_limit(request, claims, scheme, value.strip())

        return self._forward(request, header_items, body)

    # -- the checks --------------------------------------------------------
    def _match(self, request: Request) -> Route | None:
        routes = self.policy.routes
        key = tuple((r.method, r.path) for r in routes)
        built_for, adapter = self._adapter
        if key != built_for:
            # Path parameters typed int must also fit the API's 64-bit store.
            rules = [Rule(r.path.replace("<int:", f"<int(max={_SQLITE_INT_MAX}):"), endpoint=i, methods=[r.method])
                     for i, r in enumerate(routes)]
            adapter = Map(rules, merge_slashes=False).bind("gateway", "/")
            self._adapter = (key, adapter)
        try:
            index, _ = adapter.match(request.path, method=request.method)
            return routes[index]
        except MethodNotAllowed as e:
            if not self.policy.allow_list:
                return None
            allowed = ", ".join(sorted(set(e.valid_methods or ())))
            raise _Refused("method_not_allowed", "method_not_allowed",
                           f"{request.method} is not allowed on {request.path[:200]}; allowed: {allowed}.",
                           {"Allow": allowed}) from None
        except (NotFound, RequestRedirect):
            if not self.policy.allow_list:
                return None
            raise _Refused("not_in_allow_list", "not_found",
                           f"No route {request.method} {request.path[:200]} at this gateway: only the API's "
                           f"published operations are forwarded.") from None

    def _body(self, request: Request, route: Route | None) -> bytes:
        limit = MAX_BODY
        if self.policy.size_limits:
            limit = route.max_body if route is not None else 16 * 1024
            length = request.content_length or 0
            if length > limit:
                self._too_large(request, route, limit, length)
        # Read one byte past the limit: werkzeug stops a chunked body at the limit without a word.
        request.max_content_length = limit + 1
        body = request.get_data(cache=False)
        if len(body) > limit:
            if self.policy.size_limits:
                self._too_large(request, route, limit, None)
            raise RequestEntityTooLarge(f"The body is over {limit} bytes.")
        return body

    @staticmethod
    def _too_large(request: Request, route: Route | None, limit: int, length: int | None):
        what = f"{request.method} {route.path}" if route else "this request"
        raise _Refused("body_too_large", "request_too_large",
                       f"{what} takes no body." if limit == 0 else
                       f"The body is {'over ' + str(limit) if length is None else length} bytes; "
                       f"{what} accepts at most {limit}.")

    def _authenticate(self, route: Route, scheme: str, token: str, header: str, seen: dict) -> dict | None:
        if scheme == "basic":      # allowed on this route (credential placement passed it): the API checks it
            return None
        if scheme != "bearer":
            if header:
                raise _Refused("unsupported_scheme", "invalid_request",
                               f"Unsupported authorization scheme {scheme[:20]!r}; use Bearer.",
                               {"WWW-Authenticate": f'Bearer realm="{REALM}"'})
            raise _Refused("missing_token", "unauthorized",
                           f"This route needs a Bearer token with scope {route.scope}.",
                           {"WWW-Authenticate": f'Bearer realm="{REALM}", scope="{route.scope}"'})
        if not B64TOKEN.fullmatch(token):
            raise _Refused("malformed_token", "invalid_request",
                           "The Bearer credentials are empty or not a b64token (RFC 6750 section 2.1).",
                           {"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_request"'})
        claims, age = self._introspect(token)
        if claims is None:
            raise _Refused("token_inactive", "invalid_token",
                           "The access token is not active (revoked, expired or unknown), per introspection.",
                           {"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'})
        seen["client"], seen["user"] = claims.get("client_id"), claims.get("username")
        seen["detail"] = "introspected now" if age == 0 else f"introspection cached {age:.1f} s ago"
        if route.scope not in claims.get("scope", "").split():
            raise _Refused("insufficient_scope", "insufficient_scope", f"This request needs scope {route.scope}.",
                           {"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", '
                                                f'scope="{route.scope}"'})
        if route.for_user and not claims.get("username"):
            raise _Refused("no_user", "insufficient_scope",
                           "This route acts for a user; a client-credentials token has none.")
        return claims

    def _introspect(self, token: str) -> tuple[dict | None, float]:
        """The token's claims if active (else None) and the age of that answer, in lab seconds."""
        key, now, ttl = _digest(token), self.clock.now(), self.policy.cache_ttl
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and ttl > 0 and now - cached[1] < ttl:
            claims, age = cached[0], now - cached[1]
        else:
            claims, age = self._ask_issuer(token), 0.0
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (claims, now)
        if claims is not None and "exp" in claims and claims["exp"] <= now:
            return None, age     # expired while cached
        return claims, age

    def _ask_issuer(self, token: str) -> dict | None:
        rs = self.lab.clients["resource-server"]
        endpoint = urlsplit(self.lab.metadata["introspection_endpoint"])
        credentials = f"{quote(rs.client_id, safe='')}:{quote(rs.client_secret or '', safe='')}"
        headers = {"Host": endpoint.netloc,
                   "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
                   "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        try:
            sock = socket.create_connection((endpoint.hostname, endpoint.port), timeout=10)
            status, _, body = _exchange(sock, "POST", endpoint.path, headers,
                                        urlencode({"token": token, "token_type_hint": "access_token"}).encode())
            answer = json.loads(body) if status == 200 else None
        except (OSError, ValueError):
            answer = None
            status = None
        if not isinstance(answer, dict):
            raise _Refused("upstream_unavailable", "temporarily_unavailable",
                           f"The authorization server's introspection endpoint answered {status}.")
        with self._lock:
            self.introspections += 1
        return answer if answer.get("active") is True else None

    def _rate_limit(self, request: Request, claims: dict | None, scheme: str, token: str) -> None:
        p = self.policy
        if claims is not None:
            keys = [(("client", claims.get("client_id")), p.per_client)]
            if claims.get("username"):
                keys.append((("user", claims["username"]), p.per_user))
        elif scheme == "bearer" and token:      # not introspected: count the token itself as one client
            keys = [(("token", _digest(token)[:16]), p.per_client)]
        else:
            keys = [(("address", request.remote_addr), p.per_address)]
        with self._lock:
            over = self._windows.take(keys, self.clock.now())
        if over is not None:
            wait, (kind, who), limit = over
            retry = max(1, math.ceil(wait))
            name = who if kind != "token" else "this token"
            raise _Refused("rate_limited", "too_many_requests",
                           f"Rate limit for {kind} {name}: {limit}. Retry after {retry} s.",
                           {"Retry-After": str(retry)})

    # -- forwarding ---------------------------------------------------------
    def _forward(self, request: Request, header_items: list, body: bytes) -> Response:
        # Forward the path the gateway matched (re-encoded), not a differently-encoded original.
        path = quote(request.environ.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
        query = quote(request.environ.get("QUERY_STRING", "").encode("latin-1"), safe="/?:@!$&'()*+,;=-._~%")
        target = path + ("?" + query if query else "")
        headers = [(k, v) for k, v in header_items if k.lower() not in HOP_BY_HOP]
        headers += [("Host", f"{self._api[0]}:{self._api[1]}"), ("X-Forwarded-For", request.remote_addr or ""),
                    ("X-Forwarded-Host", request.host), ("X-Forwarded-Proto", "http"), ("Via", VIA)]
        if any(_CONTROL.search(k + v) for k, v in headers):
            raise _Refused("bad_request", "invalid_request", "A header contains a control character.")
        if body or request.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        try:
            status, response_headers, data = self.upstream.exchange(request.method, target, headers, body)
        except (OSError, ValueError) as e:
            raise _Refused("upstream_unavailable", "bad_gateway",
                           f"The API did not answer ({type(e).__name__}).") from None
        response = Response(data, status=status)
        for k, v in response_headers:
            if k.lower() not in RESPONSE_DROP:
                response.headers.add(k, v)
            elif k.lower() == "content-length" and request.method == "HEAD":
                response.headers["Content-Length"] = v      # the size a GET would have had
        response.headers["Via"] = VIA
        # Open the next connection once this answer is on its way, not before.
        response.call_on_close(self.upstream.prepare_spare)
        return response


class Upstream:
    """The API as the gateway reaches it: one request per connection, with a warm spare.

    The lab's servers close every connection after one response, so there is
    no keep-alive pool to reuse.  Instead the gateway opens its *next*
    connection as soon as an answer is out: the TCP handshake and the API
    server's per-connection thread start then happen between requests, not
    during one.  Every request still gets a connection of its own.  A spare
    is used only while young (the lab's servers drop a connection idle for
    10 s) and only if it reads as idle; a spare that fails before a single
    byte of answer is replaced by a fresh connection, once.
    """

    #: Seconds (real time) a spare may wait; well under the servers' 10 s idle timeout.
    SPARE_MAX_AGE = 4.0

    def __init__(self, host: str, port: int, warm: bool = True):
        self.address = (host, port)
        self.warm = warm
        self._spare: tuple[socket.socket, float] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _take_spare(self) -> socket.socket | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        sock, born = spare
        if time.monotonic() - born < self.SPARE_MAX_AGE:
            sock.setblocking(False)
            try:
                sock.recv(1, socket.MSG_PEEK)   # b"" (closed) or bytes (garbage): either way, unusable
            except BlockingIOError:             # nothing to read: open and idle, the API awaits a request line
                sock.settimeout(10)
                return sock
            except OSError:
                pass
        sock.close()
        return None

    def prepare_spare(self) -> None:
        """Open the connection the next request will use (between requests, off their clock)."""
        if not self.warm or self._closed:
            return
        try:
            sock = socket.create_connection(self.address, timeout=10)
        except OSError:
            return
        with self._lock:
            old, self._spare = self._spare, (sock, time.monotonic())
            if self._closed:
                old, self._spare = self._spare, None
        if old is not None:
            old[0].close()

    def close(self) -> None:
        """Close the spare connection (the lab calls this when it stops)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare[0].close()

    def exchange(self, method: str, target: str, headers, body: bytes | None):
        """Send one request; ``(status, headers, body)``.

        The caller then calls :meth:`prepare_spare`, ideally after its own
        answer has left (the gateway does it when the response is closed).
        """
        sock = self._take_spare()
        if sock is not None:
            try:
                return _exchange(sock, method, target, headers, body)
            except _NoAnswer:     # the spare died unseen; the API never read the request
                pass
        return _exchange(socket.create_connection(self.address, timeout=10), method, target, headers, body)


class _NoAnswer(ConnectionError):
    """The upstream closed the connection without a single byte of response."""


def _exchange(sock: socket.socket, method: str, target: str, headers, body: bytes | None):
    """One HTTP/1.1 request on *sock*, which it closes: ``(status, headers, body)``.

    A small reader (status line, headers, then Content-Length, chunked or
    read-to-close framing, RFC 9112 section 6.3): it costs less per request
    than :mod:`http.client`, whose header parsing goes through the email package.
    """
    pairs = headers.items() if isinstance(headers, dict) else headers
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in pairs)]
    if isinstance(headers, dict) and body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    with sock:
        try:
            sock.sendall(message)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise _NoAnswer(str(e)) from None
        rest = bytearray()
        status = 100
        while 100 <= status < 200:        # skip interim responses (100 Continue)
            buf = rest
            while (end := buf.find(b"\r\n\r\n")) < 0:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk and not buf and status == 100:
                    raise _NoAnswer("the upstream closed the connection without answering")
                if not chunk or len(buf) > _MAX_UPSTREAM_HEAD:
                    raise ConnectionError("the upstream closed before a complete response head")
                buf += chunk
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            rest = buf[end + 4:]
            parts = head[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ConnectionError(f"the upstream sent a malformed status line {head[0][:60]!r}")
            status = int(parts[1])
        response_headers = []
        for line in head[1:]:
            name, colon, value = line.partition(":")
            if colon:
                response_headers.append((name.strip(), value.strip()))
        if method == "HEAD" or status in (204, 304):
            return status, response_headers, b""
        fields_ = {k.lower(): v for k, v in response_headers}
        if "chunked" in fields_.get("transfer-encoding", "").lower():
            return status, response_headers, _dechunk(sock, rest)
        length = fields_.get("content-length")
        if length is not None and length.isdigit():
            while len(rest) < int(length):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the upstream closed before the end of the body")
                rest += chunk
            return status, response_headers, bytes(rest[:int(length)])
        while chunk := sock.recv(65536):      # no framing: the body ends when the connection does
            rest += chunk
        return status, response_headers, bytes(rest)


def _dechunk(sock, buf: bytearray) -> bytes:
    """Decode a chunked body (RFC 9112 section 7.1); trailers are dropped."""
    body = bytearray()
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the upstream closed inside a chunked body")
            buf += chunk
        size = int(bytes(buf[:eol]).split(b";")[0].strip() or b"0", 16)
        del buf[:eol + 2]
        if size == 0:
            return bytes(body)
        while len(buf) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the upstream closed inside a chunked body")
            buf += chunk
        body += buf[:size]
        del buf[:size + 2]
