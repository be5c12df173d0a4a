"""The OpenAPI document holds: real answers, straight to the API and through the gateway, match it.

Three layers: the document is valid OpenAPI 3.1 (the meta-schema schemathesis ships); a table of real
requests per operation (success, each error it declares) validated with jsonschema, and every declared
answer seen at least once; and schemathesis, a fuzzer, over every operation with its default checks.
"""
from __future__ import annotations

import json

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from requests_oauthlib import OAuth2Session
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

import apisec_lab
from apisec_lab.servers.endpoints import ENDPOINTS, MACHINE_SCOPES, USER_SCOPES
from apisec_lab.servers.gateway import Limit

PUBLISHED = [e for e in ENDPOINTS if e.published]
VALID_BODY = {"add_photo": {"title": "From the document"}, "send_message": {"to": "bob", "text": "hi"},
              "set_payment": {"card_last4": "1234"}, "update_me": {"display_name": "Alice L."},
              "support_credits": {"username": "bob", "credits": 1}, "redeem_coupon": {"code": "FREEPRINT"},
              "test_webhook": {"url": "http://127.0.0.1:9/the-attackers-page"}, "order_prints": {"photo_id": 1}}


def signed_in(lab, user: str, password: str, scopes) -> str:
    """*user*'s access token from a client registered for *scopes* (code flow with PKCE, requests-oauthlib)."""
    callback = "http://127.0.0.1:9/openapi-test/callback"
    app = lab.register_client(f"OpenAPI tester for {user}", redirect_uris=[callback], scopes=list(scopes))
    oauth = OAuth2Session(app.client_id, redirect_uri=callback, scope=list(scopes), pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, user, password)
    return oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                             client_secret=app.client_secret)["access_token"]


@pytest.fixture
def tokens(lab):
    """An access token for alice with every user scope, and a machine (client credentials) token."""
    bot = lab.clients["backup-bot"]
    with lab.session() as s:
        machine = s.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                         auth=(bot.client_id, bot.client_secret)).json()["access_token"]
    return {"user": signed_in(lab, "alice", apisec_lab.DEMO_PASSWORDS["alice"], USER_SCOPES), "machine": machine}


def right_token(tokens, e) -> str:
    return tokens["machine" if e.scope in MACHINE_SCOPES else "user"]


def wrong_token(tokens, e) -> str:
    return tokens["user" if e.scope in MACHINE_SCOPES else "machine"]


def document(http, lab) -> dict:
    return http.get(f"{lab.api_url}/openapi.json").json()


def operation(doc: dict, e) -> dict:
    return doc["paths"][e.openapi_path][e.method.lower()]


def declared(doc: dict, op: dict, status: int) -> dict:
    """The declared answer for *status*, its ``$ref`` resolved; fails if there is none."""
    assert str(status) in op["responses"], f"{op['operationId']} answered {status}, which it does not declare"
    answer = op["responses"][str(status)]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return answer


def conforms(doc: dict, op: dict, r) -> None:
    """*r* is an answer *op* declares: its status, media type, body schema and required headers."""
    answer = declared(doc, op, r.status_code)
    content = answer["content"]["application/json"]
    assert r.headers["Content-Type"].split(";")[0] == "application/json", (op["operationId"], r.status_code)
    jsonschema.Draft202012Validator(content["schema"]).validate(r.json())
    for name, header in answer.get("headers", {}).items():
        assert not header.get("required") or name in r.headers, (op["operationId"], r.status_code, name)


# -- the document ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("basic", [False, True])
def test_openapi_3_1_document_is_valid(http, lab, basic):
    lab.weaknesses.basic_auth = basic
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(document(http, lab))]
    assert errors == []


