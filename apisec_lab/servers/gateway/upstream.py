"""The HTTP/1.1 client the gateway reaches the API (and the introspection endpoint) with.

:func:`exchange` sends one request on a socket and reads one response, with
the framing RFC 9112 section 6.3 lists: no body for ``HEAD``, 1xx, 204 and
304; ``Transfer-Encoding: chunked`` (section 7.1); ``Content-Length``; or,
with neither, the body runs until the connection closes.  Interim 1xx answers
(``100 Continue``) are skipped.  It is a small reader on purpose: it costs less
per request than :mod:`http.client`, whose header parsing goes through the
email package, and ``benchmarks/bench_gateway.py`` measures the gateway's
whole overhead.  ``tests/test_gateway_upstream.py`` runs every path against a
scripted server.

:class:`Upstream` adds a warm spare connection between requests.
"""
from __future__ import annotations

import re
import socket
import threading
import time

#: Largest response head (status line and headers) accepted from upstream.
MAX_HEAD = 64 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")      # 1*HEXDIG, within what a body could ever be


#: Methods a client may repeat without changing the outcome (RFC 9110 section 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class NoAnswer(ConnectionError):
    """The upstream closed the connection without a single byte of response.

    ``unsent`` is True when the request itself could not be sent (so the upstream never saw it).
    """

    def __init__(self, message: str, unsent: bool = False):
        super().__init__(message)
        self.unsent = unsent


