"""Forwarding: the request the API receives, and the answer the client gets back.

A reverse proxy drops connection-level headers both ways (RFC 9110 section
7.6.1), says who the client was (``X-Forwarded-For``, ``-Host``, ``-Proto``)
and adds itself to ``Via`` (section 7.6.3).  The answer's headers are the
API's, each once: the gateway adds no ``Content-Type`` of its own, and leaves
the headers its own HTTP layer writes on every response (``Date``,
``Server``, ``X-Content-Type-Options``) to that layer.

Every answer also says how the gateway handled it, in ``Proxy-Status``
(RFC 9209): ``received-status`` is the status the API answered a forwarded
request with (section 2.1.3); a request the gateway answered itself carries
``error`` (section 2.3: ``http_request_denied`` for a policy refusal,
``http_request_error`` for a request it could not parse,
``destination_unavailable`` when an answer it needed did not come) and the
policy's reason in ``details`` (section 2.1.5).  A client, or the wiretap's
sequence diagrams, can then tell the gateway's refusals from the API's
answers.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from werkzeug.wrappers import Response

from .checks import Exchange, Refused

#: Connection-level headers (RFC 9110 section 7.6.1) that a proxy must not forward,
#: plus those the gateway sets itself.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
                        "expect", "transfer-encoding", "upgrade", "host", "content-length", "forwarded",
                        "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "via"})
#: Headers of the API's answer that the gateway does not pass on (its own HTTP layer writes those it needs).
RESPONSE_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date",
                           "via", "x-content-type-options"})
VIA = "1.1 apisec-lab-gateway"
#: The gateway's name in ``Proxy-Status`` (RFC 9209 section 2: an sf-token naming the intermediary).
PROXY_NAME = "apisec-lab-gateway"
#: RFC 9209 section 2.3's error type for each reason the gateway answers a request itself.
PROXY_ERRORS = {"bad_request": "http_request_error", "upstream_unavailable": "destination_unavailable"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def proxy_status(*, received: int | None = None, reason: str | None = None) -> str:
    """RFC 9209: ``apisec-lab-gateway; received-status=200`` for a forwarded request, else
    ``apisec-lab-gateway; error=http_request_denied; details="credential_in_url"`` (*reason*, a key of REASONS)."""
    if received is not None:
        return f"{PROXY_NAME}; received-status={received}"
    return f'{PROXY_NAME}; error={PROXY_ERRORS.get(reason, "http_request_denied")}; details="{reason}"'


def forward(upstream, x: Exchange) -> Response:
    """Send the checked request to the API through *upstream*; the API's answer as a werkzeug Response."""
    request = x.request
    # Forward the path the gateway matched (re-encoded), not a differently-encoded original.
    path = quote(request.environ.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
    query = quote(request.environ.get("QUERY_STRING", "").encode("latin-1"), safe="/?:@!$&'()*+,;=-._~%")
    target = path + ("?" + query if query else "")
    headers = [(k, v) for k, v in x.header_items if k.lower() not in HOP_BY_HOP]
    host, port = upstream.address
    headers += [("Host", f"{host}:{port}"), ("X-Forwarded-For", request.remote_addr or ""),
                ("X-Forwarded-Host", request.host), ("X-Forwarded-Proto", "http"), ("Via", VIA)]
    if any(_CONTROL.search(k + v) for k, v in headers):
        raise Refused("bad_request", "invalid_request", "A header contains a control character.")
    if x.body or request.method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(x.body))))
    try:
        status, upstream_headers, data = upstream.exchange(request.method, target, headers, x.body)
    except (OSError, ValueError) as e:
        raise Refused("upstream_unavailable", "bad_gateway",
                      f"The API did not answer ({type(e).__name__}).") from None
    kept = [(k, v) for k, v in upstream_headers if k.lower() not in RESPONSE_DROP]
    kept += [("Via", VIA), ("Proxy-Status", proxy_status(received=status))]
    response = Response(data, status=status, headers=kept)
    if not any(k.lower() == "content-type" for k, _ in kept):
        del response.headers["Content-Type"]      # werkzeug's default; the API sent none
    if request.method == "HEAD":
        for k, v in upstream_headers:
            if k.lower() == "content-length":
                response.headers["Content-Length"] = v      # the size a GET would have had
    # Open the next connection once this answer is on its way, not before.
    response.call_on_close(upstream.prepare_spare)
    return response
