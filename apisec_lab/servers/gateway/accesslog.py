"""The gateway's access log: one :class:`LogRecord` per request, counters by reason, and masking.

While the policy's ``log_masking`` is on, nothing secret is written: the
``Authorization`` value keeps only a registered scheme name (and a lab
token's ``at_``/``rt_`` prefix), credential-named query parameters and
anything shaped like a token (a lab token, a JWT, a long random string) are
masked wherever they appear, in the target, the detail and every other text
field (OWASP API8:2023; RFC 6750 section 5.3, "don't store bearer tokens in
cleartext").
"""
from __future__ import annotations

import collections
import re
import threading
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

import pandas as pd

from .checks import REASONS
from .policy import CREDENTIAL_PARAMS

#: HTTP authentication schemes (the IANA registry) whose name a masked log keeps.
SCHEMES = frozenset({"basic", "bearer", "concealed", "digest", "dpop", "gnap", "hoba", "mutual", "negotiate",
                     "oauth", "privatetoken", "scram-sha-1", "scram-sha-256", "vapid"})
#: Parts of a query parameter's name that say its value is a secret.
SECRET_NAME_PARTS = ("token", "secret", "pass", "pwd", "auth", "key", "session", "cred", "sig", "jwt",
                     "assertion", "code", "otp", "cookie")
MASK = "…(masked)"
_LAB_TOKEN = re.compile(r"\b(at|rt)_[A-Za-z0-9_\-]{8,}")
#: A run of token characters (base64url, JWT parts, hex...): masked when 20+ long and mixing classes.
_RUN = re.compile(r"[A-Za-z0-9._~+\-]{20,}=*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")
_LOG_TARGET = 300                 # characters of the request target the log keeps


def _random_looking(m: re.Match) -> str:
    run = m.group()
    digits, lower, upper = (any(c.isdigit() for c in run), any(c.islower() for c in run),
                            any(c.isupper() for c in run))
    return MASK if (digits and (lower or upper)) or (lower and upper) else run


def mask_text(text: str) -> str:
    """Mask everything in *text* shaped like a secret: a lab token (keeping its ``at_``/``rt_`` prefix),
    a JWT, or any run of 20 or more token characters that mixes digits and letters, or cases."""
    if not text:
        return text
    return _RUN.sub(_random_looking, _LAB_TOKEN.sub(r"\1_" + MASK, text))


def mask_authorization(value: str) -> str:
    """``Bearer at_xyz...`` -> ``Bearer at_…(masked)``; ``Basic ...`` -> ``Basic …(masked)``.

    Only a registered scheme's name is kept, however the value is separated
    (a space, a tab, a non-breaking space, nothing at all): a value without a
    recognisable scheme is masked whole.
    """
    if not value:
        return ""
    stripped = value.strip()
    m = _SCHEME.match(stripped)
    if m is None or m.group().lower() not in SCHEMES:
        return MASK
    scheme, credentials = m.group(), stripped[m.end():].strip(" \t\xa0")
    if not credentials:
        return scheme
    prefix = credentials[:3] if credentials[:3] in ("at_", "rt_") else ""
    return f"{scheme} {prefix}{MASK}"


def secret_parameter(name: str) -> bool:
    """Does a parameter named *name* (``access_token``, ``client_secret``, ``code_verifier``...) carry a secret?"""
    name = unquote_plus(name).strip().lower()
    return name in CREDENTIAL_PARAMS or any(part in name for part in SECRET_NAME_PARTS)


def mask_parameter(name: str, value: str) -> str:
    """A (decoded) parameter's value as the masked log shows it: ``***`` if its name says secret or it looks random."""
    return "***" if secret_parameter(name) or mask_text(value) != value else value


def _masked_segment(raw: str, decode) -> str:
    """*raw* (percent-encoded) masked as :func:`mask_text` masks its decoded form; unchanged if nothing is."""
    decoded = decode(raw)
    masked = mask_text(decoded)
    return raw if masked == decoded else masked


def mask_target(target: str) -> str:
    """Mask credential parameters (``access_token=***``), token-looking values, and anything shaped like a token.

    Percent-encoding hides nothing: each path segment and query value is judged decoded.
    """
    path, sep, query = target.partition("?")
    path = "/".join(_masked_segment(segment, unquote) for segment in path.split("/"))
    if sep:
        parts = query.split("&")
        for i, part in enumerate(parts):
            name, eq, value = part.partition("=")
            if eq and (secret_parameter(name) or _masked_segment(value, unquote_plus) != value):
                parts[i] = f"{name}=***"
            else:
                parts[i] = _masked_segment(part, unquote_plus)
        query = "&".join(parts)
    return path + sep + query


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


COLUMNS = ["at", "method", "path", "status", "decision", "reason", "client", "user", "authorization",
           "latency_ms", "address", "detail"]


class AccessLog:
    """The last *keep* records and a count of every reason since the last clear."""

    def __init__(self, keep: int = 1000):
        self._records: collections.deque[LogRecord] = collections.deque(maxlen=keep)
        self._counts: collections.Counter[str] = collections.Counter()
        self._next_id = 1
        self._lock = threading.Lock()

    def write(self, at: float, method: str, target: str, authorization: str, status: int, reason: str,
              client: str | None, user: str | None, latency_ms: float, address: str, detail: str,
              masking: bool) -> None:
        """Add one record; with *masking*, every text field is masked first."""
        if masking:
            target, authorization = mask_target(target), mask_authorization(authorization)
            method, detail, user = mask_text(method), mask_text(detail), user and mask_text(user)
        if len(target) > _LOG_TARGET:
            target = target[:_LOG_TARGET] + f"…(+{len(target) - _LOG_TARGET} chars)"
        with self._lock:
            self._records.append(LogRecord(self._next_id, at, method, target, authorization, status, reason,
                                           client, user, latency_ms, address, detail))
            self._next_id += 1
            self._counts[reason] += 1

    @property
    def records(self) -> list[LogRecord]:
        with self._lock:
            return list(self._records)

    def frame(self, last: int | None = None) -> pd.DataFrame:
        """The records as a DataFrame indexed by id (newest last); ``"-"`` for an unknown client or user."""
        records = self.records[-last:] if last else self.records
        rows = [{"id": r.id, **{c: getattr(r, c) for c in COLUMNS}, "client": r.client or "-", "user": r.user or "-"}
                for r in records]
        df = pd.DataFrame(rows, columns=["id", *COLUMNS])
        df["at"] = pd.to_datetime(df["at"], unit="s", utc=True)
        return df.set_index("id")

    def counts(self) -> dict[str, int]:
        """``{"allowed": n, "rejected": m, <reason>: k, ...}``."""
        with self._lock:
            counts = dict(self._counts)
        allowed = counts.get("allowed", 0)
        return {"allowed": allowed, "rejected": sum(counts.values()) - allowed,
                **{r: counts[r] for r in REASONS if r in counts and r != "allowed"}}

    def counters(self) -> pd.DataFrame:
        """Requests seen, by decision and reason (allowed first)."""
        with self._lock:
            counts = dict(self._counts)
        order = [r for r in REASONS if r in counts]
        return pd.DataFrame([{"reason": r, "decision": "allowed" if r == "allowed" else "rejected",
                              "status": REASONS[r][0] or "(API's)", "requests": counts[r],
                              "meaning": REASONS[r][1]} for r in order],
                            columns=["reason", "decision", "status", "requests", "meaning"]).set_index("reason")

    def clear(self) -> None:
        """No records, no counts; ids start again at 1."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._next_id = 1
