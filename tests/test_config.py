"""LabConfig: a lab started with other lifetimes, another seed or another store folder, as Flask's create_app(test_config).

Lifetimes are seconds on the lab clock, so a two-second token is shown expiring by moving the clock, not by waiting.
"""
import json
import shutil

import pytest
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from requests_oauthlib import OAuth2Session

import apisec_lab
from apisec_lab import DEMO_PASSWORDS, Lab, LabConfig
from apisec_lab.core import crypto
from apisec_lab.core.store import DATA_DIR


def machine_token(lab, http):
    """backup-bot's client-credentials token response (RFC 6749 section 4.4)."""
    bot = lab.clients["backup-bot"]
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                  auth=(bot.client_id, bot.client_secret))
    assert r.status_code == 200, r.text
    return r.json()


def signed_in(lab, client_id="photoprint", scopes=("photos:read",), user="alice", password=None):
    """requests-oauthlib's session after the user approved on the sign-in page, and where the browser came back."""
    oauth = OAuth2Session(client_id, redirect_uri=f"{lab.apps_url}/{client_id}/callback", scope=list(scopes),
                          pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    return oauth, lab.authorize(url, user, password or DEMO_PASSWORDS[user])


def redeem(lab, oauth, back, client_id="photoprint"):
    return oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                             client_secret=lab.clients[client_id].client_secret)


@pytest.fixture
def short_lab():
    with Lab(LabConfig(code_ttl=5, access_ttl=2, refresh_ttl=30)).start() as lab:
        yield lab
        assert lab.errors == []


def test_defaults_are_the_workbooks_lifetimes(lab):
    config = LabConfig()
    assert (config.code_ttl, config.access_ttl, config.refresh_ttl) == (60, 15 * 60, 24 * 3600)
    assert config.host == "127.0.0.1" and config.seed_dir == DATA_DIR and config.store_root is None
    assert lab.config == config, "start() with no config is the workbook's lab"


def test_an_access_token_living_two_seconds_expires_on_the_lab_clock(short_lab, lab):
    with short_lab.session() as http:
        token = machine_token(short_lab, http)
        assert token["expires_in"] == 2
        usage = f"{short_lab.api_url}/reports/usage"
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert http.get(usage, headers=headers).status_code == 200
        claims = short_lab.introspect(token["access_token"])
        assert claims["active"] and claims["exp"] - claims["iat"] == 2
        short_lab.clock.advance(seconds=2)
        r = http.get(usage, headers=headers)
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert short_lab.introspect(token["access_token"]) == {"active": False}
    with lab.session() as http:
        token = machine_token(lab, http)
        lab.clock.advance(seconds=2)
        assert token["expires_in"] == 900, "the other lab keeps its own lifetimes"
        r = http.get(f"{lab.api_url}/reports/usage", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 200


def test_an_authorization_code_living_five_seconds_expires(short_lab, lab):
    oauth, back = signed_in(short_lab)
    short_lab.clock.advance(seconds=5)
    with pytest.raises(InvalidGrantError):
        redeem(short_lab, oauth, back)
    oauth, back = signed_in(short_lab)
    short_lab.clock.advance(seconds=4)
    assert redeem(short_lab, oauth, back)["expires_in"] == 2, "a code is good until its lifetime is up"
    oauth, back = signed_in(lab)
    lab.clock.advance(seconds=5)
    assert redeem(lab, oauth, back)["access_token"], "the workbook's codes live a minute"


def test_a_refresh_token_living_thirty_seconds_expires(short_lab):
    oauth, back = signed_in(short_lab)
    token = redeem(short_lab, oauth, back)
    short_lab.clock.advance(seconds=29)
    fresh = oauth.refresh_token(short_lab.metadata["token_endpoint"], refresh_token=token["refresh_token"],
                                auth=(oauth.client_id, short_lab.clients["photoprint"].client_secret))
    short_lab.clock.advance(seconds=30)
    with pytest.raises(InvalidGrantError):
        oauth.refresh_token(short_lab.metadata["token_endpoint"], refresh_token=fresh["refresh_token"],
                            auth=(oauth.client_id, short_lab.clients["photoprint"].client_secret))


def test_start_with_a_config_replaces_a_lab_started_with_another(lab):
    short = apisec_lab.start(config=LabConfig(access_ttl=2))
    try:
        assert short is not lab and not lab.healthy() and short.config.access_ttl == 2
        assert apisec_lab.start(config=LabConfig(access_ttl=2)) is short, "the same config: the same lab"
        assert apisec_lab.start(LabConfig(access_ttl=2), host="127.0.0.1") is short
    finally:
        back = apisec_lab.start()
    assert back is not short and not short.healthy() and back.config == LabConfig()
    assert apisec_lab.start() is back


def test_a_seed_directory_of_ones_own(tmp_path, http):
    seed = tmp_path / "seed"
    shutil.copytree(DATA_DIR, seed)
    users = json.loads((seed / "users.json").read_text())
    users["users"].append({"username": "carol", "display_name": "Carol", "email": "carol@example.org",
                           "password_hash": crypto.hash_password("carol-pass-1")})
    (seed / "users.json").write_text(json.dumps(users))
    with Lab(LabConfig(seed_dir=seed)).start() as own:
        oauth, back = signed_in(own, user="carol", password="carol-pass-1", scopes=["profile:read"])
        token = redeem(own, oauth, back)
        me = http.get(f"{own.api_url}/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.json()["username"] == "carol"
        own.reset()
        assert own.store.user("carol") is not None, "a reset goes back to this lab's own seed"


@pytest.mark.parametrize("changes, complaint", [
    ({"access_ttl": 0}, "access_ttl must be a whole number of seconds above 0"),
    ({"code_ttl": -60}, "code_ttl must be"),
    ({"refresh_ttl": 1.5}, "refresh_ttl must be"),
    ({"access_ttl": True}, "access_ttl must be"),
    ({"access_ttl": "900"}, "access_ttl must be"),
])
def test_a_lifetime_must_be_whole_positive_seconds(changes, complaint):
    with pytest.raises(ValueError, match=complaint):
        LabConfig(**changes)


def test_a_seed_directory_must_hold_the_seed(tmp_path):
    (tmp_path / "users.json").write_text("{}")
    with pytest.raises(ValueError, match="lacks clients.json, scopes.json, resources.json"):
        LabConfig(seed_dir=tmp_path)


def test_a_config_is_a_value():
    config = LabConfig(access_ttl=2)
    assert config.replace(access_ttl=900) == LabConfig() and config.access_ttl == 2
    with pytest.raises(AttributeError):
        config.access_ttl = 3
    assert LabConfig(seed_dir=str(DATA_DIR)) == LabConfig(), "paths are paths, however given"
