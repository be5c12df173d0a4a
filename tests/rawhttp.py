"""Raw HTTP for tests: send exact bytes to a lab server, read its answer with the standard library's parser.

``requests`` refuses to send much of what a hostile client can (a broken
request line, a header with a control character, a lying Content-Length);
these helpers send anything and insist on getting an answer back.
"""
from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        """Every value of header *name* (so a test can insist on exactly one)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


class NoAnswer(AssertionError):
    """The server closed the connection without a complete HTTP response."""


def exchange(port: int, data: bytes, head: bool = False, timeout: float = 10) -> Answer:
    """Send *data* to ``127.0.0.1:port``, close our side, and parse the response (*head*: it has no body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:        # the server already answered and closed
            pass
        response = http.client.HTTPResponse(sock, method="HEAD" if head else "GET")
        try:
            response.begin()
            body = response.read()
        except (http.client.HTTPException, ConnectionError) as e:
            raise NoAnswer(f"no HTTP answer to {data[:120]!r}: {e!r}") from None
        finally:
            response.close()      # its file holds the socket open past the with block otherwise
        return Answer(response.status, response.getheaders(), body)


def request(method: str, target: str, headers: dict | list = (), body: bytes = b"", chunked: bool = False,
            version: str = "HTTP/1.1") -> bytes:
    """The bytes of one request; ``Host`` and the body's framing are added unless given."""
    pairs = list(headers.items() if isinstance(headers, dict) else headers)
    names = {k.lower() for k, _ in pairs}
    if "host" not in names:
        pairs.insert(0, ("Host", "127.0.0.1"))
    if chunked:
        pairs.append(("Transfer-Encoding", "chunked"))
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif body and "content-length" not in names:
        pairs.append(("Content-Length", str(len(body))))
    lines = [f"{method} {target} {version}", *(f"{k}: {v}" for k, v in pairs), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
