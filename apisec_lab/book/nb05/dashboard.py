"""Notebook 05's dashboard: fire the attacks from buttons and watch the gateway's counters and log."""
from __future__ import annotations

import html
import re

import ipywidgets as widgets
import pandas as pd

from ...servers.gateway import REASONS
from .. import theme
from ..common import html_table
from ..widgets import Panel
from .attacks import admin_route, bola, brute_force_basic, flood, normal_request, oversized, revoked_token, token_in_url
from .replay import LOG_COLUMNS, VIA, Outcome


# -- the dashboard ------------------------------------------------------------------------------------
class Dashboard(Panel):
    """Fire attacks from buttons, through the gateway or straight to the API, and watch the gateway.

    - ``target``: a toggle, "Through the gateway" / "Straight to the API";
    - ``buttons``: one per attack in :attr:`ATTACKS` (by label), plus
      ``refresh_button`` ("Refresh") and ``clear_button`` ("Clear log");
    - ``status``: the last attack's outcome; ``counters``: the gateway's
      requests by decision and reason; ``log_view``: its last access-log lines.

    Each button calls :meth:`fire` (a cell or a test can call it directly).
    Requests sent straight to the API never show on the gateway's side: it
    never saw them.
    """

    ATTACKS = {"Brute-force Basic": brute_force_basic, "Token in URL": token_in_url, "Flood": flood,
               "Admin route": admin_route, "Revoked token": revoked_token, "Oversized header": oversized,
               "Another user's photo": bola, "Normal request": normal_request}

    def __init__(self, lab, last: int = 8):
        self.lab, self.last = lab, last
        self.target = widgets.ToggleButtons(options=[("Through the gateway", "gateway"),
                                                     ("Straight to the API", "api")],
                                            value="gateway", description="Send:",
                                            style={"button_width": "auto"})
        self.target.add_class("apisec-gw-target")
        self.buttons: dict[str, widgets.Button] = {}
        for label in self.ATTACKS:
            button = widgets.Button(description=label, button_style="" if label == "Normal request" else "warning",
                                    tooltip=self.ATTACKS[label].__doc__.splitlines()[0],
                                    layout=widgets.Layout(width="auto"))
            button.on_click(lambda _b, name=label: self.fire(name))
            self.buttons[label] = button
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="Show requests sent from cells too")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.clear_button = widgets.Button(description="Clear log", tooltip="Empty the gateway's log and counters")
        self.clear_button.on_click(lambda _b: self.clear())
        self.status = widgets.HTML("<i>Pick a target, then fire an attack.</i>")
        self.status.add_class("apisec-gw-status")
        self.counters = widgets.HTML()
        self.counters.add_class("apisec-gw-counters")
        self.log_view = widgets.HTML()
        self.log_view.add_class("apisec-gw-log")
        self.last_outcome: Outcome | None = None
        self.refresh()
        rows = [widgets.HBox(list(self.buttons.values())[i:i + 4]) for i in range(0, len(self.buttons), 4)]
        super().__init__([self.target, *rows, widgets.HBox([self.refresh_button, self.clear_button]),
                          self.status, widgets.HBox([self.counters, self.log_view])])
        self.add_class("apisec-gw-dashboard")

    def fire(self, name: str) -> Outcome:
        """What a button does: run the attack against the chosen target, then show everything."""
        outcome = self.ATTACKS[name](self.lab, via=self.target.value)
        self.last_outcome = outcome
        kind = "bad" if outcome.worked else "ok"
        self.status.value = (f"<div class='apisec-banner apisec-{kind}' style='{theme.tint(kind)};padding:.4em .6em;"
                             "border-radius:4px'>"
                             f"<b>{html.escape(outcome.attack)}</b>, {VIA[outcome.via]}: <br>"
                             f"{html.escape(outcome.answers)} · {outcome.reached_api} reached the API · "
                             f"<b>{outcome.label}</b>: {html.escape(outcome.verdict)}</div>")
        self.refresh()
        return outcome

    def counter_rows(self) -> list[tuple[str, int]]:
        """``[("allowed", n), ("rejected", m), (reason, k), ...]`` as the counters table shows."""
        counts = self.lab.gateway.counts()
        return list(counts.items())

    def refresh(self) -> None:
        """Redraw the counters and the log from the gateway."""
        counts = self.lab.gateway.counts()
        rows = [("<b>allowed</b>", f"<b>{counts['allowed']}</b>"), ("<b>rejected</b>", f"<b>{counts['rejected']}</b>")]
        rows += [(f"{html.escape(reason)} ({REASONS[reason][0]})", str(n))
                 for reason, n in counts.items() if reason not in ("allowed", "rejected")]
        table = html_table(pd.DataFrame(rows), index=False, head=False, escape=False, table_style="",
                           cell_style=("padding:1px 8px", "text-align:right"))
        self.counters.value = f"<div style='margin-right:2em'><b>Gateway counters</b>{table}</div>"
        frame = self.lab.gateway.log_frame(self.last)[LOG_COLUMNS].rename_axis("#")
        if len(frame):
            table = html_table(frame, cell_style="padding:1px 6px", head_style="text-align:left;padding:1px 6px",
                               table_style="font-size:12px",
                               row_kind=lambda row: "ok" if row["reason"] == "allowed" else "bad")
            self.log_view.value = f"<b>Gateway access log</b> (last {self.last}){table}"
        else:
            self.log_view.value = "<b>Gateway access log</b><br><i>empty: the gateway has seen no request</i>"

    def clear(self) -> None:
        """Empty the gateway's log and counters."""
        self.lab.gateway.clear_log()
        self.refresh()

    def status_text(self) -> str:
        """The status line as plain text."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value.replace(" <br>", " ")))

    def __repr__(self) -> str:
        return "Dashboard(gateway lab)"
