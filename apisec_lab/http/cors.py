"""Cross-origin use from a browser: an opt-in allow-list of exact origins (the Fetch standard's CORS protocol).

A page from another origin (Swagger UI on ``http://127.0.0.1:8000``, say) may
read the lab's answers only if they say it may: ``Access-Control-Allow-Origin``
naming that page's origin.  Anything else than a GET or a form POST (a request
with ``Authorization``, a JSON body) is asked about first in a *preflight*,
``OPTIONS`` with ``Access-Control-Request-Method``, which must answer 2xx.

The lab says so only for origins the person running it listed
(``apisec_lab.start(cors_origins=[...])``, ``serve --cors ORIGIN``), each
compared exactly, never a wildcard, and never with
``Access-Control-Allow-Credentials``: the lab's clients send their
credentials in ``Authorization`` themselves, so no browser cookie or saved
password ever needs to travel cross-origin.  Which paths of a server take part
is the server's choice (*paths*): the authorization server's token,
revocation and introspection endpoints and its metadata, never its
authorization endpoint, which a browser is sent to, not fetched from
(RFC 9700 section 2.6).

Fetch standard, section 3.2: https://fetch.spec.whatwg.org/#http-cors-protocol
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

#: Request headers a cross-origin page may send: credentials, a body's type, and the marker Swagger UI adds.
ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Requested-With")
ALLOW_METHODS = ("GET", "HEAD", "POST", "PUT")
#: Response headers a cross-origin page may read besides the CORS-safelisted ones (RFC 6750 challenges, 429 waits).
EXPOSE_HEADERS = ("WWW-Authenticate", "Retry-After")
#: Seconds a browser may reuse a preflight's answer.
MAX_AGE = 600


def exact_origin(value: str) -> str:
    """*value* if it is an origin exactly as a browser sends it in ``Origin``; else :class:`ValueError`.

    An origin is scheme, host and port (RFC 6454 section 6.2): ``http://127.0.0.1:8000``, lower case, no
    path, not even ``/``, and no default port.  Close misses are refused with the spelling that would match.
    """
    text = str(value).strip()
    if text in ("*", "null"):
        raise ValueError(f"{text!r} is not an origin the lab will allow: list each page's exact origin")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{text!r} is not an origin: {e}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin: write scheme://host:port, e.g. http://127.0.0.1:8000")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    spelled = f"{parts.scheme.lower()}://{host}" + (f":{port}" if port not in (None, default) else "")
    if text != spelled:
        raise ValueError(f"{text!r} is not an origin as a browser sends it; did you mean {spelled!r}?")
    return text


def exact_origins(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validated origins in the order given, without repeats (see :func:`exact_origin`); one string is one origin."""
    if isinstance(values, str):
        values = [values]
    return tuple(dict.fromkeys(exact_origin(v) for v in values or ()))


class Cors:
    """One server's CORS: the lab's allowed *origins*, on *paths* (None: every path).

    :func:`apisec_lab.http.wsgi.guard` asks :meth:`preflight` before the
    handler and lets :meth:`decorate` add the headers to every answer.
    """

    def __init__(self, origins: Iterable[str], paths: Collection[str] | None = None):
        self.origins = frozenset(exact_origins(origins))
        self.paths = None if paths is None else frozenset(paths)

    def applies(self, request: Request) -> bool:
        return self.paths is None or request.path in self.paths

    def _allowed(self, request: Request) -> str | None:
        origin = request.headers.get("Origin")
        return origin if origin in self.origins and self.applies(request) else None

    def preflight(self, request: Request) -> Response | None:
        """The answer to a preflight from an allowed origin (204); None for any other request.

        A preflight from an origin not on the list is left to the server,
        which answers ``OPTIONS`` as it always did (405): the browser then
        refuses the real request.
        """
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        origin = self._allowed(request)
        if origin is None:
            return None
        return Response(status=204, headers={
            "Access-Control-Allow-Methods": ", ".join(ALLOW_METHODS),
            "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
            "Access-Control-Max-Age": str(MAX_AGE),
        })

    def decorate(self, request: Request, response: Response) -> None:
        """Name the request's origin in the response if it is allowed here; mark the answer as varying by origin.

        Headers are set, not added: behind the gateway the API's answer may already carry them.
        """
        if not self.origins or not self.applies(request):
            return          # CORS is off here: the answer is exactly what it was without it
        response.vary.add("Origin")
        origin = self._allowed(request)
        if origin is None:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method != "OPTIONS":
            response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSE_HEADERS)
