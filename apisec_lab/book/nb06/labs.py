"""Notebook 06's five labs: what each turns on, how an exploit is delivered, and how a solve is detected.

An attempt (:func:`attempt`) sends the exploit to Alice's browser (``lab.victim.visit``) with the lab's switches
on, plays Mallory's part where the attack needs it (he plants a stolen code in his own PhotoPrint session, or
signs in with the lab), and decides from the lab's own records whether the attack worked: PhotoPrint's sessions,
links and events, the store's codes and tokens, what reached the attacker's server.  Then it sends the very
same exploit again with the switch off and says how the hardened lab refused it.  The detectors live here, next
to the scene that opens each flaw, as Juice Shop keeps each challenge's check beside the route it exploits.
"""
from __future__ import annotations

import contextlib
import html
import re
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ...agents.browser import Hop
from ...client import flows
from ...core.cast import user_agent
from ...lab import AuthorizationFailed
from ..common import Table
from .stage import MALLORY, MALLORY_PASSWORD, PhotoSync, mallory, mallory_user, params, refusal, short


@dataclass(frozen=True)
class LabSpec:
    number: int
    title: str
    goal: str
    switches: dict[str, bool]
    rfc: str
    defence: str


#: Your token requests in lab 5 name their sender, so a diagram draws them in the attacker's lane.
ATTACKERS_SCRIPT = user_agent("Attacker")

LABS = {
    1: LabSpec(1, "A code in the Referer", "get a code of Alice's for PhotoPrint onto your server",
               {"referrer_leak": True}, "RFC 9700 s4.2.1 (leakage from the client)",
               "Redirect away from the callback at once; Referrer-Policy: no-referrer; no third-party content "
               "where a code can be (s4.2.4)"),
    2: LabSpec(2, "A loose redirect URI", "get Mallory's browser into Alice's PhotoPrint account",
               {"redirect_uri_prefix": True}, "RFC 9700 s4.1 (insufficient redirect URI validation)",
               "Exact string matching of redirect URIs (s2.1, s4.1.3), and the token request's redirect_uri "
               "compared with the code's (RFC 6749 s4.1.3)"),
    3: LabSpec(3, "An open redirect and a loose match",
               "get Mallory's browser into Alice's account, the code leaving through PhotoPrint's own /out",
               {"redirect_uri_prefix": True, "open_redirect": True}, "RFC 9700 s4.11.1 (client as open redirector)",
               "No open redirector on the client (s4.11.1); exact redirect matching closes the way in (s4.1.3)"),
    4: LabSpec(4, "Forced account linking without state",
               "link Mallory's lab account to Alice's PhotoPrint account, so he signs in to it",
               {"client_skips_state": True, "pkce_optional": True}, "RFC 9700 s4.7 (CSRF) and s4.8 (PKCE downgrade)",
               "state bound to the browser's session (RFC 6749 s10.12); PKCE required, a code without a "
               "challenge never issued (s2.1.1, s4.8.2)"),
    5: LabSpec(5, "The plain PKCE downgrade", "redeem the code PhotoSync never received, as PhotoSync",
               {"pkce_plain": True}, "RFC 9700 s2.1.1; RFC 7636 s7.2",
               "S256 only: plain refused and not advertised, so a challenge an observer reads is useless"),
}


@contextlib.contextmanager
def scene(lab, number: int):
    """Lab *number*'s switches on for the block (and back to what they were after)."""
    with lab.weaknesses.turned_on(**LABS[number].switches):
        yield LABS[number]


def map_table() -> Table:
    """Each lab: the switch that opens it, the RFC section it violates, the defence that closes it."""
    rows = [{"lab": f"{s.number}. {s.title}", "switch": ", ".join(s.switches), "violates": s.rfc,
             "defence": s.defence} for s in LABS.values()]
    return Table(pd.DataFrame(rows, columns=["lab", "switch", "violates", "defence"]).set_index("lab"))


