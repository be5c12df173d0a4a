"""Notebook 02, token flows: the app never sees the password.  The flow stepper and exercises.

The notebook imports this one module (the flow functions themselves are in
:mod:`apisec_lab.client.flows`)::

    from apisec_lab import nb02

- :class:`FlowStepper`: the authorization code flow with PKCE, one press of
  **Next step** per HTTP step, with the consent panel, each exchange as it
  crossed the wire, and the app's storage after every step.
- :func:`wire`: show the last captured exchanges.
- :func:`pending_code`, :data:`q1`, :data:`q2`, :data:`q3`: the exercises;
  :func:`morning` and :data:`q4`: several apps sign Alice in, and the learner
  finds the ones that asked for her password through an API (the password
  grant, section 6, and HTTP Basic, notebook 01).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus, urlsplit

import ipywidgets as widgets
import pandas as pd

from ..client import flows
from ..client.flows import FlowError, OAuthApp, PasswordApp, PasswordGrantApp
from ..core.cast import BROWSER, BROWSER_AGENT, DEMO_PASSWORDS
from ..servers.sequence import Sequence
from . import theme
from .common import Table, current_lab, html_table, lab_time, own_active_token, reply, try_refresh
from .exercises import Exercise
from .widgets import ConsentPanel, ExchangeView, Panel, exchange_html, note_html, storage_html

__all__ = ["FlowStepper", "STEPS", "wire", "url_parameters", "explain_url", "PendingCode", "pending_code",
           "RFC7636_VERIFIER", "reply", "try_refresh", "Table", "morning", "asked_for_password", "q1", "q2", "q3",
           "q4"]


def wire(lab, n: int = 1, highlight=(), limit: int = 1200) -> ExchangeView:
    """The last *n* exchanges the wiretap captured, ready to display (*highlight* strings marked)."""
    records = lab.wiretap.last(n)
    return ExchangeView(records, highlight=highlight, limit=limit)


#: What each parameter of an authorization request is for (RFC 6749 section 4.1.1, RFC 7636 section 4.3).
PARAMETER_NOTES = {
    "response_type": "code: the app wants an authorization code, not a token in the URL",
    "client_id": "which registered app is asking",
    "redirect_uri": "where to send the browser back; must match the registration exactly",
    "scope": "what the app asks to be allowed to do",
    "state": "random; the app checks it comes back unchanged (stops forged callbacks)",
    "code_challenge": "SHA-256 of a secret the app keeps (the code verifier); only the app can answer it",
    "code_challenge_method": "S256: the challenge is a SHA-256 hash",
}


def url_parameters(url: str) -> list[tuple[str, str, str]]:
    """The authorization URL's query, as (parameter, value, what it is for) rows."""
    return [(k, v, PARAMETER_NOTES.get(k, "")) for k, v in parse_qsl(urlsplit(url).query)]


def explain_url(url: str) -> None:
    """Print an authorization URL one parameter per line, each with what it is for."""
    base, _, query = url.partition("?")
    print(base)
    for i, part in enumerate(query.split("&")):
        name = part.split("=", 1)[0]
        print(f"  {'?' if i == 0 else '&'}{part}")
        if PARAMETER_NOTES.get(name):
            print(f"      {PARAMETER_NOTES[name]}")


def _url_table(url: str) -> str:
    rows = pd.DataFrame(url_parameters(url), columns=["parameter", "value", "what it is for"]).set_index("parameter")
    table = html_table(rows, head=False, table_style="font-size:12px",
                       cell_style=["padding:1px 8px 1px 0;font-family:monospace",
                                   "padding:1px 8px 1px 0;font-family:monospace;word-break:break-all", theme.MUTED])
    return f"<div>The app sends the browser to <code>{html.escape(url.split('?')[0])}</code> with:</div>{table}"


