"""Token validation at the edge: RFC 7662 introspection, cached on the lab clock.

The gateway authenticates to the authorization server's introspection
endpoint as a confidential client (RFC 7662 section 2.1, HTTP Basic with the
form-encoded id and secret of RFC 6749 section 2.3.1) and keeps each answer,
active or not, for the policy's ``cache_ttl`` lab seconds, keyed by the
token's SHA-256 digest (the token itself is never kept).  An answer whose
``exp`` has passed is treated as inactive even while cached.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from urllib.parse import quote, urlencode, urlsplit

from .upstream import exchange

#: Cached answers kept at most; past it the cache starts again empty.
MAX_CACHED = 10_000


class IntrospectionFailed(Exception):
    """The introspection endpoint did not give a usable answer (status, or None if it did not answer)."""

    def __init__(self, status: int | None):
        super().__init__(f"the introspection endpoint answered {status}")
        self.status = status


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class Introspector:
    """Asks *url* about tokens as *client_id*/*client_secret*; caches the answers on *clock*."""

    def __init__(self, url: str, client_id: str, client_secret: str, clock, timeout: float = 10):
        endpoint = urlsplit(url)
        self.address, self.path = (endpoint.hostname, endpoint.port), endpoint.path
        self.clock, self.timeout = clock, timeout
        basic = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._headers = {"Host": endpoint.netloc,
                         "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
                         "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        self._cache: dict[str, tuple[dict | None, float]] = {}
        self._lock = threading.Lock()
        self.calls = 0                       # requests made to the authorization server

    def claims(self, token: str, ttl: float) -> tuple[dict | None, float]:
        """The token's claims if it is active (else None) and the age of that answer, in lab seconds.

        Raises :class:`IntrospectionFailed` when the authorization server gives no usable answer.
        """
        key, now = digest(token), self.clock.now()
        cached = self._fresh(key, now, ttl)
        if cached is not None:
            claims, age = cached[0], now - cached[1]
        else:
            claims, age = self._ask(token), 0.0
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[key] = (claims, now)
        if claims is not None and "exp" in claims and claims["exp"] <= now:
            return None, age     # expired while cached
        return claims, age

    def known_active(self, token: str, ttl: float) -> bool:
        """True if a fresh cached answer says *token* is active: no call to the authorization server needed."""
        now = self.clock.now()
        cached = self._fresh(digest(token), now, ttl)
        if cached is None or cached[0] is None:
            return False
        expires = cached[0].get("exp")
        return expires is None or expires > now

    def _fresh(self, key: str, now: float, ttl: float) -> tuple[dict | None, float] | None:
        with self._lock:
            cached = self._cache.get(key)
        return cached if cached is not None and ttl > 0 and now - cached[1] < ttl else None

    def _ask(self, token: str) -> dict | None:
        form = urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        status = None
        try:
            sock = socket.create_connection(self.address, timeout=self.timeout)
            status, _, body = exchange(sock, "POST", self.path, self._headers, form)
            answer = json.loads(body) if status == 200 else None
        except (OSError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            raise IntrospectionFailed(status)
        with self._lock:
            self.calls += 1
        return answer if answer.get("active") is True else None

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._cache.clear()

    def reset(self) -> None:
        """Forget every cached answer and the count of calls."""
        with self._lock:
            self._cache.clear()
            self.calls = 0
