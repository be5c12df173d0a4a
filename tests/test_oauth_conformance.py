"""The authorization server answers as the RFCs say, and advertises only what it does."""
import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

import apisec_lab
from apisec_lab.client import flows

from .conftest import bearer, code_flow
from .test_oauth import auth_url, exchange, pkce_pair

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]


def query(location):
    parts = urlsplit(location)
    assert not parts.fragment, f"answer in the fragment: {location}"
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def secret_of(lab, client_id):
    return lab.clients[client_id].client_secret


# -- RFC 7662 s2.1: introspection needs an authenticated confidential caller ---------------
def test_rfc7662_s2_1_a_public_client_cannot_introspect_with_its_client_id_alone(http, lab):
    token = code_flow(lab, "photocli", ["photos:read"])
    for kind in ("access_token", "refresh_token"):
        r = http.post(lab.metadata["introspection_endpoint"], data={"token": token[kind], "client_id": "photocli"})
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client"), r.text
        assert "active" not in r.json()
    r = http.post(lab.metadata["introspection_endpoint"], data={"token": token["access_token"]},
                  auth=("photocli", ""))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


def test_rfc7662_s2_1_metadata_lists_exactly_the_methods_that_work(http, lab):
    methods = lab.metadata["introspection_endpoint_auth_methods_supported"]
    assert methods == ["client_secret_basic", "client_secret_post"]
    token = code_flow(lab, "photoprint", ["photos:read"])
    rs = lab.clients["resource-server"]
    basic = http.post(lab.metadata["introspection_endpoint"], data={"token": token["access_token"]},
                      auth=(rs.client_id, rs.client_secret))
    post = http.post(lab.metadata["introspection_endpoint"], data={"token": token["access_token"],
                     "client_id": rs.client_id, "client_secret": rs.client_secret})
    assert basic.json()["active"] is True and post.json()["active"] is True
    # a confidential client still asks about its own tokens only
    own = http.post(lab.metadata["introspection_endpoint"], data={"token": token["access_token"]},
                    auth=("photoprint", secret_of(lab, "photoprint")))
    assert own.json()["active"] is True and own.json()["client_id"] == "photoprint"


# -- response_mode: only the advertised "query" ------------------------------------------------
@pytest.mark.parametrize("mode", ["fragment", "form_post", "query.jwt", "FRAGMENT"])
def test_rfc8414_only_the_advertised_response_mode_is_honoured(http, lab, mode):
    assert lab.metadata["response_modes_supported"] == ["query"]
    _, challenge = pkce_pair()
    url = auth_url(lab, challenge=challenge, response_mode=mode)
    r = http.get(url, allow_redirects=False)
    assert r.status_code == 302
    q = query(r.headers["Location"])
    assert q["error"] == "invalid_request" and mode in q["error_description"] and q["state"] == "st-123"
    # the signed-in user's answer is refused too: no code, in the fragment or anywhere
    r = http.post(url, data={"username": "alice", "password": ALICE, "scope": "photos:read",
                             "decision": "approve"}, allow_redirects=False)
    assert r.status_code == 302 and "code" not in query(r.headers["Location"])


def test_response_mode_query_is_accepted(lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge, response_mode="query"), "alice", ALICE)
    assert back.code and not urlsplit(back.url).fragment


# -- RFC 6749 s5.2: a 401 challenges with the scheme clients use ------------------------------
@pytest.mark.parametrize("endpoint", ["token_endpoint", "revocation_endpoint", "introspection_endpoint"])
@pytest.mark.parametrize("how", ["basic", "body"])
def test_rfc6749_s5_2_invalid_client_challenges_with_basic(http, lab, endpoint, how):
    data = {"grant_type": "client_credentials", "token": "at_x"}
    if how == "basic":
        r = http.post(lab.metadata[endpoint], data=data, auth=("backup-bot", "wrong"))
    else:
        r = http.post(lab.metadata[endpoint], data={**data, "client_id": "backup-bot", "client_secret": "wrong"})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith('Basic realm="') and "Bearer" not in challenge


# -- RFC 6749 s5.2: a different redirect_uri is invalid_grant ----------------------------------
def test_rfc6749_s5_2_a_different_redirect_uri_is_invalid_grant(http, lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    for other in (f"{lab.apps_url}/photocli/callback/", f"{lab.apps_url}/photoprint/callback", "http://evil.example/cb"):
        r = exchange(http, lab, back.code, verifier, redirect_uri=other)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_grant"), r.text
    # the refusals claimed nothing: the owner's own request still redeems the code
    assert exchange(http, lab, back.code, verifier).status_code == 200


# -- RFC 6749 s2.3: one client authentication method per request -------------------------------
@pytest.mark.parametrize("endpoint, data", [
    ("token_endpoint", {"grant_type": "client_credentials"}),
    ("revocation_endpoint", {"token": "at_x"}),
    ("introspection_endpoint", {"token": "at_x"}),
])
def test_rfc6749_s2_3_basic_and_a_body_secret_together_are_refused(http, lab, endpoint, data):
    bot = lab.clients["backup-bot"]
    r = http.post(lab.metadata[endpoint], data={**data, "client_secret": bot.client_secret},
                  auth=(bot.client_id, bot.client_secret))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request"), r.text
    assert "one method" in r.json()["error_description"]


def test_rfc6749_s2_3_body_client_id_must_name_the_basic_client(http, lab):
    bot = lab.clients["backup-bot"]
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials", "client_id": "photoprint"},
                  auth=(bot.client_id, bot.client_secret))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    same = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials", "client_id": "backup-bot"},
                     auth=(bot.client_id, bot.client_secret))
    assert same.status_code == 200


