"""A wiretap: the exact bytes that crossed a loopback socket, for the lab to show.

The wiretap is a small recording HTTP forward proxy (RFC 9112 section 3.2.2,
absolute-form requests).  A client sends its request through it, as through
any corporate proxy; the wiretap forwards it to the lab server it names and
keeps a copy of both byte streams exactly as they crossed the proxy-to-server
socket.  That is what anyone on the path of plain HTTP sees: a log, a proxy,
an eavesdropper on the network.

It relays only to the lab's own servers, so it never becomes an open proxy.
"""
from __future__ import annotations

import collections
import json
import re
import socket
import socketserver
import sys
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pandas as pd
import requests

from ..http import owner
from ..http.hub import drop_hub_header_lines
from ..http.wsgi import EVERY_RESPONSE, LOOPBACK, record_bug
from . import sequence as _sequence

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
MAX_RESPONSE = 8 * 1024 * 1024
HOP_BY_HOP = {"proxy-connection", "connection", "keep-alive"}
_DIGITS = re.compile(r"[0-9]+")


def _fields(block: bytes) -> list[tuple[str, str]]:
    """The header fields of a message head, in order, as sent (``name: value``, RFC 9112 section 5), latin-1.

    Byte for byte what crossed the wire: no MIME decoding, whatever the bytes (the email package would
    hand back ``Header`` objects for anything outside ASCII).
    """
    fields = []
    for line in block.split(b"\n"):
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if colon and name.strip():
            fields.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return fields


@dataclass
class RawMessage:
    """One HTTP message as raw bytes, with its parts parsed for convenience."""

    raw: bytes

    def _split(self):
        head, _, body = self.raw.partition(b"\r\n\r\n")
        start, _, headers = head.partition(b"\r\n")
        return start.decode("latin-1"), headers, body

    @property
    def start_line(self) -> str:
        return self._split()[0]

    @property
    def headers(self) -> dict[str, str]:
        return dict(_fields(self._split()[1]))

    @property
    def body(self) -> bytes:
        return self._split()[2]

    def text(self, limit: int = 2000) -> str:
        """The message as a person would read it off the wire (bytes decoded, long bodies cut)."""
        text = self.raw.decode("utf-8", "replace")
        return text if len(text) <= limit else text[:limit] + f"\n... ({len(self.raw) - limit} more bytes)"

    def json(self):
        return json.loads(self.body)

    def __str__(self) -> str:
        return self.text()


@dataclass
class Exchange:
    """A request and its response, as captured on the wire."""

    id: int
    at: float
    server: str
    target: str
    request: RawMessage
    response: RawMessage = field(default_factory=lambda: RawMessage(b""))
    answered: float | None = None      # lab clock, when the response was back (requests made meanwhile nest)

    @property
    def method(self) -> str:
        return self.request.start_line.split(" ")[0]

    @property
    def path(self) -> str:
        parts = self.request.start_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    @property
    def status(self) -> int | None:
        parts = self.response.start_line.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    def __repr__(self) -> str:
        return f"<Exchange #{self.id} {self.server}: {self.method} {self.path} -> {self.status}>"


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    errors: list

    def handle_error(self, request, client_address):
        # The standard library would print the traceback into whichever notebook cell is running.
        record_bug(self.errors, sys.exc_info()[1])


