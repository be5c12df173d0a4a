"""The gateway's HTTP/1.1 client, path by path, against a scripted server (RFC 9112 section 6.3 framing).

No lab here: a loopback socket that records each request and answers with exactly the bytes a test gives,
in pieces, so every branch of the reader runs: Content-Length, chunked, read-to-close, HEAD/204/304,
interim 1xx, broken answers, and the warm spare connection (used, replaced, retried only when safe).
"""
from __future__ import annotations

import select
import socket
import struct
import sys
import threading
import time

import pytest

from apisec_lab.servers.gateway import Upstream
from apisec_lab.servers.gateway.upstream import MAX_HEAD, NoAnswer, exchange

#: A loopback address of these tests' own (all of 127.0.0.0/8 is loopback on Linux): a client elsewhere in the
#: session that keeps reconnecting to a freed 127.0.0.1 port (the ZMQ sockets of a kernel gone do, every
#: 100 ms) cannot land in a script when the port is handed out again.
HOST = "127.83.0.1" if sys.platform.startswith("linux") else "127.0.0.1"


class Scripted:
    """A loopback server: connection *n* gets ``script[n]`` (bytes sent in pieces, or a callable(conn)).

    A connection beyond the script is closed at once (and counted): the test's counts then tell.
    """

    def __init__(self, *script, pieces: int = 3):
        self.script, self.pieces = list(script), pieces
        self.requests: list[bytes] = []      # what each connection sent, in accept order
        self.accepted = 0
        self.listener = socket.create_server((HOST, 0))
        self.address = self.listener.getsockname()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            index, self.accepted = self.accepted, self.accepted + 1
            if index >= len(self.script):
                conn.close()
                continue
            threading.Thread(target=self._answer, args=(conn, self.script[index]), daemon=True).start()

    def _answer(self, conn, answer):
        with conn:
            conn.settimeout(5)
            if callable(answer):
                answer(conn, self)
                return
            self.requests.append(read_request(conn))
            step = max(1, len(answer) // self.pieces)
            for i in range(0, len(answer), step):         # in pieces: the reader must reassemble them
                conn.sendall(answer[i:i + step])
                time.sleep(0.002)

    def connections(self, settle: float = 0.1) -> int:
        """How many connections it accepted, once the accept loop has caught up."""
        time.sleep(settle)
        return self.accepted

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=5)

    def close(self):
        self.listener.close()


def read_request(conn) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            while len(body) < int(line.split(b":")[1]):
                body += conn.recv(65536)
    return data


@pytest.fixture
def server(request):
    made = []

    def make(*script, pieces=3):
        made.append(Scripted(*script, pieces=pieces))
        return made[-1]

    yield make
    for s in made:
        s.close()


def get(server_, method="GET", headers=None, body=None):
    return exchange(server_.connect(), method, "/x", headers or {"Host": "x"}, body)


# -- framing --------------------------------------------------------------------------------------------
def test_content_length_body_in_pieces(server):
    s = server(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world", pieces=5)
    assert get(s) == (200, [("Content-Type", "text/plain"), ("Content-Length", "11")], b"hello world")


def test_content_length_stops_at_its_length(server):
    s = server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert get(s)[2] == b"ok"


def test_a_repeated_identical_content_length_is_one(server):      # RFC 9110 section 8.6
    s = server(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok")
    assert get(s)[2] == b"ok"


@pytest.mark.parametrize("value", [b"abc", b"2, 3", b"-1", b""])
def test_an_invalid_content_length_is_an_error_not_a_guess(server, value):
    s = server(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nok")
    with pytest.raises(ConnectionError, match="Content-Length"):
        get(s)


def test_chunked_with_extensions_and_trailers(server):            # RFC 9112 section 7.1
    body = b"5\r\nhello\r\n6;name=value\r\n world\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: t\r\n\r\n"
    s = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, pieces=len(body))   # byte by byte
    status, headers, data = get(s)
    assert (status, data) == (200, b"hello world, chunked!")
    assert headers == [("Transfer-Encoding", "chunked")]


def test_chunked_wins_over_content_length(server):                # RFC 9112 section 6.3, rule 3
    s = server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n"
               b"2\r\nok\r\n0\r\n\r\n")
    assert get(s)[2] == b"ok"


def test_chunked_closed_after_the_last_chunk_keeps_the_body(server):
    s = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    assert get(s)[2] == b"ok"


@pytest.mark.parametrize("chunks, message", [
    (b"zz\r\n", "chunk size"),
    (b"0x2\r\nok\r\n0\r\n\r\n", "chunk size"),
    (b"-2\r\nok\r\n0\r\n\r\n", "chunk size"),
    (b"\r\n", "chunk size"),
    (b"2\r\nokay\r\n0\r\n\r\n", "longer than its size"),
    (b"5\r\nhel", "inside a chunked body"),
    (b"5", "inside a chunked body"),
])
def test_broken_chunked_bodies_are_errors(server, chunks, message):
    s = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    with pytest.raises(ConnectionError, match=message):
        get(s)


def test_over_long_chunk_lines_and_trailers_are_errors(server):
    s = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * (MAX_HEAD + 10),
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + b"t" * (MAX_HEAD + 10))
    with pytest.raises(ConnectionError, match="over-long chunk-size line"):
        get(s)
    with pytest.raises(ConnectionError, match="trailer section"):
        get(s)


