"""What the notebooks' helper modules share: the running lab, Alice connecting an app, tables, answers.

- :func:`current_lab`: the lab the notebook started (exercise checks run against it).
- :func:`connect`: a user connects an app through the real authorization code
  flow (:meth:`apisec_lab.client.flows.OAuthApp.sign_in`), typing their
  published demo password on the sign-in page.
- :func:`html_table` and :class:`Table`: the one table renderer of the book
  (pandas cuts long text at 50 characters; these never cut).
- :func:`try_refresh`: an app refreshes; what happened, in one line.
- :func:`outcome`, :func:`reply`, :func:`show_response`: what the API answered, in one line, as data, in full.
- :func:`user_endpoints`, :func:`user_scopes`: the API's routes that act for a
  user, and their scopes (read from the API's own endpoint table);
  :func:`photo_id_of`: which photo a request path reads.
- :class:`Text`: a string a notebook shows as plain lines.
"""
from __future__ import annotations

import html
import re
from typing import Callable, Sequence

import pandas as pd
import requests

from .. import lab as _lab
from ..client.flows import FlowError, OAuthApp
from ..core.cast import DEMO_PASSWORDS
from ..servers.endpoints import ENDPOINTS, RULE_PARAM, Endpoint
from .theme import tint


def current_lab():
    """The running lab (what ``apisec_lab.start()`` returned); a clear error if there is none."""
    lab = _lab.current()
    if lab is None:
        raise RuntimeError("no lab is running: run the notebook's first cells")
    return lab


def connect(lab, client_id: str, grant=None, *, asks=None, user: str = "alice", password: str | None = None,
            tapped: bool = False, strict_scope: bool = False) -> OAuthApp:
    """*user* connects *client_id*: the whole authorization code flow with PKCE, on the real sign-in page.

    The app asks for *asks* (default: every scope it is registered for); the
    user ticks *grant* on the consent page (default: all it asked for) and
    types *password* (default: the user's published demo password).
    Raises :class:`~apisec_lab.client.flows.FlowError` if the server sent back
    an error instead of a code, :class:`apisec_lab.AuthorizationFailed` if the
    sign-in itself failed.
    """
    password = DEMO_PASSWORDS.get(user, "") if password is None else password
    app = OAuthApp(lab, client_id, tapped=tapped, strict_scope=strict_scope)
    return app.sign_in(user, password, asks, grant=grant)


def lab_time() -> float:
    """Now on the running lab's clock (what :attr:`Exercise.pose` keeps for the checks below)."""
    return current_lab().clock.now()


def before_posed(lab, token: str, exercise) -> bool:
    """Was *token* issued before *exercise* was posed (by a cell above it, not by the learner)?

    A lab reset since then (its clock went back) forgets the pose.
    """
    row = lab.store.token(token)
    posed = exercise.posed
    return (row is not None and posed is not None and lab.clock.now() >= posed
            and row["issued_at"] < posed)


def own_active_token(lab, token: str, exercise, earlier: str, redo: str) -> tuple[dict, str | None]:
    """A check's first look at a token: ``(introspection, problem)``.

    The problem, if any: the token predates *exercise* (*earlier* says which cell made it) or is not active;
    *redo* says what the learner should do instead.
    """
    if before_posed(lab, token, exercise):
        return {}, f"that token was issued before this exercise was posed ({earlier}): {redo}"
    info = lab.introspect(token)
    if not info.get("active"):
        return info, f"introspection says that token is not active (inactive: unknown, expired or revoked): {redo}"
    return info, None


# -- the API's own table ---------------------------------------------------------
def user_endpoints() -> list[Endpoint]:
    """Published endpoints that need a scope and act for a user: what a user's password, or a token, opens.

    Not the staff functions (an endpoint with a ``role``): an ordinary user's password or token never opens them.
    """
    return [e for e in ENDPOINTS if e.published and e.scope and e.for_user and e.role is None]


#: The API's rule for one photo, ``/photos/<int:photo_id>``, as a pattern that matches a request path.
PHOTO_PATH = re.compile(RULE_PARAM.sub(r"(?P<\2>[^/?]+)", next(e.path for e in ENDPOINTS if e.handler == "get_photo")))


def photo_id_of(path: str) -> int | None:
    """The photo a request path reads (``/photos/4`` -> 4), or None."""
    m = PHOTO_PATH.fullmatch(path)
    return int(m.group("photo_id")) if m and m.group("photo_id").isdigit() else None