#: The steps, as the stepper titles them, with the line of code each one runs.
STEPS = (
    ("Build the authorization URL",
     "PhotoCLI makes a fresh state and PKCE pair, keeps the secret half (the code verifier) in its storage, "
     "and sends the browser to the authorization server.",
     "url = app.start_login(scopes)"),
    ("Alice signs in and consents",
     "On the authorization server's page, never the app's, Alice types her password and ticks what she allows. "
     "The server answers with a redirect to the app carrying a one-time code.",
     "redirect = lab.authorize(url, username, password, scopes)"),
    ("The code comes back to the app",
     "The browser follows the redirect to the app's callback. The app checks the state, then holds a code "
     "(useless without its verifier).",
     "code = app.receive(flows.follow_redirect(lab, redirect))"),
    ("Exchange the code for tokens",
     "The app posts the code and its code verifier to the token endpoint and gets an access token and a "
     "refresh token.",
     "tokens = app.exchange(code)"),
    ("Call the API",
     "The app calls the API with the access token (Authorization: Bearer). The API never sees a password.",
     "app.call(path)"),
)


class FlowStepper(Panel):
    """The authorization code flow with PKCE, one HTTP step per press of **Next step**.

    Controls: **Next step**, **Start over**, and in step 2 the
    :class:`~apisec_lab.book.widgets.ConsentPanel` (**Allow**, **Deny**, **Use
    the code the browser brought back**).  :attr:`title` names the step
    (``Step 3 of 5: ...``), :attr:`detail` shows what it sent and got back,
    :attr:`storage_view` what the app keeps.  Plain functions: :meth:`next`,
    :meth:`restart`; the app is :attr:`app` (a :class:`flows.OAuthApp`).
    """

    def __init__(self, lab, client: str = "photocli", scopes=("profile:read", "photos:read"),
                 username: str = "alice", path: str = "/photos"):
        self.lab = lab
        self.client = client
        self.scopes = list(scopes)
        self.username = username
        self.path = path
        self.title = widgets.HTML()
        self.title.add_class("apisec-step-title")
        self.detail = widgets.HTML()
        self.detail.add_class("apisec-step-detail")
        self.storage_view = widgets.HTML()
        self.storage_view.add_class("apisec-app-storage")
        self.consent_area = widgets.VBox([])
        self._body = ""
        self.next_button = widgets.Button(description="Next step", button_style="primary", icon="step-forward")
        self.restart_button = widgets.Button(description="Start over", icon="undo")
        self.next_button.on_click(lambda _: self.next())
        self.restart_button.on_click(lambda _: self.restart())
        super().__init__([self.title, widgets.HBox([self.next_button, self.restart_button]),
                          self.consent_area, self.detail, self.storage_view])
        self.add_class("apisec-flow-stepper")
        self.restart()

    @property
    def summary(self) -> str:
        return (f"{self.app.name} asks {self.username} for {' '.join(self.scopes)}; "
                f"{self.done} of {len(STEPS)} steps done")

    # -- state -------------------------------------------------------------
    def restart(self) -> None:
        """Forget everything: a new app instance with empty storage, back before step 1."""
        self.app = OAuthApp(self.lab, self.client, tapped=True)
        self.done = 0
        self.url = None
        self.redirect = None
        self.delivered_by = None
        self.code = None
        self.finished = False
        self.consent = None
        self.consent_area.children = []
        self._set_title(f"Ready: {self.app.name} will ask {self.username} for "
                        f"<code>{html.escape(' '.join(self.scopes))}</code>. Press <b>Next step</b>.")
        self._render("")
        self._show_storage()

    def next(self) -> None:
        """Run the next step of the flow (or say why it cannot run yet)."""
        try:
            if self.finished:
                self._warn("The flow is over. Press <b>Start over</b> to run it again.")
            elif self.done == 0:
                self._build_url()
            elif self.done == 1:
                self._warn("Answer the consent panel first: <b>Allow</b> or <b>Deny</b> (or sign in on the real "
                           "page and press <b>Use the code the browser brought back</b>).")
                if self.consent is not None:          # said where the learner is looking, too
                    self.consent.result.value = note_html("Answer this panel first: type the password, then press "
                                                          "<b>Allow</b> or <b>Deny</b>.", "error")
            elif self.done == 2:
                self._receive()
            elif self.done == 3:
                self._exchange()
            elif self.done == 4:
                self._call()
        except FlowError as e:
            self.finished = True
            self._render(self._body + note_html(f"{html.escape(str(e).rstrip('.'))}. Press <b>Start over</b>.",
                                                "error"))
        self._show_storage()

    # -- the steps -----------------------------------------------------------
    def _mark(self) -> int:
        records = self.lab.wiretap.records
        return records[-1].id if records else 0

    def _since(self, mark: int):
        return [x for x in self.lab.wiretap.records if x.id > mark]

    def _set_title(self, text: str) -> None:
        self.title.value = f"<div style='font-size:1.05em;margin:.3em 0'>{text}</div>"

    def _step_title(self, n: int) -> None:
        name, why, code = STEPS[n - 1]
        self._set_title(f"<b>Step {n} of {len(STEPS)}: {html.escape(name)}</b><br>"
                        f"<span style='{theme.MUTED}'>{html.escape(why)}</span><br>"
                        f"<span style='font-size:12px'>In code: <code>{html.escape(code)}</code></span>")

    def _render(self, body: str | None = None, notice: str = "") -> None:
        """Show *body* (the step's exchanges; None keeps the current one) under an optional *notice*."""
        if body is not None:
            self._body = body
        self.detail.value = notice + self._body

    def _warn(self, text: str) -> None:
        self._render(notice=note_html(text, "error"))

    @staticmethod
    def _exchanges(records, highlight=(), limit: int = 900) -> str:
        return "".join(exchange_html(x, highlight=highlight, limit=limit) for x in records)

    def _build_url(self) -> None:
        self.url = self.app.start_login(self.scopes)
        mark = self._mark()
        with self.lab.session(tapped=True) as s:      # the browser opens the page
            s.get(self.url, headers={"Accept": "text/html", "User-Agent": BROWSER_AGENT}, timeout=10)
        self.consent = ConsentPanel(self.lab, self.url, username=self.username,
                                    on_redirect=self._on_redirect, on_error=self._on_refused)
        self.consent_area.children = [self.consent]
        self.done = 1
        self._step_title(1)
        page = "".join(exchange_html(x, limit=400, title="The browser loads the sign-in page "
                                     "(served by the authorization server)") for x in self._since(mark))
        self._render(_url_table(self.url) + page
                     + note_html("Now answer the consent panel above as Alice (step 2)."))

    def _last_authorize_post(self):
        posts = [x for x in self.lab.wiretap.records
                 if x.server == "issuer" and x.method == "POST" and x.path.startswith("/authorize")]
        return posts[-1:]

    def _password_marks(self) -> list[str]:
        password = self.consent.password.value if self.consent else ""
        return [password, quote_plus(password)] if password else []

    def _on_refused(self, message: str) -> None:
        # The consent panel says why (its result line); here, what crossed the wire, and what to do.
        self._render(self._exchanges(self._last_authorize_post(), self._password_marks())
                     + note_html("The refused sign-in, as it crossed the wire: the password went to the "
                                 "authorization server only. Correct it in the panel above and press "
                                 "<b>Allow</b> again."))

    def _on_redirect(self, redirect, source: str) -> None:
        if self.done not in (1, 2) or self.finished:
            return
        self.redirect, self.delivered_by = redirect, source
        self.done = 2
        self._step_title(2)
        if source == "browser":
            self._render(note_html("You signed in on the real page in your browser; that request did not go "
                                   "through the wiretap, so there is nothing to show here. Press <b>Next step</b>."))
        elif redirect.error:
            self._render(self._exchanges(self._last_authorize_post(), self._password_marks())
                         + note_html(f"You pressed Deny: the authorization server sends the browser back to the app "
                                     f"with <b>error={html.escape(redirect.error)}</b> and no code (see Location). "
                                     "Press <b>Next step</b> to see what the app makes of it.", "error"))
        else:
            self._render(self._exchanges(self._last_authorize_post(), self._password_marks())
                         + note_html("The password went to the authorization server, in this one request. "
                                     "The answer is a redirect to the app (see Location). Press <b>Next step</b>."))
        self._show_storage()

    def _receive(self) -> None:
        mark = self._mark()
        arrived = self.redirect
        if self.delivered_by != "browser":
            arrived = flows.follow_redirect(self.lab, self.redirect, tapped=True)
        self.done = 3
        self._step_title(3)
        self._render(self._exchanges(self._since(mark), highlight=[arrived.code] if arrived.code else []))
        self.code = self.app.receive(arrived)          # FlowError on an error or a wrong state
        self.consent_area.children = []
        self._render(self._body + note_html(
            f"{html.escape(self.app.name)} checked the state and holds a code. On its own the code is worth "
            f"nothing: redeeming it needs the code verifier, which never left the app. Press <b>Next step</b>."))

    def _exchange(self) -> None:
        mark = self._mark()
        verifier = self.app.storage.get("code_verifier", "")
        self.done = 4
        self._step_title(4)
        try:
            tokens = self.app.exchange(self.code)
        finally:
            self._render(self._exchanges(self._since(mark), highlight=[verifier]))
        self._render(self._body + note_html(
            f"{html.escape(self.app.name)} now holds an access token (scope "
            f"<code>{html.escape(tokens.get('scope', ''))}</code>, {tokens.get('expires_in', '?')} seconds) "
            f"and a refresh token. Press <b>Next step</b>.", "ok"))

    def _call(self) -> None:
        mark = self._mark()
        r = self.app.call(self.path)
        self.done = 5
        self.finished = True
        self._step_title(5)
        token = self.app.storage.get("access_token", "")
        if r.status_code == 200:
            verdict = note_html(f"Done: the API answered {r.status_code} to the token alone. The password "
                                f"crossed the wire once, to the authorization server.", "ok")
        else:
            verdict = note_html(f"The API answered {r.status_code} {html.escape(r.json().get('error', ''))}: "
                                f"a token opens only the scopes that were granted.", "error")
        self._render(self._exchanges(self._since(mark), highlight=[f"Bearer {token}"]) + verdict)

    def _show_storage(self) -> None:
        self.storage_view.value = storage_html(self.app.storage, title=f"What {self.app.name} keeps in its storage")


