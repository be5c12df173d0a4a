"""What crossed the wire: reading the wiretap's captures for credentials.

The lab's wiretap (``lab.wiretap``) records every request sent with
``tapped=True``, byte for byte.  These functions read those records the way
an eavesdropper would:

- :func:`sightings`: every captured exchange that carried a given secret, and
  where in the message (URL, which header, body), as typed, URL-encoded or
  inside an HTTP Basic header;
- :func:`credentials_of`: in words, the credentials one captured request
  carried; :func:`traffic`: that for every capture.
"""
from __future__ import annotations

import base64
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlsplit

import pandas as pd

from ..http.basic import parse_basic


def _forms_of(secret: str, username: str | None) -> dict[bytes, str]:
    forms = {secret.encode(): "as typed"}
    forms.setdefault(quote_plus(secret).encode(), "URL-encoded")
    if username is not None:
        forms[base64.b64encode(f"{username}:{secret}".encode())] = "base64 of user:password (HTTP Basic)"
    return forms


def sightings(lab, secret: str, username: str | None = None) -> pd.DataFrame:
    """Every captured exchange that carried *secret*, and where in the message it was.

    Looks for the secret as typed, URL-encoded, and (given *username*) inside
    an HTTP Basic header, in requests and responses alike.
    """
    rows = []
    for x in lab.wiretap.records:
        for side, message in (("request", x.request), ("response", x.response)):
            start, _, rest = message.raw.partition(b"\r\n")
            head, _, body = rest.partition(b"\r\n\r\n")
            for needle, form in _forms_of(secret, username).items():
                if needle in start:
                    where = "URL" if side == "request" else "status line"
                elif needle in head:
                    line = next(ln for ln in head.split(b"\r\n") if needle in ln)
                    where = line.split(b":", 1)[0].decode("latin-1") + " header"
                elif needle in body:
                    where = "body"
                else:
                    continue
                rows.append({"id": x.id, "server": x.server, "method": x.method,
                             "path": x.path.split("?")[0], "in": f"{side} {where}", "form": form})
                break
    return pd.DataFrame(rows, columns=["id", "server", "method", "path", "in", "form"]).set_index("id")


def credentials_of(lab, exchange) -> str:
    """In words, the credentials a captured request carried (header, form body and URL)."""
    found = []
    header = exchange.request.headers.get("Authorization", "")
    scheme = header.partition(" ")[0].lower()
    if scheme == "basic":
        try:
            who = unquote_plus(parse_basic(header)[0])      # a client's id is form-encoded (RFC 6749 s2.3.1)
        except ValueError:
            who = "?"
        kind = "client secret" if lab.store.client(who) is not None else "password"
        found.append(f"{kind} of {who} (Basic)")
    elif scheme == "bearer":
        found.append("access token (Bearer)")
    if exchange.request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(exchange.request.body.decode("utf-8", "replace")))
        if "password" in form:
            found.append(f"password of {form.get('username', '?')} (form)")
        if "client_secret" in form:
            found.append("client secret (form)")
        if "code" in form:
            found.append("code + code verifier" if "code_verifier" in form else "code")
        if "refresh_token" in form:
            found.append("refresh token")
    query = dict(parse_qsl(urlsplit(exchange.path).query))
    if "code" in query:
        found.append("code (in the URL)")
    if "access_token" in query:
        found.append("access token (in the URL)")
    return ", ".join(found) or "none"


def traffic(lab) -> pd.DataFrame:
    """Every captured exchange with the credentials its request carried, in words."""
    rows = [{"id": x.id, "server": x.server, "method": x.method, "path": x.path.split("?")[0],
             "status": x.status, "credentials": credentials_of(lab, x)} for x in lab.wiretap.records]
    return pd.DataFrame(rows, columns=["id", "server", "method", "path", "status", "credentials"]).set_index("id")


