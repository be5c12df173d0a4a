"""Helpers, widgets and exercises for ``notebooks/03-scopes.ipynb``.

Scopes (RFC 6749 section 3.3) are how OAuth 2 keeps an app to least
privilege: the app *asks* for some, the user *grants* a subset on the consent
page, the authorization server issues a token carrying exactly the granted
ones, and the API answers ``403`` with ``error="insufficient_scope"`` and the
``scope`` it needed (RFC 6750 section 3.1) when the token is too narrow.

Everything here runs real flows against the running lab:

- :func:`connect` (from :mod:`.common`) runs the authorization code flow
  (PKCE S256), the user's part played by ``lab.authorize`` on the real
  consent page, and returns the :class:`~apisec_lab.client.flows.OAuthApp`
  holding the tokens; :func:`try_strict` shows what requests-oauthlib does
  by default when the user grants less than the app asked for.
- :func:`scope_matrix` calls every user-facing endpoint of the API with a
  token and tabulates what came back.
- :class:`ScopePicker` is the widget face of both: tick scopes, click
  "Grant and test", see the matrix.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import ipywidgets as widgets
import pandas as pd

from ..client import flows
from ..client.flows import FlowError, OAuthApp
from ..core.cast import DEMO_PASSWORDS
from ..lab import AuthorizationFailed
from ..servers.endpoints import ENDPOINTS, RULE_PARAM
from .common import (
    connect,
    current_lab,
    html_table,
    lab_time,
    own_active_token,
    show_response,
    try_refresh,
    user_endpoints,
    user_scopes,
)
from .exercises import Exercise
from .widgets import Panel, note_html

__all__ = ["USER_APPS", "connect", "scopes_asked", "authorization_url", "try_strict", "try_refresh",
           "consent_page", "client_scopes", "user_endpoints", "scope_matrix", "show_response", "matrix_html",
           "grant_and_test", "ScopePicker", "q1", "q2", "q3"]

#: The apps a user can connect in notebooks 03 and 04 (authorization code clients).
USER_APPS = ("photoprint", "photocli", "chatpal")


# -- the app asks, the user decides ---------------------------------------------
def scopes_asked(lab, client_id: str) -> tuple:
    """Every scope *client_id* is registered for: what :func:`connect` asks for by default."""
    return lab.store.client(client_id).scopes


def authorization_url(lab, client_id: str, asked=None) -> str:
    """The URL the app sends the user's browser to (scopes it asks for: *asked*, default all it may)."""
    return OAuthApp(lab, client_id).start_login(asked if asked is not None else scopes_asked(lab, client_id))


def try_strict(lab, client_id: str, scopes, username: str = "alice") -> str:
    """Connect with OAUTHLIB_RELAX_TOKEN_SCOPE unset, as requests-oauthlib does by default.

    Returns what happened, as a sentence.  When the user granted less than the
    app asked for, requests-oauthlib raises ``Warning('Scope has changed ...')``
    *after* the server issued tokens; the app would drop them, so this helper
    revokes them (RFC 7009) rather than leave an orphan grant behind.
    """
    try:
        app = connect(lab, client_id, scopes, user=username, strict_scope=True)
    except Warning as w:
        token = getattr(w, "token", None) or {}
        revoked = ""
        if token.get("refresh_token"):
            flows.revoke(lab, client_id, token["refresh_token"], hint="refresh_token")
            revoked = " (The server had already issued tokens; they were revoked so no orphan grant is left.)"
        # oauthlib's message lists the scopes from sets, in no stable order: say it in the request's order.
        asked = list(scopes_asked(lab, client_id))
        got = [s for s in asked if s in set(getattr(w, "new_scope", None) or scopes)]
        return (f"requests-oauthlib raised {type(w).__name__}('Scope has changed from \"{' '.join(asked)}\" "
                f"to \"{' '.join(got)}\".'){revoked}")
    return f"No complaint: the token carries {' '.join(app.granted)}, as asked."


# -- what the consent page offers ------------------------------------------------
class _ConsentParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.boxes, self._label, self._in_label, self.client_name, self._in_name = [], None, False, "", False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self._in_label, self._label = True, {"text": ""}
        elif (tag == "input" and attrs.get("type") == "checkbox" and attrs.get("name") == "scope"
              and self._label is not None):
            self._label.update(scope=attrs.get("value"), ticked="checked" in attrs)
        elif tag == "span" and attrs.get("id") == "client-name":
            self._in_name = True

    def handle_endtag(self, tag):
        if tag == "label" and self._label is not None:
            if "scope" in self._label:
                self.boxes.append(self._label)
            self._in_label, self._label = False, None
        elif tag == "span":
            self._in_name = False

    def handle_data(self, data):
        if self._in_label and self._label is not None:
            self._label["text"] += data
        if self._in_name:
            self.client_name += data


