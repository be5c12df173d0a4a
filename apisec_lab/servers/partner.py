"""PrintLab, the print partner: a third party's API that the Photo API sends print orders to.

The Photo API does not print; when a user orders prints (``POST /prints``), it sends the order (the photo,
the copies, who to ship to and how it is paid, card details included) to the print partner's
``POST /v1/orders`` and records the partner's answer. The partner is another company's server: the
Photo API chose to trust it, and that trust is OWASP API10:2023's subject, *unsafe consumption of APIs*.

The partner runs on its own loopback port, in the public zone of the lab's network (:mod:`.outbound`).
:meth:`PrintPartner.hijack` is what an attacker who took it over (its server, its DNS, its CDN) changes: its
order endpoint answers with a redirect to wherever the attacker likes, or with a reply of their choosing.
:meth:`PrintPartner.restore` (and ``lab.reset()``) puts the honest partner back.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import pandas as pd
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..http.jsonbody import read_json
from ..http.wsgi import json_response

#: What the partner charges per print (cents).
PRICE_CENTS = 250


@dataclass(frozen=True)
class Call:
    """One request that reached the partner (the method, the path, and who asked)."""

    at: float
    method: str
    path: str
    user_agent: str
    answered: int


class PrintPartner:
    """The WSGI handler of the print partner (the lab wraps it with :func:`apisec_lab.http.wsgi.guard`)."""

    def __init__(self, clock, url: str = "", keep: int = 500):
        self.clock, self.url = clock, url
        self.urls = Map([Rule("/v1/status", endpoint="status", methods=["GET"]),
                         Rule("/v1/orders", endpoint="order", methods=["POST"])])
        self._calls: collections.deque[Call] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._next_order = 1
        self._hijack: dict | None = None

    # -- what an attacker who took the partner over changes ----------------------------------------
    def hijack(self, redirect: str | None = None, *, reply: dict | None = None, status: int = 307) -> None:
        """Answer every order with a redirect to *redirect* (307 repeats the POST and its body), or with *reply*.

        This is the attacker's move, not the partner's: one of the two, and the partner stays hijacked
        until :meth:`restore`.
        """
        if (redirect is None) == (reply is None):
            raise ValueError("hijack(redirect=URL) or hijack(reply={...}): one of the two")
        if redirect is not None and status not in (301, 302, 303, 307, 308):
            raise ValueError(f"a redirect status is 301, 302, 303, 307 or 308, not {status}")
        if reply is not None and not isinstance(reply, dict):
            raise ValueError("reply is the JSON object the hijacked partner answers with")
        with self._lock:
            self._hijack = {"redirect": redirect, "status": status} if redirect else {"reply": dict(reply)}

    def restore(self) -> None:
        """The honest partner is back."""
        with self._lock:
            self._hijack = None

    @property
    def hijacked(self) -> str:
        """What the hijacked partner answers, in words ("" when it is honest)."""
        with self._lock:
            h = self._hijack
        if h is None:
            return ""
        return f"{h['status']} redirect to {h['redirect']}" if "redirect" in h else f"the reply {h['reply']}"

    # -- serving -------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        try:
            endpoint, _ = self.urls.bind_to_environ(request.environ).match()
            response = self._status() if endpoint == "status" else self._order(request)
        except HTTPException as e:          # guard answers it as JSON; the call is still kept
            self._keep(request, e.code or 400)
            raise
        self._keep(request, response.status_code)
        return response

    def _keep(self, request: Request, status: int) -> None:
        with self._lock:
            self._calls.append(Call(self.clock.now(), request.method, request.path,
                                    request.headers.get("User-Agent", ""), status))

    @staticmethod
    def _status() -> Response:
        return json_response({"service": "PrintLab partner API", "status": "ok"})

    def _order(self, request: Request) -> Response:
        with self._lock:
            hijack = self._hijack
        if hijack and "redirect" in hijack:
            return Response("", status=hijack["status"], headers={"Location": hijack["redirect"]})
        if hijack:
            return json_response(hijack["reply"], 201)
        order = read_json(request)
        copies = order.get("copies") if isinstance(order, dict) else None
        if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 1000:
            raise BadRequest("An order needs 'copies', a whole number from 1 to 1000.")
        with self._lock:
            number, self._next_order = self._next_order, self._next_order + 1
        return json_response({"order_id": f"PP-{number:06d}", "status": "accepted",
                              "price_cents": copies * PRICE_CENTS}, 201)

    # -- what reached it -----------------------------------------------------------------------------
    @property
    def records(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def frame(self) -> pd.DataFrame:
        rows = [{"at": self.clock.datetime(c.at), "method": c.method, "path": c.path, "answered": c.answered,
                 "user_agent": c.user_agent} for c in self.records]
        return pd.DataFrame(rows, columns=["at", "method", "path", "answered", "user_agent"])

    def reset(self) -> None:
        """Honest again, no calls remembered, order numbers from 1."""
        with self._lock:
            self._hijack = None
            self._calls.clear()
            self._next_order = 1

    def __repr__(self) -> str:
        state = f"hijacked ({self.hijacked})" if self._hijack else "honest"
        return f"<PrintPartner {self.url}: {state}, {len(self._calls)} calls>"
