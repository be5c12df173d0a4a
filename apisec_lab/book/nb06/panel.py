"""The exploit server panel: write a page on your server, deliver it to Alice, read what reached you.

As PortSwigger's exploit server: a path and a body, **Store**, **Deliver to Alice** (her browser opens the page
with the chosen lab's switches on, and the lab's check judges it from the records), and the server's log.  The
buttons call :meth:`ExploitServer.store` and :meth:`ExploitServer.deliver`, which a cell or a test can call too.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from .. import theme
from ..common import html_table
from ..widgets import Panel, note_html
from .labs import LABS, attempt
from .stage import short

#: The labs whose exploit is a page or a URL (lab 5's is a token request).
PANEL_LABS = [n for n in LABS if n != 5]


class ExploitServer(Panel):
    """Your server, as a panel: a page to write, a lab to deliver it in, the log of what arrived."""

    summary = "exploit server"

    def __init__(self, lab, path: str = "/exploit", body: str = "", number: int = 1):
        self.lab = lab
        self.heading = widgets.HTML(
            f"<div style='font-weight:600'>Your server</div><div class='apisec-exploit-urls' "
            f"style='{theme.MUTED};font-size:12px'>your server: <code class='apisec-attacker-url'>"
            f"{html.escape(lab.attacker.url)}</code> &middot; PhotoPrint: <code class='apisec-photoprint-url'>"
            f"{html.escape(lab.web_url)}</code></div>")
        self.lab_choice = widgets.Dropdown(options=[(f"Lab {n}: {LABS[n].title}", n) for n in PANEL_LABS],
                                           value=number, description="Deliver in", layout=widgets.Layout(width="auto"))
        self.path = widgets.Text(value=path, description="Path")
        self.body = widgets.Textarea(value=body, description="Body", placeholder="<html>... your page ...</html>",
                                     layout=widgets.Layout(width="95%", height="7em"))
        self.store_button = widgets.Button(description="Store")
        self.deliver_button = widgets.Button(description="Deliver to Alice", button_style="danger", icon="paper-plane")
        self.refresh_button = widgets.Button(description="Refresh log")
        self.status = widgets.HTML("")
        self.status.add_class("apisec-exploit-status")
        self.log_view = widgets.HTML(self.log_html())
        self.store_button.on_click(lambda _: self.store())
        self.deliver_button.on_click(lambda _: self.deliver())
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__([self.heading, self.lab_choice, self.path, self.body,
                          widgets.HBox([self.store_button, self.deliver_button, self.refresh_button]),
                          self.status, self.log_view],
                         layout=widgets.Layout(border=theme.BORDER, padding="8px", margin="4px 0"))
        self.add_class("apisec-exploit-server")

    def store(self) -> str | None:
        """Write the page at the path; its URL (None, with a message, if the path will not do)."""
        try:
            url = self.lab.attacker.serve(self.path.value.strip() or "/", self.body.value)
        except ValueError as e:
            self.status.value = note_html(html.escape(str(e)), "error")
            return None
        self.status.value = note_html(f"Stored at <code>{html.escape(url)}</code>.")
        self.refresh()
        return url

    def deliver(self):
        """Store the page, send Alice's browser to it in the chosen lab, say what the lab's records show."""
        url = self.store()
        if url is None:
            return None
        result = attempt(self.lab, self.lab_choice.value, url)
        if result.solved:
            self.status.value = note_html(f"<b>Lab {result.number} solved.</b> {html.escape(result.summary())}", "ok")
        else:
            self.status.value = note_html(f"Lab {result.number} not solved: {html.escape(result.problem or '')}",
                                          "error")
        self.refresh()
        return result

    def refresh(self) -> None:
        self.log_view.value = self.log_html()

    def log_html(self, last: int = 8) -> str:
        """The newest requests that reached your server: path, query, Referer (lab servers named)."""
        frame = self.lab.attacker.frame().tail(last)[["method", "path", "query", "referer"]]
        if frame.empty:
            return f"<div style='{theme.MUTED};font-size:12px'>Nothing has reached your server yet.</div>"
        frame = frame.assign(query=[short(self.lab, q) for q in frame["query"]],
                             referer=[short(self.lab, r) for r in frame["referer"]])
        wrap = "padding:2px 8px;word-break:break-all"
        table = html_table(frame, table_style="border-collapse:collapse;font-size:12px;width:100%",
                           table_class="apisec-log", cell_style=("padding:2px 8px",) * 3 + (wrap, wrap),
                           row_kind=lambda row: "bad" if "code=" in row["query"] or "code=" in row["referer"] else None)
        return f"<div style='font-weight:600;margin-top:.4em'>Requests that reached your server</div>{table}"