# -- attempts -------------------------------------------------------------------------------------------
@dataclass
class Attempt:
    """One exploit, tried with the lab's switches on, then again with them off."""

    number: int
    exploit: Any
    solved: bool = False
    verdict: str = ""                     # what the records say happened, with the switches on
    problem: str | None = None            # why it did not work (None when solved)
    hops_on: list[Hop] = field(default_factory=list)
    hops_off: list[Hop] = field(default_factory=list)
    hardened: str = ""                    # how the hardened lab refused the same exploit
    wire_on: tuple[int, int] | None = None    # the wiretap's exchange ids, first to last, with the switches on
    wire_off: tuple[int, int] | None = None   # ... and for the replay with them off

    def summary(self) -> str:
        text = self.verdict if self.solved else (self.problem or "")
        return text + (f" With the switch off: {self.hardened}" if self.solved and self.hardened else "")


_last: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
#: The wiretap's marks an attempt takes: where its run with the switches on starts, then its replay.
_marks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _mark(lab) -> None:
    """The attempt's next part starts here, on the wire."""
    if lab in _marks:
        _marks[lab].append(lab.wiretap.mark())
_photosyncs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_mallory_requests: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def photosync(lab) -> PhotoSync:
    """The PhotoSync app on Alice's machine (one per lab, registered again after a reset)."""
    sync = _photosyncs.get(lab)
    if sync is None or lab.store.client(sync.client_id) is None:
        sync = _photosyncs[lab] = PhotoSync(lab)
    return sync


def last_attempt(lab, number: int) -> Attempt | None:
    return _last.get(lab, {}).get(number)


def attempt(lab, number: int, exploit) -> Attempt:
    """Try *exploit* in lab *number* (switches on, then off); the records decide.  Never raises on an odd exploit."""
    tries = {1: _referrer, 2: _loose_redirect, 3: _open_redirect, 4: _forced_linking, 5: _plain}
    assert lab.victim, "Alice's browser signs in for the day before any lab's switch is on"
    _marks[lab] = []
    result = tries[number](lab, exploit)
    marks = _marks.pop(lab, [])
    if result.solved and len(marks) >= 2:
        result.wire_on = (marks[0], marks[1] - 1)
        result.wire_off = (marks[1], lab.wiretap.mark() - 1)
    _last.setdefault(lab, {})[number] = result
    return result


def _url(exploit) -> str | None:
    if isinstance(exploit, str) and re.match(r"https?://", exploit.strip()):
        return exploit.strip()
    return None


def _not_a_url(number: int, exploit) -> Attempt:
    what = "a page on your server (lab.attacker.serve returns its URL)" if number in (1, 4) else "a URL"
    return Attempt(number, exploit, problem=f"send Alice a web address: answer with {what}, as a str; "
                                            f"got {type(exploit).__name__} {str(exploit)[:60]!r}.")


def _visit(lab, url: str) -> list[Hop]:
    """Alice's browser opens *url*; the requests it made."""
    alice = lab.victim
    before = len(alice.history)
    alice.visit(url)
    return alice.history[before:]


def _ended(lab, hops: list[Hop]) -> str:
    """Where Alice's browser ended up, in words, with what the page said if it refused."""
    if not hops:
        return "Alice's browser made no request"
    page = lab.victim.page
    last = [h for h in hops if h.kind in ("visit", "redirect", "form", "refresh")][-1]
    said = _page_says(page.body) if page and page.body else ""
    status = "no answer" if last.status is None else f"HTTP {last.status}"
    return f"Alice's browser ended at {short(lab, last.url.split('?')[0])} ({status}{': ' + said if said else ''})"


def _page_says(body: str) -> str:
    m = re.search(r"<p class=err[^>]*>(.*?)</p>|<p id=refused>(.*?)</p>", body, re.S)
    if not m:
        return ""
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1) or m.group(2))).strip()


# -- lab 1: a code in the Referer --------------------------------------------------------------------------
def _leaks(lab, since: float) -> list[tuple]:
    """(hit, code row) for each request that reached your server with a Referer carrying one of Alice's codes."""
    found = []
    for hit in lab.attacker.records:
        code = hit.referer_query.get("code")
        row = lab.store.code(code) if hit.at >= since and code else None
        if row is not None and row["username"] == "alice":
            found.append((hit, row))
    return found


