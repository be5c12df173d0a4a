"""Helpers, widgets and exercises for ``notebooks/04-revocation.ipynb``.

Revocation and token lifetime, shown live against the running lab:

- :class:`AppsDashboard`: the user's "connected apps" page over
  ``lab.connected_apps`` and ``lab.revoke_app``, with a Revoke button per app
  and a live check of which apps still work.
- :func:`probe`, :func:`use`, :func:`outcome`: what each app gets from the API now.
- :func:`password_change_contrast`: a password change cuts off every holder of
  the password and none of the OAuth apps.
- :func:`replay_refresh`: an attacker presents a spent refresh token (through the wiretap).
- :func:`timeline`: one grant's life from the lab's event records.
- :func:`connect_jwt`, :class:`RevocationRace`, :func:`measure_gap`,
  :func:`gap_table`, :func:`compare_costs`: self-contained JWT access tokens
  (RFC 9068, signed by the authorization server for a client registered for
  them) against revocation (the JWT pieces of
  :mod:`apisec_lab.client.selfcontained` are re-exported here, so the notebook
  imports this one module).

The authorization code flow itself is :func:`apisec_lab.book.common.connect`
(the client layer's :class:`~apisec_lab.client.flows.OAuthApp`).
"""
from __future__ import annotations

import html
import math

import ipywidgets as widgets
import pandas as pd
import requests

from ..client import flows, selfcontained
from ..client.flows import FlowError, OAuthApp
from ..client.selfcontained import SignatureOnlyAPI, decode_unverified, verify_signature_only, verify_with_introspection
from ..core.cast import DEMO_PASSWORDS
from .common import Table, connect, current_lab, html_table, outcome, show_response, try_refresh
from .exercises import Exercise
from .widgets import Panel

__all__ = ["connect", "connect_apps", "AppsDashboard", "probe", "use", "outcome", "show",
           "password_change_contrast", "replay_refresh", "try_refresh", "timeline", "RevocationRace",
           "connect_jwt", "measure_gap", "gap_table", "compare_costs", "SignatureOnlyAPI", "decode_unverified",
           "verify_signature_only", "verify_with_introspection", "q1", "q2"]

show = show_response

#: The call each app makes to do its job.
PURPOSE = {"photoprint": ("GET", "/photos"), "photocli": ("GET", "/photos"), "chatpal": ("GET", "/messages")}

#: What Alice grants each app in this notebook (a subset of what it asks for).
ALICE_GRANTS = {
    "photoprint": ["profile:read", "photos:read"],
    "photocli": ["profile:read", "photos:read", "photos:write"],
    "chatpal": ["profile:read", "messages:read", "messages:write"],
}


def connect_apps(lab, username: str = "alice", *, tapped: bool = False) -> dict[str, OAuthApp]:
    """Connect PhotoPrint, PhotoCLI and ChatPal for *username*, each through a real code flow.

    ``tapped=True``: the apps send everything, then and later, through the wiretap (for ``lab.wiretap.sequence()``).
    """
    return {cid: connect(lab, cid, scopes, user=username, tapped=tapped) for cid, scopes in ALICE_GRANTS.items()}


# -- what the API answers ----------------------------------------------------------
def use(app: OAuthApp) -> tuple[requests.Response, str]:
    """What *app* does to do its job: one API call, refreshing once if its access token expired.

    Returns ``(response, note)``; *note* says if a refresh happened or failed.
    """
    method, path = PURPOSE.get(app.client_id, ("GET", "/me"))
    r = app.call(path, method)
    if r.status_code == 401 and "expired" in r.text and app.refresh_token:
        try:
            app.refresh()
        except FlowError as e:
            return r, f"refresh refused: {e.error}"
        return app.call(path, method), "after a refresh"
    return r, ""


def probe(apps: dict[str, OAuthApp]) -> pd.DataFrame:
    """Each app makes its usual call now: does it still work?"""
    rows = []
    for app in apps.values():
        r, note = use(app)
        works = r.status_code == 200
        description = "" if works else r.json().get("error_description", "")
        rows.append({"app": app.name, "call": " ".join(PURPOSE.get(app.client_id, ("GET", "/me"))),
                     "status": r.status_code,
                     "result": ("works" if works else f"cut off: {description}") + (f" ({note})" if note else "")})
    return pd.DataFrame(rows, columns=["app", "call", "status", "result"]).set_index("app")


