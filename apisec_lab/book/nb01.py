"""Notebook 01, Basic auth: what the password exposes.  Helpers, the traffic viewer, exercises.

The notebook imports this one module::

    from apisec_lab import nb01

- :func:`decode_basic` and :func:`credentials_in`: what anyone on the wire
  reads out of an ``Authorization: Basic`` header.
- :class:`TrafficViewer`: pick a captured request, press **Decode
  credentials**, see the password marked.
- :func:`measure_cost`: a proper password hash on every request, against a
  token lookup, timed live.
- :data:`q1`, :data:`q2`: the "Try it" exercises.
"""
from __future__ import annotations

import base64
import binascii
import html
import time
from dataclasses import dataclass

import ipywidgets as widgets
import pandas as pd

from ..client import flows
from ..client.flows import PasswordApp
from ..core.cast import DEMO_PASSWORDS
from .common import current_lab, reply, user_endpoints
from .exercises import Exercise
from .widgets import ExchangeView, Panel, exchange_html, marked, note_html

__all__ = ["PasswordApp", "wire", "who_still_works", "decode_basic", "credentials_in", "TrafficViewer", "measure_cost",
           "Cost", "overheard", "PROBES", "reply", "q1", "q2"]


# -- reading credentials off the wire ----------------------------------------
def decode_basic(header: str) -> tuple[str, str]:
    """``Basic YWxpY2U6...`` -> ``("alice", "...")``: all it takes is base64 (RFC 7617 section 2).

    Raises :class:`ValueError` if the header is not well-formed Basic.
    """
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ValueError(f"not HTTP Basic: the scheme is {scheme!r}")
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not valid base64 of UTF-8 text") from None
    user, colon, password = text.partition(":")
    if not colon:
        raise ValueError("no ':' between username and password")
    return user, password


def credentials_in(exchange) -> dict:
    """What the ``Authorization`` header of a captured request gives away.

    Returns ``{"scheme": ..., "header": ..., "username": ..., "password": ...}``
    for Basic, ``{"scheme": "Bearer", "header": ..., "token": ...}`` for a
    token, ``{"scheme": None}`` when the request carried no credentials.
    """
    header = exchange.request.headers.get("Authorization")
    if not header:
        return {"scheme": None}
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, password = decode_basic(header)
        except ValueError as e:
            return {"scheme": "Basic", "header": header, "error": str(e)}
        return {"scheme": "Basic", "header": header, "encoded": value.strip(), "username": user,
                "password": password}
    return {"scheme": scheme, "header": header, "token": value.strip()}


def capture_label(exchange) -> str:
    """A one-line label for a captured exchange: who sent what where, and the answer."""
    agent = exchange.request.headers.get("User-Agent", "?")
    auth = exchange.request.headers.get("Authorization", "")
    scheme = auth.split(" ")[0] if auth else "no credentials"
    return (f"#{exchange.id} {agent}: {exchange.method} {exchange.path.split('?')[0]} "
            f"({scheme}) -> {exchange.status}")


def wire(lab, n: int = 1, limit: int = 1200) -> ExchangeView:
    """The last *n* captured exchanges, ready to display, each request's Authorization header marked."""
    records = lab.wiretap.last(n)
    headers = [x.request.headers.get("Authorization", "") for x in records]
    return ExchangeView(records, highlight=[f"Authorization: {h}" for h in headers if h], limit=limit)


def who_still_works(apps, path: str = "/photos") -> pd.DataFrame:
    """Call *path* with each app's stored credentials: who still gets in?"""
    rows = []
    for app in apps:
        r = app.call(path)
        rows.append({"app": app.name, "status": r.status_code,
                     "answer": "works" if r.ok else r.json().get("error_description", r.json().get("error", ""))})
    return pd.DataFrame(rows, columns=["app", "status", "answer"]).set_index("app")