def _referrer(lab, exploit) -> Attempt:
    url = _url(exploit)
    if url is None:
        return _not_a_url(1, exploit)
    result = Attempt(1, exploit)
    start = lab.clock.now()
    _mark(lab)
    with scene(lab, 1):
        result.hops_on = _visit(lab, url)
    leaks = _leaks(lab, start)
    if leaks:
        hit, row = leaks[-1]
        spent = row["used_at"] is not None and row["used_at"] <= hit.at
        result.solved = True
        result.verdict = (f"A code of Alice's for {row['client_id']} reached your server in the Referer of "
                          f"{hit.method} {hit.path}, sent from {short(lab, hit.referer.split('?')[0])}. "
                          + ("PhotoPrint had redeemed it a moment before (single use): worth nothing now, and "
                             "using it again would revoke what it issued." if spent else
                             "It was still unused when it arrived."))
    else:
        referers = [h for h in lab.attacker.records if h.at >= start and h.referer]
        if referers:
            result.problem = (f"your server got a Referer, {short(lab, referers[-1].referer)}, but no code of "
                              f"Alice's in it: the page that leaks must be one a code lands on.")
        elif any(h.kind == "img" and "/login" in h.url for h in result.hops_on):
            result.problem = ("Alice's browser fetched PhotoPrint's sign-in as an image: a cross-site image carries "
                              "no Lax cookie, so neither PhotoPrint nor the lab knew her. Navigate her browser "
                              "there instead (a link, a refresh, a form).")
        else:
            result.problem = f"nothing with a code reached your server. {_ended(lab, result.hops_on)}."
        return result
    again = lab.clock.now()
    _mark(lab)
    result.hops_off = _visit(lab, url)
    callback = next((h for h in result.hops_off if "/callback?" in h.url), None)
    result.hardened = (f"PhotoPrint answered its callback with {callback.status} (to its home page, no page at "
                       f"the callback URL), and {len(_leaks(lab, again))} codes reached your server."
                       if callback else f"{_ended(lab, result.hops_off)}; no code reached your server.")
    return result


# -- labs 2 and 3: a loose redirect URI, an open redirect --------------------------------------------------
def _stolen(lab, since: float) -> dict:
    """The newest authorization response at your server since *since*: in a URL, or in a Referer."""
    for hit in reversed(lab.attacker.records):
        if hit.at < since:
            break
        for found in (hit.query, hit.referer_query):
            if found.get("code"):
                return {**found, "via": "URL" if found is hit.query else "Referer", "hit": hit}
    return {}


def _plant(lab, back: dict) -> None:
    """Mallory's part: his browser takes the stolen code to PhotoPrint's callback, with the state it came with."""
    code, state = back.get("code", ""), back.get("state", "")
    mallory(lab).visit(f"{lab.web_url}/callback?code={code}&state={state}")


def _mallorys_session(lab):
    return lab.photoprint.session_for(mallory(lab).cookies(lab.web_url).get("photoprint_session"))


def _signed_in_to_alices(lab, since: float) -> bool:
    """Did PhotoPrint sign Mallory's browser in to Alice's account since *since*?  (Its events say.)"""
    session = _mallorys_session(lab)
    return session is not None and any(e.at >= since and e.event == "signed_in" and e.session == session.number
                                       and e.account == "alice" for e in lab.photoprint.events())


def _refusals(lab, since: float) -> list:
    return [e for e in lab.photoprint.events() if e.at >= since and e.event == "refused"]


