"""Small widget building blocks shared by the notebooks.

Widgets here are thin faces over plain functions: every panel exposes the
function its buttons call (a cell or a test can call it directly), and shows
its result by setting widget values, never by printing (a print inside a
callback lands in whichever cell runs next).

- :func:`exchange_html` / :class:`ExchangeView`: one captured HTTP exchange,
  request and response as they crossed the wire, with chosen text marked.
- :func:`storage_html`: an app's ``storage`` dict as a table.
- :class:`ConsentPanel`: the authorization server's sign-in and consent
  page, in the notebook; it submits to the real ``/authorize``.
- :class:`Panel`: the base, with a short stable ``repr`` (the text a notebook
  stores for a displayed widget, which nbval compares).

Every panel carries CSS classes (``apisec-...``) so a browser test can find
its parts; button descriptions are unique within a notebook.
"""
from __future__ import annotations

import html
import re
from typing import Callable, Iterable
from urllib.parse import parse_qsl, urlsplit

import ipywidgets as widgets
import pandas as pd

from ..lab import AuthorizationFailed
from ..servers.apps import Redirect
from . import theme
from .common import html_table

PRE_STYLE = (f"margin:0 0 .6em 0;padding:.5em .7em;{theme.PRE};"
             "border-radius:4px;font-size:12px;line-height:1.35;white-space:pre-wrap;word-break:break-all")
MARK_STYLE = f"{theme.MARK};padding:0 1px;border-radius:2px"
#: What a panel says where it cannot be shown (no kernel yet): the widgets need a running kernel.
RUN_THE_CELL = "(A live panel: run this cell to use it. Its buttons need the notebook's running kernel.)"
#: Shown under every panel: after a page reload JupyterLab cannot find a panel's live model and says so.
RELOAD_HINT = ("If this panel shows \u201cError displaying widget: model not found\u201d (after a page reload), "
               "run this cell again to bring it back.")
SERVER_NAMES = {"api": "the API", "issuer": "the authorization server", "apps": "the app's web server"}


