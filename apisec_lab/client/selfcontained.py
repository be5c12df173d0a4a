"""Self-contained (JWT) access tokens from the outside: a client that gets them, an API that checks them alone.

The lab's own access tokens (``at_...``) are *opaque*: random strings that
mean nothing until the API looks them up.  A client registered with
``token_format="jwt"`` gets `RFC 9068 <https://www.rfc-editor.org/rfc/rfc9068>`_
JWT access tokens instead, signed by the authorization server
(:mod:`apisec_lab.oauth.rfc9068`): documents carrying their own claims.  The
lab's API validates them and also asks the store whether they were revoked
(:mod:`apisec_lab.servers.api`), so revocation stays immediate there.

Many APIs do less: they fetch the key set from the metadata's ``jwks_uri``
once and accept a token after checking its signature and claims, asking no
one.  Such an API cannot know the grant was revoked: notebook 04's
revocation gap.

- :func:`register_jwt_client` and :func:`jwt_app`: a client of the lab's
  authorization server that gets JWT access tokens, and a user connecting it
  through the real authorization code flow;
- :class:`SignatureOnlyAPI`: an API that holds the key set it fetched from
  ``jwks_uri`` and runs the lab API's own JWT validation
  (:class:`apisec_lab.servers.jwtverify.AccessTokenVerifier`), without the
  store; :func:`verify_signature_only` is its check,
  :func:`verify_with_introspection` the same plus RFC 7662.

Every time check reads the lab clock, never the wall clock, so a notebook
can jump forward to ``exp``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt

from ..core.weaknesses import Weaknesses
from ..oauth.rfc9068 import JWT_AT_TYPE, REQUIRED_CLAIMS
from ..servers.jwtverify import AccessTokenVerifier, Refused
from .flows import OAuthApp

__all__ = ["JWT_AT_TYPE", "REQUIRED_CLAIMS", "Check", "register_jwt_client", "jwt_app", "SignatureOnlyAPI",
           "decode_unverified", "verify_signature_only", "verify_with_introspection", "cost_per_check"]


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


def register_jwt_client(lab, name: str, scopes, *, lifetime: int | None = None, public: bool = False,
                        audience: str | None = None, description: str = ""):
    """Register *name* for the authorization code flow, its access tokens JWTs living *lifetime* seconds.

    Its redirect URI is on the lab's apps server (``{apps_url}/<client_id>/callback``), as
    :class:`~apisec_lab.client.flows.OAuthApp` expects; *audience*: the API its tokens are for, if not the lab's.
    """
    return lab.register_client(name, redirect_uris=[f"{lab.apps_url}/{{client_id}}/callback"], scopes=list(scopes),
                               public=public, description=description, token_format="jwt", audience=audience,
                               access_ttl=lifetime)


def jwt_app(lab, name: str, scopes, *, user: str = "alice", password: str | None = None,
            lifetime: int | None = None, audience: str | None = None) -> OAuthApp:
    """A new JWT client (:func:`register_jwt_client`) that *user* connects, granting *scopes*; signed in."""
    from ..core.cast import DEMO_PASSWORDS

    creds = register_jwt_client(lab, name, scopes, lifetime=lifetime, audience=audience,
                                description="Gets RFC 9068 JWT access tokens.")
    return OAuthApp(lab, creds).sign_in(user, DEMO_PASSWORDS.get(user, "") if password is None else password,
                                        list(scopes))


def decode_unverified(token: str) -> dict:
    """Header and claims of a JWT, *without* checking anything: what anyone holding it can read."""
    return {"header": jwt.get_unverified_header(token),
            "claims": jwt.decode(token, options={"verify_signature": False})}


class _At:
    """A clock stopped at one moment (a check asked about *now*)."""

    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


class SignatureOnlyAPI:
    """An API that fetched the authorization server's key set from ``jwks_uri`` once and checks tokens alone.

    Its check is the lab API's own JWT validation (signature, alg, typ, iss, aud, exp on the lab clock),
    with no weakness switched on and no call to anyone: it never hears of a revocation.
    """

    def __init__(self, lab):
        self.lab = lab
        self.issuer, self.audience = lab.issuer, lab.api_url
        with lab.session() as s:
            jwks = s.get(lab.metadata["jwks_uri"], timeout=10).json()
        self.keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(jwks).keys}

    def verify(self, token: str, now: float | None = None) -> Check:
        """Accept or reject *token* at *now* (default: the lab clock's now)."""
        clock = self.lab.clock if now is None else _At(now)
        verifier = AccessTokenVerifier(lambda: self.keys, bytes, self.issuer, self.audience, clock, Weaknesses())
        try:
            claims = verifier.verify(token).claims
        except Refused as e:
            return Check(False, str(e))
        return Check(True, "signature valid, not expired", claims)

    def introspect(self, token: str) -> dict:
        """RFC 7662, as the API's registered resource server."""
        return self.lab.introspect(token)


def verify_signature_only(token: str, api: SignatureOnlyAPI, now: float | None = None) -> Check:
    """The self-contained check: signature and claims, ``exp`` against the lab clock (or *now*); fast, blind to
    revocation."""
    return api.verify(token, now)


def verify_with_introspection(token: str, api: SignatureOnlyAPI) -> Check:
    """Signature first, then RFC 7662: ask the authorization server whether the token is active."""
    first = api.verify(token)
    if not first:
        return first
    if not api.introspect(token).get("active"):
        return Check(False, "introspection says active: false (revoked)", first.claims)
    return Check(True, "signature valid and introspection says active: true", first.claims)


def cost_per_check(check, token: str, api: SignatureOnlyAPI, rounds: int = 50) -> float:
    """Median seconds one call of ``check(token, api)`` takes, over *rounds* calls."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        check(token, api)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]
