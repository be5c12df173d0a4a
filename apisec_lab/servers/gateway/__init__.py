"""The API gateway: an API manager in front of the resource API, used as a reverse proxy.

The gateway listens on its own loopback port (``lab.gateway_url``) and serves
the same paths as the API (``lab.api_url``).  Every request meets one
declarative :class:`GatewayPolicy`, checked in this order
(:data:`~apisec_lab.servers.gateway.checks.CHECKS`); the first check that
fails answers with a JSON error (``{"error", "error_description"}``, as RFC
6749 section 5.2) and the request never reaches the API:

1. **size limits**: URL (414), headers (431) and body (413) against the
   policy's and the route's limits;
2. **allow-list**: only the published routes and methods of
   :data:`apisec_lab.servers.endpoints.ENDPOINTS` (404, 405 with ``Allow``);
3. **credential placement**: no credentials in the query string (400), a
   single ``Authorization`` header (400), no HTTP Basic on token-only routes
   (401);
4. **the address's limit**: traffic without a token known to be valid
   (anonymous, HTTP Basic, a token not in the cache) counts against its
   address *before* any introspection call, so a flood of garbage tokens is
   not amplified onto the authorization server (429 with ``Retry-After``);
5. **token validation**: RFC 7662 introspection against the authorization
   server, cached for :attr:`GatewayPolicy.cache_ttl` seconds on the lab
   clock, then the token's type (an access token, not a refresh token), the
   route's scope and its user (401 ``invalid_token``, 403
   ``insufficient_scope``, as RFC 6750 section 3);
6. **rate limits**: a sliding window per client and per user (from
   introspection; RFC 6585 section 4);

then it forwards the request and writes an access-log record, with secrets
masked (:attr:`GatewayPolicy.log_masking`).  Each check has a switch on the
policy; a switch that is off genuinely lets traffic through, so a notebook
can compare.  The API behind still checks every token itself: the gateway is
one layer of defence, not the only one.

The modules, one concept each: :mod:`.policy` (what is enforced, as data),
:mod:`.checks` (the checks, in order), :mod:`.introspection` (RFC 7662 and
its cache), :mod:`.ratelimit` (the lab's sliding windows, shared by the gateway's threads), :mod:`.accesslog` (records,
counters, masking), :mod:`.proxy` (forwarding headers), :mod:`.upstream`
(the HTTP client that reaches the API) and :mod:`.pipeline` (the
:class:`Gateway` that runs them).

>>> gw = lab.gateway                                  # doctest: +SKIP
>>> with gw.policy.changed(rate_limit=False): ...     # doctest: +SKIP
>>> gw.log_frame(); gw.counters()                     # doctest: +SKIP
"""
from __future__ import annotations

from ...core.limits import Limit
from .accesslog import LogRecord, mask_authorization, mask_target, mask_text
from .checks import CHECKS, REASONS, Refused
from .introspection import Introspector
from .pipeline import Gateway
from .policy import CREDENTIAL_PARAMS, GatewayPolicy, Route, routes_from_endpoints
from .proxy import HOP_BY_HOP, VIA
from .upstream import Upstream

__all__ = ["CHECKS", "CREDENTIAL_PARAMS", "HOP_BY_HOP", "REASONS", "VIA", "Gateway", "GatewayPolicy", "Introspector",
           "Limit", "LogRecord", "Refused", "Route", "Upstream", "mask_authorization", "mask_target", "mask_text",
           "routes_from_endpoints"]