def consent_page(lab, url: str) -> pd.DataFrame:
    """The scope checkboxes of the real consent page at *url*: scope, what it says, ticked."""
    with lab.session() as s:
        r = s.get(url, headers={"Accept": "text/html"}, timeout=10)
    r.raise_for_status()
    parser = _ConsentParser()
    parser.feed(r.text)
    rows = [{"scope": b["scope"], "the page says": b["text"].replace(b["scope"], "").strip(),
             "ticked": b["ticked"]} for b in parser.boxes]
    df = pd.DataFrame(rows, columns=["scope", "the page says", "ticked"]).set_index("scope")
    df.attrs["client_name"] = parser.client_name
    return df


def client_scopes(lab) -> pd.DataFrame:
    """Which of the user's scopes each user-facing app is registered for (what it *may* ask for)."""
    scopes = user_scopes()
    rows = {}
    for cid in USER_APPS:
        client = lab.store.client(cid)
        rows[client.name] = {s: ("yes" if s in client.scopes else "") for s in scopes}
    return pd.DataFrame(rows).T.rename_axis("app")


# -- the scope matrix --------------------------------------------------------------
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _first_photo(lab, token) -> int:
    user = None
    if token:
        user = lab.introspect(token).get("username")
    rows = lab.store.photos(user or "alice")
    return rows[0]["id"] if rows else 1


