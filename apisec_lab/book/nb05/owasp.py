"""What notebook 05 showed, mapped to the OWASP API Security Top 10 (2023)."""
from __future__ import annotations

import pandas as pd

from ..common import Table
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


OWASP_TOP10 = [
    ("API1:2023", "Broken Object Level Authorization", "bola", "no",
     "Only the API knows who owns object 5; every request was valid at the edge. Fix: an ownership check in the API."),
    ("API2:2023", "Broken Authentication", "brute_force_basic, token_in_url, revoked_token", "partly",
     "Tokens validated at the edge, Basic and URL credentials refused, guessing throttled; the API must still verify "
     "every token (the cache is stale for up to cache_ttl)."),
    ("API3:2023", "Broken Object Property Level Authorization", "", "no",
     "Which fields a caller may read or write is the API's business (schemas, per-field rules)."),
    ("API4:2023", "Unrestricted Resource Consumption", "flood, oversized", "yes",
     "Rate limits per client, user and address; size limits on URL, headers and body."),
    ("API5:2023", "Broken Function Level Authorization", "admin_route", "partly",
     "The allow-list and per-route scopes keep functions off the edge; the API must check roles too."),
    ("API6:2023", "Unrestricted Access to Sensitive Business Flows", "", "partly",
     "Rate limits slow automation down; deciding which flows are abuse is business logic."),
    ("API7:2023", "Server Side Request Forgery", "", "no",
     "The gateway sees the request, not the URLs the API later fetches on its own."),
    ("API8:2023", "Security Misconfiguration", "token_in_url (the log)", "partly",
     "One place for consistent headers, limits and log masking; the API's own configuration remains."),
    ("API9:2023", "Improper Inventory Management", "admin_route", "yes, for routes behind it",
     "The allow-list is an inventory: unpublished routes never reach the API, unless a path around the "
     "gateway exists."),
    ("API10:2023", "Unsafe Consumption of APIs", "", "no",
     "How the API trusts the third-party APIs it calls is out of the gateway's sight."),
]


def owasp_top10() -> Table:
    """The OWASP API Security Top 10 (2023): what this notebook showed, and whether a gateway helps."""
    frame = pd.DataFrame(OWASP_TOP10, columns=["item", "risk", "shown here by", "a gateway helps?", "why"])
    return Table(frame.set_index("item"),
                 lambda row: {"yes": "ok", "no": "bad"}.get(row["a gateway helps?"].split(",")[0], "warn"))