# -- RFC 7636 s4.1: the verifier's shape --------------------------------------------------------
def s256_utf8(verifier):
    """The S256 challenge of any string, as oauthlib computes it (UTF-8): the server's check must come first."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@pytest.mark.parametrize("verifier", ["a", "a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "/", "a" * 42 + "=",
                                      "a" * 42 + " ", "a" * 42 + "é"])
def test_rfc7636_s4_1_a_verifier_outside_43_to_128_unreserved_characters_is_refused(http, lab, verifier):
    """Each verifier matches its challenge, so only the shape check can refuse it."""
    url = auth_url(lab, challenge=s256_utf8(verifier))
    back = lab.authorize(url, "alice", ALICE)
    r = exchange(http, lab, back.code, verifier)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request"), r.text
    assert "RFC 7636" in r.json()["error_description"]


@pytest.mark.parametrize("length", [43, 128])
def test_rfc7636_s4_1_verifiers_of_43_and_128_unreserved_characters_work(http, lab, length):
    verifier = ("aZ09-._~" * 20)[:length]
    back = lab.authorize(auth_url(lab, challenge=s256_utf8(verifier)), "alice", ALICE)
    assert exchange(http, lab, back.code, verifier).status_code == 200


@pytest.mark.parametrize("challenge", ["short", "c" * 44, "c" * 42 + "+"])
def test_rfc7636_s4_2_a_malformed_s256_challenge_is_refused_at_once(http, lab, challenge):
    r = http.get(auth_url(lab, challenge=challenge), allow_redirects=False)
    q = query(r.headers["Location"])
    assert q["error"] == "invalid_request" and "S256" in q["error_description"]


# -- RFC 6749 s4.1.2.1: unsupported_response_type ------------------------------------------------
@pytest.mark.parametrize("response_type", ["token", "code token", "code id_token", "id_token", "none", "xcodex",
                                           "CODE"])
def test_rfc6749_s4_1_2_1_unsupported_response_types(http, lab, response_type):
    _, challenge = pkce_pair()
    r = http.get(auth_url(lab, challenge=challenge, response_type=response_type), allow_redirects=False)
    assert r.status_code == 302
    assert query(r.headers["Location"])["error"] == "unsupported_response_type"


def test_rfc6749_s4_1_2_1_missing_response_type_is_invalid_request(http, lab):
    _, challenge = pkce_pair()
    url = auth_url(lab, challenge=challenge).replace("response_type=code&", "")
    r = http.get(url, allow_redirects=False)
    assert query(r.headers["Location"])["error"] == "invalid_request"


# -- RFC 9207: iss in every authorization response -----------------------------------------------
def test_rfc9207_metadata_says_iss_is_supported(http, lab):
    m = http.get(f"{lab.issuer}/.well-known/oauth-authorization-server").json()
    assert m["authorization_response_iss_parameter_supported"] is True
    assert lab.metadata["authorization_response_iss_parameter_supported"] is True


def test_rfc9207_s2_a_successful_authorization_response_carries_iss(http, lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    assert back.params["iss"] == lab.issuer == lab.metadata["issuer"]
    assert back.code and back.state == "st-123"
    assert exchange(http, lab, back.code, verifier).status_code == 200


@pytest.mark.parametrize("case", ["denied", "no scope ticked", "invalid_scope", "no PKCE", "response_type"])
def test_rfc9207_s2_error_responses_carry_iss(http, lab, case):
    _, challenge = pkce_pair()
    if case in ("denied", "no scope ticked"):
        back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE,
                             approve=case != "denied", scopes=[] if case == "no scope ticked" else None)
        params = back.params
    else:
        url = {"invalid_scope": auth_url(lab, challenge=challenge, scope="payment:write"),
               "no PKCE": auth_url(lab, challenge=None),
               "response_type": auth_url(lab, challenge=challenge, response_type="token")}[case]
        params = query(http.get(url, allow_redirects=False).headers["Location"])
    assert params["error"] and params["iss"] == lab.issuer


def test_rfc9207_flows_through_client_libraries_still_work(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read"])            # requests-oauthlib
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200
    app = flows.OAuthApp(lab, "photocli").sign_in("alice", ALICE, ["photos:read"])
    assert app.call("/photos").status_code == 200