# -- exercises ----------------------------------------------------------------
#: The code verifier of RFC 7636 appendix B (its challenge is printed there too).
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def _check_challenge(answer) -> str | None:
    expected = flows.s256(RFC7636_VERIFIER)
    if isinstance(answer, bytes):
        return "that is bytes: .decode('ascii') it to text."
    if not isinstance(answer, str):
        return f"give the challenge as a string, not a {type(answer).__name__}."
    if answer == expected:
        return None
    if answer == RFC7636_VERIFIER:
        return "that is the verifier itself (the 'plain' method); the lab accepts only S256: hash it."
    if answer.rstrip("=") == expected:
        return "right hash, but strip the '=' padding: RFC 7636 uses base64url without padding."
    import base64
    import hashlib
    digest = hashlib.sha256(RFC7636_VERIFIER.encode()).digest()
    if answer.rstrip("=") == base64.b64encode(digest).decode().rstrip("="):
        return "right hash, wrong alphabet: use base64.urlsafe_b64encode ('-' and '_' instead of '+' and '/')."
    if answer == digest.hex():
        return "that is the hex digest: base64url-encode the raw digest bytes (.digest(), not .hexdigest())."
    return "not the S256 challenge of RFC7636_VERIFIER: SHA-256 of the verifier's ASCII bytes, then base64url."


