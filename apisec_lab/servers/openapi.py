"""The API's OpenAPI 3.1 document, generated from :data:`apisec_lab.servers.endpoints.ENDPOINTS`.

Import ``{lab.api_url}/openapi.json`` into Swagger UI, Postman or a fuzzer
(schemathesis): each operation lists the OAuth 2 scope it requires, and the
``oauth2`` security scheme points at the lab's own authorization server.
"""
from __future__ import annotations

from .endpoints import ENDPOINTS, RULE_PARAM, Endpoint

ERROR_SCHEMA = {"type": "object", "required": ["error"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}


def _operation(e: Endpoint, basic: bool) -> dict:
    op: dict = {
        "operationId": e.handler,
        "summary": e.summary,
        "x-sensitivity": e.sensitivity,
        "responses": {"200" if e.method != "POST" else "201": {"description": "Success"}},
    }
    params = RULE_PARAM.findall(e.path)
    if params:
        op["parameters"] = [{"name": name, "in": "path", "required": True,
                             "schema": {"type": "integer" if conv == "int" else "string"}}
                            for conv, name in params]
        op["responses"]["404"] = {"description": "Not found (or not yours)"}
    if e.body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": e.body}}}
        op["responses"]["400"] = {"description": "Invalid body",
                                  "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    if e.scope is None:
        op["security"] = []
        return op
    op["security"] = [{"oauth2": [e.scope]}] + ([{"basicAuth": []}] if basic else [])
    op["responses"]["401"] = {"description": "Missing or invalid credentials (RFC 6750 invalid_token)",
                              "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    op["responses"]["403"] = {"description": f"Token lacks scope {e.scope} (RFC 6750 insufficient_scope)",
                              "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    return op


def openapi_document(lab) -> dict:
    """Build the document for a running lab (URLs and switches as they are now)."""
    scopes = lab.store.scope_descriptions()
    basic = lab.weaknesses.basic_auth
    paths: dict = {}
    for e in ENDPOINTS:
        if e.published:
            paths.setdefault(e.openapi_path, {})[e.method.lower()] = _operation(e, basic)
    schemes = {"oauth2": {"type": "oauth2", "flows": {
        "authorizationCode": {"authorizationUrl": f"{lab.issuer}/authorize", "tokenUrl": f"{lab.issuer}/token",
                              "refreshUrl": f"{lab.issuer}/token", "scopes": scopes},
        "clientCredentials": {"tokenUrl": f"{lab.issuer}/token", "scopes": scopes},
    }}}
    if basic:
        schemes["basicAuth"] = {"type": "http", "scheme": "basic",
                                "description": "Only while the basic_auth weakness is on."}
    return {
        "openapi": "3.1.0",
        "info": {"title": "apisec-lab Photo API", "version": "1.0.0",
                 "description": "A toy resource API for learning API security. PKCE (S256) is required."},
        "servers": [{"url": lab.api_url}],
        "paths": paths,
        "components": {"securitySchemes": schemes},
    }
