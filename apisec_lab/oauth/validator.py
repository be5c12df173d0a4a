"""One :class:`oauthlib.oauth2.RequestValidator` over the lab's store.

oauthlib asks this class every storage and policy question; it answers from
:class:`apisec_lab.core.store.Store`.  Method docstrings name the flows that call
them, in oauthlib's own manner.  The protocol itself stays in oauthlib.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from oauthlib.oauth2 import RequestValidator
from oauthlib.oauth2.rfc6749 import errors

from ..core import crypto
from ..core.store import Store
from ..http.basic import parse_basic
from .throttle import SignInThrottle

#: RFC 7636 section 4.1: ``code-verifier = 43*128unreserved``, with
#: ``unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"``.
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
#: RFC 7636 section 4.2: an S256 challenge is BASE64URL(SHA256(verifier)), 32 bytes: 43 characters.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_\-]{43}")
#: The token request's pseudo-header with the caller's address (web.py sets it on every call into
#: oauthlib).  Its name has "_", which no header read through WSGI can have, so no client can send it.
CLIENT_ADDRESS = "apisec_lab.client_address"


class SignInThrottled(errors.OAuth2Error):
    """Password grant: too many failed passwords for the account or from the address (HTTP 429)."""

    error = "invalid_grant"
    status_code = 429

    def __init__(self, refusal, request=None):
        self.retry_after = refusal.retry_after
        super().__init__(description=refusal.message, request=request)

    @property
    def headers(self):
        return {"Retry-After": str(self.retry_after)}

class LabRequestValidator(RequestValidator):
    """Storage and policy for the authorization server."""

    def __init__(self, store: Store, weaknesses, *, access_ttl: int, code_ttl: int, refresh_ttl: int,
                 throttle: SignInThrottle | None = None):
        """Lifetimes in seconds on the store's clock (the lab's ``LabConfig``); *throttle* counts failed
        passwords (the lab shares one with its sign-in page)."""
        self.store = store
        self.weaknesses = weaknesses
        self.access_ttl, self.code_ttl, self.refresh_ttl = access_ttl, code_ttl, refresh_ttl
        self.throttle = throttle or SignInThrottle(store.clock)

    # -- client authentication (token, revocation, introspection) -------
    def _client_credentials(self, request) -> tuple[str | None, str | None]:
        """(client_id, secret) from HTTP Basic (RFC 6749 section 2.3.1) or the body.

        RFC 6749 section 2.3: "The client MUST NOT use more than one
        authentication method in each request": Basic plus a ``client_secret``
        in the body is refused, and so is a body ``client_id`` naming another
        client than the Basic credentials.
        """
        try:
            basic = parse_basic(request.headers.get("Authorization"))
        except ValueError:
            return None, None
        if basic:
            client_id = unquote(basic[0])
            if request.client_secret:
                raise errors.InvalidRequestError(
                    description="The client authenticated twice (HTTP Basic and client_secret in the body); "
                                "RFC 6749 section 2.3 allows one method per request.", request=request)
            if request.client_id and request.client_id != client_id:
                raise errors.InvalidRequestError(
                    description="client_id in the body names another client than the Basic credentials.",
                    request=request)
            return client_id, unquote(basic[1])
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
        """Exact string match against a registered URI (no prefixes, no wildcards): RFC 9700 s2.1, s4.1.3.

        With the ``redirect_uri_prefix`` weakness, any URI that *starts with* a
        registered one passes: ``.../callback`` lets ``.../callback/../anywhere``
        through, which a browser opens as ``.../anywhere``, any page of the
        client's origin.  (A registered ``https://client.example`` would also
        let ``https://client.example@attacker.example/`` through on many
        servers; oauthlib's absolute-URI check happens to refuse user info of
        more than one character before this method is asked.)
        """
        client = self.store.client(client_id)
        if client is None or not isinstance(redirect_uri, str):
            return False
        if self.weaknesses.redirect_uri_prefix:
            return any(redirect_uri.startswith(registered) for registered in client.redirect_uris)
        return redirect_uri in client.redirect_uris

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):
        """Only a client with exactly one registered URI may omit ``redirect_uri``."""
        client = self.store.client(client_id)
        if client and len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        return None

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        """Only ``code``: the implicit grant is not offered."""
        return response_type == "code"

    def check_authorization_request(self, request) -> dict:
        """Authorization code grant, authorization request (an oauthlib ``pre_auth`` validator).

        Runs once ``client_id`` and ``redirect_uri`` are known good, before
        oauthlib's own checks, and does only what the metadata advertises:

        - every answer, errors included, goes back in the query: the one mode
          in ``response_modes_supported``; any other ``response_mode`` is
          refused (``invalid_request``);
        - ``response_type`` other than ``code`` is ``unsupported_response_type``
          (RFC 6749 s4.1.2.1), whatever it contains;
        - an S256 ``code_challenge`` is 43 base64url characters (RFC 7636 s4.2).
        """
        asked_mode = request.response_mode
        request.response_mode = "query"
        if request.response_type is not None and request.response_type != "code":
            raise errors.UnsupportedResponseTypeError(
                description=f"response_type {request.response_type!r} is not supported; only 'code' is.",
                request=request)
        if asked_mode not in (None, "query"):
            raise errors.InvalidRequestError(
                description=f"response_mode {asked_mode!r} is not supported; only 'query' is.", request=request)
        if (request.code_challenge is not None and request.code_challenge_method == "S256"
                and not S256_CHALLENGE.fullmatch(request.code_challenge)):
            raise errors.InvalidRequestError(
                description="code_challenge is not an S256 challenge (43 base64url characters, RFC 7636 s4.2).",
                request=request)
        # RFC 7636 s4.3: a challenge without a method is "plain", whose challenge is the verifier itself
        # (43 to 128 unreserved characters).  Refused unless the pkce_plain weakness is on (PKCE_METHODS).
        if (request.code_challenge is not None and (request.code_challenge_method or "plain") == "plain"
                and self.weaknesses.pkce_plain and not CODE_VERIFIER.fullmatch(request.code_challenge)):
            raise errors.InvalidRequestError(
                description="A plain code_challenge is the verifier: 43 to 128 of A-Z a-z 0-9 - . _ ~ (RFC 7636 s4.2).",
                request=request)
        return {}

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
        remembered = " (remembered: no page shown)" if getattr(request, "remembered_consent", False) else ""
        self.store.log("consent", client_id=client_id, username=request.user, code=code["code"],
                       detail=f"asked: {' '.join(asked)}; granted: {' '.join(request.scopes)}{remembered}")

    # -- token endpoint: authorization code ----------------------------
    def _code(self, code, request):
        """The code's row, read once per token request (oauthlib asks about it four times)."""
        cached = getattr(request, "lab_code_row", None)
        if cached is None or cached[0] != code:
            request.lab_code_row = cached = (code, self.store.code(code))
        return cached[1]

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """Authorization code grant.  A replayed code revokes what it issued (RFC 6749 s4.1.2).

        This only reads: the code is claimed by :meth:`claim_code`, once every
        other check of the request has passed.
        """
        row = self._code(code, request)
        if row is None or row["client_id"] != client_id:
            return False
        if row["used_at"] is not None:
            self._code_replayed(code)
            return False
        if self.store.clock.now() >= row["expires_at"]:
            return False
        request.user = row["username"]
        request.scopes = row["scopes"].split()
        request.lab_code = code
        return True

    def _code_replayed(self, code) -> None:
        grant_id = self.store.code_replayed(code, "second use of a code: every token it issued is revoked")
        if grant_id is not None:
            self.store.revoke_grant(grant_id, "authorization code replayed")

    def check_code_verifier(self, request) -> None:
        """Authorization code grant, token request (an oauthlib ``pre_token`` validator).

        RFC 7636 s4.1: a ``code_verifier`` is 43 to 128 unreserved characters;
        anything else is ``invalid_request`` before it is compared.
        """
        verifier = request.code_verifier
        if verifier is not None and not CODE_VERIFIER.fullmatch(verifier):
            raise errors.InvalidRequestError(
                description="code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 s4.1).",
                request=request)
        # A code issued while the pkce_plain weakness was on is not redeemed once it is off.
        row = self._code(request.code, request) if isinstance(request.code, str) and request.code else None
        if row is not None and row["code_challenge_method"] == "plain" and not self.weaknesses.pkce_plain:
            raise errors.InvalidGrantError(
                description="The code was bound with the PKCE method plain, which this server does not accept.",
                request=request)

    def claim_code(self, request) -> None:
        """Authorization code grant, token request (an oauthlib ``post_token`` validator): single use.

        oauthlib validates the code early and invalidates it late, so two
        requests with one code can both pass validation.  Here, after every
        check (client, PKCE, redirect URI) has passed, the store claims the
        code in one statement; a request that loses the claim is a replay:
        ``invalid_grant``, and the grant the code became is revoked, now or,
        if the winner has not created it yet, by the winner as it does
        (:meth:`save_bearer_token`).  A request that fails a check (a wrong
        verifier, say) never claims, so it cannot burn the owner's code.
        """
        if not self.store.claim_code(request.code):
            self._code_replayed(request.code)
            raise errors.InvalidGrantError(description="The authorization code was already used.",
                                           request=request)

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        """Authorization code grant: "redirect_uri: REQUIRED, if the "redirect_uri" parameter was
        included in the authorization request [...] and their values MUST be identical" (RFC 6749 s4.1.3).

        Left out although it was sent: ``invalid_request`` (a required
        parameter is missing).  Different: ``invalid_grant``, which RFC 6749
        s5.2 defines for a grant that "does not match the redirection URI
        used in the authorization request".
        """
        row = self._code(code, request)
        if row is None:
            return False
        if self.weaknesses.redirect_uri_prefix:
            # The weakness: the token endpoint asks "is this a redirect URI of the client's?" (by prefix)
            # instead of "is it the very one the code was issued to?".
            return self.validate_redirect_uri(client_id, redirect_uri, request)
        if row["redirect_uri"] is None:  # the client relied on its one registered URI
            if redirect_uri == self.get_default_redirect_uri(client_id, request):
                return True
        elif request.using_default_redirect_uri:
            raise errors.InvalidRequestError(
                description="redirect_uri is required: the authorization request included one (RFC 6749 s4.1.3).",
                request=request)
        elif row["redirect_uri"] == redirect_uri:
            return True
        raise errors.InvalidGrantError(
            description="redirect_uri does not match the one in the authorization request.", request=request)

    def get_code_challenge(self, code, request):
        row = self._code(code, request)
        return row["code_challenge"] if row else None

    def get_code_challenge_method(self, code, request):
        row = self._code(code, request)
        return row["code_challenge_method"] if row else None

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        """Nothing left to do: :meth:`claim_code` marked the code used before any token was made."""

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
        """Refresh token grant.  Reusing a rotated refresh token revokes its whole family.

        This only reads: :meth:`claim_refresh_token` takes the token out of
        use once the whole request has been checked.
        """
        row = self.store.token(refresh_token, "refresh")
        if row is None or row["client_id"] != client.client_id:
            return False
        state = self.store.token_state(row)
        if state == "rotated":
            self._refresh_reused(row)
            return False
        if state != "active":
            return False
        request.user = row["username"]
        request.lab_refresh = row
        return True

    def _refresh_reused(self, row) -> None:
        self.store.log("refresh_reuse_detected", row["grant_id"], row["client_id"], row["username"],
                       "an old refresh token came back: the whole token family is revoked")
        self.store.revoke_grant(row["grant_id"], "refresh token reused after rotation")

    def claim_refresh_token(self, request) -> None:
        """Refresh token grant (an oauthlib ``post_token`` validator): each refresh token works once.

        RFC 9700 s4.14.2: of two refreshes with one token, one presents "an
        invalidated refresh token, which will inform the authorization server
        of the breach".  The store claims the token in one statement; the
        loser is a reuse and revokes the family, the winner's new tokens
        (saved into that family) with it.
        """
        if not self.store.claim_refresh_token(request.refresh_token):
            row = self.store.token(request.refresh_token, "refresh")
            if self.store.token_state(row) == "rotated":
                self._refresh_reused(row)
            raise errors.InvalidGrantError(description="The refresh token was already used.", request=request)

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        row = self.store.token(refresh_token, "refresh")
        return row["scopes"].split() if row else []

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs):
        return False

    def rotate_refresh_token(self, request):
        """Always rotate: each refresh token is good for one use."""
        return True

    # -- token endpoint: password (only with the password_grant weakness) ----
    def check_password_grant_allowed(self, request) -> None:
        """Password grant (an oauthlib ``pre_token`` validator): off unless the weakness is on.

        RFC 9700 s2.4: "The resource owner password credentials grant MUST
        NOT be used."  Without the ``password_grant`` switch the grant does
        not exist: ``unsupported_grant_type``, as for any unknown grant.
        """
        if not self.weaknesses.password_grant:
            raise errors.UnsupportedGrantTypeError(request=request)

    def validate_user(self, username, password, client, request, *args, **kwargs):
        """Password grant: the app hands over the user's password (only while the weakness is on).

        The client must be registered for the grant before any password is
        checked (oauthlib asks about the grant type only afterwards), and the
        attempt meets the sign-in page's throttle: RFC 6749 s4.3.2 says a
        server taking passwords here "MUST protect the endpoint against brute
        force attacks".  The address counted is the caller's, which is the
        app's server, not the user's.
        """
        if client is None or "password" not in client.grant_types:
            raise errors.UnauthorizedClientError(request=request)
        address = request.headers.get(CLIENT_ADDRESS)
        refusal = self.throttle.check(username, address)
        if refusal:
            raise SignInThrottled(refusal, request=request)
        if not self.store.check_password(username, password):
            self.throttle.failed(username, address)
            return False
        self.throttle.succeeded(username)
        request.user = username
        return True

    # -- issuing tokens --------------------------------------------------
    def save_bearer_token(self, token, request, *args, **kwargs):
        """Every grant: store digests of the new tokens in the right family."""
        client_id = request.client.client_id
        scopes = request.scopes or []
        replayed = False
        if request.grant_type == "refresh_token":   # the old one was claimed (rotated) in validation
            old = request.lab_refresh
            grant_id, username = old["grant_id"], old["username"]
            refresh_scopes = old["scopes"].split()
            event = "refreshed"
        else:
            username = request.user if request.grant_type in ("authorization_code", "password") else None
            grant_id = self.store.new_grant(client_id, username, request.grant_type, scopes)
            refresh_scopes = scopes
            if request.grant_type == "authorization_code":
                replayed = self.store.link_code_to_grant(request.lab_code, grant_id)
            event = "issued"
        self.store.save_token(token["access_token"], "access", grant_id, client_id, username,
                              scopes, token.get("expires_in") or self.access_ttl)
        if "refresh_token" in token:
            self.store.save_token(token["refresh_token"], "refresh", grant_id, client_id, username,
                                  refresh_scopes, self.refresh_ttl)
        self.store.log(event, grant_id, client_id, username, " ".join(scopes))
        if replayed:  # the code came back while this request was redeeming it: see claim_code
            self.store.revoke_grant(grant_id, "authorization code replayed")
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

        An unknown token is answered 200 like a revoked one (s2.2: "invalid
        tokens do not cause an error response").  Another client's token is
        refused (s2.1: "If this validation fails, the request is refused and
        the client is informed of the error"): ``invalid_grant``, which RFC
        6749 s5.2 defines for a grant "issued to another client".
        """
        row = self.store.token(token)
        if row is None:
            return
        if row["client_id"] != request.client.client_id:
            raise errors.InvalidGrantError(
                description="This token was issued to another client; a client may revoke only its own tokens.",
                request=request)
        if row["kind"] == "refresh":
            self.store.revoke_grant(row["grant_id"], "the client revoked its refresh token (RFC 7009)")
        else:
            self.store.revoke_token(token)
            self.store.log("revoked", row["grant_id"], row["client_id"], row["username"],
                           "client revoked one access token")

    def introspect_token(self, token, token_type_hint, request, *args, **kwargs):
        """RFC 7662.  The resource server may ask about any token, a client about its own.

        Only an authenticated confidential client gets here (s2.1; see
        ``LabAuthorizationServer.validate_introspect_request``).
        """
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
