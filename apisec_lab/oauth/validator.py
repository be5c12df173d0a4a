"""One :class:`oauthlib.oauth2.RequestValidator` over the lab's store.

oauthlib asks this class every storage and policy question; it answers from
:class:`apisec_lab.core.store.Store`.  Method docstrings name the flows that call
them, in oauthlib's own manner.  The protocol itself stays in oauthlib.
"""
from __future__ import annotations

from urllib.parse import unquote

from oauthlib.oauth2 import RequestValidator

from ..core import crypto
from ..core.store import Store
from ..http.basic import parse_basic


class LabRequestValidator(RequestValidator):
    """Storage and policy for the authorization server."""

    def __init__(self, store: Store, weaknesses, *, access_ttl: int, code_ttl: int, refresh_ttl: int):
        """Lifetimes in seconds on the store's clock (the lab's ``LabConfig``)."""
        self.store = store
        self.weaknesses = weaknesses
        self.access_ttl, self.code_ttl, self.refresh_ttl = access_ttl, code_ttl, refresh_ttl

    # -- client authentication (token, revocation, introspection) -------
    def _client_credentials(self, request) -> tuple[str | None, str | None]:
        """(client_id, secret) from HTTP Basic (RFC 6749 section 2.3.1) or the body."""
        try:
            basic = parse_basic(request.headers.get("Authorization"))
        except ValueError:
            return None, None
        if basic:
            return unquote(basic[0]), unquote(basic[1])
        return request.client_id, request.client_secret

    def client_authentication_required(self, request, *args, **kwargs):
        """Token, revocation and introspection requests.

        Confidential clients must authenticate; a public client (identified
        only by its ``client_id``) may not, because it has no secret.
        """
        client_id, secret = self._client_credentials(request)
        if secret:
            return True
        client = self.store.client(client_id or request.client_id)
        return not (client and client.public)

    def authenticate_client(self, request, *args, **kwargs):
        """Confidential clients on the token, revocation and introspection endpoints."""
        client_id, secret = self._client_credentials(request)
        client = self.store.client(client_id)
        if client is None or client.public or secret is None:
            return False
        if not crypto.same_secret(secret, client.secret_digest):
            return False
        request.client = client
        request.client_id = client.client_id
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        """Public clients (PKCE) on the token and revocation endpoints."""
        client = self.store.client(client_id)
        if client is None or not client.public:
            return False
        request.client = client
        return True

    # -- authorization endpoint ----------------------------------------
    def validate_client_id(self, client_id, request, *args, **kwargs):
        """Authorization code grant, authorization request."""
        client = self.store.client(client_id)
        if client is None or "authorization_code" not in client.grant_types:
            return False
        request.client = client
        return True

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        """Exact string match against a registered URI (no prefixes, no wildcards)."""
        client = self.store.client(client_id)
        return client is not None and redirect_uri in client.redirect_uris

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):
        """Only a client with exactly one registered URI may omit ``redirect_uri``."""
        client = self.store.client(client_id)
        if client and len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        return None

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        """Only ``code``: the implicit grant is not offered."""
        return response_type == "code"

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """Every flow: the client may only ask for scopes it was registered with."""
        client = self.store.client(client_id)
        return client is not None and bool(scopes) and set(scopes) <= set(client.scopes)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        client = self.store.client(client_id)
        return list(client.scopes) if client else []

    def is_pkce_required(self, client_id, request):
        """RFC 7636: required for every client unless the ``pkce_optional`` weakness is on."""
        return not self.weaknesses.pkce_optional

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        # Remember the redirect URI only if the client sent one: RFC 6749
        # s4.1.3 then requires the token request to repeat it exactly.
        explicit = None if request.using_default_redirect_uri else request.redirect_uri
        self.store.save_code(code["code"], client_id, request.user, explicit,
                             request.scopes, request.code_challenge, request.code_challenge_method, self.code_ttl)
        asked = getattr(request, "asked_scopes", None) or request.scopes
        self.store.log("consent", client_id=client_id, username=request.user, code=code["code"],
                       detail=f"asked: {' '.join(asked)}; granted: {' '.join(request.scopes)}")

    # -- token endpoint: authorization code ----------------------------
    def _code(self, code, request):
        """The code's row, read once per token request (oauthlib asks about it four times)."""
        cached = getattr(request, "lab_code_row", None)
        if cached is None or cached[0] != code:
            request.lab_code_row = cached = (code, self.store.code(code))
        return cached[1]

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """Authorization code grant.  A replayed code revokes what it issued (RFC 6749 s4.1.2)."""
        row = self._code(code, request)
        if row is None or row["client_id"] != client_id:
            return False
        if row["used_at"] is not None:
            if row["grant_id"] is not None:
                self.store.log("code_replayed", row["grant_id"], client_id, row["username"],
                               "second use of a code: every token it issued is revoked")
                self.store.revoke_grant(row["grant_id"], "authorization code replayed")
            return False
        if self.store.clock.now() >= row["expires_at"]:
            return False
        request.user = row["username"]
        request.scopes = row["scopes"].split()
        request.lab_code = code
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        """Authorization code grant: "redirect_uri: REQUIRED, if the "redirect_uri" parameter was
        included in the authorization request [...] and their values MUST be identical" (RFC 6749 s4.1.3).
        """
        row = self._code(code, request)
        if row is None:
            return False
        if row["redirect_uri"] is None:  # the client relied on its one registered URI
            return redirect_uri == self.get_default_redirect_uri(client_id, request)
        return not request.using_default_redirect_uri and row["redirect_uri"] == redirect_uri

    def get_code_challenge(self, code, request):
        row = self._code(code, request)
        return row["code_challenge"] if row else None

    def get_code_challenge_method(self, code, request):
        row = self._code(code, request)
        return row["code_challenge_method"] if row else None

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        self.store.mark_code_used(code)

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        """Every token request: the client must be registered for this grant type."""
        client = client or self.store.client(client_id)
        if client is None or grant_type not in client.grant_types:
            return False
        if grant_type == "client_credentials":
            request.user = None
        return True

    # -- token endpoint: refresh ----------------------------------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """Refresh token grant.  Reusing a rotated refresh token revokes its whole family."""
        row = self.store.token(refresh_token, "refresh")
        if row is None or row["client_id"] != client.client_id:
            return False
        state = self.store.token_state(row)
        if state == "rotated":
            self.store.log("refresh_reuse_detected", row["grant_id"], row["client_id"], row["username"],
                           "an old refresh token came back: the whole token family is revoked")
            self.store.revoke_grant(row["grant_id"], "refresh token reused after rotation")
            return False
        if state != "active":
            return False
        request.user = row["username"]
        request.lab_refresh = row
        return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        row = self.store.token(refresh_token, "refresh")
        return row["scopes"].split() if row else []

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs):
        return False

    def rotate_refresh_token(self, request):
        """Always rotate: each refresh token is good for one use."""
        return True

    # -- issuing tokens --------------------------------------------------
    def save_bearer_token(self, token, request, *args, **kwargs):
        """Every grant: store digests of the new tokens in the right family."""
        client_id = request.client.client_id
        scopes = request.scopes or []
        if request.grant_type == "refresh_token":
            old = request.lab_refresh
            grant_id, username = old["grant_id"], old["username"]
            refresh_scopes = old["scopes"].split()
            self.store.mark_rotated(request.refresh_token)
            event = "refreshed"
        else:
            username = request.user if request.grant_type == "authorization_code" else None
            grant_id = self.store.new_grant(client_id, username, request.grant_type, scopes)
            refresh_scopes = scopes
            if request.grant_type == "authorization_code":
                self.store.link_code_to_grant(request.lab_code, grant_id)
            event = "issued"
        self.store.save_token(token["access_token"], "access", grant_id, client_id, username,
                              scopes, self.access_ttl)
        if "refresh_token" in token:
            self.store.save_token(token["refresh_token"], "refresh", grant_id, client_id, username,
                                  refresh_scopes, self.refresh_ttl)
        self.store.log(event, grant_id, client_id, username, " ".join(scopes))
        return request.redirect_uri

    # -- resource server -------------------------------------------------
    def validate_bearer_token(self, token, scopes, request):
        """Resource API: is this access token good for these scopes right now?

        Sets ``request.token_error`` to the RFC 6750 error code when it is not,
        because oauthlib only returns a boolean and the API must tell
        ``invalid_token`` (401) from ``insufficient_scope`` (403).
        """
        row = self.store.token(token, "access") if token else None
        state = self.store.token_state(row)
        if state != "active":
            request.token_error = "invalid_token"
            request.token_error_description = {
                "unknown": "The access token is not one this server issued.",
                "revoked": "The access token was revoked.",
                "expired": "The access token expired.",
            }[state]
            return False
        granted = row["scopes"].split()
        request.user = row["username"]
        request.client_id = row["client_id"]
        request.scopes = granted
        request.grant_id = row["grant_id"]
        missing = [s for s in (scopes or []) if s not in granted]
        if missing:
            request.token_error = "insufficient_scope"
            request.token_error_description = f"This request needs scope {' '.join(missing)}."
            return False
        return True

    # -- revocation and introspection -----------------------------------
    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        """RFC 7009.  A refresh token takes its whole grant with it; an access token goes alone.

        A client may only revoke its own tokens; anything else is ignored
        silently, as the RFC asks for invalid tokens.
        """
        row = self.store.token(token)
        if row is None or row["client_id"] != request.client.client_id:
            return
        if row["kind"] == "refresh":
            self.store.revoke_grant(row["grant_id"], "the client revoked its refresh token (RFC 7009)")
        else:
            self.store.revoke_token(token)
            self.store.log("revoked", row["grant_id"], row["client_id"], row["username"],
                           "client revoked one access token")

    def introspect_token(self, token, token_type_hint, request, *args, **kwargs):
        """RFC 7662.  The resource server may ask about any token, a client about its own."""
        row = self.store.token(token)
        if row is None or self.store.token_state(row) != "active":
            return None
        if not (request.client.introspect_any or row["client_id"] == request.client.client_id):
            return None
        claims = {
            "scope": row["scopes"],
            "client_id": row["client_id"],
            "token_type": "Bearer" if row["kind"] == "access" else "refresh_token",
            "iat": int(row["issued_at"]),
        }
        if row["expires_at"] is not None:
            claims["exp"] = int(row["expires_at"])
        if row["username"]:
            claims["username"] = claims["sub"] = row["username"]
        return claims