# -- the widget ---------------------------------------------------------------
class TrafficViewer(Panel):
    """Everything the wiretap captured, one request at a time, with its credentials decoded.

    Controls: a dropdown **Captured request**, buttons **Decode credentials**
    and **Reload captures**.  :attr:`wire` shows the raw request and response
    (the ``Authorization`` header marked); :attr:`decoded` shows what the
    header gives away after **Decode credentials** (the password marked).
    Plain functions behind it: :func:`capture_label`, :func:`credentials_in`.
    """

    def __init__(self, lab):
        self.lab = lab
        self.picker = widgets.Dropdown(description="Captured request", options=[],
                                       style={"description_width": "initial"},
                                       layout=widgets.Layout(width="100%"))
        self.decode_button = widgets.Button(description="Decode credentials", button_style="warning",
                                            icon="unlock", layout=widgets.Layout(width="auto"))
        self.reload_button = widgets.Button(description="Reload captures", icon="refresh",
                                            layout=widgets.Layout(width="auto"))
        self.wire = widgets.HTML()
        self.wire.add_class("apisec-wire")
        self.decoded = widgets.HTML()
        self.decoded.add_class("apisec-decoded")
        self.decode_button.on_click(lambda _: self.decode())
        self.reload_button.on_click(lambda _: self.reload())
        self.picker.observe(lambda _: self.show(), names="value")
        super().__init__([self.picker, widgets.HBox([self.decode_button, self.reload_button]),
                          self.decoded, self.wire])
        self.add_class("apisec-traffic-viewer")
        self.reload()

    @property
    def summary(self) -> str:
        n = len(self.picker.options)
        return f"{n} captured request{'s' if n != 1 else ''}"

    def reload(self) -> None:
        """Read the wiretap again; keep the selection if it is still there, else pick the newest."""
        records = self.lab.wiretap.records
        self._by_id = {x.id: x for x in records}
        current = self.picker.value
        self.picker.options = [(capture_label(x), x.id) for x in records]
        if current in self._by_id:
            self.picker.value = current
        elif records:
            self.picker.value = records[-1].id
        self.show()

    def selected(self):
        return self._by_id.get(self.picker.value)

    def show(self) -> None:
        """Show the selected exchange as it crossed the wire; clear the decoded view."""
        x = self.selected()
        if x is None:
            self.wire.value = note_html("Nothing captured yet: send a request through the wiretap, "
                                        "then press Reload captures.")
            self.decoded.value = ""
            return
        header = x.request.headers.get("Authorization", "")
        self.wire.value = exchange_html(x, highlight=[header] if header else [], limit=900)
        self.decoded.value = note_html("Press <b>Decode credentials</b> to read the Authorization header "
                                       "as an eavesdropper would.")

    def decode(self) -> dict:
        """Decode the selected request's credentials, show them, and return them."""
        x = self.selected()
        if x is None:
            self.decoded.value = note_html("Nothing selected.", "error")
            return {"scheme": None}
        found = credentials_in(x)
        if found["scheme"] is None:
            self.decoded.value = note_html("This request carried no credentials.")
        elif found["scheme"] == "Basic" and "password" in found:
            line = f"{found['username']}:{found['password']}"
            self.decoded.value = note_html(
                f"base64 decodes <code>{html.escape(found['encoded'])}</code> to "
                f"<code>{marked(line, [found['password']])}</code>: username "
                f"<b>{html.escape(found['username'])}</b>, password "
                f"<b class='apisec-password'>{html.escape(found['password'])}</b>. "
                + _what_it_gives(x, found["username"]), "error")
        elif found["scheme"] == "Basic":
            self.decoded.value = note_html(f"A malformed Basic header: {html.escape(found['error'])}.", "error")
        else:
            self.decoded.value = note_html(
                f"A {html.escape(found['scheme'])} token, not a password: it opens only what it was "
                f"granted, it expires, and it can be revoked on its own.", "ok")
        return found


def _what_it_gives(exchange, username: str) -> str:
    """What a password read off the wire is worth, in words true to how the API answered that request."""
    who = html.escape(username)
    if exchange.status < 400:
        return f"Anyone who saw this request can now sign in as {who}."
    return (f"The API refused this request ({exchange.status}), but the password crossed the wire all the "
            f"same: anyone who saw it can try it as {who}'s password, here and wherever {who} uses it.")


# -- the cost of a password check per request ---------------------------------
@dataclass(frozen=True)
class Cost:
    """Seconds per request for each way of authenticating, measured live."""

    n: int
    basic_seconds: float
    bearer_seconds: float

    @property
    def ratio(self) -> float:
        return self.basic_seconds / self.bearer_seconds

    def __str__(self) -> str:
        return (f"{self.n} requests each way: a Basic-auth request cost {self.ratio:.1f}x "
                f"a Bearer request on this machine.")

    __repr__ = __str__


def measure_cost(lab, username: str, password: str, n: int = 8) -> Cost:
    """Time *n* ``GET /me`` with HTTP Basic against *n* with a bearer token (same server, same route).

    The bearer token comes from a normal code flow for the same user; one
    untimed request of each kind warms the connection up.  Needs the
    ``basic_auth`` weakness on.
    """
    token = flows.code_flow(lab, "photocli", username, password, ["profile:read"])["access_token"]
    timings = {}
    with lab.session() as s:
        for kind, kwargs in (("basic", {"auth": (username, password)}),
                             ("bearer", {"headers": {"Authorization": f"Bearer {token}"}})):
            s.get(f"{lab.api_url}/me", timeout=10, **kwargs).raise_for_status()
            start = time.perf_counter()
            for _ in range(n):
                s.get(f"{lab.api_url}/me", timeout=10, **kwargs).raise_for_status()
            timings[kind] = (time.perf_counter() - start) / n
    return Cost(n, timings["basic"], timings["bearer"])


