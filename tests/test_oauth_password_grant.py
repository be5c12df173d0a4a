"""The password grant exists only behind the ``password_grant`` weakness (RFC 9700 s2.4: MUST NOT be used)."""
import pytest
from oauthlib.oauth2 import ResourceOwnerPasswordCredentialsGrant

import apisec_lab

from .conftest import bearer

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]


@pytest.fixture
def app(lab):
    """An app registered for the password grant: its own login form collects the user's password."""
    return lab.register_client("QuickPrint", scopes=["profile:read", "photos:read"],
                               grant_types=["password", "refresh_token"],
                               description="Asks for your password in its own login form.")


def password_grant(http, lab, app, password=ALICE, username="alice", **extra):
    return http.post(lab.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                     data={"grant_type": "password", "username": username, "password": password, **extra})


def advertised(http, lab):
    served = http.get(f"{lab.issuer}/.well-known/oauth-authorization-server").json()["grant_types_supported"]
    assert served == lab.metadata["grant_types_supported"]
    return "password" in served


def test_rfc9700_s2_4_off_by_default_unsupported_and_not_advertised(http, lab, app):
    assert lab.weaknesses.password_grant is False and "password_grant" not in lab.weaknesses.enabled()
    assert "RFC 9700 section 2.4" in lab.weaknesses.table().loc["password_grant", "what it does"]
    r = password_grant(http, lab, app)
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    assert not advertised(http, lab)
    assert lab.sign_in_throttle.frame().empty          # the password was never looked at


def test_rfc9700_s2_4_switched_on_the_registered_app_gets_tokens_for_the_password(http, lab, app):
    with lab.weaknesses.turned_on(password_grant=True):
        assert advertised(http, lab)
        r = password_grant(http, lab, app, scope="photos:read")
        assert r.status_code == 200, r.text
        token = r.json()
        assert token["scope"] == "photos:read" and token["access_token"].startswith("at_")
        assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200
        claims = lab.introspect(token["access_token"])
        assert claims["sub"] == "alice" and claims["client_id"] == app.client_id
        grant = lab.connected_apps("alice").iloc[0]
        assert grant["client_id"] == app.client_id
        issued = lab.events().query("event == 'issued'").iloc[-1]
        assert issued["username"] == "alice"
        refreshed = http.post(lab.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
        assert refreshed.status_code == 200
    # and off again: gone from the metadata, refused at the endpoint
    assert not advertised(http, lab)
    r = password_grant(http, lab, app)
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")


def test_built_on_oauthlibs_own_grant(lab):
    grant = lab.auth_server.grant_types["password"]
    assert type(grant) is ResourceOwnerPasswordCredentialsGrant and grant is lab.auth_server.password_grant


def test_a_wrong_password_is_invalid_grant(http, lab, app):
    with lab.weaknesses.turned_on(password_grant=True):
        r = password_grant(http, lab, app, password="not-hers")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


def test_only_a_client_registered_for_it_may_send_passwords(http, lab):
    pp = lab.clients["photoprint"]
    with lab.weaknesses.turned_on(password_grant=True):
        r = http.post(lab.metadata["token_endpoint"], auth=(pp.client_id, pp.client_secret),
                      data={"grant_type": "password", "username": "alice", "password": "a-guess"})
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")
    assert lab.sign_in_throttle.frame().empty          # refused before any password was checked


def test_rfc6749_s4_3_2_password_grant_attempts_meet_the_sign_in_throttle(http, lab, app):
    with lab.weaknesses.turned_on(password_grant=True):
        answers = [password_grant(http, lab, app, password=f"guess-{i}") for i in range(6)]
        assert [r.status_code for r in answers] == [400] * 5 + [429]
        r = password_grant(http, lab, app)                   # the right password, too late
        assert (r.status_code, r.json()["error"]) == (429, "invalid_grant")
        assert int(r.headers["Retry-After"]) > 0 and "Too many failed sign-ins" in r.json()["error_description"]
        # one account, one count: the sign-in page refuses Alice as well
        assert lab.sign_in_throttle.check("alice", "127.0.0.1").kind == "account"
        lab.clock.advance(minutes=15)
        assert password_grant(http, lab, app).status_code == 200


def test_the_seed_registers_no_client_for_the_password_grant(lab):
    for client_id in lab.clients:
        assert "password" not in lab.store.client(client_id).grant_types


def test_lab_reset_turns_the_switch_off(lab):
    lab.weaknesses.password_grant = True
    lab.reset()
    assert lab.weaknesses.password_grant is False
    assert "password" not in lab.metadata["grant_types_supported"]
