"""Shared fixtures: one real lab for the test session, reset before every test."""
from __future__ import annotations

import pytest

import apisec_lab


@pytest.fixture(scope="session")
def _lab_session():
    yield
    apisec_lab.stop()


@pytest.fixture
def lab(_lab_session):
    """The process's running lab (started once), in its seeded state.

    Fails the test if a server hit a bug while it ran.
    """
    running = apisec_lab.start().reset()
    yield running
    assert running.errors == [], running.errors[0]["traceback"]


@pytest.fixture
def http(lab):
    """A requests session that ignores proxy settings from the environment."""
    with lab.session() as s:
        yield s


def code_flow(lab, client_id="photocli", scopes=("photos:read", "profile:read"), user="alice",
              grant=None, password=None):
    """Run the authorization code flow with PKCE through requests-oauthlib; return the token dict.

    ``grant`` is the subset of scopes the user ticks (default: all asked for).
    """
    import os

    from requests_oauthlib import OAuth2Session

    creds = lab.clients[client_id]
    oauth = OAuth2Session(client_id, redirect_uri=f"{lab.apps_url}/{client_id}/callback",
                          scope=list(scopes), pkce="S256")
    oauth.trust_env = False
    url, state = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, user, password or apisec_lab.DEMO_PASSWORDS[user], scopes=grant)
    assert back.state == state
    relax = os.environ.get("OAUTHLIB_RELAX_TOKEN_SCOPE")
    os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"
    try:
        if creds.client_secret:
            return oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                                     client_secret=creds.client_secret)
        return oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                                 include_client_id=True)
    finally:
        if relax is None:
            del os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"]
        else:
            os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = relax


def bearer(token):
    """Authorization header for an access token (a token dict or a string)."""
    value = token["access_token"] if isinstance(token, dict) else token
    return {"Authorization": f"Bearer {value}"}
