"""What the gateway enforces, as data: one :class:`GatewayPolicy`, read on every request.

Six switches (on by default) and the numbers they use; ``routes`` is the
per-route part, the allow-list, derived from
:data:`apisec_lab.servers.endpoints.ENDPOINTS` so that a scope is written down once.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd
from werkzeug.routing import Map, Rule

from ...core import switches
from ...core.limits import Limit
from ..endpoints import ENDPOINTS, Endpoint, openapi_path

#: Query parameters that carry a credential.  RFC 6750 section 2.3 allows
#: ``access_token`` in the URL only as a last resort ("SHOULD NOT"); URLs end
#: up in server logs, proxy logs, browser history and ``Referer`` headers.
CREDENTIAL_PARAMS = frozenset({"access_token", "token", "refresh_token", "id_token", "password", "passwd",
                               "pwd", "client_secret", "api_key", "apikey"})
_SQLITE_INT_MAX = 2**63 - 1


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

    def __post_init__(self):
        self._matcher: tuple = ((), None)      # (the routes it was built for, a werkzeug MapAdapter); not a setting

    # -- reading -----------------------------------------------------------
    def route(self, key: str, path: str | None = None) -> Route:
        """The route ``"GET /me"`` (or ``route("GET", "/me")``), to read or change."""
        method, _, rule = (f"{key} {path}" if path else key).partition(" ")
        for r in self.routes:
            if r.method == method.upper() and r.path == rule:
                return r
        raise KeyError(f"no route {key!r}{' ' + path if path else ''}; known: {[r.key for r in self.routes]}")

    def match(self, method: str, path: str) -> Route:
        """The route serving *method* *path*; werkzeug's ``NotFound`` or ``MethodNotAllowed`` if none.

        Path parameters typed int must also fit the API's 64-bit store.
        """
        routes = self.routes
        key = tuple((r.method, r.path) for r in routes)
        built_for, adapter = self._matcher
        if key != built_for:
            rules = [Rule(r.path.replace("<int:", f"<int(max={_SQLITE_INT_MAX}):"), endpoint=i, methods=[r.method])
                     for i, r in enumerate(routes)]
            adapter = Map(rules, merge_slashes=False).bind("gateway", "/")
            self._matcher = (key, adapter)
        index, _ = adapter.match(path, method=method)
        return routes[index]

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
