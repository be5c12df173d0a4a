"""What notebook 06's sections show before each lab: the stage, and each rule in a table of its own."""
from __future__ import annotations

from urllib.parse import quote

import pandas as pd

from ...agents.browser import POLICIES, BrowserError, normalize, referrer
from ..common import Table
from .stage import short


def stage(lab) -> Table:
    """Who is who in the attack labs, and where each one is."""
    rows = [
        ("PhotoPrint's website", lab.web_url, "the victim app: a confidential client of the lab with its own accounts "
                                              "and sessions (sign in with the lab, link your lab account)"),
        ("Alice's browser", "lab.victim", "signed in at PhotoPrint and at the lab (she ticked Stay signed in); opens "
                                          "whatever you send her"),
        ("the lab", lab.issuer, "the authorization server: remembers that Alice allowed PhotoPrint"),
        ("your server", lab.attacker.url, "pages you write, and a log of every request that reaches them"),
        ("Mallory's browser", "nb06.mallory(lab)", "yours: where you plant what you steal"),
    ]
    return Table(pd.DataFrame(rows, columns=["who", "where", "plays"]).set_index("who"))


def referrer_table(lab) -> Table:
    """What each Referrer-Policy sends to another site from PhotoPrint's callback URL (W3C Referrer Policy s8.3)."""
    page = f"{lab.web_url}/callback?code=c0de&state=s7a7e"
    pixel = f"{lab.attacker.url}/partner/pixel.gif"
    rows = [{"Referrer-Policy": p + (" (the default)" if p == "strict-origin-when-cross-origin" else ""),
             "Referer your server gets": short(lab, referrer(p, page, pixel)) or "(none)"} for p in sorted(POLICIES)]
    frame = pd.DataFrame(rows).set_index("Referrer-Policy")
    return Table(frame, lambda row: "bad" if "code=" in row["Referer your server gets"] else None)


def matcher_table(lab) -> Table:
    """Candidate redirect URIs for PhotoPrint: does exact matching pass them, a prefix match, where a browser goes."""
    registered = lab.store.client("photoprint-web").redirect_uris
    web, attacker = lab.web_url, lab.attacker.url
    candidates = [f"{web}/callback", f"{web}/callback/../prints",
                  f"{web}/callback/../out?to={quote(attacker + '/steal', safe='')}", f"{web}/callbackx",
                  f"{web}/prints", f"{attacker}/callback"]
    rows = []
    for uri in candidates:
        try:
            lands = normalize(uri)
        except BrowserError:
            lands = "?"
        rows.append({"redirect_uri": short(lab, uri), "exact match": uri in registered,
                     "prefix match": any(uri.startswith(r) for r in registered), "a browser opens": short(lab, lands)})
    frame = pd.DataFrame(rows).set_index("redirect_uri")
    return Table(frame, lambda row: "bad" if row["prefix match"] and not row["exact match"] else None)