# -- exercises ----------------------------------------------------------------
def overheard(lab):
    """A request someone else's app sent through the wiretap, with credentials in it.

    Bob's old photo-sync app calls the API with his password, as every
    Basic-auth app does.  Returns the captured exchange.
    """
    with lab.weaknesses.turned_on(basic_auth=True):
        app = PasswordApp(lab, "BobsPhotoSync").sign_in("bob", DEMO_PASSWORDS["bob"])
        app.call("/photos")
    return lab.wiretap.last()


def _check_decoded(answer) -> str | None:
    if isinstance(answer, bytes):
        return "that is still bytes: .decode() it to text, then split it at the first ':'."
    if isinstance(answer, str):
        if answer.startswith("Basic "):
            return "that is the header as sent: base64-decode the part after 'Basic '."
        if ":" in answer:
            return "nearly: split that text at the first ':' into (username, password)."
        return "give a pair: answer = (username, password)."
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return "give a pair: answer = (username, password)."
    user, password = answer
    if user != "bob":
        return f"the username in that header is not {user!r}: decode the header of the captured request."
    if password != DEMO_PASSWORDS["bob"]:
        return "right user, wrong password: decode the whole base64 value and split at the first ':'."
    return None


def _solve_decoded():
    capture = overheard(current_lab())
    header = capture.request.headers["Authorization"]
    user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode("utf-8").partition(":")
    return (user, password)


q1 = Exercise(
    name="Try it 1 (read the wire)",
    checker=_check_decoded,
    hint_text=("The header is 'Basic <base64>'. Take the part after the space, base64.b64decode() it, "
               ".decode() the bytes, and split the text at the first ':'."),
    solution_text=("header = capture.request.headers['Authorization']\n"
                   "user, _, password = base64.b64decode(header.split(' ', 1)[1]).decode().partition(':')\n"
                   "answer = (user, password)"),
    solver=_solve_decoded,
    success="Bob's password, from one captured request. No cracking was needed: base64 is an encoding, "
            "not encryption.",
)

#: The API routes the blast-radius exercise probes (all GET, all need credentials).
PROBES = ("/me", "/photos", "/messages", "/payment", "/reports/usage", "/admin/users")


def _password_reach() -> set[str]:
    """Routes a user's password opens: every GET route that acts for a user (the API's own table)."""
    return {e.path for e in user_endpoints() if e.method == "GET" and e.path in PROBES}


def _check_reach(answer) -> str | None:
    if isinstance(answer, str):
        return "give a set of paths, e.g. {'/photos', ...}."
    try:
        given = set(answer)
    except TypeError:
        return "give a set of paths, e.g. {'/photos', ...}."
    expected = _password_reach()
    if not given:
        return ("nothing answered 200? Probe inside the `with lab.weaknesses.turned_on(basic_auth=True):` "
                "block: with the switch off, the API refuses every password.")
    unknown = given - set(PROBES)
    if unknown:
        return f"only answer with paths from nb01.PROBES; {sorted(unknown)} is not one of them."
    if given == {"/photos"}:
        return ("that is what PhotoPrint Classic needs. The question is what it can do: "
                "probe every path in nb01.PROBES with app.call(path).")
    extra = given - expected
    if extra:
        return (f"{sorted(extra)} did not answer 200: a password is the user's whole account, but not "
                f"admin or machine-to-machine routes. Look at the status codes again.")
    missing = expected - given
    if missing:
        return f"these answered 200 too: probe them again, {sorted(missing)} (look at app.call(path).status_code)."
    return None


def _solve_reach() -> set[str]:
    # The same probe the solution shows, run with Bob's demo password (the
    # notebook changes only Alice's): one user's password opens the same routes.
    lab = current_lab()
    with lab.weaknesses.turned_on(basic_auth=True):
        app = PasswordApp(lab, "PhotoPrint Classic", tapped=False).sign_in("bob", DEMO_PASSWORDS["bob"])
        return {path for path in PROBES if app.call(path).status_code == 200}


q2 = Exercise(
    name="Try it 2 (blast radius)",
    checker=_check_reach,
    hint_text=("Inside the with block, loop over nb01.PROBES, call each path with printshop_again.call(path) "
               "and keep the paths whose status_code is 200. A set comprehension does it in one line."),
    solution_text=("with lab.weaknesses.turned_on(basic_auth=True):\n"
                   "    answer = {path for path in nb01.PROBES if printshop_again.call(path).status_code == 200}"),
    solver=_solve_reach,
    success="an app that needed only /photos can read Alice's messages and her saved card. "
            "A password cannot be narrowed down; a token can (notebook 03).",
)
