"""HTTP plumbing shared by every server in the lab.

- :func:`json_error` writes RFC-style error bodies
  (``{"error": ..., "error_description": ...}``, as RFC 6749 section 5.2).
- :func:`guard` wraps a handler so that bad input becomes a clear 4xx and a
  bug becomes a recorded 500 (never a dropped connection or a dead thread).
- :class:`BackgroundServer` runs a WSGI app with werkzeug on loopback in a
  daemon thread, and stops in milliseconds.
"""
from __future__ import annotations

import json
import sys
import threading
import traceback
import warnings
from typing import Callable

from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

#: Largest request body any lab server reads (bytes).
MAX_BODY = 64 * 1024
#: Largest total size of request headers accepted (bytes).
MAX_HEADER_BYTES = 16 * 1024
LOOPBACK = "127.0.0.1"


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


def guard(handler: Callable[[Request], Response], errors: list) -> Callable:
    """Make a WSGI app from ``handler(request) -> Response`` that never crashes on input.

    Oversized headers or bodies are refused before the handler runs;
    werkzeug's HTTP exceptions become JSON errors; anything else is a bug in
    the lab, recorded in *errors* (tests assert it stays empty) and answered
    with a JSON 500.
    """
    def app(environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        request.max_form_memory_size = MAX_BODY
        try:
            header_bytes = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
            if header_bytes > MAX_HEADER_BYTES:
                response = json_error(431, "request_header_fields_too_large",
                                      f"Request headers total {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}.")
            elif (request.content_length or 0) > MAX_BODY:
                response = json_error(413, "request_too_large",
                                      f"Request body is {request.content_length} bytes; the limit is {MAX_BODY}.")
            else:
                response = handler(request)
        except HTTPException as e:
            code = e.code or 400
            response = json_error(code, _ERROR_CODES.get(code, "invalid_request"), e.description or e.name,
                                  headers={k: v for k, v in e.get_headers() if k.lower() == "allow"})
        except Exception as e:  # a bug, not bad input: keep serving, keep the evidence
            errors.append({"path": request.path, "method": request.method, "error": repr(e),
                           "traceback": traceback.format_exc()})
            response = json_error(500, "server_error", "The lab hit a bug; see lab.errors.")
        return response(environ, start_response)
    return app


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler, minus its per-request log lines, with JSON protocol errors.

    The log would land in whichever notebook cell runs while a request is
    served; errors the standard library raises before the app runs (a header
    line over 64 KiB, a garbled request line) get an RFC-style JSON body too.
    """

    error_content_type = "application/json"
    # Until the request line parses, the standard library assumes HTTP/0.9 and
    # answers errors with a bare body; a status line helps every client.
    default_request_version = "HTTP/1.0"
    # An idle keep-alive connection (or a client that stalls mid-request)
    # gives its thread back after this many seconds.
    timeout = 10
    error_message_format = '{"error": "invalid_request", "error_description": "%(message)s (HTTP %(code)d)"}\n'

    def send_error(self, code, message=None, explain=None):
        # An unsupported HTTP version (505) is the client's fault, like any other garbled request line.
        if code == 505:
            code, message = 400, message or "Unsupported HTTP version"
        super().send_error(code, message, explain)

    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        pass

    def log_request(self, code="-", size="-"):
        pass


class BackgroundServer:
    """A werkzeug server in a daemon thread, bound to loopback by default."""

    def __init__(self, app, name: str, host: str = LOOPBACK, port: int = 0):
        if host not in (LOOPBACK, "localhost", "::1"):
            msg = (f"apisec-lab: the {name} server is listening on {host}, not loopback: anyone who can "
                   f"reach this machine can now reach a deliberately weakened lab.")
            warnings.warn(msg, stacklevel=3)
            print(f"WARNING: {msg}", file=sys.stderr)
        self.name = name
        self.server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.server.daemon_threads = True
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
