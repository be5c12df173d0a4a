"""The lab's OAuth 2 authorization server.

oauthlib speaks the protocol; this package supplies the storage and policy
(:mod:`.validator`), wires oauthlib's endpoints together (:mod:`.server`) and
serves them over HTTP with the sign-in and consent page (:mod:`.web`).

Specifications implemented (through oauthlib):

- RFC 6749, The OAuth 2.0 Authorization Framework (authorization code, client
  credentials, refresh token grants) https://www.rfc-editor.org/rfc/rfc6749
- RFC 7636, Proof Key for Code Exchange (S256 only, required)
  https://www.rfc-editor.org/rfc/rfc7636
- RFC 7009, Token Revocation https://www.rfc-editor.org/rfc/rfc7009
- RFC 7662, Token Introspection https://www.rfc-editor.org/rfc/rfc7662
- RFC 8414, Authorization Server Metadata https://www.rfc-editor.org/rfc/rfc8414
- RFC 9207, Authorization Server Issuer Identification (``iss`` in every
  authorization response) https://www.rfc-editor.org/rfc/rfc9207
- RFC 9700, OAuth 2.0 Security Best Current Practice (single-use codes and
  refresh tokens claimed atomically; the password grant only behind a
  weakness switch) https://www.rfc-editor.org/rfc/rfc9700

- RFC 9068, JWT Profile for OAuth 2.0 Access Tokens, for clients registered
  for them, with their RFC 7517 key set at ``jwks_uri`` (:mod:`.rfc9068`)
  https://www.rfc-editor.org/rfc/rfc9068

Besides: :mod:`.throttle` (sign-in throttling) and :mod:`.logs` (no secret
in any log).
"""
