"""JWT access tokens (RFC 9068), signed by the authorization server, and the key set that verifies them.

- RFC 9068, JSON Web Token (JWT) Profile for OAuth 2.0 Access Tokens
  https://www.rfc-editor.org/rfc/rfc9068
- RFC 7517, JSON Web Key (the key set at ``jwks_uri``) https://www.rfc-editor.org/rfc/rfc7517
- RFC 7638, JSON Web Key Thumbprint (each key's ``kid``) https://www.rfc-editor.org/rfc/rfc7638

A client registered with ``token_format="jwt"`` gets, from the authorization
code, client credentials and refresh grants alike, an access token that is a
signed JWT (refresh tokens stay opaque ``rt_`` strings):

- header ``{"alg": "RS256", "typ": "at+jwt", "kid": <RFC 7638 thumbprint>}``
  (RFC 9068 s2.1: "MUST include the "typ" header parameter with "at+jwt"");
- claims ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat``, ``jti``
  (s2.2, all REQUIRED) and ``scope`` (s2.2.3), times on the lab clock;
  ``sub`` is the user, or for client credentials the client itself (s2.2:
  "the value of sub SHOULD correspond to an identifier the authorization
  server uses to indicate the client application").

The token is stored (its digest) like any access token, so introspection,
revocation and the API's revocation check know it.  The RSA key pair is made
on first use, not when the lab starts (2048-bit key generation costs tens of
milliseconds); :meth:`SigningKeys.rotate` (a lab reset) drops it, so tokens
signed before a reset no longer verify.  Only the public key is ever published.

While the ``jwt_weak_secret`` weakness is on, the server signs HS256 with
:data:`WEAK_SECRET`, a shared secret taken from a public wordlist (RFC 8725
s3.5), which the API's second verifier also holds.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

#: RFC 9068 s2.1: the ``typ`` header of a JWT access token.
JWT_AT_TYPE = "at+jwt"
#: RFC 9068 s2.2 and s2.2.3: what every lab JWT access token carries.
REQUIRED_CLAIMS = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope")
#: The one algorithm the lab signs with, and the one its API accepts (RFC 8725 s3.1: an allow-list).
ALGORITHM = "RS256"
#: The shared HS256 secret of the ``jwt_weak_secret`` weakness: long enough for PyJWT's length check
#: (32 bytes), and a line of the public wordlist the lab ships (``apisec_lab/data/jwt-secrets.txt``).
WEAK_SECRET = "your-256-bit-secret-change-me-now"
#: The ``kid`` of tokens signed with :data:`WEAK_SECRET`.
WEAK_SECRET_KID = "legacy-hs256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def thumbprint(jwk: dict) -> str:
    """RFC 7638 s3: SHA-256 of the key's required members, in lexicographic order, no whitespace."""
    required = {name: jwk[name] for name in ("e", "kty", "n")}
    return _b64(hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest())


class SigningKeys:
    """The authorization server's RSA key pair, made on first use; the public half as a JWK Set."""

    def __init__(self, key_size: int = 2048):
        self.key_size = key_size
        self._lock = threading.Lock()
        self._private: rsa.RSAPrivateKey | None = None
        self._kid = ""

    def _pair(self) -> tuple[rsa.RSAPrivateKey, str]:
        with self._lock:
            if self._private is None:
                self._private = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
                self._kid = thumbprint(RSAAlgorithm.to_jwk(self._private.public_key(), as_dict=True))
            return self._private, self._kid

    @property
    def kid(self) -> str:
        return self._pair()[1]

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._pair()[0].public_key()

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo): what an API that holds it as a file would read."""
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwks(self) -> dict:
        """RFC 7517 s5: ``{"keys": [...]}``, the public key only, with ``kid``, ``use`` and ``alg``."""
        key, kid = self._pair()
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.pop("key_ops", None)
        return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}]}

    def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        """``{kid: public key}``: what a verifier looks a token's ``kid`` up in."""
        key, kid = self._pair()
        return {kid: key.public_key()}

    def sign(self, claims: dict, headers: dict | None = None) -> str:
        """*claims* signed RS256 with the private key, ``typ`` at+jwt and ``kid`` in the header."""
        key, kid = self._pair()
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": JWT_AT_TYPE, "kid": kid, **(headers or {})})

    def rotate(self) -> None:
        """Drop the key pair; the next token or key set request makes a new one."""
        with self._lock:
            self._private, self._kid = None, ""


class JWTAccessTokens:
    """The token generator oauthlib's ``BearerToken`` calls: a JWT for a client registered for one.

    *clock* (iat, exp), *keys*, *issuer*, *audience* (the resource API's
    URL, unless the client was registered for another), *weaknesses* (``jwt_weak_secret``), *access_ttl* (the lab's
    default lifetime, seconds).
    """

    def __init__(self, clock, keys: SigningKeys, issuer: str, audience: str, weaknesses, access_ttl: int):
        self.clock, self.keys = clock, keys
        self.issuer, self.audience, self.weaknesses = issuer, audience, weaknesses
        self.access_ttl = access_ttl

    def lifetime(self, request) -> int:
        """Seconds the access token lives (``expires_in``): the client's own ``access_ttl``, else the lab's."""
        return getattr(getattr(request, "client", None), "access_ttl", None) or self.access_ttl

    def claims(self, request) -> dict:
        """RFC 9068 s2.2 claims for the token oauthlib is about to issue (*request* is oauthlib's)."""
        client = request.client
        now = int(self.clock.now())
        return {"iss": self.issuer, "sub": request.user or client.client_id,
                "aud": client.audience or self.audience, "client_id": client.client_id,
                "scope": " ".join(request.scopes or []), "iat": now,
                "exp": now + int(request.expires_in or self.lifetime(request)),
                "jti": secrets.token_hex(16)}

    def __call__(self, request, opaque) -> str:
        """The access token for *request*: a JWT if its client was registered for one, else ``opaque(request)``."""
        client = getattr(request, "client", None)
        if getattr(client, "token_format", "opaque") != "jwt":
            return opaque(request)
        claims = self.claims(request)
        if self.weaknesses.jwt_weak_secret:     # RFC 8725 s3.5: a guessable key signs every new token
            return jwt.encode(claims, WEAK_SECRET, algorithm="HS256",
                              headers={"typ": JWT_AT_TYPE, "kid": WEAK_SECRET_KID})
        return self.keys.sign(claims)