def user_scopes() -> list[str]:
    """The scopes of :func:`user_endpoints`, in the API's order (what a user can grant an app)."""
    return list(dict.fromkeys(e.scope for e in user_endpoints()))


def try_refresh(app: OAuthApp, scopes=None) -> str:
    """Let *app* refresh (asking for *scopes*, default all it was granted); say what happened in one line."""
    try:
        app.refresh(scopes)
    except FlowError as e:
        return f"refresh refused: {e.error}" + (f": {e.description}" if e.description else "")
    return f"refreshed: the new access token carries {' '.join(app.granted)}"


# -- what the API answered ---------------------------------------------------------
def outcome(r: requests.Response) -> str:
    """One line: status, and for an error the RFC 6749/6750 error code and description."""
    line = f"{r.status_code} {r.reason}"
    if r.status_code >= 400:
        try:
            body = r.json()
            line += f": {body.get('error', '')}: {body.get('error_description', '')}"
        except ValueError:
            pass
    return line


def reply(r: requests.Response, pick: str | None = None):
    """``(status, body)``: the JSON body as the API sent it, each item's *pick* field if given (errors kept whole)."""
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if pick and r.ok and isinstance(body, list):
        body = [item[pick] for item in body]
    return r.status_code, body


def show_response(r: requests.Response) -> None:
    """Print the status line, the WWW-Authenticate header (if any) and the body."""
    print(f"HTTP {r.status_code} {r.reason}")
    if "WWW-Authenticate" in r.headers:
        print(f"WWW-Authenticate: {r.headers['WWW-Authenticate']}")
    print(r.text.strip())


class Text(str):
    """A string that a notebook shows as plain lines (no quotes, no escapes)."""

    def __repr__(self) -> str:
        return str(self)


# -- tables ---------------------------------------------------------------------------
def html_table(frame: pd.DataFrame, *, index: bool = True, head: bool = True,
               row_kind: Callable[[pd.Series], str | None] | None = None,
               cell_style: str | Sequence[str] = "padding:2px 8px", head_style: str = "text-align:left;padding:2px 8px",
               table_class: str | None = None, table_style: str = "border-collapse:collapse",
               escape: bool = True) -> str:
    """*frame* as an HTML table, every cell whole.

    *index* adds the index as the first column (headed by its name);
    *row_kind(row)* tints a row ``ok``, ``bad`` or ``warn`` (:func:`.theme.tint`,
    and the class ``apisec-<kind>``); *cell_style* is one style for every
    cell or one per column; *escape=False* lets cells hold markup.
    """
    columns = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    styles = [cell_style] * len(columns) if isinstance(cell_style, str) else list(cell_style)
    text = html.escape if escape else str
    rows = []
    for key, row in frame.iterrows():
        values = ([key] if index else []) + row.tolist()
        kind = row_kind(row) if row_kind else None
        cells = "".join(f"<td style='{style}'>{text(str(v))}</td>" for style, v in zip(styles, values, strict=True))
        rows.append(f"<tr class='apisec-{kind}' style='{tint(kind)}'>{cells}</tr>" if kind else f"<tr>{cells}</tr>")
    thead = ("<thead><tr>" + "".join(f"<th style='{head_style}'>{html.escape(c)}</th>" for c in columns)
             + "</tr></thead>") if head else ""
    cls = f"class='{table_class}' " if table_class else ""
    return f"<table {cls}style='{table_style}'>{thead}<tbody>{''.join(rows)}</tbody></table>"


class Table:
    """A DataFrame shown whole in a notebook (``.frame`` holds it); *kind(row)* tints a row (see :func:`html_table`).

    Anything else is the frame's: ``Table(df)["column"]``, ``.loc``, ``.index``...
    """

    def __init__(self, frame: pd.DataFrame, kind: Callable[[pd.Series], str | None] | None = None):
        self.frame, self.kind = frame, kind

    def __getattr__(self, name):
        if name in ("frame", "kind"):
            raise AttributeError(name)
        return getattr(self.frame, name)

    def __getitem__(self, key):
        return self.frame[key]

    def __len__(self) -> int:
        return len(self.frame)

    def _repr_html_(self) -> str:
        return html_table(self.frame, row_kind=self.kind,
                          cell_style="text-align:left;padding:2px 8px;vertical-align:top",
                          table_style="border-collapse:collapse;font-size:12px")

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None, "display.width", 250):
            return self.frame.to_string()