def test_every_operation_declares_its_success_schema_and_errors(http, lab):
    doc = document(http, lab)
    for e in PUBLISHED:
        op = operation(doc, e)
        success = str(e.success)
        assert op["responses"][success]["content"]["application/json"]["schema"] == e.response
        statuses = set(op["responses"])
        assert {"400", "413", "429"} <= statuses, e.handler
        assert ({"401", "403"} <= statuses) is (e.scope is not None), e.handler
        assert ("415" in statuses) is (e.body is not None), e.handler
        assert ("404" in statuses) is (e.not_found is not None), e.handler
        assert {str(status) for status, _ in e.answers} <= statuses, e.handler
        assert declared(doc, op, 429)["headers"]["Retry-After"]["required"]
        if e.scope:
            assert declared(doc, op, 401)["headers"]["WWW-Authenticate"]["required"]
            assert declared(doc, op, 403)["headers"]["WWW-Authenticate"]["required"]


def test_client_credentials_flow_lists_only_the_scopes_a_machine_client_can_use(http, lab):
    flows = document(http, lab)["components"]["securitySchemes"]["oauth2"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) == set(MACHINE_SCOPES) == {"reports:read"}
    assert set(flows["authorizationCode"]["scopes"]) == set(USER_SCOPES) | set(MACHINE_SCOPES)


def test_owasp_api9_the_document_names_no_unpublished_route_or_scope(http, lab):
    text = json.dumps(document(http, lab))
    assert "/admin" not in text and '"admin"' not in text and "Administer" not in text


# -- real answers, validated -----------------------------------------------------------------------------------
def requests_for(e, tokens, via: str) -> list[dict]:
    """Requests that draw out every answer *e* declares, but the 429 (see the test)."""
    path = e.path.replace("<int:photo_id>", "1")
    auth = {"Authorization": f"Bearer {right_token(tokens, e)}"} if e.scope else {}
    ok = {"path": path, "headers": auth, "json": VALID_BODY.get(e.handler), "as_staff": e.role == "staff"}
    cases = [ok]                                                                        # 200 or 201
    if e.not_found:                                                                     # 404
        if "<int:photo_id>" in e.path:
            cases += [{**ok, "path": "/photos/5"}, {**ok, "path": f"/photos/{10**6}"}]   # bob's; nobody's
        elif e.handler == "send_message":
            cases.append({**ok, "json": {"to": "nobody", "text": "hi"}})
        elif e.handler == "support_credits":
            cases.append({**ok, "json": {"username": "nobody", "credits": 1}})
        elif e.handler == "redeem_coupon":
            cases.append({**ok, "json": {"code": "NO-SUCH-COUPON"}})
        elif e.handler == "order_prints":
            cases.append({**ok, "json": {"photo_id": 5}})                               # bob's photo
        else:
            cases.append({**ok, "as_carol": True})                                     # a user without a card
    if e.handler == "redeem_coupon":
        cases.append(ok)                                                                # 409: a second time
    if e.handler == "order_prints":
        cases.append({**ok, "hijacked": True})                                          # 502: the partner lies
    if e.query:
        cases.append({**ok, "path": path + "?limit=0"})                                 # 400: out of range
    if e.role:
        cases.append({**ok, "as_staff": False})                                         # 403: not staff
    if via == "gateway":                                                                # 400
        cases.append({**ok, "path": path + "?token=x"})                                 # credentials in the URL
    elif e.scope:
        cases.append({**ok, "headers": {"Authorization": "Bearer <not a token>"}})
    if e.scope:
        cases += [{**ok, "headers": {}},                                                # 401
                  {**ok, "headers": {"Authorization": f"Bearer {wrong_token(tokens, e)}"}}]   # 403
    if e.body:
        cases += [{**ok, "json": None, "data": b"{not json", "headers": {**auth, "Content-Type": "application/json"}},
                  {**ok, "json": None, "data": b"title=x",                             # 415
                   "headers": {**auth, "Content-Type": "application/x-www-form-urlencoded"}}]
    cases.append({**ok, "json": None, "data": b"x" * (70 * 1024)})                      # 413, any operation
    return cases