def _hijack(lab, number: int, url: str) -> Attempt:
    result = Attempt(number, url)
    start = lab.clock.now()
    _mark(lab)
    with scene(lab, number):
        result.hops_on = _visit(lab, url)
        back = _stolen(lab, start)
        planted = lab.clock.now()
        if back:
            _plant(lab, back)
    if not back:
        refused = _refusals(lab, start)
        result.problem = (f"no code reached your server: it went to PhotoPrint's own callback, in Alice's browser, "
                          f"and PhotoPrint refused it ({refused[-1].detail})." if refused else
                          f"no code reached your server. {_ended(lab, result.hops_on)}.")
        return result
    if not _signed_in_to_alices(lab, planted):
        refused = _refusals(lab, planted)
        why = refused[-1].detail if refused else "it signed his session in to another account"
        result.problem = (f"a code reached your server (in the {back['via']}), but PhotoPrint did not sign Mallory's "
                          f"browser in to Alice's account with it: {why}. The exploit has to start from Mallory's "
                          f"own sign-in (nb06.mallory_sign_in(lab)): PhotoPrint keeps its state and PKCE verifier "
                          f"in his session.")
        return result
    exits = [e for e in lab.photoprint.events() if e.at >= start and e.event == "exit" and "code" in e.detail]
    if number == 3 and not exits:
        result.problem = (f"Mallory is in Alice's account, but the code left in the {back['via']} of "
                          f"{back['hit'].path} (lab 2's way), not through PhotoPrint's own exit-link tracker, /out: "
                          "this lab's exploit goes through /out.")
        return result
    result.solved = True
    how = (f"through PhotoPrint's /out tracker to {back['hit'].path}" if number == 3 else
           f"in the {back['via']} of {back['hit'].method} {back['hit'].path}")
    result.verdict = (f"Alice's code reached your server {how}; Mallory's browser took it to PhotoPrint's callback "
                      "with his own state, and PhotoPrint signed his session in to Alice's account (its records: "
                      "his session is in account 'alice').")
    return result


def _refused_again(lab, url: str) -> tuple[list[Hop], str]:
    """The same exploit with the switches as they are now: Alice's requests, and where they ended."""
    start = lab.clock.now()
    hops = _visit(lab, url)
    leaked = _stolen(lab, start)
    return hops, _ended(lab, hops) + ("; a code still reached your server." if leaked else "; no code left.")


def _loose_redirect(lab, exploit) -> Attempt:
    url = _url(exploit)
    if url is None:
        return _not_a_url(2, exploit)
    result = _hijack(lab, 2, url)
    if result.solved:
        _mark(lab)
        result.hops_off, result.hardened = _refused_again(lab, url)
    return result


def _open_redirect(lab, exploit) -> Attempt:
    url = _url(exploit)
    if url is None:
        return _not_a_url(3, exploit)
    result = _hijack(lab, 3, url)
    if result.solved:
        _mark(lab)
        with lab.weaknesses.turned_on(redirect_uri_prefix=True):
            tracker_only, first = _refused_again(lab, url)
        both, second = _refused_again(lab, url)
        result.hops_off = tracker_only + both
        result.hardened = f"with open_redirect off alone, {first} With both off, {second}"
    return result


# -- lab 4: forced account linking --------------------------------------------------------------------------
def mallorys_code(lab, url) -> str | None:
    """Mallory signs in at the lab, as himself, with the authorization request *url*; the code it gives him.

    His browser is not sent on to PhotoPrint (he keeps the code for Alice's
    browser instead).  Lab 4's switches are on for it.  Prints why, and
    returns None, if the lab would not give him one.
    """
    if _url(url) is None:
        print("Not yet: give the authorization request Mallory signs in with, a URL (a str).")
        return None
    mallory_user(lab)
    with scene(lab, 4):
        try:
            back = lab.authorize(url, MALLORY, MALLORY_PASSWORD, tapped=True, user_agent=mallory(lab).user_agent)
        except AuthorizationFailed as e:
            print(f"The lab refused that request (HTTP {e.response.status_code}): {refusal(e.response)}")
            return None
    if back.error:
        print(f"The lab sent back error={back.error}: {back.params.get('error_description', '')}")
        return None
    _mallory_requests[lab] = url
    where = short(lab, back.url.split("?")[0])
    print(f"Mallory signed in and allowed it; the lab sends his browser to {where} with a code, which he keeps.")
    return back.code


def _codes_in(lab, hops: list[Hop], path: str) -> list[str]:
    return [params(h.url).get("code") for h in hops if urlsplit(h.url).path == path and params(h.url).get("code")]


