"""Secrets at rest: password hashing, secret digests and constant-time checks.

Passwords are low-entropy and get a memory-hard key-derivation function
(scrypt, `RFC 7914 <https://www.rfc-editor.org/rfc/rfc7914>`_) with a random
salt.  Tokens, codes and client secrets are high-entropy random strings, so a
plain SHA-256 digest is enough to make a stolen database useless to an
attacker; the digest is also what the store indexes them by.

Every comparison of a secret goes through :func:`hmac.compare_digest`, so its
running time does not depend on how many leading characters matched.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

#: scrypt cost parameters (OWASP's minimum recommendation: N=2**14, r=8, p=1,
#: about 16 MiB of memory and tens of milliseconds per check on purpose).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCRYPT_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Return ``scrypt$n$r$p$salt$hash`` for *password*, with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"{_SCRYPT_PREFIX}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str | None) -> bool:
    """Check *password* against an encoded scrypt hash in constant time.

    An unknown user (``encoded is None``) still costs one scrypt run, so the
    response time does not reveal which usernames exist.
    """
    if encoded is None:
        encoded = _dummy_hash()
        password = password + "\0never-matches"
    try:
        prefix, n, r, p, salt, expected = encoded.split("$")
        if prefix != _SCRYPT_PREFIX:
            return False
        actual = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=_unb64(salt),
                                n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(expected))


def digest(secret: str) -> str:
    """SHA-256 hex digest of a high-entropy secret (token, code, client secret)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same_secret(given: str, stored_digest: str | None) -> bool:
    """Does *given* hash to *stored_digest*?  Constant time in the digest."""
    if stored_digest is None:
        return False
    return hmac.compare_digest(digest(given), stored_digest)


def new_token(prefix: str) -> str:
    """A fresh 256-bit random token, e.g. ``at_3q2...``.

    The prefix makes a leaked token recognisable to secret scanners and to a
    learner reading a log; it carries no meaning for the server.
    """
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("dummy-for-unknown-users")
