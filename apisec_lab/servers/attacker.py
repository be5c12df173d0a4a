"""The attacker's own web server: pages the learner writes, and a log of everything that reaches it.

Attack labs give the learner a server of their own, as PortSwigger's exploit
server does: a page or a redirect written from a notebook cell, served on a
loopback origin the lab's victim can be sent to, and a log of every request
that arrives there (full URL, headers, ``Referer``, body). A stolen code that
lands here in a URL or a ``Referer`` header is the evidence an attack worked.

>>> url = lab.attacker.serve("/exploit", "<img src='...'>")       # doctest: +SKIP
>>> lab.attacker.redirect("/go", "http://...")                     # doctest: +SKIP
>>> lab.attacker.frame(); lab.attacker.find("code=")               # doctest: +SKIP

It answers only what the learner wrote (404 elsewhere) and fetches nothing
itself: the learner's cells decide what it does with what it received.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
from werkzeug.wrappers import Request, Response

#: Requests the log keeps (the oldest go first).
KEEP = 500
#: Bytes of a request body the log keeps.
MAX_LOGGED_BODY = 16 * 1024


@dataclass(frozen=True)
class Hit:
    """One request that reached the attacker's server, as it arrived."""

    id: int
    at: float                      # lab clock
    method: str
    url: str                       # full URL, query included
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    @property
    def referer(self) -> str:
        return self.headers.get("Referer", "")

    @property
    def referer_query(self) -> dict[str, str]:
        """The query parameters of the page that sent the browser here (a leaked code lives there)."""
        return dict(parse_qsl(urlsplit(self.referer).query, keep_blank_values=True))

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class Page:
    """What the attacker's server answers on one path."""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class AttackerServer:
    """The WSGI handler of the attacker's server (the lab wraps it with :func:`apisec_lab.http.wsgi.guard`).

    :meth:`serve` and :meth:`redirect` write what a path answers; :attr:`records`,
    :meth:`frame`, :meth:`find` and :meth:`last` read what arrived; :meth:`clear`
    forgets both.  ``url`` is the server's base URL (set by the lab once bound).
    """

    def __init__(self, clock, url: str = "", keep: int = KEEP):
        self.clock = clock
        self.url = url
        self._pages: dict[str, Page] = {}
        self._hits: collections.deque[Hit] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._next_id = 1

    # -- what the learner writes -------------------------------------------
    def serve(self, path: str, body: str | bytes = "", *, status: int = 200,
              content_type: str = "text/html; charset=utf-8", headers: dict[str, str] | None = None) -> str:
        """Answer *path* with *body* from now on; return the page's full URL.

        ``content_type="application/json"`` serves a document (a JWKS, say);
        *headers* adds response headers (a ``Referrer-Policy``, a ``Location``).
        """
        path = _path(path)
        if not 100 <= int(status) <= 599:
            raise ValueError(f"an HTTP status is 100 to 599, not {status}")
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        with self._lock:
            self._pages[path] = Page(data, int(status), content_type, tuple((headers or {}).items()))
        return self.url + path

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Answer *path* with a redirect to *location*; return the page's full URL."""
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"a redirect status is 301, 302, 303, 307 or 308, not {status}")
        return self.serve(path, "", status=status, content_type="text/plain; charset=utf-8",
                          headers={"Location": location})

    def pages(self) -> dict[str, Page]:
        with self._lock:
            return dict(self._pages)

    # -- what arrived ---------------------------------------------------------
    @property
    def records(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def last(self) -> Hit | None:
        records = self.records
        return records[-1] if records else None

    def find(self, text: str) -> list[Hit]:
        """Requests whose URL, headers or body contain *text*."""
        return [h for h in self.records
                if text in h.url or any(text in v for v in h.headers.values()) or text in h.text()]

    def frame(self) -> pd.DataFrame:
        """One row per request that reached the attacker: what an exploit server's log shows."""
        rows = [{"id": h.id, "method": h.method, "path": h.path, "query": urlsplit(h.url).query,
                 "referer": h.referer, "user_agent": h.headers.get("User-Agent", ""), "body": h.text()}
                for h in self.records]
        return pd.DataFrame(rows, columns=["id", "method", "path", "query", "referer", "user_agent",
                                           "body"]).set_index("id")

    def clear(self) -> None:
        """Forget every page and every logged request; numbering starts again at 1."""
        with self._lock:
            self._pages.clear()
            self._hits.clear()
            self._next_id = 1

    # -- serving -----------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        body = request.get_data(cache=False)[:MAX_LOGGED_BODY]
        url = self.url + request.full_path.rstrip("?") if self.url else request.url
        with self._lock:
            hit = Hit(self._next_id, self.clock.now(), request.method, url, dict(request.headers.items()), body)
            self._next_id += 1
            self._hits.append(hit)
            page = self._pages.get(request.path)
        if page is None:
            return Response("Nothing here yet: write this page with lab.attacker.serve(path, body).\n",
                            status=404, mimetype="text/plain")
        response = Response(page.body, status=page.status, content_type=page.content_type)
        for name, value in page.headers:
            response.headers[name] = value
        return response

    def __repr__(self) -> str:
        return f"<AttackerServer {self.url}: {len(self._pages)} pages, {len(self._hits)} requests logged>"


def _path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError(f"a page's path starts with '/' and has no query or fragment: {path!r}")
    return path