q1 = Exercise(
    name="Try it 1 (S256 by hand)",
    checker=_check_challenge,
    hint_text=("hashlib.sha256(verifier.encode()).digest() gives 32 bytes; base64.urlsafe_b64encode() them, "
               "strip the '=' padding, decode to text."),
    solution_text=("import base64, hashlib\n"
                   "digest = hashlib.sha256(nb02.RFC7636_VERIFIER.encode('ascii')).digest()\n"
                   "answer = base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')"),
    solver=lambda: flows.s256(RFC7636_VERIFIER),
    success="that is the challenge printed in RFC 7636 appendix B. Anyone may see it; only the holder "
            "of the verifier can answer it.",
)


@dataclass(frozen=True)
class PendingCode:
    """A code PhotoCLI just received, with what the app kept for redeeming it."""

    client_id: str
    code: str
    code_verifier: str
    redirect_uri: str
    token_endpoint: str


def pending_code(lab) -> PendingCode:
    """Run the flow up to the code (Alice approves PhotoCLI) and return what the app holds.

    Codes live 60 seconds and work once: make the form in the same cell.
    """
    app = OAuthApp(lab, "photocli")
    url = app.start_login(["photos:read"])
    redirect = lab.authorize(url, "alice", DEMO_PASSWORDS["alice"])
    code = app.receive(redirect)
    return PendingCode(app.client_id, code, app.storage["code_verifier"], app.redirect_uri,
                       lab.metadata["token_endpoint"])