def marked(text: str, highlight: Iterable[str] = ()) -> str:
    """*text* HTML-escaped, with every occurrence of each *highlight* string wrapped in ``<mark>``."""
    needles = sorted({h for h in highlight if h}, key=len, reverse=True)
    if not needles:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(n) for n in needles))
    out, pos = [], 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        out.append(f"<mark style='{MARK_STYLE}'>{html.escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _message_text(message, limit: int) -> str:
    text = message.text(limit) if message.raw else "(no response)"
    return text.rstrip("\r\n").replace("\r\n", "\n")


def exchange_text(exchange, *, limit: int = 1200) -> str:
    """One exchange as plain text: who it went to, the request, the response."""
    return (f"--> {exchange.method} to {SERVER_NAMES.get(exchange.server, exchange.server)}\n"
            f"{_message_text(exchange.request, limit)}\n"
            f"<-- response\n{_message_text(exchange.response, limit)}")


def exchange_html(exchange, *, highlight: Iterable[str] = (), limit: int = 1200, title: str | None = None) -> str:
    """One exchange as HTML: request and response in two blocks, *highlight* strings marked."""
    highlight = list(highlight)
    where = SERVER_NAMES.get(exchange.server, exchange.server)
    heading = title or f"{exchange.method} {exchange.path.split('?')[0]} to {where}"
    return (f"<div class='apisec-exchange'><div style='font-weight:600;margin:.3em 0'>{html.escape(heading)}</div>"
            f"<div style='{theme.MUTED};font-size:11px'>request, as it crossed the wire</div>"
            f"<pre style='{PRE_STYLE}'>{marked(_message_text(exchange.request, limit), highlight)}</pre>"
            f"<div style='{theme.MUTED};font-size:11px'>response</div>"
            f"<pre style='{PRE_STYLE}'>{marked(_message_text(exchange.response, limit), highlight)}</pre></div>")


class ExchangeView:
    """Display captured exchanges in a notebook (HTML with marks; plain text elsewhere)."""

    def __init__(self, exchanges, *, highlight: Iterable[str] = (), limit: int = 1200):
        self.exchanges = list(exchanges) if isinstance(exchanges, (list, tuple)) else [exchanges]
        self.highlight = list(highlight)
        self.limit = limit

    def _repr_html_(self) -> str:
        return "".join(exchange_html(x, highlight=self.highlight, limit=self.limit) for x in self.exchanges)

    def __repr__(self) -> str:
        return "\n\n".join(exchange_text(x, limit=self.limit) for x in self.exchanges)


def storage_html(storage: dict, *, title: str = "What the app keeps in its storage",
                 danger: Iterable[str] = ("password",)) -> str:
    """An app's ``storage`` dict as a small table; keys in *danger* are marked red."""
    danger = set(danger)
    if storage:
        code = "<code>{}</code>".format
        frame = pd.DataFrame([(code(html.escape(str(k))), code(html.escape(str(v))), k in danger)
                              for k, v in storage.items()], columns=["key", "value", "danger"])
        table = html_table(frame[["key", "value"]], index=False, head=False, escape=False, table_style="font-size:12px",
                           cell_style=("padding:1px 8px 1px 2px", "padding:1px 2px"),
                           row_kind=lambda row: "bad" if frame.loc[row.name, "danger"] else None)
    else:
        table = "<div><i>(empty)</i></div>"
    return f"<div class='apisec-storage'><div style='font-weight:600'>{html.escape(title)}</div>{table}</div>"


def note_html(text: str, kind: str = "info") -> str:
    """A one-paragraph message; *kind* is info, ok or error (colour only)."""
    ink = theme.ink({"ok": "ok", "error": "bad"}.get(kind, "info"))
    return f"<p class='apisec-note apisec-{kind}' style='{ink};margin:.3em 0'>{text}</p>"


class Panel(widgets.VBox):
    """Base of the notebooks' panels: a VBox with a short, stable repr.

    A displayed widget is stored in the notebook as plain text (its
    ``text/plain``; the committed notebooks keep no widget view, see
    :mod:`apisec_lab.book.execute`): the panel's repr and a sentence saying
    to run the cell, which is what a reader sees before the kernel runs.
    The default repr lists every child and value, which changes from run to
    run; subclasses set :attr:`summary` (or their own ``__repr__``) instead.
    """

    summary = "panel"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.summary}>"

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"{self!r}\n{RUN_THE_CELL}"
        return bundle

    def _ipython_display_(self, **kwargs):
        """The panel, then one line under it saying what to do where the panel cannot be shown."""
        from IPython.display import display
        display(self._repr_mimebundle_(**kwargs), raw=True)
        display({"text/plain": RELOAD_HINT,
                 "text/html": f"<div class='apisec-reload-hint' style='{theme.MUTED};font-size:11px'>"
                              f"{html.escape(RELOAD_HINT)}</div>"}, raw=True)


# -- the consent panel --------------------------------------------------------
def page_error(response) -> str:
    """The message the sign-in page shows (its ``id=error`` paragraph), or the HTTP status."""
    m = re.search(r"id=error>(.*?)</p>", response.text or "")
    return html.unescape(m.group(1)) if m else f"HTTP {response.status_code}"


