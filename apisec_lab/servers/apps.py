"""The client apps' own web server: where the authorization server sends the user back.

Each seeded client has a redirect URI here (``{apps_url}/<client_id>/callback``).
When a browser lands on it, the page says what the app received and the
:class:`Inbox` keeps it, so a notebook can pick up a code that a real browser
brought back from the real sign-in page.
"""
from __future__ import annotations

import html
import threading
from dataclasses import dataclass

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class Redirect:
    """What arrived on a redirect URI (or what a Location header pointed to)."""

    url: str
    params: dict

    @property
    def code(self) -> str | None:
        return self.params.get("code")

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    def __repr__(self) -> str:
        shown = {k: (v if k not in ("code",) else v[:4] + "...") for k, v in self.params.items()}
        return f"Redirect({shown})"


class Inbox:
    """Every redirect the apps' server received, newest last."""

    def __init__(self):
        self._items: list[tuple[str, Redirect]] = []
        self._lock = threading.Lock()

    def add(self, client_id: str, redirect: Redirect) -> None:
        with self._lock:
            self._items.append((client_id, redirect))

    def latest(self, client_id: str | None = None) -> Redirect | None:
        with self._lock:
            for cid, r in reversed(self._items):
                if client_id in (None, cid):
                    return r
        return None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class AppsWeb:
    """WSGI handler: ``GET /<client_id>/callback``."""

    def __init__(self, store, inbox: Inbox):
        self.store = store
        self.inbox = inbox
        self.urls = Map([Rule("/<client_id>/callback", endpoint="callback", methods=["GET"])])

    def __call__(self, request: Request) -> Response:
        _, args = self.urls.bind_to_environ(request.environ).match()
        client = self.store.client(args["client_id"])
        name = client.name if client else args["client_id"]
        redirect = Redirect(request.url, request.args.to_dict())
        self.inbox.add(args["client_id"], redirect)
        if redirect.code:
            what = (f"<p id=outcome>{html.escape(name)} received an <b>authorization code</b> "
                    f"(<code>{html.escape(redirect.code[:4])}...</code>) and state "
                    f"<code>{html.escape(redirect.state or '-')}</code>. It will now exchange the code for "
                    f"tokens; your password never reached it.</p>")
        else:
            what = (f"<p id=outcome>{html.escape(name)} received <b>error={html.escape(redirect.error or '?')}</b>: "
                    f"{html.escape(request.args.get('error_description', ''))}</p>")
        page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(name)}</title></head>"
                f"<body style='font-family:system-ui,sans-serif;padding:2em'><h1>{html.escape(name)}</h1>{what}"
                f"<p>You can go back to the notebook.</p></body></html>")
        return Response(page, mimetype="text/html", headers={"Referrer-Policy": "no-referrer"})