def _forced_linking(lab, exploit) -> Attempt:
    url = _url(exploit)
    if url is None:
        return _not_a_url(4, exploit)
    result = Attempt(4, url)
    mallory_user(lab)
    alice = lab.victim
    alice_session = lab.photoprint.session_for(alice.cookies(lab.web_url).get("photoprint_session"))
    start = lab.clock.now()
    _mark(lab)
    with scene(lab, 4):
        result.hops_on = _visit(lab, url)
        events = [e for e in lab.photoprint.events() if e.at >= start]
        linked = [e for e in events if e.event == "linked" and e.lab_user == MALLORY and e.account == "alice"]
        if linked:
            browser = mallory(lab)
            browser.visit(lab.web_url + "/login")
            if browser.page.forms:
                browser.submit(username=MALLORY, password=MALLORY_PASSWORD, decision="approve")
    if not linked:
        login_csrf = [e for e in events if e.event == "signed_in" and e.lab_user == MALLORY]
        refused = [e for e in events if e.event == "refused"]
        if login_csrf:
            result.problem = ("that is login CSRF: Alice's browser is now signed in to Mallory's PhotoPrint account "
                              "(she would upload her photos into it). This lab wants her account linked to Mallory: "
                              "plant the code at the link callback, /link/callback.")
        elif refused:
            result.problem = f"PhotoPrint refused, in Alice's browser: {refused[-1].detail}."
            if "not signed in" in refused[-1].detail and any(h.kind == "img" for h in result.hops_on):
                result.problem += (" Alice's browser fetched it as an image: a cross-site image carries no Lax "
                                   "cookie, so PhotoPrint did not know her. Navigate her browser there instead.")
            if "verifier" in refused[-1].detail.lower():
                result.problem += (" The code is bound to the PKCE challenge in Mallory's request, and Alice's "
                                   "browser has no verifier for it: PKCE is CSRF protection too. Leave PKCE out of "
                                   "Mallory's request.")
        else:
            result.problem = f"Alice's browser never reached PhotoPrint's link callback. {_ended(lab, result.hops_on)}."
        return result
    result.solved = _signed_in_to_alices(lab, start)
    result.verdict = ("PhotoPrint linked lab user mallory to Alice's account, in Alice's own session "
                      f"(session {alice_session.number if alice_session else '?'}), without checking state; then "
                      "Mallory signed in with the lab as himself, and PhotoPrint put his browser in Alice's account.")
    if not result.solved:
        result.problem = "PhotoPrint linked mallory to Alice's account, but Mallory's own sign-in did not land there."
        return result
    result.hardened = _forced_linking_hardened(lab, url, result)
    return result


def _forced_linking_hardened(lab, url: str, result: Attempt) -> str:
    """The same page with a fresh code of Mallory's (each works once) and state checked; then Mallory's request
    itself with PKCE required again."""
    old = next(iter(_codes_in(lab, result.hops_on, "/link/callback")), None)
    request = _mallory_requests.get(lab)
    if old is None or request is None:
        return "PhotoPrint checks state again, and the lab requires PKCE: no code without a challenge."
    start = lab.clock.now()
    _mark(lab)
    with lab.weaknesses.turned_on(pkce_optional=True):
        fresh = lab.authorize(request, MALLORY, MALLORY_PASSWORD, tapped=True, user_agent=mallory(lab).user_agent).code
        result.hops_off = _visit(lab, _with_code(lab, url, old, fresh))
    refused = _refusals(lab, start)
    first = (f"with client_skips_state off, PhotoPrint refused: {refused[-1].detail}" if refused else
             f"with client_skips_state off, {_ended(lab, result.hops_off)}")
    try:
        back = lab.authorize(request, MALLORY, MALLORY_PASSWORD, tapped=True, user_agent=mallory(lab).user_agent)
    except AuthorizationFailed as e:
        return f"{first}; with pkce_optional off, the lab refused Mallory's request (HTTP {e.response.status_code})."
    second = (f"with pkce_optional off, the lab sent Mallory's request back with error={back.error} "
              f"({back.params.get('error_description', '')})" if back.error else
              "with pkce_optional off, the lab still gave Mallory a code")
    return f"{first}; {second}."