_FORM_FIELDS = ("grant_type", "code", "redirect_uri", "client_id", "code_verifier")


def _check_form(answer) -> str | None:
    if not isinstance(answer, dict):
        return "give the form as a dict, e.g. {'grant_type': ..., 'code': ..., ...}."
    if answer.get("grant_type") != "authorization_code":
        return "RFC 6749 section 4.1.3: grant_type is REQUIRED and MUST be 'authorization_code'."
    if not answer.get("code"):
        return "the form must carry the code (pending.code)."
    if not answer.get("client_id"):
        return "PhotoCLI is a public client with no secret: it names itself with client_id in the form."
    if not answer.get("redirect_uri"):
        return ("RFC 6749 section 4.1.3: redirect_uri is REQUIRED when the authorization request had one, "
                "and must be identical (pending.redirect_uri).")
    lab = current_lab()
    with lab.session() as s:
        r = s.post(lab.metadata["token_endpoint"], data=answer, timeout=10)
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 200 and "access_token" in body:
        return None
    said = f"the token endpoint answered {r.status_code} {body.get('error', '')}"
    if body.get("error_description"):
        said += f" ({body['error_description']})"
    if "code_verifier" not in answer:
        return said + ": that is PKCE at work. Add the code_verifier PhotoCLI kept (pending.code_verifier)."
    if body.get("error") == "invalid_grant":
        return said + (": a wrong verifier or redirect_uri, or a code that was already used or is over "
                       "60 seconds old. Run the whole cell again for a fresh code.")
    return said + "."


def _solve_form() -> dict:
    p = pending_code(current_lab())
    return {"grant_type": "authorization_code", "code": p.code, "redirect_uri": p.redirect_uri,
            "client_id": p.client_id, "code_verifier": p.code_verifier}


q2 = Exercise(
    name="Try it 2 (redeem a code)",
    checker=_check_form,
    hint_text=("Five fields: grant_type='authorization_code', code, redirect_uri, client_id and the PKCE "
               "code_verifier, all from `pending`."),
    solution_text=("answer = {'grant_type': 'authorization_code', 'code': pending.code,\n"
                   "          'redirect_uri': pending.redirect_uri, 'client_id': pending.client_id,\n"
                   "          'code_verifier': pending.code_verifier}"),
    solver=_solve_form,
    success="the token endpoint gave PhotoCLI its tokens. Try the same form without code_verifier: "
            "that is all an attacker holding the code could send.",
)


