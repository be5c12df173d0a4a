"""What crossed the wire: reading the wiretap's captures for credentials.

The lab's wiretap (``lab.wiretap``) records every request sent with
``tapped=True``, byte for byte.  These functions read those records the way
an eavesdropper would:

- :func:`sightings`: every captured exchange that carried a given secret, and
  where in the message (URL, which header, body), as typed, URL-encoded or
  inside an HTTP Basic header;
- :func:`credentials_of`: in words, the credentials one captured request
  carried (read by :func:`apisec_lab.servers.sequence.request_credentials`,
  which the wiretap's sequence diagrams use too); :func:`traffic`: that for
  every capture.

For the same captures as a picture, one lane per party, see
``lab.wiretap.sequence()``.
"""
from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pandas as pd

from ..servers.sequence import request_credentials


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
    return ", ".join(request_credentials(exchange, lab.store)) or "none"


def traffic(lab) -> pd.DataFrame:
    """Every captured exchange with the credentials its request carried, in words."""
    rows = [{"id": x.id, "server": x.server, "method": x.method, "path": x.path.split("?")[0],
             "status": x.status, "credentials": credentials_of(lab, x)} for x in lab.wiretap.records]
    return pd.DataFrame(rows, columns=["id", "server", "method", "path", "status", "credentials"]).set_index("id")