def _works(row) -> str:
    return "ok" if row["status"] == 200 else "bad"


def _ago(lab, when) -> str:
    if when is None or pd.isna(when):
        return "never"
    minutes = int((lab.clock.now() - when.timestamp()) // 60)
    return "just now" if minutes < 1 else f"{minutes} min ago"


class AppsDashboard(Panel):
    """The user's "connected apps" page.

    One row per app holding an active grant (its scopes, when it was granted
    and last used) with a button ``Revoke <app name>``; a button
    ``Check apps now``; a ``status`` HTML that, after a revoke or a check,
    shows one live API call per app in *apps* (the apps this notebook
    connected): which still work and which are cut off.
    ``buttons`` maps client_id to its Revoke button (kept after the app is
    revoked and its row is gone, so clicking it again just says so).
    """

    def __init__(self, lab, apps: dict[str, OAuthApp], username: str = "alice"):
        self.lab, self.apps, self.username = lab, apps, username
        self.buttons: dict[str, widgets.Button] = {}
        self.header = widgets.HTML()
        self.rows = widgets.VBox()
        self.check_button = widgets.Button(description="Check apps now", icon="refresh",
                                           tooltip="Each app makes its usual API call now")
        self.check_button.on_click(lambda _b: self.check())
        self.status = widgets.HTML("<i>Revoke an app, or check which apps work now.</i>")
        self.last_probe: pd.DataFrame | None = None
        self.refresh_rows()
        super().__init__([self.header, self.rows, self.check_button, self.status])
        self.add_class("apisec-apps-dashboard")

    def table(self) -> pd.DataFrame:
        """One row per connected app (several grants to one app are merged)."""
        df = self.lab.connected_apps(self.username)
        if df.empty:
            return pd.DataFrame(columns=["app", "scopes", "granted", "last_used", "grants"]).rename_axis("client_id")
        merged = df.groupby("client_id", sort=False).agg(
            app=("app", "first"), scopes=("scopes", lambda s: " ".join(dict.fromkeys(" ".join(s).split()))),
            granted=("granted", "min"), last_used=("last_used", "max"), grants=("app", "size"))
        return merged

    def refresh_rows(self) -> None:
        """Redraw the rows from the authorization server's records."""
        table = self.table()
        self.header.value = (f"<h4 style='margin:.3em 0'>Apps connected to {html.escape(self.username)}'s account "
                             f"({len(table)})</h4>")
        rows = []
        for client_id, row in table.iterrows():
            button = self.buttons.get(client_id)
            if button is None:   # one button per app for the dashboard's life: clicking it again is harmless
                button = widgets.Button(description=f"Revoke {row['app']}", button_style="danger",
                                        tooltip=f"Cut {row['app']} off now")
                button.on_click(lambda _b, cid=client_id: self.revoke(cid))
                self.buttons[client_id] = button
            info = widgets.HTML(
                f"<b>{html.escape(row['app'])}</b> can: <code>{html.escape(row['scopes'])}</code><br>"
                f"<small>granted {_ago(self.lab, row['granted'])}, last used {_ago(self.lab, row['last_used'])}"
                + (f", {row['grants']} grants" if row["grants"] > 1 else "") + "</small>",
                layout=widgets.Layout(width="32em"))
            rows.append(widgets.HBox([info, button]))
        if not rows:
            rows = [widgets.HTML("<i>No app holds a grant from this account.</i>")]
        self.rows.children = rows

    def probe(self) -> pd.DataFrame:
        """Each of this notebook's apps makes its usual API call now (see :func:`probe`)."""
        self.last_probe = probe(self.apps)
        return self.last_probe

    def _show_probe(self, headline: str) -> None:
        df = self.probe()
        self.status.value = (f"<p>{headline + ' ' if headline else ''}Live check, one API call per app:</p>"
                             + html_table(df, row_kind=_works))

    def check(self) -> pd.DataFrame:
        """What the "Check apps now" button does."""
        self._show_probe("")
        self.refresh_rows()           # after the calls, so "last used" shows them
        return self.last_probe

    def revoke(self, client_id: str) -> int:
        """What a Revoke button does: ``lab.revoke_app``, then redraw and check every app."""
        name = self.lab.store.client(client_id).name
        n = self.lab.revoke_app(self.username, client_id)
        if n:
            headline = (f"<b>You revoked {html.escape(name)}</b> ({n} grant{'s' if n > 1 else ''}): "
                        "it is cut off at once, the others are untouched.")
        else:
            headline = f"{html.escape(name)} held no active grant: nothing to revoke."
        self._show_probe(headline)
        self.refresh_rows()
        return n

    def __repr__(self) -> str:
        return f"AppsDashboard(user={self.username!r})"


# -- the password change of notebook 01, and OAuth grants ---------------------------
NEW_PASSWORD = "rabbit-hole-2027"


def password_change_contrast(lab, apps: dict[str, OAuthApp], username: str = "alice") -> pd.DataFrame:
    """Change *username*'s password and see who is cut off; then change it back.

    With the ``basic_auth`` weakness on, an app that was given the password
    (notebook 01) sends it with HTTP Basic on every call.  The OAuth apps in
    *apps* never saw it.  The password is restored at the end, so the rest of
    the notebook can still sign in.
    """
    password = DEMO_PASSWORDS[username]

    def password_app(pw):
        with lab.session() as s:
            return s.get(lab.api_url + "/photos", auth=(username, pw), timeout=10)

    def column():
        col = {f"an app holding {username}'s password (HTTP Basic)": password_app(password)}
        col.update({f"{app.name} (OAuth token)": use(app)[0] for app in apps.values()})
        return {k: ("works" if r.status_code == 200 else f"cut off ({r.status_code})") for k, r in col.items()}

    with lab.weaknesses.turned_on(basic_auth=True):
        before = column()
        lab.change_password(username, NEW_PASSWORD)
        try:
            after = column()
        finally:
            lab.change_password(username, password)
    return pd.DataFrame({"before": before, "after the password change": after}).rename_axis("who calls the API")


# -- refresh tokens: rotation and reuse -------------------------------------------
#: How the thief of section 5 names itself in ``User-Agent`` (honestly, as the lab's actors do; a real one would not).
THIEF = flows.agent("Thief")


def replay_refresh(lab, client_id: str, refresh_token: str) -> requests.Response:
    """Present *refresh_token* at the token endpoint, as whoever copied it would (RFC 6749 section 6).

    Through the wiretap, sent by the thief (:data:`THIEF`) in *client_id*'s name.
    """
    # A public client: its id is all it takes.
    return flows.refresh(lab, client_id, refresh_token, tapped=True, user_agent=THIEF)


# -- timeline ----------------------------------------------------------------------
def timeline(lab, grant_id: int, width: int = 24) -> Table:
    """One grant's life from ``lab.events``: minute (lab clock, from consent), event, detail, a text bar.

    The user's consent comes first: it joins the grant once its code is exchanged.
    """
    rows = lab.events(grant_id)[["at", "event", "detail"]]
    if rows.empty:
        raise KeyError(f"no events for grant {grant_id}")
    seconds = (rows["at"] - rows["at"].iloc[0]).dt.total_seconds()
    rows = rows.assign(minute=(seconds // 60).astype(int))
    # Runs of the same event in the same minute (an app calling the API again and again) become one row.
    run = ((rows["minute"] != rows["minute"].shift()) | (rows["event"] != rows["event"].shift())
           | (rows["detail"] != rows["detail"].shift())).cumsum()
    rows = rows.groupby(run, sort=False).agg(minute=("minute", "first"), event=("event", "first"),
                                             detail=("detail", "first"), times=("event", "size"))
    span = max(int(rows["minute"].max()), 1)
    positions = [round(m / span * (width - 1)) for m in rows["minute"]]
    out = pd.DataFrame({
        "minute": rows["minute"].to_numpy(),
        "timeline": ["·" * p + "●" + " " * (width - 1 - p) for p in positions],
        "event": rows["event"].to_numpy(),
        "detail": [d + (f" ({n} times)" if n > 1 else "") for d, n in zip(rows["detail"], rows["times"], strict=True)],
    })
    out.index = pd.RangeIndex(1, len(out) + 1, name="#")
    return Table(out)


# -- self-contained tokens against revocation --------------------------------------
#: The JWT edition of PhotoPrint: a client registered for RFC 9068 JWT access tokens.
JWT_APP = "PhotoPrint JWT"


def connect_jwt(lab, lifetime: int = 600, username: str = "alice") -> OAuthApp:
    """Register PhotoPrint's JWT edition (its access tokens JWTs living *lifetime* seconds); *username* connects it,
    granting ``photos:read``, through the real authorization code flow."""
    return selfcontained.jwt_app(lab, JWT_APP, ["photos:read"], user=username, lifetime=lifetime)


def _verdict(check: selfcontained.Check) -> str:
    if check.accepted:
        return "accepted"
    if "expired" in check.reason:
        return "rejected (expired)"
    if "revoked" in check.reason or "active: false" in check.reason:
        return "rejected (revoked)"
    return f"rejected ({check.reason})"


def _api_verdict(r: requests.Response) -> str:
    if r.status_code == 200:
        return "accepted"
    is_json = r.headers.get("Content-Type", "").startswith("application/json")
    text = r.json().get("error_description", "") if is_json else ""
    for word in ("revoked", "expired"):
        if word in text:
            return f"rejected ({word})"
    return f"rejected ({r.status_code})"


class RevocationRace:
    """Record, moment by moment, who still accepts an app's JWT access token.

    Columns: ``minute`` (lab clock, since the JWT was issued), ``moment``, the
    JWT at the lab's API (which also asks the store), at an API that checks its
    signature only, and at one that also introspects.
    """

    COLUMNS = ["minute", "moment", "JWT, lab API (asks the store)", "JWT, signature only", "JWT + introspection"]

    def __init__(self, lab, api: selfcontained.SignatureOnlyAPI, app: OAuthApp):
        self.lab, self.api, self.app, self.jwt = lab, api, app, app.access_token
        self.issued_at = selfcontained.decode_unverified(self.jwt)["claims"]["iat"]
        self.rows: list[dict] = []

    def record(self, moment: str) -> pd.DataFrame:
        """Try all three now; return the table so far."""
        method, path = PURPOSE["photoprint"]
        self.rows.append({
            "minute": int((self.lab.clock.now() - self.issued_at) // 60),
            "moment": moment,
            "JWT, lab API (asks the store)": _api_verdict(self.app.call(path, method)),
            "JWT, signature only": _verdict(selfcontained.verify_signature_only(self.jwt, self.api)),
            "JWT + introspection": _verdict(selfcontained.verify_with_introspection(self.jwt, self.api)),
        })
        return self.table()

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.COLUMNS)


def measure_gap(lab, api: selfcontained.SignatureOnlyAPI, lifetime: int, revoke_after: int,
                username: str = "alice") -> int:
    """Seconds a signature-only API keeps accepting a JWT after its grant is revoked, measured.

    Registers PhotoPrint's JWT edition with access tokens living *lifetime*
    seconds and connects it (a real flow), moves the lab clock *revoke_after*
    seconds, revokes the grant, then asks the signature-only check about the
    token one second after another until it says no.  The lab clock ends
    there, at the token's exp.
    """
    # On the lab clock alone (frozen): iat and exp are whole seconds (RFC 7519 NumericDate) and the token is
    # issued less than a second after iat, so counting whole seconds from the revocation comes out exact,
    # however long a busy kernel takes between issuing and revoking.
    with lab.clock.frozen():
        app = connect_jwt(lab, lifetime, username)
        token = app.access_token
        lab.clock.advance(revoke_after)
        lab.revoke_grant(app.grant_id, "revoked by the user")
        revoked_at, waited = lab.clock.now(), 0
        while selfcontained.verify_signature_only(token, api, now=revoked_at + waited):
            waited += 1
            if waited > lifetime + 5:
                raise RuntimeError("the JWT outlived its exp: the signature-only check is broken")
        lab.clock.advance(waited)
    return waited


def gap_table(lab, api: selfcontained.SignatureOnlyAPI, lifetimes=(3600, 900, 60)) -> pd.DataFrame:
    """Worst case for each JWT lifetime (revoked right after issue): how long revocation is ignored.

    Also how many token requests per hour one client then makes: the price of
    short lifetimes, paid at the token endpoint, where revocation is checked.
    """
    rows = []
    for lifetime in lifetimes:
        gap = measure_gap(lab, api, lifetime, revoke_after=0)
        rows.append({"JWT lifetime": f"{lifetime / 60:g} min",
                     "revocation ignored for up to": f"{gap / 60:g} min",
                     "token requests per hour": math.ceil(3600 / lifetime)})
    return pd.DataFrame(rows).set_index("JWT lifetime")


def compare_costs(lab, api: selfcontained.SignatureOnlyAPI, rounds: int = 50) -> str:
    """Median cost of one signature-only check and one check with introspection, on a fresh JWT.

    Connects PhotoPrint's JWT edition for the measurement and revokes that grant afterwards.
    """
    app = connect_jwt(lab)
    token = app.access_token
    fast = selfcontained.cost_per_check(selfcontained.verify_signature_only, token, api, rounds)
    slow = selfcontained.cost_per_check(selfcontained.verify_with_introspection, token, api, rounds)
    lab.revoke_grant(app.grant_id, "measurement done")      # leave no stray grant on Alice's dashboard
    return (f"signature only: {fast * 1000:.3f} ms per check; with introspection: {slow * 1000:.2f} ms "
            f"per check ({slow / fast:.1f}x)")


# -- exercises ----------------------------------------------------------------------
def _check_only_chatpal(answer) -> str | None:
    if not isinstance(answer, AppsDashboard):
        return "pass the dashboard you used (quiz), after revoking ChatPal on it."
    missing = [c for c in ALICE_GRANTS if c not in answer.apps]
    if missing:
        return f"that dashboard has no live session for {missing}: make it with nb04.connect_apps(lab)."
    results = answer.probe()
    names = {cid: app.name for cid, app in answer.apps.items()}
    if results.loc[names["chatpal"], "status"] == 200:
        return "ChatPal still works: click its Revoke button (or call quiz.revoke(\"chatpal\"))."
    hurt = [names[c] for c in ("photoprint", "photocli") if results.loc[names[c], "status"] != 200]
    if hurt:
        return f"{' and '.join(hurt)} stopped working too: revoke only ChatPal (make a fresh quiz and try again)."
    if "chatpal" in set(answer.lab.connected_apps(answer.username)["client_id"]):
        return "ChatPal is cut off, but it still holds a grant: revoke the app, not just one token."
    return None


def _solve_only_chatpal():
    lab = current_lab()
    quiz = AppsDashboard(lab, connect_apps(lab))
    quiz.buttons["chatpal"].click()
    return quiz


#: q2's story: a JWT lives 15 minutes and is revoked 6 minutes after it was issued.
Q2_LIFETIME, Q2_REVOKED_AFTER = 15 * 60, 6 * 60


def _check_gap(answer) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return f"answer with a number of seconds (got {type(answer).__name__})."
    expected = Q2_LIFETIME - Q2_REVOKED_AFTER
    if abs(answer - expected) <= 1:
        return None
    if answer == 0:
        return "0 is the introspecting API's answer; the signature-only API never hears of the revocation."
    if abs(answer - Q2_LIFETIME) <= 1:
        return "that counts from when the token was issued; count from the revocation."
    if abs(answer - Q2_REVOKED_AFTER) <= 1:
        return "that is how long the token was used before the revocation; what is left until exp?"
    if abs(answer * 60 - expected) <= 60 and answer < 60:
        return "that looks like minutes: answer in seconds."
    return f"{answer} is not it: the signature-only API accepts the token until its exp, whatever happens."


def _solve_gap() -> int:
    lab = current_lab()
    return measure_gap(lab, selfcontained.SignatureOnlyAPI(lab), Q2_LIFETIME, Q2_REVOKED_AFTER)


q1 = Exercise(
    "q1 (revoke only ChatPal)",
    _check_only_chatpal,
    "Click 'Revoke ChatPal' on the quiz dashboard (not on the one further up), then pass quiz. "
    "The checker makes each app's usual API call.",
    "quiz.buttons[\"chatpal\"].click()      # or click it with the mouse\nanswer = quiz",
    _solve_only_chatpal,
    success="ChatPal is cut off; PhotoPrint and PhotoCLI keep working. A password change could not do that.")

q2 = Exercise(
    "q2 (the revocation gap)",
    _check_gap,
    "The signature-only API looks at exp and nothing else. When is exp, and when was the grant revoked?",
    "answer = 15 * 60 - 6 * 60      # 540 seconds: from the revocation until exp\n"
    "# measured: nb04.measure_gap(lab, nb04.SignatureOnlyAPI(lab), lifetime=900, revoke_after=360)",
    _solve_gap,
    success=lambda answer: (f"{answer:g} seconds, from the revocation until exp: a signature-only API honours a "
                            "revoked JWT until exp. Short lifetimes or introspection close that gap."))
