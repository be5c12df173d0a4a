"""The API's OpenAPI 3.1 document, generated from :data:`apisec_lab.servers.endpoints.ENDPOINTS`.

Import ``{lab.api_url}/openapi.json`` into Swagger UI, Postman or a fuzzer
(schemathesis): each operation lists the OAuth 2 scope it requires, the
schema of its success body and every error it can answer (RFC 6749 style
``{"error", "error_description"}`` bodies), and the ``oauth2`` security
scheme points at the lab's own authorization server.  ``tests/test_openapi.py``
holds real responses, direct and through the gateway, to this document.
"""
from __future__ import annotations

from .endpoints import ENDPOINTS, MACHINE_SCOPES, RULE_PARAM, Endpoint

ERROR_SCHEMA = {"type": "object", "required": ["error", "error_description"], "additionalProperties": False,
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}


def _error(description: str, **headers: str) -> dict:
    answer: dict = {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    if headers:
        answer["headers"] = {name: {"description": text, "required": True, "schema": {"type": "string"}}
                             for name, text in headers.items()}
    return answer


#: Every error answer an operation may give, declared once and referenced (``#/components/responses/...``).
RESPONSES = {
    "BadRequest": _error("Malformed request: credentials in the URL or a malformed Authorization header "
                         "(RFC 6750 invalid_request), or a body that is not valid JSON for this operation"),
    "Unauthorized": _error("No credentials, or credentials that are not valid (RFC 6750 section 3.1)",
                           **{"WWW-Authenticate": "The Bearer challenge: realm, and error/scope where known"}),
    "Forbidden": _error("The token lacks the operation's scope, or has no user (RFC 6750 insufficient_scope)",
                        **{"WWW-Authenticate": "Bearer challenge with error=\"insufficient_scope\" and the scope"}),
    "TooLarge": _error("The body is over the operation's limit, or the operation takes no body"),
    "UnsupportedMediaType": _error("The body is not application/json"),
    "TooManyRequests": _error("Over a rate limit (through the gateway only, lab.gateway_url; RFC 6585 section 4)",
                              **{"Retry-After": "Seconds to wait (RFC 9110 section 10.2.3)"}),
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _operation(e: Endpoint, basic: bool) -> dict:
    success = str(e.success)
    responses: dict = {success: {"description": "Success",
                                 "content": {"application/json": {"schema": e.response or {}}}},
                       "400": _ref("BadRequest"), "413": _ref("TooLarge"), "429": _ref("TooManyRequests")}
    op: dict = {"operationId": e.handler, "summary": e.summary, "x-sensitivity": e.sensitivity,
                "responses": responses}
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "integer" if conv == "int" else
                                                                         "string"}}
              for conv, name in RULE_PARAM.findall(e.path)]
    params += [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in e.query]
    if params:
        op["parameters"] = params
    if e.not_found:
        responses["404"] = _error(e.not_found)
    for status, when in e.answers:
        responses[str(status)] = _error(when)
    if e.role:
        op["description"] = (f"Needs the role {e.role!r} besides the scope: a token of any other user gets 403 "
                             "(OWASP API5:2023).")
    if e.body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": e.body}}}
        responses["415"] = _ref("UnsupportedMediaType")
    if e.scope is None:
        op["security"] = []
    else:
        op["security"] = [{"oauth2": [e.scope]}] + ([{"basicAuth": []}] if basic else [])
        responses["401"], responses["403"] = _ref("Unauthorized"), _ref("Forbidden")
    op["responses"] = dict(sorted(responses.items()))
    return op


class OpenAPIDocument:
    """Builds the document for the API at *api_url*, as the switches are when it is asked for.

    *scopes* maps every scope to its description (the consent page's
    sentence); the flows list only the scopes the published operations use,
    and the client-credentials flow only those a token without a user can
    use (:data:`~apisec_lab.servers.endpoints.MACHINE_SCOPES`).
    *weaknesses* is read on every call: with ``basic_auth`` on, the document
    says so.
    """

    def __init__(self, api_url: str, issuer: str, scopes: dict[str, str], weaknesses):
        self.api_url, self.issuer, self.weaknesses = api_url, issuer, weaknesses
        used = {e.scope for e in ENDPOINTS if e.published and e.scope}
        self.user_flow_scopes = {s: text for s, text in scopes.items() if s in used}
        self.machine_flow_scopes = {s: text for s, text in scopes.items() if s in MACHINE_SCOPES}

    def __call__(self) -> dict:
        basic = self.weaknesses.basic_auth
        paths: dict = {}
        for e in ENDPOINTS:
            if e.published:
                paths.setdefault(e.openapi_path, {})[e.method.lower()] = _operation(e, basic)
        token_url = f"{self.issuer}/token"
        schemes = {"oauth2": {"type": "oauth2", "flows": {
            "authorizationCode": {"authorizationUrl": f"{self.issuer}/authorize", "tokenUrl": token_url,
                                  "refreshUrl": token_url, "scopes": self.user_flow_scopes},
            "clientCredentials": {"tokenUrl": token_url, "scopes": self.machine_flow_scopes},
        }}}
        if basic:
            schemes["basicAuth"] = {"type": "http", "scheme": "basic",
                                    "description": "Only while the basic_auth weakness is on."}
        return {
            "openapi": "3.1.0",
            "info": {"title": "apisec-lab Photo API", "version": "1.0.0",
                     "description": "A toy resource API for learning API security. PKCE (S256) is required."},
            "servers": [{"url": self.api_url}],
            "paths": paths,
            "components": {"securitySchemes": schemes, "responses": RESPONSES},
        }
