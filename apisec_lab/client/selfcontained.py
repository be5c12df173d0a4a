"""Self-contained (JWT) access tokens, and the revocation gap they open.

The lab's own access tokens (``at_...``) are *opaque*: random strings that
mean nothing until the API looks them up, so revocation bites on the next
request.  A JWT access token (`RFC 9068 <https://www.rfc-editor.org/rfc/rfc9068>`_,
a signed `RFC 7519 <https://www.rfc-editor.org/rfc/rfc7519>`_ document) carries
its own claims: an API can accept it after checking only the signature and
``exp``, with no call to anyone.  That API cannot know the grant was revoked.

- :class:`JWTAuthority` plays the authorization server's part: it signs JWT
  access tokens for existing grants (RS256 with a lab-generated key pair by
  default; HS256 with a shared secret on request) and records each one in
  the lab's store as an access token of that grant, so RFC 7662
  introspection (``lab.introspect``) and the grant's revocation know about it.
  It is given what it uses (the store, the clock, the issuer and audience
  names, and the introspection call); :meth:`JWTAuthority.for_lab` takes
  them from a running lab.
- :func:`verify_signature_only` is the API that trusts the signature and
  ``exp`` alone; :func:`verify_with_introspection` also asks the
  authorization server whether the token is still active.

Every time check reads the lab clock, never the wall clock, so a notebook
can jump forward to ``exp``.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

#: ``typ`` header of a JWT access token, RFC 9068 section 2.1.
JWT_AT_TYPE = "at+jwt"
#: Claims every lab JWT access token must carry (RFC 9068 section 2.2).
REQUIRED_CLAIMS = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope"]


@dataclass(frozen=True)
class Check:
    """What a verifier decided about one token."""

    accepted: bool
    reason: str
    claims: dict | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.accepted

    def __str__(self) -> str:
        return ("accepted" if self.accepted else "rejected") + f" ({self.reason})"


class JWTAuthority:
    """Signs JWT access tokens for the lab's grants and publishes how to verify them.

    ``algorithm`` is RS256 by default (the API holds only the public key);
    HS256 makes the API hold the very secret the authorization server signs
    with, so anything that can verify tokens could also mint them.
    """

    def __init__(self, store, clock, issuer: str, audience: str, introspect=None, algorithm: str = "RS256"):
        self.store, self.clock = store, clock
        self.issuer, self.audience = issuer, audience
        #: ``introspect(token) -> dict``, RFC 7662, for :func:`verify_with_introspection`.
        self.introspect = introspect
        self.algorithm = algorithm
        if self.algorithm == "HS256":
            self._signing_key = secrets.token_bytes(32)
            self.verification_key = self._signing_key
        elif self.algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._signing_key = private
            self.verification_key = private.public_key()
        else:
            raise ValueError(f"unsupported algorithm {self.algorithm!r}; use HS256 or RS256")

    @classmethod
    def for_lab(cls, lab, algorithm: str = "RS256") -> "JWTAuthority":
        """The authority of *lab*: its store and clock, its issuer, its API as the audience."""
        return cls(lab.store, lab.clock, lab.issuer, lab.api_url, lab.introspect, algorithm)

    def issue(self, grant_id: int, lifetime: int = 600) -> str:
        """Sign a JWT access token for the active grant *grant_id*, valid *lifetime* seconds.

        Claims (RFC 9068 section 2.2): ``iss``, ``sub``, ``aud``, ``client_id``,
        ``scope``, ``iat``, ``exp`` (lab clock), ``jti``.  The token is also
        stored as an access token of the grant, so introspection answers for it
        and revoking the grant marks it revoked there.
        """
        store = self.store
        grant = store.grant(grant_id)
        if grant is None:
            raise KeyError(f"no grant {grant_id}")
        if grant["revoked_at"] is not None:
            raise ValueError(f"grant {grant_id} is revoked ({grant['revoked_reason']}): no new tokens for it")
        if grant["username"] is None:
            raise ValueError("JWT access tokens here are for grants made by a user")
        now = int(self.clock.now())
        claims = {"iss": self.issuer, "sub": grant["username"], "aud": self.audience,
                  "client_id": grant["client_id"], "scope": grant["scopes"],
                  "iat": now, "exp": now + int(lifetime), "jti": secrets.token_hex(16)}
        token = jwt.encode(claims, self._signing_key, algorithm=self.algorithm, headers={"typ": JWT_AT_TYPE})
        store.save_token(token, "access", grant_id, grant["client_id"], grant["username"],
                         grant["scopes"].split(), claims["exp"] - self.clock.now())
        store.log("issued", grant_id, grant["client_id"], grant["username"],
                  f"JWT access token ({self.algorithm}, lives {int(lifetime) / 60:g} min)")
        return token


def decode_unverified(token: str) -> dict:
    """Header and claims of a JWT, *without* checking anything: what anyone holding it can read."""
    return {"header": jwt.get_unverified_header(token),
            "claims": jwt.decode(token, options={"verify_signature": False})}


def verify_signature_only(token: str, authority: JWTAuthority, now: float | None = None) -> Check:
    """The self-contained check: signature, ``iss``, ``aud``, and ``exp`` against the lab clock.

    No network call, no store: fast, and blind to revocation.  *now*
    defaults to the authority's clock.
    """
    now = authority.clock.now() if now is None else now
    try:
        # PyJWT would compare exp and iat with the wall clock; the lab clock
        # runs ahead of it, so those two are checked here instead.
        claims = jwt.decode(token, authority.verification_key, algorithms=[authority.algorithm],
                            audience=authority.audience, issuer=authority.issuer,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "require": REQUIRED_CLAIMS})
    except jwt.InvalidTokenError as e:
        return Check(False, f"{type(e).__name__}: {e}")
    if jwt.get_unverified_header(token).get("typ") != JWT_AT_TYPE:
        return Check(False, f"not a JWT access token (typ must be {JWT_AT_TYPE})", claims)
    if now >= claims["exp"]:
        return Check(False, "expired: exp has passed", claims)
    return Check(True, "signature valid, not expired", claims)


def verify_with_introspection(token: str, authority: JWTAuthority) -> Check:
    """Signature first, then RFC 7662: ask the authorization server whether the token is active."""
    first = verify_signature_only(token, authority)
    if not first:
        return first
    if not authority.introspect(token).get("active"):
        return Check(False, "introspection says active: false (revoked)", first.claims)
    return Check(True, "signature valid and introspection says active: true", first.claims)


def cost_per_check(check, token: str, authority: JWTAuthority, rounds: int = 50) -> float:
    """Median seconds one call of ``check(token, authority)`` takes, over *rounds* calls."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        check(token, authority)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]