class Upstream:
    """The API as the gateway reaches it: one request per connection, with a warm spare.

    The lab's servers close every connection after one response, so there is
    no keep-alive pool to reuse.  Instead the gateway opens its *next*
    connection as soon as an answer is out: the TCP handshake and the API
    server's per-connection thread start then happen between requests, not
    during one.  Every request still gets a connection of its own.  A spare
    is used only while young (the lab's servers drop a connection idle for
    10 s) and only if it reads as idle; a spare that fails before a single
    byte of answer is replaced by a fresh connection, once.
    """

    #: Seconds (real time) a spare may wait; well under the servers' 10 s idle timeout.
    SPARE_MAX_AGE = 4.0

    def __init__(self, host: str, port: int, warm: bool = True, timeout: float = 10):
        self.address = (host, port)
        self.warm, self.timeout = warm, timeout
        self._spare: tuple[socket.socket, float] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _take_spare(self) -> socket.socket | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        sock, born = spare
        if time.monotonic() - born < self.SPARE_MAX_AGE:
            sock.setblocking(False)
            try:
                sock.recv(1, socket.MSG_PEEK)   # b"" (closed) or bytes (garbage): either way, unusable
            except BlockingIOError:             # nothing to read: open and idle, the API awaits a request line
                sock.settimeout(self.timeout)
                return sock
            except OSError:
                pass
        sock.close()
        return None

    def prepare_spare(self) -> None:
        """Open the connection the next request will use (between requests, off their clock)."""
        if not self.warm or self._closed:
            return
        try:
            sock = socket.create_connection(self.address, timeout=self.timeout)
        except OSError:
            return
        with self._lock:
            old, self._spare = self._spare, (sock, time.monotonic())
            if self._closed:
                old, self._spare = self._spare, None
        if old is not None:
            old[0].close()

    def close(self) -> None:
        """Close the spare connection (the lab calls this when it stops)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare[0].close()

    def exchange(self, method: str, target: str, headers, body: bytes | None):
        """Send one request; ``(status, headers, body)``.

        A spare that turns out dead is replaced by a fresh connection when
        that is safe: the request could not be sent, or it is idempotent (RFC
        9110 section 9.2.2) and the API closed without a byte of answer (RFC
        9112 section 9.3.1).  The caller then calls :meth:`prepare_spare`,
        ideally after its own answer has left (the gateway does it when the
        response is closed).
        """
        sock = self._take_spare()
        if sock is not None:
            try:
                return exchange(sock, method, target, headers, body)
            except NoAnswer as e:     # the spare died unseen
                if not (e.unsent or method in IDEMPOTENT):
                    raise
        return exchange(socket.create_connection(self.address, timeout=self.timeout), method, target, headers, body)


def exchange(sock: socket.socket, method: str, target: str, headers, body: bytes | None):
    """One HTTP/1.1 request on *sock*, which it closes: ``(status, [(name, value)...], body)``.

    *headers* is a dict (``Content-Length`` is then added for a body) or a
    list of pairs sent as given.  Raises :class:`NoAnswer` if the connection
    closes before any byte of answer, :class:`ConnectionError` for a broken or
    truncated answer, :class:`OSError` for the network.
    """
    pairs = headers.items() if isinstance(headers, dict) else headers
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in pairs)]
    if isinstance(headers, dict) and body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    with sock:
        try:
            sock.sendall(message)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise NoAnswer(str(e), unsent=True) from None
        status, response_headers, rest = _read_head(sock)
        if method == "HEAD" or status in (204, 304):
            return status, response_headers, b""
        fields = {k.lower(): v for k, v in response_headers}
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return status, response_headers, _dechunk(sock, rest)
        if "content-length" in fields:
            return status, response_headers, _read_exactly(sock, rest, _content_length(fields["content-length"]))
        while chunk := sock.recv(65536):      # no framing: the body ends when the connection does
            rest += chunk
        return status, response_headers, bytes(rest)


def _read_head(sock) -> tuple[int, list[tuple[str, str]], bytearray]:
    """The final (non-1xx) status, its headers, and the bytes read past them."""
    buf, answered = bytearray(), False
    while True:
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise ConnectionError(f"the upstream's response head is over {MAX_HEAD} bytes")
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if not answered and not buf:
                    raise NoAnswer("the upstream closed the connection without answering")
                raise ConnectionError("the upstream closed before a complete response head")
            buf += chunk
        answered = True
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[:end + 4]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not (parts[1].isdigit() and len(parts[1]) == 3):
            raise ConnectionError(f"the upstream sent a malformed status line {head[0][:60]!r}")
        status = int(parts[1])
        if not 100 <= status < 200:        # interim responses (100 Continue, 103 Early Hints) are skipped
            break
    response_headers = []
    for line in head[1:]:
        name, colon, value = line.partition(":")
        if colon:
            response_headers.append((name.strip(), value.strip()))
    return status, response_headers, buf


def _content_length(value: str) -> int:
    """RFC 9110 section 8.6: a number, or a list of one number repeated; anything else is unrecoverable."""
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not (v := values.pop()).isdigit():
        raise ConnectionError(f"the upstream sent an invalid Content-Length {value[:40]!r}")
    return int(v)


def _read_exactly(sock, buf: bytearray, length: int) -> bytes:
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the upstream closed before the end of the body")
        buf += chunk
    return bytes(buf[:length])


def _dechunk(sock, buf: bytearray) -> bytes:
    """Decode a chunked body (RFC 9112 section 7.1); chunk extensions and trailers are dropped."""
    body = bytearray()
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise ConnectionError("the upstream sent an over-long chunk-size line")
            buf += _more(sock)
        size_text = bytes(buf[:eol]).split(b";")[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise ConnectionError(f"the upstream sent a malformed chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        del buf[:eol + 2]
        if size == 0:
            _skip_trailers(sock, buf)
            return bytes(body)
        while len(buf) < size + 2:
            buf += _more(sock)
        if buf[size:size + 2] != b"\r\n":
            raise ConnectionError("the upstream's chunk is longer than its size says")
        body += buf[:size]
        del buf[:size + 2]


def _skip_trailers(sock, buf: bytearray) -> None:
    """Read the trailer section up to its empty line (the connection closes after it anyway)."""
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise ConnectionError("the upstream's trailer section is over the limit")
            chunk = sock.recv(65536)
            if not chunk:
                return          # a server that closes right after the last chunk lost nothing of the body
            buf += chunk
        line = bytes(buf[:eol])
        del buf[:eol + 2]
        if not line:
            return


def _more(sock) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the upstream closed inside a chunked body")
    return chunk