@pytest.mark.parametrize("via", ["api", "gateway"])
def test_real_answers_match_the_document(http, lab, tokens, via):
    lab.gateway.policy.per_address = Limit(1000, 60)
    doc = document(http, lab)
    base = lab.api_url if via == "api" else lab.gateway_url
    carol = staff = None
    seen: dict[str, set[int]] = {}
    for e in PUBLISHED:
        op = operation(doc, e)
        for case in requests_for(e, tokens, via):
            headers = dict(case.get("headers", {}))
            if case.get("as_carol"):
                carol = carol or _carol_token(lab)
                headers["Authorization"] = f"Bearer {carol}"
            if case.get("as_staff") and headers:
                staff = staff or _staff_token(lab)
                headers["Authorization"] = f"Bearer {staff}"
            if case.get("hijacked"):
                lab.partner.hijack(reply={"order_id": "not what was agreed"})
            r = http.request(e.method, base + case["path"], headers=headers, json=case.get("json"),
                             data=case.get("data"))
            lab.partner.restore()
            conforms(doc, op, r)
            seen.setdefault(e.handler, set()).add(r.status_code)
        if via == "gateway":                  # one more than the client's window allows: the 429
            with lab.gateway.policy.changed(per_client=Limit(1, 60), per_address=Limit(1, 60)):
                lab.gateway.clear_rate_windows()
                for _ in range(2):
                    r = http.request(e.method, base + e.path.replace("<int:photo_id>", "1"),
                                     headers={"Authorization": f"Bearer {right_token(tokens, e)}"} if e.scope else {},
                                     json=VALID_BODY.get(e.handler))
                conforms(doc, op, r)
                assert r.status_code == 429
            lab.gateway.clear_rate_windows()
            seen[e.handler].add(429)
    for e in PUBLISHED:       # every answer the document declares is one the API really gives
        expected = {int(s) for s in operation(doc, e)["responses"]}
        if via == "api":      # only the gateway limits rates, and refuses credentials in a public route's URL
            expected -= {429} if e.scope or e.query else {429, 400}
        assert seen[e.handler] == expected, e.handler
    assert lab.errors == []


def _staff_token(lab) -> str:
    """A member of the support staff (the role POST /support/credits needs), signed in for print scopes."""
    lab.add_user("sam", "sam-pass-1234")
    lab.store.update_account("sam", {"role": "staff"})
    return signed_in(lab, "sam", "sam-pass-1234", ["prints:write"])


def _carol_token(lab) -> str:
    """A user with no saved card, signed in to a client that may read and change one."""
    lab.add_user("carol", "carol-pass-1")
    return signed_in(lab, "carol", "carol-pass-1", ["payment:read", "payment:write"])


# -- a fuzzer -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["api", "gateway"])
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
def test_schemathesis_finds_nothing(http, lab, tokens, via, mode):
    """schemathesis's default checks (no 5xx, statuses, media types, headers and bodies as declared,
    valid data accepted, invalid data refused) over every operation, bounded and deterministic."""
    schema = schemathesis.openapi.from_dict(document(http, lab))
    base = lab.api_url if via == "api" else lab.gateway_url
    by_path = {(e.method, e.openapi_path): e for e in PUBLISHED}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(PUBLISHED)
    for op in operations:
        e = by_path[(op.method.upper(), op.path)]
        if mode is schemathesis.GenerationMode.NEGATIVE and not (e.body or "<" in e.path or e.query):
            continue              # nothing to make invalid: no body, no path or query parameter
        headers = {"Authorization": f"Bearer {right_token(tokens, e)}"} if e.scope else {}
        fuzz(op, mode, base, http, headers)
    assert lab.errors == []


def fuzz(op, mode, base: str, session, headers: dict) -> None:
    """Up to 12 generated requests for *op*, the same ones every run, each answer checked by schemathesis."""
    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(base_url=base, session=session, headers=headers)

    run()