class ConsentPanel(Panel):
    """The authorization server's consent page, rebuilt as widgets; submits to the real ``/authorize``.

    Shows the app's name, the scopes it asks for as checkboxes, username and
    password fields and **Allow** / **Deny** buttons, plus a link to the real
    HTML page (a person can open it in a browser; the browser then lands on
    the app's redirect URI, and **Use the code the browser brought back**
    picks the code up from ``lab.inbox``).

    Plain functions: :meth:`submit` (what Allow and Deny call) and
    :meth:`use_browser_code`.  ``on_redirect(redirect)`` is called with the
    result; ``on_error(message)`` with a refusal.
    """

    def __init__(self, lab, url: str, *, username: str = "alice", tapped: bool = True,
                 on_redirect: Callable[[Redirect, str], None] | None = None,
                 on_error: Callable[[str], None] | None = None):
        self.lab = lab
        self.url = url
        self.tapped = tapped
        self.on_redirect = on_redirect
        self.on_error = on_error
        self.redirect: Redirect | None = None
        query = dict(parse_qsl(urlsplit(url).query))
        self.client_id = query.get("client_id", "")
        self.state = query.get("state")
        self.requested = query.get("scope", "").split()
        client = lab.store.client(self.client_id)
        self.app_name = client.name if client else self.client_id
        described = lab.store.scope_descriptions()

        self.heading = widgets.HTML(
            f"<div style='font-size:1.1em'><b>{html.escape(self.app_name)}</b> wants to access your account</div>"
            f"<div style='{theme.MUTED};font-size:12px'>Sign-in page of the authorization server "
            f"({html.escape(lab.browser_url(lab.issuer))}): the password you type goes there and nowhere else. "
            f"<a href='{html.escape(lab.browser_url(url))}' target='_blank' rel='noopener' class='apisec-real-page'>"
            f"Open the real sign-in page</a> in a browser tab instead, if you like.</div>")
        self.scope_boxes = {s: widgets.Checkbox(value=True, description=s, indent=False,
                                                layout=widgets.Layout(width="auto"))
                            for s in self.requested}
        scope_rows = [widgets.HBox([box, widgets.HTML(
                          f"<span style='{theme.MUTED}'>&nbsp;{html.escape(described.get(s, s))}</span>")])
                      for s, box in self.scope_boxes.items()]
        self.username = widgets.Text(value=username, description="Username")
        self.password = widgets.Password(description="Password",
                                         placeholder=f"{username}'s demo password" if username else "")
        self.allow_button = widgets.Button(description="Allow", button_style="success", icon="check")
        self.deny_button = widgets.Button(description="Deny", icon="times")
        self.browser_button = widgets.Button(description="Use the code the browser brought back",
                                             layout=widgets.Layout(width="auto"))
        self.result = widgets.HTML("")
        self.result.add_class("apisec-consent-result")
        self.allow_button.on_click(lambda _: self.submit(True))
        self.deny_button.on_click(lambda _: self.submit(False))
        self.browser_button.on_click(lambda _: self.use_browser_code())
        self.summary = f"{self.app_name} asks for {' '.join(self.requested) or 'nothing'}"
        super().__init__([self.heading, *scope_rows, self.username, self.password,
                          widgets.HBox([self.allow_button, self.deny_button, self.browser_button]),
                          self.result],
                         layout=widgets.Layout(border=theme.BORDER, padding="8px", margin="4px 0"))
        self.add_class("apisec-consent")

    def ticked(self) -> list[str]:
        """The scopes whose boxes are ticked, in the order asked."""
        return [s for s, box in self.scope_boxes.items() if box.value]

    def submit(self, approve: bool = True) -> Redirect | None:
        """Post the form to the real ``/authorize`` (via ``lab.authorize``); return where it redirects.

        A refusal (wrong password: HTTP 403, no redirect) returns None and says
        so in :attr:`result`.
        """
        try:
            redirect = self.lab.authorize(self.url, self.username.value, self.password.value,
                                          scopes=self.ticked(), approve=approve, tapped=self.tapped)
        except AuthorizationFailed as e:
            why = page_error(e.response)
            message = (f"The authorization server refused (HTTP {e.response.status_code}): {html.escape(why)} "
                       f"Nothing was sent to {html.escape(self.app_name)}.")
            self.result.value = note_html(message, "error")
            if self.on_error:
                self.on_error(message)
            return None
        self.redirect = redirect
        if redirect.error:
            text = (f"The browser goes back to {html.escape(self.app_name)} with "
                    f"<b>error={html.escape(redirect.error)}</b>: "
                    f"{html.escape(redirect.params.get('error_description', ''))}")
            self.result.value = note_html(text, "error")
        else:
            self.result.value = note_html(
                f"Allowed. The authorization server redirects the browser to {html.escape(self.app_name)} "
                f"with a one-time <b>code</b>; {html.escape(self.app_name)} never sees the password.", "ok")
        if self.on_redirect:
            self.on_redirect(redirect, "panel")
        return redirect

    def use_browser_code(self) -> Redirect | None:
        """Pick up what a real browser brought back to the app's redirect URI (``lab.inbox``)."""
        arrived = self.lab.inbox.latest(self.client_id)
        if arrived is None:
            self.result.value = note_html(
                f"Nothing has arrived at {html.escape(self.app_name)}'s redirect URI yet: open the real "
                f"sign-in page, sign in and press Allow there, then press this button again.", "error")
            return None
        if arrived.state != self.state:
            self.result.value = note_html(
                "The newest arrival at the redirect URI belongs to another sign-in (its state does not "
                "match this one): open the link from this panel.", "error")
            return None
        self.redirect = arrived
        if arrived.error:
            self.result.value = note_html(f"Your browser brought back <b>error={html.escape(arrived.error)}</b>.",
                                          "error")
        else:
            self.result.value = note_html(f"Your browser brought back a code for {html.escape(self.app_name)} "
                                          f"(the state matches this sign-in).", "ok")
        if self.on_redirect:
            self.on_redirect(arrived, "browser")
        return arrived
