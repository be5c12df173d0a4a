"""HTTP plumbing shared by every server in the lab.

- :func:`json_error` writes RFC-style error bodies
  (``{"error": ..., "error_description": ...}``, as RFC 6749 section 5.2).
- :func:`guard` wraps a handler so that bad input becomes a clear 4xx and a
  bug becomes a recorded 500 (never a dropped connection or a dead thread);
  it reads chunked bodies to the size limit, answers CORS preflights for an
  opt-in :class:`~apisec_lab.http.cors.Cors` allow-list, and sets the headers
  every response carries (:data:`EVERY_RESPONSE`).
- :class:`BackgroundServer` runs a WSGI app with werkzeug on loopback in a
  daemon thread, and stops in milliseconds.  What fails before the app runs
  (a request line werkzeug cannot parse) gets a JSON 4xx; what fails in the
  server itself is recorded like any other bug, never printed.
"""
from __future__ import annotations

import io
import json
import sys
import threading
import traceback
import warnings
from typing import Callable

from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from . import owner
from .cors import Cors
from .hub import OWNER_KEY, Edge

#: Largest request body any lab server reads (bytes).
MAX_BODY = 64 * 1024
#: Largest total size of request headers accepted (bytes).
MAX_HEADER_BYTES = 16 * 1024
LOOPBACK = "127.0.0.1"
#: Headers on every response of every lab server.  ``nosniff``: browsers must
#: believe the declared Content-Type (a JSON error is never run as a script or
#: rendered as HTML; OWASP Secure Headers Project).
EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff"}


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(payload, indent=1), status=status, mimetype="application/json",
                    headers=headers)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def json_error(status: int, error: str, description: str, headers: dict | None = None) -> Response:
    """An RFC 6749 style error: ``{"error": code, "error_description": text}``."""
    return json_response({"error": error, "error_description": description}, status, headers)


_ERROR_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
                413: "request_too_large", 414: "uri_too_long", 415: "unsupported_media_type",
                431: "request_header_fields_too_large"}


def record_bug(errors: list, error: BaseException, path: str | None = None, method: str | None = None) -> None:
    """Keep the evidence of a bug in the lab (``lab.errors``; tests assert it stays empty), never print it."""
    errors.append({"path": path, "method": method, "error": repr(error),
                   "traceback": "".join(traceback.format_exception(error))})


class _TooLarge(Exception):
    """A chunked body went past :data:`MAX_BODY`."""


