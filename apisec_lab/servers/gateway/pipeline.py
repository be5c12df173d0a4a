"""The :class:`Gateway`: run the checks, forward, write the access log."""
from __future__ import annotations

import time

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from ...http.wsgi import json_error
from .accesslog import AccessLog, LogRecord
from .checks import CHECKS, Exchange, Refused
from .introspection import Introspector
from .policy import GatewayPolicy
from .proxy import VIA, forward, proxy_status
from .ratelimit import RateWindows
from .upstream import Upstream


class Gateway:
    """The gateway's WSGI handler (the lab wraps it with :func:`apisec_lab.http.wsgi.guard`).

    It receives what it uses: the lab *clock*, the *upstream* it forwards to
    (an :class:`~apisec_lab.servers.gateway.upstream.Upstream` for the API),
    the *introspector* that asks the authorization server about tokens, and
    its own *url* (for its repr).  ``lab.gateway.policy`` is the
    :class:`GatewayPolicy`; ``log_frame()``, ``counters()`` and ``records``
    show what it did.
    """

    def __init__(self, clock, upstream: Upstream, introspector: Introspector, url: str = "", keep: int = 1000):
        self.clock, self.upstream, self.introspector, self.url = clock, upstream, introspector, url
        self.policy = GatewayPolicy()
        self.windows = RateWindows()
        self.log = AccessLog(keep)

    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        x = Exchange(request)
        try:
            for check in CHECKS:
                check(self, x)
            response, reason = forward(self.upstream, x), "allowed"
        except Refused as r:
            reason, x.detail = r.reason, r.description
            response = json_error(r.status, r.error, r.description,
                                  {**(r.headers or {}), "Via": VIA, "Proxy-Status": proxy_status(reason=reason)})
        except HTTPException as e:    # werkzeug refused to parse something: the input's fault
            reason = "body_too_large" if isinstance(e, RequestEntityTooLarge) else "bad_request"
            response = json_error(e.code or 400, "invalid_request", e.description or e.name,
                                  {"Via": VIA, "Proxy-Status": proxy_status(reason=reason)})
            x.detail = e.description or e.name
        self._log(x, response.status_code, reason, started)
        return response

    def _log(self, x: Exchange, status: int, reason: str, started: float) -> None:
        request = x.request
        target = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        self.log.write(self.clock.now(), request.method, target, request.headers.get("Authorization", ""), status,
                       reason, x.client, x.user, (time.perf_counter() - started) * 1000, request.remote_addr or "",
                       x.detail, masking=self.policy.log_masking)

    # -- the public face -------------------------------------------------
    @property
    def records(self) -> list[LogRecord]:
        return self.log.records

    @property
    def introspections(self) -> int:
        """Calls made to the authorization server's introspection endpoint."""
        return self.introspector.calls

    def log_frame(self, last: int | None = None):
        """The access log as a DataFrame (newest last), secrets masked if the policy said so.

        ``client`` and ``user`` are ``"-"`` when the gateway did not learn them.
        """
        return self.log.frame(last)

    def counters(self):
        """Requests seen, by decision and reason (allowed first)."""
        return self.log.counters()

    def counts(self) -> dict[str, int]:
        """``{"allowed": n, "rejected": m, <reason>: k, ...}``."""
        return self.log.counts()

    def clear_log(self) -> None:
        """Empty the access log and the counters; ids start again at 1 (not the cache or the rate windows)."""
        self.log.clear()

    def clear_rate_windows(self) -> None:
        """Forget every request the rate limiter counted, as if a quiet minute had passed."""
        self.windows.clear()

    def clear_cache(self) -> None:
        """Forget every cached introspection answer."""
        self.introspector.clear()

    def reset(self) -> None:
        """Default policy, empty log, counters, cache and rate windows."""
        self.policy.reset()
        self.log.clear()
        self.windows.clear()
        self.introspector.reset()

    def close(self) -> None:
        """Release the warm upstream connection (the lab calls this when it stops)."""
        self.upstream.close()

    def __repr__(self) -> str:
        c = self.counts()
        off = [k for k, v in self.policy.switches().items() if not v]
        host, port = self.upstream.address
        return (f"<apisec_lab.Gateway {self.url} -> http://{host}:{port}: {c['allowed']} allowed, "
                f"{c['rejected']} rejected; switched off: {', '.join(off) or 'none'}>")
