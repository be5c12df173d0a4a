"""oauthlib's endpoints, assembled for exactly what the lab supports.

oauthlib's all-in-one ``Server`` also offers the implicit and password grants
and PKCE ``plain``; the lab composes the endpoints itself and publishes
explicit RFC 8414 metadata that advertises exactly this.  The password grant
(oauthlib's own :class:`ResourceOwnerPasswordCredentialsGrant`) is wired in
but answers ``unsupported_grant_type`` and is left out of the metadata until
the ``password_grant`` weakness is on (RFC 9700 s2.4: MUST NOT be used).

The lab's policy joins oauthlib's flow through oauthlib's own hooks, the
grants' custom validators: ``pre_auth`` checks the authorization request
(response type and mode, challenge shape), ``pre_token`` the verifier's shape
and the password switch, ``post_token`` claims a code or refresh token
atomically once the whole request has been checked (single use, RFC 6749
s4.1.2 and RFC 9700 s4.14.2).
"""
from __future__ import annotations

from collections.abc import Mapping

from oauthlib.oauth2 import (
    AuthorizationCodeGrant,
    BearerToken,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    ResourceOwnerPasswordCredentialsGrant,
)
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.endpoints import (
    AuthorizationEndpoint,
    IntrospectEndpoint,
    MetadataEndpoint,
    ResourceEndpoint,
    RevocationEndpoint,
    TokenEndpoint,
)
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import (
    code_challenge_method_plain,
    code_challenge_method_s256,
)

from ..core import crypto
from .logs import keep_secrets_out_of_logs
from .rfc9068 import JWTAccessTokens


class PKCEMethods(Mapping):
    """The PKCE methods the server accepts, as oauthlib's grant looks them up: ``S256``, and ``plain``
    only while the ``pkce_plain`` weakness is on (read on every lookup, so flipping it takes effect at once).

    RFC 7636 s4.2: "plain" exists for clients that cannot do SHA-256; every client here can.
    """

    def __init__(self, weaknesses):
        self.weaknesses = weaknesses

    def _now(self) -> dict:
        methods = {"S256": code_challenge_method_s256}
        if self.weaknesses.pkce_plain:
            methods["plain"] = code_challenge_method_plain
        return methods

    def __getitem__(self, method):
        return self._now()[method]

    def __iter__(self):
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())


class LabAuthorizationServer(AuthorizationEndpoint, TokenEndpoint, RevocationEndpoint,
                             IntrospectEndpoint, ResourceEndpoint):
    """Authorization code (+PKCE S256), client credentials, refresh, revocation, introspection,
    and the password grant behind its weakness switch."""

    def __init__(self, validator, access_ttl: int, jwt_tokens: JWTAccessTokens | None = None):
        """*access_ttl*: seconds an access token lives (the lab's ``LabConfig.access_ttl``, unless the client
        was registered with its own); *jwt_tokens* makes RFC 9068 JWT access tokens for the clients registered
        for them (:mod:`.rfc9068`)."""
        keep_secrets_out_of_logs()   # oauthlib logs codes and tokens at DEBUG
        self.validator = validator
        self.auth_grant = AuthorizationCodeGrant(validator, pre_auth=[validator.check_authorization_request],
                                                 pre_token=[validator.check_code_verifier],
                                                 post_token=[validator.claim_code])
        # RFC 7636 section 4.2: "plain" exists for clients that cannot do
        # SHA-256; every client here can, so only S256 is accepted (plain behind its weakness switch).
        self.auth_grant._code_challenge_methods = PKCEMethods(validator.weaknesses)
        self.credentials_grant = ClientCredentialsGrant(validator)
        self.refresh_grant = RefreshTokenGrant(validator, post_token=[validator.claim_refresh_token])
        self.password_grant = ResourceOwnerPasswordCredentialsGrant(
            validator, pre_token=[validator.check_password_grant_allowed])
        self.jwt_tokens = jwt_tokens

        def opaque(request):
            return crypto.new_token("at")

        self.bearer = BearerToken(
            validator,
            token_generator=(lambda request: jwt_tokens(request, opaque)) if jwt_tokens else opaque,
            refresh_token_generator=lambda request: crypto.new_token("rt"),   # refresh tokens stay opaque
            expires_in=jwt_tokens.lifetime if jwt_tokens else access_ttl,
        )
        AuthorizationEndpoint.__init__(self, default_response_type="code",
                                       response_types={"code": self.auth_grant},
                                       default_token_type=self.bearer)
        # Unknown grant types fall to the code grant, which answers
        # unsupported_grant_type (RFC 6749 section 5.2), as oauthlib's Server does.
        TokenEndpoint.__init__(self, default_grant_type="authorization_code",
                               grant_types={"authorization_code": self.auth_grant,
                                            "client_credentials": self.credentials_grant,
                                            "refresh_token": self.refresh_grant,
                                            "password": self.password_grant},
                               default_token_type=self.bearer)
        RevocationEndpoint.__init__(self, validator)
        IntrospectEndpoint.__init__(self, validator)
        ResourceEndpoint.__init__(self, default_token="Bearer", token_types={"Bearer": self.bearer})

    def validate_introspect_request(self, request):
        """RFC 7662 s2.1: "the protected resource MUST also authenticate" to call the endpoint.

        oauthlib lets a client that needs no authentication (a public one)
        through on its ``client_id`` alone; here only an authenticated
        confidential client may introspect, as the metadata says.
        """
        self._raise_on_bad_method(request)
        self._raise_on_bad_post_request(request)
        self._raise_on_missing_token(request)
        if not self.request_validator.authenticate_client(request):
            raise errors.InvalidClientError(
                description="Introspection needs an authenticated confidential client.", request=request)
        self._raise_on_unsupported_token(request)


def metadata(server: LabAuthorizationServer, issuer: str, scopes: list[str], password_grant: bool = False,
             pkce_plain: bool = False) -> dict:
    """RFC 8414 metadata for *issuer*: exactly what the lab supports now, validated by oauthlib.

    ``password_grant`` (the weakness switch) adds ``password`` to ``grant_types_supported``,
    ``pkce_plain`` adds ``plain`` to ``code_challenge_methods_supported``.
    """
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
    grant_types = ["authorization_code", "client_credentials", "refresh_token"] + (
        ["password"] if password_grant else [])
    claims = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        # RFC 8414 s2: the JWK Set that verifies the JWT access tokens of clients registered for them (RFC 9068).
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "code_challenge_methods_supported": ["S256"] + (["plain"] if pkce_plain else []),
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        # RFC 7662 s2.1: confidential clients only (no "none").
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        # RFC 9207: every authorization response (success or error) carries iss.
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{issuer}/",
    }
    return MetadataEndpoint([server], claims=claims, raise_errors=True).claims
