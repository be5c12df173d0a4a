"""oauthlib's endpoints, assembled for exactly what the lab supports.

oauthlib's all-in-one ``Server`` also offers the implicit and password grants
and PKCE ``plain``; the lab wants none of them, so it composes the endpoints
itself and publishes explicit RFC 8414 metadata that advertises exactly this.
"""
from __future__ import annotations

from oauthlib.oauth2 import (
    AuthorizationCodeGrant,
    BearerToken,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from oauthlib.oauth2.rfc6749.endpoints import (
    AuthorizationEndpoint,
    IntrospectEndpoint,
    MetadataEndpoint,
    ResourceEndpoint,
    RevocationEndpoint,
    TokenEndpoint,
)
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256

from ..core import crypto


class LabAuthorizationServer(AuthorizationEndpoint, TokenEndpoint, RevocationEndpoint,
                             IntrospectEndpoint, ResourceEndpoint):
    """Authorization code (+PKCE S256), client credentials, refresh, revocation, introspection."""

    def __init__(self, validator, access_ttl: int):
        """*access_ttl*: seconds an access token lives (the lab's ``LabConfig.access_ttl``)."""
        self.validator = validator
        self.auth_grant = AuthorizationCodeGrant(validator)
        # RFC 7636 section 4.2: "plain" exists for clients that cannot do
        # SHA-256; every client here can, so only S256 is accepted.
        self.auth_grant._code_challenge_methods = {"S256": code_challenge_method_s256}
        self.credentials_grant = ClientCredentialsGrant(validator)
        self.refresh_grant = RefreshTokenGrant(validator)
        self.bearer = BearerToken(
            validator,
            token_generator=lambda request: crypto.new_token("at"),
            refresh_token_generator=lambda request: crypto.new_token("rt"),
            expires_in=access_ttl,
        )
        AuthorizationEndpoint.__init__(self, default_response_type="code",
                                       response_types={"code": self.auth_grant},
                                       default_token_type=self.bearer)
        # Unknown grant types fall to the code grant, which answers
        # unsupported_grant_type (RFC 6749 section 5.2), as oauthlib's Server does.
        TokenEndpoint.__init__(self, default_grant_type="authorization_code",
                               grant_types={"authorization_code": self.auth_grant,
                                            "client_credentials": self.credentials_grant,
                                            "refresh_token": self.refresh_grant},
                               default_token_type=self.bearer)
        RevocationEndpoint.__init__(self, validator)
        IntrospectEndpoint.__init__(self, validator)
        ResourceEndpoint.__init__(self, default_token="Bearer", token_types={"Bearer": self.bearer})


def metadata(server: LabAuthorizationServer, issuer: str, scopes: list[str]) -> dict:
    """RFC 8414 metadata for *issuer*: exactly what the lab supports, validated by oauthlib."""
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
    claims = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "service_documentation": f"{issuer}/",
    }
    return MetadataEndpoint([server], claims=claims, raise_errors=True).claims