def scope_matrix(lab, token: str | None = None, *, auth=None, photo_id: int | None = None) -> pd.DataFrame:
    """Call every user-facing endpoint with *token* (or HTTP Basic *auth*) and tabulate the outcome.

    Rows: ``METHOD /path``.  Columns: ``status``; ``allowed``; ``error`` (the
    JSON body's); ``missing scope`` (the ``scope`` parameter of the 403's
    ``WWW-Authenticate`` header, RFC 6750 section 3).

    Writes are *probed* with an empty JSON body ``{}``: the API checks the
    scope first and the body second, so a write the token may make answers
    ``400 invalid_request`` and nothing is written.
    """
    if photo_id is None:
        photo_id = _first_photo(lab, token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    rows = []
    with lab.session() as s:
        for e in user_endpoints():
            path = RULE_PARAM.sub(str(photo_id), e.path)
            write = e.method != "GET"
            r = s.request(e.method, lab.api_url + path, headers=headers, auth=auth,
                          json={} if write else None, timeout=10)
            params = dict(_PARAM.findall(r.headers.get("WWW-Authenticate", "")))
            try:
                error = r.json().get("error", "") if r.status_code >= 400 else ""
            except ValueError:
                error = ""
            if r.status_code < 300:
                allowed = "yes"
            elif write and r.status_code == 400:
                allowed = "yes (probe: nothing written)"
            else:
                allowed = "no"
            rows.append({"endpoint": f"{e.method} {e.openapi_path}", "status": r.status_code,
                         "allowed": allowed, "error": error,
                         "missing scope": params.get("scope", "") if error == "insufficient_scope" else ""})
    return pd.DataFrame(rows, columns=["endpoint", "status", "allowed", "error", "missing scope"]).set_index("endpoint")


def matrix_html(df: pd.DataFrame) -> str:
    """The matrix as a small HTML table, green where allowed, red where refused."""
    return html_table(df, table_class="scope-matrix",
                      row_kind=lambda row: "ok" if str(row["allowed"]).startswith("yes") else "bad")


def grant_and_test(lab, client_id: str, scopes, username: str = "alice", password: str | None = None):
    """Connect *client_id* with the user granting *scopes*, then run :func:`scope_matrix`.

    Returns ``(app, matrix)``.  Raises like :func:`connect`.
    """
    app = connect(lab, client_id, scopes, user=username, password=password)
    return app, scope_matrix(lab, app.access_token)


class ScopePicker(Panel):
    """The consent page in miniature: tick scopes as the user, click, see what the token can do.

    Controls: ``app`` (dropdown), one checkbox per scope the app asks for
    (``boxes``), ``username``, ``password`` (prefilled with the demo
    credentials), the button ``grant_button`` ("Grant and test") and the
    ``result`` HTML.  After a click: ``connected`` (the :class:`OAuthApp`),
    ``token`` and ``matrix``.
    """

    def __init__(self, lab, client_id: str = "photoprint", username: str = "alice"):
        self.lab = lab
        self.connected: OAuthApp | None = None
        self.matrix: pd.DataFrame | None = None
        self.app = widgets.Dropdown(options=[(lab.store.client(c).name, c) for c in USER_APPS],
                                    value=client_id, description="App")
        self.username = widgets.Text(value=username, description="Username")
        self.password = widgets.Password(value=DEMO_PASSWORDS.get(username, ""), description="Password")
        self.grant_button = widgets.Button(description="Grant and test", button_style="primary",
                                           tooltip="Sign in as the user, grant the ticked scopes, test the token")
        self.boxes: dict[str, widgets.Checkbox] = {}
        self.box_area = widgets.VBox()
        self.result = widgets.HTML("<i>Tick the scopes you grant, then click Grant and test.</i>")
        self.app.observe(self._on_app, names="value")
        self.grant_button.on_click(self._on_click)
        self._build_boxes()
        super().__init__([self.app, widgets.HTML("<b>Allow this app to:</b>"), self.box_area,
                          self.username, self.password, self.grant_button, self.result])
        self.add_class("apisec-scope-picker")

    def _build_boxes(self):
        described = self.lab.store.scope_descriptions()
        self.boxes = {s: widgets.Checkbox(value=True, description=f"{s}: {described.get(s, s)}", indent=False,
                                          layout=widgets.Layout(width="auto"))
                      for s in self.lab.store.client(self.app.value).scopes}
        self.box_area.children = list(self.boxes.values())

    def _on_app(self, change):
        self._build_boxes()

    def tick(self, scopes) -> None:
        """Tick exactly *scopes* (as the user would)."""
        unknown = set(scopes) - set(self.boxes)
        if unknown:
            raise ValueError(f"{self.app.label} does not ask for {sorted(unknown)}; it asks for {list(self.boxes)}")
        for s, box in self.boxes.items():
            box.value = s in scopes

    @property
    def ticked(self) -> list:
        return [s for s, box in self.boxes.items() if box.value]

    @property
    def token(self) -> str | None:
        return self.connected.access_token if self.connected else None

    def _on_click(self, _button=None):
        name, asked = self.app.label, " ".join(self.boxes)
        try:
            self.connected, self.matrix = grant_and_test(self.lab, self.app.value, self.ticked,
                                                         self.username.value, self.password.value)
        except AuthorizationFailed as e:
            self.connected, self.matrix = None, None
            self.result.value = note_html(f"Sign-in failed (HTTP {e.response.status_code}): "
                                          "wrong username or password. Nothing was granted.", "error")
            return
        except FlowError as e:
            self.connected, self.matrix = None, None
            why = e.description or ""
            self.result.value = note_html(f"{html.escape(name)} got <b>error={html.escape(e.error or '?')}</b>: "
                                          f"{html.escape(why)} No token was issued.", "error")
            return
        carried = self.lab.introspect(self.token).get("scope", "")
        self.result.value = (
            f"<p><b>{html.escape(name)}</b> asked for <code>{html.escape(asked)}</code>; "
            f"you granted <code>{html.escape(' '.join(self.connected.granted))}</code>. "
            f"Introspection: the token carries <code>{html.escape(carried)}</code>.</p>"
            + matrix_html(self.matrix))

    def __repr__(self) -> str:
        return f"ScopePicker(app={self.app.value!r}, ticked={self.ticked!r})"


# -- exercises ----------------------------------------------------------------------
def _check_messages_scope(answer) -> str | None:
    needed = next(e.scope for e in ENDPOINTS if (e.method, e.path) == ("GET", "/messages"))
    if not isinstance(answer, str):
        return f"answer with the scope's name as a string, like 'photos:read' (got {type(answer).__name__})."
    given = answer.strip()
    if given == needed:
        return None
    if given == "messages:write":
        return "messages:write lets an app *send* messages; reading them is a different scope."
    if given in ("messages", "read"):
        return "scope names here have two parts, resource and action, like 'photos:read'."
    return (f"{given!r} is not it. Call GET /messages with a token that lacks the scope and read the "
            "403's WWW-Authenticate header.")


def _solve_messages_scope() -> str:
    return "messages:read"


def _token_of(answer) -> str:
    if isinstance(answer, OAuthApp):
        return answer.access_token
    if isinstance(answer, ScopePicker):
        if answer.token is None:
            raise ValueError("the picker has no token yet: click 'Grant and test' first")
        return answer.token
    if not isinstance(answer, str):
        raise ValueError("pass the access token (a string starting with 'at_'), e.g. picker.token")
    return answer.strip()


def _answer_token(answer) -> tuple[str | None, str | None]:
    """``(token, None)``, or ``(None, what is wrong with the answer)``."""
    try:
        return _token_of(answer), None
    except ValueError as e:
        return None, f"{e}."


def _check_print_only(answer) -> str | None:
    lab = current_lab()
    token, problem = _answer_token(answer)
    if problem:
        return problem
    info, problem = own_active_token(lab, token, q2, "the notebook's own cell in section 5 clicked the picker",
                                     "tick the scopes and click Grant and test yourself, then pass picker.token.")
    if problem:
        return problem
    carried = set(info.get("scope", "").split())
    matrix = scope_matrix(lab, token)
    can_print = matrix.loc["GET /photos", "allowed"] == "yes"
    reads_profile = matrix.loc["GET /me", "allowed"] == "yes"
    if not can_print:
        return f"the token carries {sorted(carried)}: PhotoPrint cannot even list the photos to print them."
    if reads_profile:
        return "that token can still read the profile (GET /me answers 200): untick profile:read."
    extra = sorted(carried - {"photos:read"})
    if extra:
        return f"it prints and keeps out of the profile, but {extra} is more than printing needs."
    return None


def _solve_print_only() -> str:
    return connect(current_lab(), "photoprint", ["photos:read"]).access_token


def _check_narrow_refresh(answer) -> str | None:
    lab = current_lab()
    token, problem = _answer_token(answer)
    if problem:
        return problem
    row = lab.store.token(token, "access")
    if row is None:
        return "that is not an access token this lab issued."
    info, problem = own_active_token(lab, token, q3, "section 6 refreshed `wide`",
                                     "refresh wide2 yourself and pass its new access token.")
    if problem:
        return problem
    refreshed = lab.events(int(row["grant_id"]))["event"].eq("refreshed").any()
    grant_scopes = set(lab.store.grant(row["grant_id"])["scopes"].split())
    carried = set(info.get("scope", "").split())
    if carried != {"photos:read"}:
        return f"the token carries {sorted(carried)}; ask for just photos:read when you refresh."
    if not refreshed or carried == grant_scopes:
        return ("that token carries photos:read, but it did not come from refreshing a wider grant: "
                "connect PhotoPrint with every scope, then refresh asking for less.")
    return None


def _solve_narrow_refresh() -> str:
    app = connect(current_lab(), "photoprint")
    return app.refresh(scopes=["photos:read"])["access_token"]


q1 = Exercise(
    "q1 (the scope of GET /messages)",
    _check_messages_scope,
    "Look at the endpoints table, or better, ask the API: call GET /messages with a token that lacks it "
    "and read the scope=\"...\" parameter of the 403's WWW-Authenticate header.",
    "answer = \"messages:read\"\n# The 403 says so itself: WWW-Authenticate: Bearer ..., error=\"insufficient_scope\", "
    "scope=\"messages:read\"",
    _solve_messages_scope,
    success="GET /messages needs messages:read, and the API's 403 names it.")

q2 = Exercise(
    "q2 (print photos, nothing more)",
    _check_print_only,
    "In the picker choose PhotoPrint and tick only what listing photos needs (see the matrix rows "
    "GET /photos and GET /me), click Grant and test, then pass picker.token.",
    "picker.app.value = \"photoprint\"\npicker.tick([\"photos:read\"])\npicker.grant_button.click()\n"
    "answer = picker.token\n# or: answer = nb03.connect(lab, \"photoprint\", [\"photos:read\"]).access_token",
    _solve_print_only,
    success="photos:read alone: PhotoPrint can print, and GET /me answers 403 insufficient_scope.",
    pose=lab_time)

q3 = Exercise(
    "q3 (a narrower token on refresh)",
    _check_narrow_refresh,
    "app.refresh(scopes=[...]) sends scope=... with the refresh token (RFC 6749 section 6); "
    "it returns the token response, a dict.",
    "wide = nb03.connect(lab, \"photoprint\")        # every scope it asks for\n"
    "answer = wide.refresh(scopes=[\"photos:read\"])[\"access_token\"]",
    _solve_narrow_refresh,
    success="the new access token carries photos:read only, while the grant (and its refresh token) keep the rest.",
    pose=lab_time)
