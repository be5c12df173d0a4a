"""HTTP Basic authentication (RFC 7617): decoding the ``Authorization`` header.

Used by the authorization server (client authentication, RFC 6749 section
2.3.1), and by the API and the gateway while the ``basic_auth`` weakness lets
a user's password through.
"""
from __future__ import annotations

import base64
import binascii


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Decode ``Authorization: Basic base64(user:pass)`` (RFC 7617).

    Returns ``(user, password)``; None if the header is absent or not Basic.
    Raises :class:`ValueError` with a learner-readable reason if it is Basic
    but malformed (bad base64, not UTF-8, no colon).
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Basic credentials are not valid base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("Basic credentials are not UTF-8") from None
    user, colon, password = text.partition(":")
    if not colon:
        raise ValueError("Basic credentials have no ':' between user and password")
    return user, password