def _check_machine_token(answer) -> str | None:
    if isinstance(answer, dict):
        return "that is the whole token response: answer with its 'access_token' value."
    if hasattr(answer, "status_code"):
        return "that is the HTTP response: answer with r.json()['access_token']."
    if not isinstance(answer, str) or not answer:
        return "answer with the access token, a string starting with 'at_'."
    info, problem = own_active_token(current_lab(), answer, q3, "the bot's token from section 5",
                                     "ask the token endpoint for one yourself.")
    if problem:
        return problem
    if info.get("client_id") != "backup-bot":
        return f"that token belongs to {info.get('client_id')}, not to the Nightly Reports Bot (backup-bot)."
    if info.get("username"):
        return f"that token acts for {info['username']}: a client-credentials token acts for no user."
    if "reports:read" not in info.get("scope", "").split():
        return "that token lacks reports:read: ask for it with scopes=['reports:read']."
    return None


def _solve_machine_token() -> str:
    lab = current_lab()
    return flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"]).json()["access_token"]


q3 = Exercise(
    name="Try it 3 (a machine's own token)",
    checker=_check_machine_token,
    hint_text=("flows.client_credentials(lab, lab.clients['backup-bot'], ['reports:read']) posts the "
               "client's own id and secret; the token is in the JSON body."),
    solution_text=("r = flows.client_credentials(lab, lab.clients['backup-bot'], ['reports:read'])\n"
                   "answer = r.json()['access_token']"),
    solver=_solve_machine_token,
    success="a token that acts for the bot itself: no user, no password, no consent page.",
    pose=lab_time,
)


# -- Try it 4: who asked for Alice's password? --------------------------------------------------
#: The apps that sign Alice in during :func:`morning`, in order, and how each goes about it.
MORNING = {
    "PhotoCLI": "the authorization code flow with PKCE (a public client)",
    "QuickPrint": "the password grant: its own login screen, then the token endpoint",
    "Nightly Reports Bot": "client credentials: its own id and secret, no user",
    "PhotoPrint Classic": "HTTP Basic: Alice's password on every API call (notebook 01)",
    "ChatPal": "the authorization code flow (a confidential client)",
    "SnapFrame": "the password grant, from a client the server never registered for it",
}
_morning: list[Sequence] = []


def morning(lab) -> Sequence:
    """Six apps sign Alice in, each its own way (:data:`MORNING`), through a freshly cleared wiretap.

    Returns the picture of it (``lab.wiretap.sequence()``), which "Try it 4" asks about.  The
    ``basic_auth`` and ``password_grant`` weaknesses are on for this cell only; QuickPrint and
    SnapFrame are registered here (``lab.reset()`` forgets them).
    """
    password = DEMO_PASSWORDS["alice"]
    lab.wiretap.clear()
    quickprint = lab.register_client("QuickPrint", scopes=["photos:read"], grant_types=["password"],
                                     description="Prints your photos; signs you in with its own login screen.")
    snapframe = lab.register_client("SnapFrame", scopes=["photos:read"],
                                    description="A photo frame app, registered for client credentials only.")
    with lab.weaknesses.turned_on(basic_auth=True, password_grant=True):
        OAuthApp(lab, "photocli", tapped=True).sign_in("alice", password, ["photos:read"]).call("/photos")
        PasswordGrantApp(lab, quickprint, tapped=True).sign_in("alice", password, ["photos:read"]).call("/photos")
        flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"], tapped=True)
        PasswordApp(lab, "PhotoPrint Classic").sign_in("alice", password).call("/photos")
        OAuthApp(lab, "chatpal", tapped=True).sign_in("alice", password, ["messages:read"]).call("/messages")
        try:
            PasswordGrantApp(lab, snapframe, tapped=True).sign_in("alice", password, ["photos:read"])
        except FlowError:
            pass                    # refused (unauthorized_client): after the password crossed the wire
    picture = lab.wiretap.sequence(title="A morning of sign-ins")
    _morning[:] = [picture]
    return picture