def _frame_body(environ) -> str | None:
    """Give the request a body of known length, or say why it cannot have one.

    A body sent with ``Transfer-Encoding: chunked`` (RFC 9112 section 7.1)
    has no Content-Length, and werkzeug quietly stops reading it at the size
    limit: a handler would see a truncated body.  It is read here instead, up
    to one byte past :data:`MAX_BODY` (raising :class:`_TooLarge` beyond),
    and handed on as an ordinary body with a Content-Length, so every server
    sees either the whole body or a 413.  Returns a reason to refuse (400) or None.
    """
    coding = environ.get("HTTP_TRANSFER_ENCODING")
    if coding is None:
        return None
    if coding.strip().lower() != "chunked":
        # RFC 9112 s6.1: unless chunked is the final coding the length cannot be known (400);
        # the lab decodes no other coding.
        return f"Transfer-Encoding {coding[:40]!r} is not supported; send the body chunked or with a Content-Length."
    if environ.get("CONTENT_LENGTH"):
        # RFC 9112 s6.1 lets a server refuse both at once: they are how requests are smuggled past proxies.
        return "Send either Content-Length or Transfer-Encoding: chunked, not both (RFC 9112 section 6.1)."
    stream, parts, size = environ["wsgi.input"], [], 0
    try:
        while size <= MAX_BODY:
            part = stream.read(MAX_BODY + 1 - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
    except (OSError, ValueError):   # werkzeug's DechunkedInput on a broken chunk header or a short chunk
        return "The chunked body is malformed (RFC 9112 section 7.1)."
    if size > MAX_BODY:
        raise _TooLarge()
    body = b"".join(parts)
    # From here on the body is framed by its length, as if it had come that way.
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    del environ["HTTP_TRANSFER_ENCODING"]
    environ.pop("wsgi.input_terminated", None)
    return None


def guard(handler: Callable[[Request], Response], errors: list, cors: Cors | None = None,
          edge: Edge | None = None) -> Callable:
    """Make a WSGI app from ``handler(request) -> Response`` that never crashes on input.

    Oversized headers or bodies (chunked ones included) are refused before
    the handler runs; so are CORS preflights, answered here when *cors*
    allows them; werkzeug's HTTP exceptions become JSON errors; anything
    else is a bug in the lab, recorded in *errors* (tests assert it stays
    empty) and answered with a JSON 500.  Every response gets
    :data:`EVERY_RESPONSE` and, when *cors* allows its origin, CORS headers.

    First of all the *edge* (:class:`~.hub.Edge`; a laptop's by default) refuses a loopback connection
    from another OS account and drops the hub's and Jupyter's credentials; behind JupyterHub it also
    gives the browser public URLs (``Location``, and :meth:`Edge.view` for the handler).
    """
    edge = edge if edge is not None else Edge()

    def app(environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        request.max_form_memory_size = MAX_BODY
        try:
            refusal = edge.enter(environ)     # before anything reads a header (werkzeug reads environ lazily)
            header_bytes = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
            if refusal is not None:
                response = json_error(*refusal)
            elif header_bytes > MAX_HEADER_BYTES:
                response = json_error(431, "request_header_fields_too_large",
                                      f"Request headers total {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}.")
            elif (refused := _frame_body(environ)) is not None:
                response = json_error(400, "invalid_request", refused)
            elif (request.content_length or 0) > MAX_BODY:
                response = json_error(413, "request_too_large",
                                      f"Request body is {request.content_length} bytes; the limit is {MAX_BODY}.")
            elif cors is not None and (preflight := cors.preflight(request)) is not None:
                response = preflight
            else:
                response = handler(request)
        except _TooLarge:
            response = json_error(413, "request_too_large", f"The chunked request body is over {MAX_BODY} bytes.")
        except HTTPException as e:
            code = e.code or 400
            response = json_error(code, _ERROR_CODES.get(code, "invalid_request"), e.description or e.name,
                                  headers={k: v for k, v in e.get_headers() if k.lower() == "allow"})
        except Exception as e:  # a bug, not bad input: keep serving, keep the evidence
            record_bug(errors, e, request.path, request.method)
            response = json_error(500, "server_error", "The lab hit a bug; see lab.errors.")
        # Set, not added: the gateway's responses already carry the API's copy.
        response.headers.update(EVERY_RESPONSE)
        edge.leave(environ, response.headers)
        if cors is not None:
            cors.decorate(request, response)
        return response(environ, start_response)
    app.handler = handler       # what it guards: its routes can be read (tests derive their requests from them)
    return app


class _UnparseableTarget(Exception):
    """werkzeug could not turn the request line into a WSGI environ."""


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler, minus its per-request log lines, with JSON protocol errors.

    The log would land in whichever notebook cell runs while a request is
    served; errors found before the app runs (a header line over 64 KiB, a
    garbled request line, a request target werkzeug cannot split) get an
    RFC-style JSON body too, with a status line and ``nosniff``.
    """

    # Until the request line parses, the standard library assumes HTTP/0.9 and
    # answers errors with a bare body; a status line helps every client.
    default_request_version = "HTTP/1.0"
    # An idle keep-alive connection (or a client that stalls mid-request)
    # gives its thread back after this many seconds.
    timeout = 10

    def send_error(self, code, message=None, explain=None):
        # An unsupported HTTP version (505) is the client's fault, like any other garbled request line.
        if code == 505:
            code, message = 400, message or "Unsupported HTTP version"
        description = f"{message or self.responses.get(code, ('Bad request',))[0]} (HTTP {code})"
        body = json.dumps({"error": _ERROR_CODES.get(code, "invalid_request"),
                           "error_description": description}).encode()
        self.close_connection = True
        self.send_response(code)          # the standard reason phrase; the details go in the body
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in EVERY_RESPONSE.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def make_environ(self):
        try:
            environ = super().make_environ()
        except ValueError as e:     # e.g. urlsplit on "http://[::1/": "Invalid IPv6 URL"
            raise _UnparseableTarget(str(e)) from None
        if not hasattr(self, "_peer_is_owner"):     # once per connection: who is at the other end
            self._peer_is_owner = owner.allowed(self.connection)
        environ[OWNER_KEY] = self._peer_is_owner
        return environ

    def run_wsgi(self):
        try:
            super().run_wsgi()
        except _UnparseableTarget as e:
            # RFC 9112 section 3.2: an invalid request-target gets 400 (Bad Request).
            self.send_error(400, f"The request target cannot be parsed: {e}")

    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        pass

    def log_request(self, code="-", size="-"):
        pass


class _LabServer(ThreadedWSGIServer):
    """werkzeug's threaded server; a failure outside the app is recorded in *errors*, not printed.

    The standard library prints such tracebacks to stderr, which in a kernel
    is whichever notebook cell happens to be running.
    """

    daemon_threads = True

    def __init__(self, host: str, port: int, app, errors: list):
        super().__init__(host, port, app, handler=_QuietHandler)
        self.errors = errors

    def handle_error(self, request, client_address):
        record_bug(self.errors, sys.exc_info()[1])

    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        if type == "error":    # werkzeug's run_wsgi reports an app that failed while its response was sent
            self.errors.append({"path": None, "method": None, "error": message % args if args else message,
                                "traceback": message % args if args else message})


class BackgroundServer:
    """A werkzeug server in a daemon thread, bound to loopback by default.

    Bugs in the server itself go to *errors* (the lab's ``lab.errors``).
    """

    def __init__(self, app, name: str, host: str = LOOPBACK, port: int = 0, errors: list | None = None):
        if host not in (LOOPBACK, "localhost", "::1"):
            msg = (f"apisec-lab: the {name} server is listening on {host}, not loopback: anyone who can "
                   f"reach this machine can now reach a deliberately weakened lab.")
            warnings.warn(msg, stacklevel=3)
            print(f"WARNING: {msg}", file=sys.stderr)
        self.name = name
        self.errors = [] if errors is None else errors
        self.server = _LabServer(host, port, app, self.errors)
        self.host, self.port = self.server.server_address[:2]
        self.url = f"http://{LOOPBACK if host in ('0.0.0.0', '') else host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       name=f"apisec-lab-{name}", daemon=True)

    def start(self) -> "BackgroundServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() would wait forever for a loop that never ran
            self.server.shutdown()
            self.thread.join(timeout=1)
        self.server.server_close()


def stop_all(servers) -> None:
    """Stop several servers at once (each takes up to one poll interval)."""
    threads = [threading.Thread(target=s.stop, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=2)
