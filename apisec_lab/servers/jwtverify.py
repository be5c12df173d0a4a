"""How the resource API validates a JWT access token (RFC 9068 s4), and the flaws the weakness switches put in it.

- RFC 9068 s4, Validating JWT Access Tokens https://www.rfc-editor.org/rfc/rfc9068#section-4
- RFC 8725, JSON Web Token Best Current Practices https://www.rfc-editor.org/rfc/rfc8725
- RFC 7515 (JWS) s5.2 and RFC 7519 (JWT) s7.2, validating a signed token

The hardened checks, in order (:meth:`AccessTokenVerifier.verify`):

1. three base64url parts, a JSON object header and claims (RFC 7515 s5.2), read within the lab's JSON limits;
2. ``alg`` on an allow-list of one, RS256 (RFC 8725 s3.1), and ``kid`` naming a key of the authorization
   server's own key set: keys come from the server, never from the token (``jku``, ``jwk`` and ``x5u``
   headers are ignored, RFC 8725 s3.10); the signature verified (PyJWT's JWS);
3. ``typ`` is ``at+jwt`` (RFC 9068 s4 and RFC 8725 s3.11: explicit typing);
4. every claim of RFC 9068 s2.2 present; ``iss`` the lab's issuer (s3.8), ``aud`` the API (s3.9), ``exp``
   not passed on the lab clock (RFC 7519 s4.1.4).

Each weakness switch breaks one step, in one place below, on the line marked ``# the flaw``
(:func:`flaw_line` reads it back, so the notebook shows the code that runs).  A token that the hardened
checks refuse and a flaw lets through comes back with :attr:`Verified.flaw` naming the switch; the API
records that in the store, where notebook 07's checks read it.  Scope and revocation are the API's
own checks, after this one (:mod:`.api`).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import jwt
import requests
from jwt.api_jws import PyJWS

from ..http.jsonbody import InvalidJSON, parse_json
from ..oauth.rfc9068 import ALGORITHM, JWT_AT_TYPE, REQUIRED_CLAIMS, WEAK_SECRET

#: RFC 7515 s2: base64url without padding.
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
#: Bytes of a key file (``jwt_kid_injection``) or a fetched key set (``jwt_jku``) read at most.
MAX_KEY_BYTES = 64 * 1024
#: Seconds the ``jwt_jku`` fetch may take to connect and to answer.
JKU_TIMEOUT = (1.0, 2.0)
#: RFC 9068 s4: "the resource server MUST verify that the typ header value is "at+jwt" or "application/at+jwt"".
TYPES = {JWT_AT_TYPE, "application/" + JWT_AT_TYPE}


class Refused(Exception):
    """The token is not valid; the message says why (the API's ``invalid_token`` description)."""


@dataclass(frozen=True)
class Parsed:
    """A compact JWS taken apart (RFC 7515 s7.1), nothing verified yet."""

    token: str
    header: dict
    claims: dict
    signing_input: bytes      # ASCII(BASE64URL(header) . BASE64URL(payload))
    signature: bytes


@dataclass(frozen=True)
class Verified:
    """A token the verifier accepted: its claims, and the weakness switch that let it in (None: none did)."""

    header: dict
    claims: dict
    flaw: str | None = None


def _unb64(part: str, what: str) -> bytes:
    if not _B64URL.fullmatch(part):
        raise Refused(f"The token's {what} is not base64url (RFC 7515 section 2).")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise Refused(f"The token's {what} is not base64url (RFC 7515 section 2).") from None


def parse(token: str) -> Parsed:
    """*token* as header, claims, signing input and signature; :class:`Refused` if it is no JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("A JWT is three base64url parts separated by dots (RFC 7515 section 7.1).")
    decoded = []
    for part, what in zip(parts[:2], ("header", "claims"), strict=True):
        try:
            value = parse_json(_unb64(part, what))
        except InvalidJSON:
            raise Refused(f"The token's {what} is not a JSON object the API reads (RFC 7515 section 5.2).") from None
        if not isinstance(value, dict):
            raise Refused(f"The token's {what} is not a JSON object (RFC 7515 section 5.2).")
        decoded.append(value)
    return Parsed(token, decoded[0], decoded[1], f"{parts[0]}.{parts[1]}".encode("ascii"),
                  _unb64(parts[2], "signature"))


def hs256_valid(signing_input: bytes, signature: bytes, key: bytes) -> bool:
    """Is *signature* HMAC-SHA256 of *signing_input* under *key*?  (RFC 7518 s3.2, compared in constant time.)"""
    return hmac.compare_digest(hmac.new(key, signing_input, hashlib.sha256).digest(), signature)


def _shown(value, limit: int = 24) -> str:
    """An attacker's header value, short enough for an error description."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class AccessTokenVerifier:
    """The API's JWT access token check (see the module docstring).

    - *keys*: ``() -> {kid: RSA public key}``, the authorization server's key set (its public half only);
    - *public_pem*: ``() -> bytes``, the same public key as PEM (what ``jwt_alg_confusion`` misuses);
    - *issuer*, *audience*: the ``iss`` and ``aud`` a token must carry;
    - *clock*: the lab clock (``exp``); *weaknesses*: the switches, read on every call;
    - *keys_dir*: the folder of HS256 key files named by kid (``jwt_kid_injection``), made on first use;
    - *fetchable*: ``() -> origins`` the ``jwt_jku`` flaw may fetch from (the lab's loopback servers).

    Without the last two (``jwt_kid_injection`` and ``jwt_jku`` then find nothing) and with every switch
    off, it is the check of an API that holds the key set and asks no one: notebook 04's signature-only
    API (:mod:`apisec_lab.client.selfcontained`).
    """

    def __init__(self, keys: Callable[[], dict], public_pem: Callable[[], bytes], issuer: str, audience: str,
                 clock, weaknesses, keys_dir: Path | None = None, fetchable: Callable[[], set[str]] = set):
        self.keys, self.public_pem = keys, public_pem
        self.issuer, self.audience, self.clock, self.weaknesses = issuer, audience, clock, weaknesses
        self.keys_dir, self.fetchable = None if keys_dir is None else Path(keys_dir), fetchable

    def _key_folder(self) -> Path | None:
        """The key folder, with one internal service's HS256 key in it: the files ``jwt_kid_injection`` reads."""
        if self.keys_dir is not None and not self.keys_dir.is_dir():
            self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            key_file = self.keys_dir / "internal-reports"
            key_file.write_bytes(secrets.token_bytes(32))
            key_file.chmod(0o600)
        return self.keys_dir

    # -- the hardened checks -------------------------------------------------------
    def verify(self, token: str) -> Verified:
        """The token's claims if it passes (a flaw named if only a switched-on flaw let it); :class:`Refused`."""
        parsed = parse(token)
        flaw = None
        try:
            self.check_signature(parsed)
        except Refused:
            flaw = self.flawed_signature(parsed)
            if flaw is None:
                raise
        self.check_type(parsed)
        if not self.weaknesses.jwt_claims_unchecked:
            self.check_claims(parsed)
        elif flaw is None:
            flaw = self.unchecked_claims(parsed)
        return Verified(parsed.header, parsed.claims, flaw)

    def check_signature(self, parsed: Parsed) -> None:
        """RFC 8725 s3.1: the algorithm is the API's choice (RS256), the key the authorization server's."""
        alg, kid = parsed.header.get("alg"), parsed.header.get("kid")
        if alg != ALGORITHM:
            raise Refused(f"alg {_shown(alg)} is not accepted: this API takes {ALGORITHM} only (RFC 8725 section 3.1).")
        key = self.keys().get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Refused("The token's kid names no key of the authorization server's key set.")
        if not self._rs256_valid(parsed, key):
            raise Refused("The token's signature does not verify with the authorization server's key.")

    @staticmethod
    def _rs256_valid(parsed: Parsed, key) -> bool:
        try:
            PyJWS().decode(parsed.token, key, algorithms=[ALGORITHM])
        except jwt.PyJWTError:
            return False
        return True

    @staticmethod
    def check_type(parsed: Parsed) -> None:
        """RFC 9068 s4 and RFC 8725 s3.11: an access token says so in ``typ`` (compared case-insensitively)."""
        typ = parsed.header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in TYPES:
            raise Refused(f"typ {_shown(typ)} is not {JWT_AT_TYPE}: not a JWT access token (RFC 9068 section 4).")

    def check_claims(self, parsed: Parsed) -> None:
        """RFC 9068 s4 and RFC 7519 s7.2: every claim present, the right ``iss`` and ``aud``, ``exp`` ahead."""
        claims = parsed.claims
        missing = [c for c in REQUIRED_CLAIMS if c not in claims]
        if missing:
            raise Refused(f"The token lacks the claims {', '.join(missing)} (RFC 9068 section 2.2).")
        if claims["iss"] != self.issuer:
            raise Refused("The token's iss is not this API's authorization server (RFC 8725 section 3.8).")
        aud = claims["aud"]
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise Refused("The token's aud is another API: it was not minted for this one (RFC 8725 section 3.9).")
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise Refused("The token's exp is not a NumericDate (RFC 7519 section 4.1.4).")
        if self.clock.now() >= exp:
            raise Refused("The token expired (exp has passed, RFC 7519 section 4.1.4).")

    # -- the flaws ------------------------------------------------------------------
    def unchecked_claims(self, parsed: Parsed) -> str | None:
        """``jwt_claims_unchecked``: PyJWT told to skip the claims; the switch's name if that let the token in."""
        key = self.keys()[parsed.header["kid"]]      # (the hardened signature check passed: the kid is known)
        options = {"verify_aud": False, "verify_exp": False, "verify_iat": False}    # the flaw: aud, exp never checked
        try:
            jwt.decode(parsed.token, key, algorithms=[ALGORITHM], options=options)
        except jwt.PyJWTError as e:
            raise Refused(f"PyJWT refused the token: {type(e).__name__}.") from None
        try:
            self.check_claims(parsed)
        except Refused:
            return "jwt_claims_unchecked"
        return None

    def flawed_signature(self, parsed: Parsed) -> str | None:
        """The first switched-on flaw that accepts the token's signature (or its lack), or None."""
        weak = self.weaknesses      # read now: a switch flipped between two requests counts at once
        for on, name, accepts in ((weak.jwt_alg_none, "jwt_alg_none", self.alg_none),
                                  (weak.jwt_no_verify, "jwt_no_verify", self.no_verify),
                                  (weak.jwt_weak_secret, "jwt_weak_secret", self.weak_secret),
                                  (weak.jwt_alg_confusion, "jwt_alg_confusion", self.alg_confusion),
                                  (weak.jwt_kid_injection, "jwt_kid_injection", self.kid_injection),
                                  (weak.jwt_jku, "jwt_jku", self.jku)):
            if on and accepts(parsed):
                return name
        return None

    @staticmethod
    def alg_none(parsed: Parsed) -> bool:
        """``jwt_alg_none``: "none" is an algorithm too, and it has nothing to check."""
        return str(parsed.header.get("alg")).lower() == "none"    # the flaw: an unsigned token is taken at its word

    @staticmethod
    def no_verify(parsed: Parsed) -> bool:
        """``jwt_no_verify``: the claims are read and the signature never is."""
        try:
            jwt.decode(parsed.token, options={"verify_signature": False})     # the flaw: decoded, never verified
        except jwt.PyJWTError:
            return False
        return True

    @staticmethod
    def weak_secret(parsed: Parsed) -> bool:
        """``jwt_weak_secret``: a second verifier, for the HS256 tokens signed with the shared secret."""
        secret = WEAK_SECRET.encode()    # the flaw: the shared secret is a line of a public wordlist
        return parsed.header.get("alg") == "HS256" and hs256_valid(parsed.signing_input, parsed.signature, secret)

    def alg_confusion(self, parsed: Parsed) -> bool:
        """``jwt_alg_confusion``: the token's header picks the algorithm, and the key stays the RS256 public key."""
        if parsed.header.get("alg") != "HS256":
            return False
        return hs256_valid(parsed.signing_input, parsed.signature, self.public_pem())  # the flaw: public key as secret

    def kid_injection(self, parsed: Parsed) -> bool:
        """``jwt_kid_injection``: HS256 keys are files in the key folder, and the token names the file."""
        kid, keys_dir = parsed.header.get("kid"), self._key_folder()
        if parsed.header.get("alg") != "HS256" or not isinstance(kid, str) or keys_dir is None:
            return False
        key = self._key_file(os.path.join(keys_dir, kid))    # the flaw: the token says which file is the key
        return key is not None and hs256_valid(parsed.signing_input, parsed.signature, key)

    def _key_file(self, path: str) -> bytes | None:
        """The bytes of a key file, behind the lab's rail: only files in the key folder, or ``/dev/null``.

        The flaw is the path join above (``../`` climbs out, an absolute kid replaces the folder); the rail
        keeps the rest of this machine out of the lesson (no device that blocks, no file of yours).
        """
        try:
            real = os.path.realpath(path)
            if real != os.devnull and (os.path.dirname(real) != os.path.realpath(self.keys_dir)
                                       or not os.path.isfile(real)):
                return None
            with open(real, "rb") as f:
                return f.read(MAX_KEY_BYTES)
        except (OSError, ValueError):      # no such file, a NUL in the kid...
            return None

    def jku(self, parsed: Parsed) -> bool:
        """``jwt_jku``: keys fetched from the URL the token's ``jku`` header gives."""
        url = parsed.header.get("jku")
        if parsed.header.get("alg") != ALGORITHM or not isinstance(url, str):
            return False
        keys = self._fetch_jwks(url)    # the flaw: the token says where to find the key that verifies it
        kid = parsed.header.get("kid")
        chosen = [k for k in keys if k.key_id == kid] or (keys if len(keys) == 1 else [])
        return any(self._rs256_valid(parsed, k.key) for k in chosen)

    def _fetch_jwks(self, url: str) -> list:
        """The RSA keys of the JWK Set at *url*, if *url* is on a lab server (never the internet); else none."""
        try:
            parts = urlsplit(url)
            if parts.scheme != "http" or f"http://{parts.netloc}" not in self.fetchable():
                return []
            with requests.Session() as s:
                s.trust_env = False           # no proxy: straight to the loopback server
                with s.get(url, timeout=JKU_TIMEOUT, allow_redirects=False, stream=True) as r:
                    body = r.raw.read(MAX_KEY_BYTES + 1, decode_content=True)
            if r.status_code != 200 or len(body) > MAX_KEY_BYTES:
                return []
            document = parse_json(body)
            return [k for k in jwt.PyJWKSet.from_dict(document).keys if k.key_type == "RSA"]
        except (requests.RequestException, InvalidJSON, jwt.PyJWTError, ValueError, TypeError, KeyError,
                AttributeError):
            return []


def flaw_line(name: str) -> str:
    """The line of this module marked ``# the flaw`` in the code of the weakness switch *name*."""
    method = {"jwt_alg_none": AccessTokenVerifier.alg_none, "jwt_no_verify": AccessTokenVerifier.no_verify,
              "jwt_weak_secret": AccessTokenVerifier.weak_secret,
              "jwt_alg_confusion": AccessTokenVerifier.alg_confusion,
              "jwt_kid_injection": AccessTokenVerifier.kid_injection, "jwt_jku": AccessTokenVerifier.jku,
              "jwt_claims_unchecked": AccessTokenVerifier.unchecked_claims}[name]
    return next(line.strip() for line in inspect.getsource(method).splitlines() if "# the flaw" in line)