class Wiretap:
    """The recording proxy; point a client at :attr:`proxies` (or use :meth:`session`)."""

    def __init__(self, clock, targets: dict[int, str], host: str = LOOPBACK, keep: int = 2000,
                 errors: list | None = None, store=None):
        self.clock = clock
        self.targets = targets            # port -> server name; filled in by the lab
        self.store = store                # whose tokens and clients are whose, for sequence diagrams
        self._records: collections.deque[Exchange] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._next_id = 1
        tap = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self):
                if not owner.allowed(self.connection):      # only the lab's owner (apisec_lab/http/owner.py)
                    try:
                        tap._reply(self.connection, 403, "access_denied", owner.REFUSAL)
                    except OSError:
                        pass
                    return
                tap._relay(self.rfile, self.connection)

        self.server = _ProxyServer((host, 0), Handler)
        self.server.errors = [] if errors is None else errors    # the lab's lab.errors
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       name="apisec-lab-wiretap", daemon=True)

    # -- the public face -------------------------------------------------
    @property
    def proxies(self) -> dict[str, str]:
        """For ``requests``: ``requests.get(url, proxies=lab.wiretap.proxies)``."""
        return {"http": self.url}

    def session(self) -> requests.Session:
        """A ``requests.Session`` whose every request is captured."""
        s = requests.Session()
        s.trust_env = False
        s.proxies.update(self.proxies)
        return s

    @property
    def records(self) -> list[Exchange]:
        with self._lock:
            return list(self._records)

    def last(self, n: int | None = None):
        """The last exchange, or the last *n* as a list."""
        records = self.records
        return records[-1] if n is None else records[-n:]

    def find(self, text: str) -> list[Exchange]:
        """Exchanges whose raw request or response contains *text*."""
        needle = text.encode("utf-8")
        return [x for x in self.records if needle in x.request.raw or needle in x.response.raw]

    def mark(self) -> int:
        """The id the next capture will get: ``mark = lab.wiretap.mark()``, then ``sequence(first=mark)``."""
        with self._lock:
            return self._next_id

    def sequence(self, exchanges=None, *, first: int | None = None, last: int | None = None,
                 title: str | None = None) -> _sequence.Sequence:
        """The captures as a sequence diagram: every one, those with ids *first* to *last*, or *exchanges*.

        It displays as a Mermaid diagram in JupyterLab and as text elsewhere: one lane per party,
        one arrow per request, a dashed one per answer, credentials named and secrets masked
        (:mod:`apisec_lab.servers.sequence`).  ``lab.wiretap.sequence(first=3, title="...")``.
        """
        chosen = self.records if exchanges is None else list(exchanges)
        chosen = [x for x in chosen if (first is None or x.id >= first) and (last is None or x.id <= last)]
        return _sequence.draw(chosen, store=self.store, servers=self.targets, title=title)

    def clear(self) -> None:
        """Forget every capture; numbering starts again at 1."""
        with self._lock:
            self._records.clear()
            self._next_id = 1

    def frame(self) -> pd.DataFrame:
        """One row per exchange: what an observer of the traffic learns at a glance."""
        rows = [{"id": x.id, "server": x.server, "method": x.method, "path": x.path, "status": x.status,
                 "authorization": x.request.headers.get("Authorization", ""),
                 "request_bytes": len(x.request.raw), "response_bytes": len(x.response.raw)}
                for x in self.records]
        columns = ["id", "server", "method", "path", "status", "authorization", "request_bytes", "response_bytes"]
        return pd.DataFrame(rows, columns=columns).set_index("id")

    def start(self) -> "Wiretap":
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=1)
        self.server.server_close()

    # -- the relay -------------------------------------------------------
    def _reply(self, conn, status: int, error: str, description: str) -> None:
        body = json.dumps({"error": error, "error_description": description}).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in EVERY_RESPONSE.items())
        head = (f"HTTP/1.1 {status} {error}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode()
        conn.sendall(head + body)

    def _relay(self, rfile, conn) -> None:
        try:
            request_line = rfile.readline(MAX_HEAD)
            if not request_line.strip():
                return
            head_lines, size = [], len(request_line)
            while True:
                line = rfile.readline(MAX_HEAD)
                size += len(line)
                if size > MAX_HEAD:
                    return self._reply(conn, 431, "request_header_fields_too_large", "Headers over 64 KiB.")
                if line in (b"\r\n", b"\n", b""):
                    break
                head_lines.append(line)
            parts = request_line.decode("latin-1").split()
            if len(parts) != 3:
                return self._reply(conn, 400, "invalid_request", "Malformed request line.")
            method, target, version = parts
            try:
                url = urlsplit(target)
                port = url.port
            except ValueError as e:     # "http://[::1/" (a broken IPv6 literal), "http://127.0.0.1:99999/"
                return self._reply(conn, 400, "invalid_request", f"The request target cannot be parsed: {e}.")
            if url.scheme != "http" or url.hostname not in (LOOPBACK, "localhost") or port not in self.targets:
                return self._reply(conn, 403, "forbidden",
                                   "The wiretap relays plain-HTTP requests to this lab's own servers only.")
            fields = _fields(b"".join(head_lines))
            if any(k.strip().lower() == "transfer-encoding" for k, _ in fields):
                return self._reply(conn, 411, "length_required", "Send a Content-Length body through the wiretap.")
            lengths = {v for k, v in fields if k.strip().lower() == "content-length"}
            if len(lengths) > 1 or not all(_DIGITS.fullmatch(v) for v in lengths):
                # RFC 9112 section 6.3: an invalid Content-Length makes the message's framing unknowable.
                return self._reply(conn, 400, "invalid_request", "Content-Length must be one decimal number.")
            length = int(lengths.pop()) if lengths else 0
            if length > MAX_BODY:
                return self._reply(conn, 413, "request_too_large", "Bodies through the wiretap stop at 1 MiB.")
            body = rfile.read(length)
            if len(body) < length:
                # The client stopped sending: forwarded, the server would wait for the rest until it timed out.
                return self._reply(conn, 400, "invalid_request", f"The body ended after {len(body)} of the "
                                                                 f"{length} bytes its Content-Length announced.")
            origin_form = url.path or "/"
            if url.query:
                origin_form += "?" + url.query
            kept = [ln for ln in head_lines if ln.split(b":", 1)[0].strip().lower().decode("latin-1") not in HOP_BY_HOP]
            kept = drop_hub_header_lines(kept)        # never relayed, never recorded
            raw_request = (f"{method} {origin_form} {version}\r\n".encode("latin-1") + b"".join(kept)
                           + b"Connection: close\r\n\r\n" + body)
            with self._lock:
                exchange = Exchange(self._next_id, self.clock.now(), self.targets[port],
                                    f"{url.hostname}:{port}", RawMessage(raw_request))
                self._next_id += 1
                self._records.append(exchange)
            try:
                exchange.response = RawMessage(self._forward(port, raw_request))
                exchange.answered = self.clock.now()
            except OSError as e:
                return self._reply(conn, 502, "bad_gateway", f"The {exchange.server} server did not answer "
                                                             f"({type(e).__name__}).")
            conn.sendall(exchange.response.raw)
        except OSError:
            # The client went away mid-exchange: nothing to answer.
            return

    @staticmethod
    def _forward(port: int, raw_request: bytes) -> bytes:
        with socket.create_connection((LOOPBACK, port), timeout=10) as upstream:
            upstream.sendall(raw_request)
            chunks, total = [], 0
            while total <= MAX_RESPONSE:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        return b"".join(chunks)
