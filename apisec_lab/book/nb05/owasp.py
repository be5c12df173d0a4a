"""What notebook 05 showed, mapped to the OWASP API Security Top 10 (2023)."""
from __future__ import annotations

import html

import pandas as pd

from ..common import Table, html_table
from .attacks import admin_route, bola, brute_force_basic, flood, oversized, revoked_token, token_in_url
from .replay import compare

SCORECARD = [
    ("brute_force_basic", brute_force_basic, "API2:2023 Broken Authentication"),
    ("token_in_url", token_in_url, "API2:2023 Broken Authentication"),
    ("flood", flood, "API4:2023 Unrestricted Resource Consumption"),
    ("oversized", oversized, "API4:2023 Unrestricted Resource Consumption"),
    ("admin_route", admin_route, "API5:2023 BFLA; API9:2023 Improper Inventory"),
    ("revoked_token", revoked_token, "API2:2023 Broken Authentication"),
    ("bola", bola, "API1:2023 Broken Object Level Authorization"),
]


def scorecard(lab) -> Table:
    """Every attack replayed both ways: did the gateway stop it, and which OWASP item it is."""
    rows = []
    for name, attack, owasp in SCORECARD:
        c = compare(lab, attack)
        if c.api.worked and not c.gateway.worked:
            stops = "yes"
        elif c.gateway.worked:
            stops = "NO"
        else:
            stops = "no (the API's own check stops it)"
        rows.append({"attack": name, "straight to the API": c.api.short, "through the gateway": c.gateway.short,
                     "gateway stops it?": stops, "OWASP API Top 10 (2023)": owasp})
    frame = pd.DataFrame(rows).set_index("attack")
    return Table(frame, lambda row: {"yes": "ok", "NO": "bad"}.get(row["gateway stops it?"], "warn"))


#: The OWASP API Security Top 10 (2023): item, risk, a gateway helps?, why.
OWASP_TOP10 = [
    ("API1:2023", "Broken Object Level Authorization", "no",
     "Only the API knows who owns object 5; every request was valid at the edge. Fix: an ownership check in the API."),
    ("API2:2023", "Broken Authentication", "partly",
     "Tokens validated at the edge, Basic and URL credentials refused, guessing throttled; the API must still verify "
     "every token (the cache is stale for up to cache_ttl)."),
    ("API3:2023", "Broken Object Property Level Authorization", "no",
     "Which fields a caller may read or write is the API's business (schemas, per-field rules)."),
    ("API4:2023", "Unrestricted Resource Consumption", "partly",
     "Rate limits per client, user and address; size limits on URL, headers and body. Not what one request costs: "
     "a page of 14,400 items passes as one request."),
    ("API5:2023", "Broken Function Level Authorization", "partly",
     "The allow-list and per-route scopes keep functions off the edge; the API must check roles too."),
    ("API6:2023", "Unrestricted Access to Sensitive Business Flows", "partly",
     "Rate limits slow automation down; deciding which flows are abuse is business logic."),
    ("API7:2023", "Server Side Request Forgery", "no",
     "The gateway sees the request, not the URLs the API later fetches on its own."),
    ("API8:2023", "Security Misconfiguration", "partly",
     "One place for consistent headers, limits and log masking; the API's own configuration remains."),
    ("API9:2023", "Improper Inventory Management", "yes, for routes behind it",
     "The allow-list is an inventory: unpublished routes never reach the API, unless a path around the "
     "gateway exists."),
    ("API10:2023", "Unsafe Consumption of APIs", "no",
     "How the API trusts the third-party APIs it calls is out of the gateway's sight."),
]

#: Notebooks' headings, as JupyterLab turns them into anchors (spaces become hyphens).
_SECTIONS = {
    "05": {"§3": "3. Attack: guessing a password over HTTP Basic", "§4": "4. Attack: a token in the URL",
           "§5": "5. Attack: a flood from one client", "§6": "6. Attack: the unpublished admin route",
           "§7": "7. Attack: a revoked token", "§8": "8. Oversized requests", "§10": "10. What a gateway cannot fix"},
    "08": {"§2": "2. API3: mass assignment", "§3": "3. API3: excessive data exposure",
           "§4": "4. API4: one request, the whole catalogue", "§5": "5. API5: a staff function behind a hidden button",
           "§6": "6. API6: a free print, again and again", "§7": "7. API7: a webhook test that fetches the metadata",
           "§8": "8. API10: a print partner taken over"},
}
_FILES = {"01": "01-basic-auth.ipynb", "02": "02-token-flows.ipynb", "04": "04-revocation.ipynb",
          "05": "05-gateway.ipynb", "06": "06-flow-attacks.ipynb", "08": "08-owasp-top-10.ipynb"}
#: Where the workbook shows each item: "NN" (a whole notebook) or "NN §k" (a section of it).
SHOWN = {
    "API1:2023": ["05 §10"],
    "API2:2023": ["01", "02", "04", "05 §3", "05 §4", "05 §7", "06"],
    "API3:2023": ["08 §2", "08 §3"],
    "API4:2023": ["05 §5", "05 §8", "08 §4"],
    "API5:2023": ["05 §6", "08 §5"],
    "API6:2023": ["08 §6"],
    "API7:2023": ["08 §7"],
    "API8:2023": ["05 §4"],
    "API9:2023": ["05 §6"],
    "API10:2023": ["08 §8"],
}


def link(place: str) -> str:
    """``"08 §4"`` -> the notebook file and heading it names (``08-owasp-top-10.ipynb#heading=4.-API4:-...``)."""
    number, _, section = place.partition(" ")
    target = _FILES[number]
    # JupyterLab's "heading=" fragment finds the heading from the notebook's model, so it works on a notebook that
    # the link itself opens (a bare anchor is looked up among rendered cells, which a fresh notebook has none of yet).
    return target + ("#heading=" + _SECTIONS[number][section].replace(" ", "-") if section else "")


class _Linked(Table):
    """The table, its "where the workbook shows it" cells as links that open the notebook at the section."""

    def _repr_html_(self) -> str:
        frame = self.frame.copy()
        for column in frame.columns:
            frame[column] = [html.escape(str(v)) for v in frame[column]]
        frame.index = [html.escape(str(i)) for i in frame.index]
        frame.index.name = self.frame.index.name
        frame["where the workbook shows it"] = [
            ", ".join(f'<a href="{html.escape(link(place))}">{html.escape(place)}</a>' for place in SHOWN[item])
            for item in self.frame.index]
        return html_table(frame, row_kind=lambda row: self.kind(self.frame.loc[html.unescape(row.name)]), escape=False,
                          cell_style="text-align:left;padding:2px 8px;vertical-align:top",
                          table_style="border-collapse:collapse;font-size:12px")


def owasp_top10() -> Table:
    """The OWASP API Security Top 10 (2023): where the workbook shows each item, and whether a gateway helps."""
    frame = pd.DataFrame(OWASP_TOP10, columns=["item", "risk", "a gateway helps?", "why"]).set_index("item")
    frame.insert(1, "where the workbook shows it", [", ".join(SHOWN[item]) for item in frame.index])
    return _Linked(frame, lambda row: {"yes": "ok", "no": "bad"}.get(row["a gateway helps?"].split(",")[0], "warn"))