def _with_code(lab, url: str, old: str, new: str) -> str:
    """The exploit with Mallory's used code swapped for a fresh one: in the page on your server, or in the URL."""
    if url.startswith(lab.attacker.url):
        path = urlsplit(url).path
        page = lab.attacker.pages().get(path)
        if page is not None:
            lab.attacker.serve(path, page.body.replace(old.encode(), new.encode()), status=page.status,
                               content_type=page.content_type, headers=dict(page.headers))
            return url
    return url.replace(old, new)


# -- lab 5: the plain PKCE downgrade --------------------------------------------------------------------------
def _plain(lab, answer) -> Attempt:
    result = Attempt(5, answer)
    if not (isinstance(answer, dict) and isinstance(answer.get("code"), str)
            and isinstance(answer.get("code_verifier"), str)):
        result.problem = ("answer with the token request's two secrets, a dict {'code': ..., 'code_verifier': ...} "
                          f"(strings); got {type(answer).__name__}.")
        return result
    sync = photosync(lab)
    code, verifier = answer["code"], answer["code_verifier"]
    row = lab.store.code(code)
    if row is None or row["client_id"] != sync.client_id:
        result.problem = ("that code is not one the lab issued to PhotoSync: take it from what reached your server "
                          "(lab.attacker.last().query['code']) after Alice ran PhotoSync.")
        return result
    if sync.pending is None or row["code_challenge"] != sync.pending["code_challenge"]:
        result.problem = ("that code comes from an earlier PhotoSync sign-in: take the one from Alice's latest "
                          "(nb06.alice_runs_photosync(lab), then lab.attacker.last()).")
        return result
    if verifier == code:
        result.problem = "that verifier is the code itself: the verifier is what the challenge was made from."
        return result
    result.hops_on = list(sync.hops)          # Alice's sign-in to PhotoSync, which sent the code to your port
    _mark(lab)
    with scene(lab, 5):
        r = flows.exchange_code(lab, sync.client, code, code_verifier=verifier, redirect_to=sync.redirect_uri,
                                tapped=True, user_agent=ATTACKERS_SCRIPT)
    body = _json(r)
    if r.status_code != 200:
        description = body.get("error_description")
        result.problem = f"the token endpoint refused: {body.get('error')}" + (f" ({description})." if description
                                                                              else ".")
        if row["code_challenge_method"] == "S256":
            result.problem += (" PhotoSync bound this code with S256: the challenge is a hash of the verifier, and "
                               "no one can undo it. Run PhotoSync while the lab offers plain.")
        elif verifier != row["code_challenge"] and body.get("error") == "invalid_grant":
            result.problem += " With plain, what checks out is the very value PhotoSync put in its request."
        return result
    info = lab.introspect(body["access_token"])
    result.solved = info.get("active") and info.get("username") == "alice" and info.get("client_id") == sync.client_id
    result.verdict = (f"The token endpoint gave you Alice's tokens for PhotoSync ({info.get('scope')}), from a code "
                      "PhotoSync never received, bound with its own plain challenge: the challenge every account on "
                      "the machine could read was the verifier.")
    if not result.solved:
        result.problem = f"the token endpoint answered, but introspection says {info}."
        return result
    result.hardened = _plain_hardened(lab, sync, result)
    return result


def _plain_hardened(lab, sync: PhotoSync, result: Attempt) -> str:
    """PhotoSync again with plain refused: it falls back to S256, and the same trick redeems nothing."""
    before = len(lab.victim.history)
    start = lab.clock.now()
    _mark(lab)
    sync.login()
    result.hops_off = lab.victim.history[before:]
    back = _stolen(lab, start)
    challenge = params(sync.command_line.split(" ", 1)[1]).get("code_challenge", "")
    if not back:
        return "PhotoSync's sign-in did not come back to your server."
    r = flows.exchange_code(lab, sync.client, back["code"], code_verifier=challenge, redirect_to=sync.redirect_uri,
                            tapped=True, user_agent=ATTACKERS_SCRIPT)
    body = _json(r)
    return (f"the lab no longer offers plain, so PhotoSync used S256; your server still got the code, the command "
            f"line still showed the challenge, and the token endpoint answered {r.status_code} {body.get('error')}.")


def _json(r) -> dict:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
