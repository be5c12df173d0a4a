"""Notebook 08's tables: one attack through every door, the whole scorecard, and the lab's exploit records."""
from __future__ import annotations

import pandas as pd

from ..common import Table, current_lab
from .attacks import ATTACKS, DOORS, Attempt

#: The four replays of :func:`doors`: (door, fixed).
REPLAYS = (("api", False), ("gateway", False), ("gateway-off", False), ("gateway", True))


def _verdict(a: Attempt) -> str:
    if a.worked:
        return "EXPLOITED"
    return f"refused by {a.stopped_by}" if a.stopped_by else "not exploited"


def doors(lab, attack) -> Table:
    """*attack* four times: straight to the API, through the gateway (policy on, then every check off), all with
    the flaw on; then through the gateway with the flaw fixed (its switch off). Red where the API's detector
    recorded an exploit."""
    rows = []
    for door, fixed in REPLAYS:
        a = attack(lab, door=door, fixed=fixed)
        rows.append({"door": DOORS[door], "the flaw": "fixed" if fixed else "on", "answers": a.answers,
                     "exploited (the API's records)": f"yes, {a.exploited} record{'s' * (a.exploited != 1)}"
                     if a.worked else "no", "the attacker got": a.got, "stopped by": a.stopped_by or "-"})
    frame = pd.DataFrame(rows).set_index("door")
    return Table(frame, lambda row: "bad" if row["exploited (the API's records)"] != "no" else "ok")


def scorecard(lab) -> Table:
    """Every attack of the notebook through every door, with its OWASP item and what a gateway can do about it."""
    rows = []
    for item, attack, gateway in ATTACKS:
        results = {(door, fixed): attack(lab, door=door, fixed=fixed) for door, fixed in REPLAYS}
        rows.append({"attack": results[("api", False)].flaw.split(" ", 1)[1], "OWASP": item,
                     "straight to the API": _verdict(results[("api", False)]),
                     "gateway, policy on": _verdict(results[("gateway", False)]),
                     "gateway, every check off": _verdict(results[("gateway-off", False)]),
                     "fixed in the API": _verdict(results[("gateway", True)]),
                     "can a gateway help?": gateway})
    frame = pd.DataFrame(rows).set_index("attack")
    return Table(frame, lambda row: "bad" if row["gateway, policy on"] == "EXPLOITED" else "warn")


def exploits(lab=None, weakness: str | None = None) -> Table:
    """The lab's exploit records (``lab.exploits()``): each time an API detector saw a flaw really used."""
    frame = (lab or current_lab()).exploits()
    if weakness is not None:
        frame = frame[frame["weakness"] == weakness]
    frame = frame.drop(columns=["at"]).reset_index(drop=True).rename_axis("#")
    frame[["user", "client"]] = frame[["user", "client"]].fillna("(anonymous)")
    return Table(frame, lambda row: "bad")