def asked_for_password(picture: Sequence, user: str = "alice") -> dict[str, str]:
    """The senders in *picture* that sent *user*'s password through an API, each with how they did it.

    Every request that carried the password counts, whatever the answer, except the browser's:
    the sign-in page of the authorization server is where a password belongs.
    """
    found: dict[str, str] = {}
    for i, arrow in enumerate(picture.arrows):
        if arrow.answer or arrow.source == BROWSER or not any(c.startswith(f"password of {user} ")
                                                              for c in arrow.carries):
            continue
        answer = next((a for a in picture.arrows[i + 1:] if a.answer and a.exchange == arrow.exchange
                       and a.target == arrow.source), None)
        refused = answer is not None and answer.head[:1] in "45"
        how = (f"sent {user}'s password to the token endpoint (the password grant)"
               if arrow.target == "Authorization server"
               else f"sent {user}'s password to the {arrow.target} in HTTP Basic (on every call)")
        if refused:
            how += f", and was refused ({answer.head}{': ' + answer.details[0] if answer.details else ''})"
        found.setdefault(arrow.source, how)
    return found


def _the_morning() -> Sequence | None:
    return _morning[0] if _morning else None


def _check_askers(answer) -> str | None:
    picture = _the_morning()
    if picture is None:
        return "run the cell with nb02.morning(lab) first: the question is about what its wiretap captured."
    if isinstance(answer, (str, bytes)) or isinstance(answer, dict):
        return "give a set of app names (the lanes' names), e.g. {'QuickPrint', ...}."
    try:
        given = set(answer)
    except TypeError:
        return "give a set of app names (the lanes' names), e.g. {'QuickPrint', ...}."
    apps = [lane for lane in picture.senders() if lane != BROWSER]
    unknown = sorted(str(g) for g in given - set(apps) - {BROWSER})
    if unknown:
        return f"{unknown}: not a lane of the morning's picture; its apps are {apps}."
    if BROWSER in given:
        return ("the browser is Alice's own: it carried her password to the authorization server's own sign-in "
                "page (POST /authorize), the one place it belongs. Which apps had it?")
    truth = asked_for_password(picture)
    for name in [a for a in apps if a in given and a not in truth]:
        if any("grant_type=client_credentials" in a.details for a in picture.arrows if a.source == name):
            return (f"{name} sent a secret, but its own client secret, not Alice's credentials: it acts for "
                    f"itself, and no user is involved.")
        return (f"{name} never had Alice's password: in its sign-in the password went from the browser to the "
                f"authorization server's page (POST /authorize), and {name} got a code and tokens.")
    missing = [a for a in apps if a in truth and a not in given]
    refused = [a for a in missing if "refused" in truth[a]]
    if refused:
        more = f" ({len(missing) - 1} more app{'s' if len(missing) > 2 else ''} besides)" if len(missing) > 1 else ""
        return (f"{refused[0]}'s request was refused, but it carried her password all the same: {refused[0]} "
                f"asked for it, and Alice typed it in{more}. Look for every red band that does not start at the "
                "browser.")
    if missing:
        return (f"{len(missing)} more app{'s' if len(missing) > 1 else ''} sent her password through an API: "
                "look for every red band that does not start at the browser.")
    return None


def _askers_success(answer) -> str:
    truth = asked_for_password(_the_morning())
    return ("; ".join(f"{name} {how}" for name, how in truth.items())
            + ". Each of them held her password, and so does every lookalike of its login screen; she never saw "
            "the authorization server's page, so she chose no scopes and the server could not ask for a second "
            "factor. Never ask for login credentials through an API: send the user to the sign-in page.")


def _solve_askers() -> set[str]:
    picture = _the_morning() or morning(current_lab())
    return set(asked_for_password(picture))


q4 = Exercise(
    name="Try it 4 (who asked for the password)",
    checker=_check_askers,
    hint_text=("In the picture, a red band is a request that carried Alice's password. Which lanes do those "
               "requests start from, other than the browser's? `picture.carrying('password of alice')` lists "
               "those arrows; each arrow's .source is its lane."),
    solution_text=("answer = {arrow.source for arrow in picture.carrying('password of alice')\n"
                   "          if not arrow.answer and arrow.source != 'Browser'}"),
    solver=_solve_askers,
    success=_askers_success,
)