def test_a_header_line_without_a_colon_is_skipped(server):
    s = server(b"HTTP/1.1 200 OK\r\nnonsense\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n")
    assert get(s)[1] == [("X-A", "1"), ("Content-Length", "0")]


def test_no_framing_reads_to_close(server):                       # RFC 9112 section 6.3, rule 8
    s = server(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 200_000, pieces=7)
    assert get(s)[2] == b"x" * 200_000


def _hold_open(answer: bytes):
    """Send *answer*, then keep the connection open: a reader that waits for more would hang."""
    def act(conn, srv):
        srv.requests.append(read_request(conn))
        conn.sendall(answer)
        time.sleep(2)
    return act


@pytest.mark.parametrize("method, status", [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_no_body_for_head_204_and_304(server, method, status):  # RFC 9112 section 6.3, rule 1
    s = server(_hold_open(f"HTTP/1.1 {status} X\r\nContent-Length: 1234\r\n\r\n".encode()))
    started = time.monotonic()
    got = get(s, method)
    assert (got[0], got[2]) == (status, b"") and ("Content-Length", "1234") in got[1]
    assert time.monotonic() - started < 1, "waited for a body that never comes"


def test_interim_responses_are_skipped(server):
    s = server(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
               b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", pieces=9)
    assert get(s) == (201, [("Content-Length", "2")], b"ok")


def test_a_close_after_an_interim_response_is_not_a_silent_upstream(server):
    # The API answered 100: it read the request.  Closing then is a broken answer, never "no answer"
    # (which would make the spare logic send a POST twice).
    s = server(b"HTTP/1.1 100 Continue\r\n\r\n")
    with pytest.raises(ConnectionError) as e:
        get(s, "POST", body=b"{}")
    assert not isinstance(e.value, NoAnswer)


@pytest.mark.parametrize("answer, message", [
    (b"", "without answering"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "complete response head"),
    (b"SMTP ready\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "end of the body"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10), "over 65536 bytes"),
])
def test_broken_answers_are_errors(server, answer, message):
    s = server(answer)
    with pytest.raises(ConnectionError, match=message):
        get(s)


def test_the_request_it_sends(server):
    s = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    exchange(s.connect(), "POST", "/form", {"Host": "h", "X-A": "1"}, b"a=1")
    exchange(s.connect(), "PUT", "/list", [("Host", "h"), ("Content-Length", "2"), ("X-B", "2")], b"{}")
    assert s.requests[0] == (b"POST /form HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 3\r\n"
                             b"Connection: close\r\n\r\na=1")
    assert s.requests[1] == b"PUT /list HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-B: 2\r\nConnection: close\r\n\r\n{}"


def test_the_socket_is_closed_after_the_exchange(server):
    s = server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    sock = s.connect()
    exchange(sock, "GET", "/", {"Host": "x"}, None)
    assert sock.fileno() == -1


# -- the warm spare ------------------------------------------------------------------------------------------
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def upstream_for(s, **kw) -> Upstream:
    return Upstream(*s.address, **kw)


def test_the_spare_is_the_next_requests_connection(server):
    s = server(OK, OK, OK)
    up = upstream_for(s)
    assert up.exchange("GET", "/1", {"Host": "x"}, None)[2] == b"ok"     # no spare yet: a fresh connection
    up.prepare_spare()                                                     # connection 2, idle
    assert s.connections() == 2
    assert up.exchange("GET", "/2", {"Host": "x"}, None)[2] == b"ok"     # ... carries request 2
    assert s.connections() == 2 and up._spare is None
    assert [r.split(b" ")[1] for r in s.requests] == [b"/1", b"/2"]
    up.close()


def test_a_cold_upstream_opens_no_spare(server):
    s = server(OK)
    up = upstream_for(s, warm=False)
    up.prepare_spare()
    assert up._spare is None and s.connections() == 0


def _close_at_once(conn, srv):
    pass                       # accepted, then closed: the spare reads EOF


def _reset(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close sends RST, not FIN


def _read_and_reset(conn, srv):
    srv.requests.append(read_request(conn))
    _reset(conn)


def _reset_at_once(conn, srv):
    _reset(conn)


def _garbage(conn, srv):
    conn.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    time.sleep(1)


@pytest.mark.parametrize("spare", [_close_at_once, _garbage, _reset_at_once], ids=["closed", "unrequested bytes",
                                                                                   "reset"])
def test_an_unusable_spare_is_seen_and_replaced(server, spare):
    s = server(spare, OK)
    up = upstream_for(s)
    up.prepare_spare()
    dead = up._spare[0]
    # Wait until the server has spoilt the spare (closed, reset or wrote to it): it then reads as ready.
    assert select.select([dead], [], [], 10)[0], "the test server never touched the spare"
    assert up.exchange("POST", "/p", {"Host": "x"}, b"{}")[2] == b"ok"  # even a POST: the spare never saw it
    assert s.connections() == 2 and dead.fileno() == -1 and len(s.requests) == 1


def test_an_old_spare_is_not_used(server, monkeypatch):
    s = server(_hold_open(b""), OK)
    up = upstream_for(s)
    up.prepare_spare()
    old = up._spare[0]
    monkeypatch.setattr(Upstream, "SPARE_MAX_AGE", 0.0)
    assert up.exchange("GET", "/", {"Host": "x"}, None)[2] == b"ok"
    assert s.connections() == 2 and old.fileno() == -1


def _read_and_hang_up(conn, srv):
    srv.requests.append(read_request(conn))      # it read the request, then closed without a word


@pytest.mark.parametrize("death", [_read_and_hang_up, _read_and_reset], ids=["closed", "reset"])
def test_a_spare_that_dies_unseen_is_retried_for_an_idempotent_request(server, death):
    s = server(death, OK)
    up = upstream_for(s)
    up.prepare_spare()
    assert up.exchange("GET", "/g", {"Host": "x"}, None)[2] == b"ok"    # RFC 9112 section 9.3.1
    assert s.connections() == 2 and len(s.requests) == 2


def test_a_spare_that_dies_unseen_is_not_retried_for_a_post(server):
    s = server(_read_and_hang_up, OK)
    up = upstream_for(s)
    up.prepare_spare()
    with pytest.raises(NoAnswer):
        up.exchange("POST", "/p", {"Host": "x"}, b"{}")                # maybe processed: never sent twice
    assert s.connections() == 1 and len(s.requests) == 1


class _Unsendable:
    """A connection the peer has already dropped: sending fails (EPIPE)."""

    closed = False

    def sendall(self, data):
        raise BrokenPipeError(32, "Broken pipe")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True


def test_a_request_that_could_not_be_sent_is_retried_even_for_a_post(server, monkeypatch):
    with pytest.raises(NoAnswer) as e:
        exchange(_Unsendable(), "POST", "/", {"Host": "x"}, b"{}")
    assert e.value.unsent
    s = server(OK)
    up = upstream_for(s)
    dead = _Unsendable()
    monkeypatch.setattr(up, "_take_spare", lambda: dead)
    assert up.exchange("POST", "/p", {"Host": "x"}, b"{}")[2] == b"ok"     # the API never saw it: safe to send
    assert dead.closed and len(s.requests) == 1


def test_a_new_spare_replaces_and_closes_the_old_one(server):
    s = server(_hold_open(b""), _hold_open(b""))
    up = upstream_for(s)
    up.prepare_spare()
    first = up._spare[0]
    up.prepare_spare()
    assert first.fileno() == -1 and up._spare[0] is not first
    up.close()


def test_a_spare_opened_while_closing_is_closed_too(server, monkeypatch):
    s = server(_hold_open(b""))
    up = upstream_for(s)
    opened = []
    real = socket.create_connection

    def connect_then_close(*args, **kwargs):
        opened.append(real(*args, **kwargs))
        up.close()                               # the lab stops while the spare is being opened
        return opened[-1]

    monkeypatch.setattr(socket, "create_connection", connect_then_close)
    up.prepare_spare()
    assert up._spare is None and opened[0].fileno() == -1


def test_nothing_listening_is_an_oserror_and_no_spare():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    up = Upstream(HOST, port)
    up.prepare_spare()                         # fails quietly: the next request connects itself
    assert up._spare is None
    with pytest.raises(OSError):
        up.exchange("GET", "/", {"Host": "x"}, None)


def test_close_drops_the_spare_and_opens_no_more(server):
    s = server(_hold_open(b""), _hold_open(b""))
    up = upstream_for(s)
    up.prepare_spare()
    spare = up._spare[0]
    up.close()
    assert up._spare is None and spare.fileno() == -1
    up.prepare_spare()
    assert up._spare is None and s.connections() == 1
