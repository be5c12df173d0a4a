"""Shared fixtures: one real lab for the test session, reset before every test."""
from __future__ import annotations

import pytest

import apisec_lab
from apisec_lab.client import flows


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
    """The authorization code flow with PKCE (the client layer's, on requests-oauthlib); the token response.

    ``grant`` is the subset of scopes the user ticks (default: all asked for).
    """
    return flows.code_flow(lab, client_id, user, password or apisec_lab.DEMO_PASSWORDS[user], list(scopes),
                           grant=grant)


def bearer(token):
    """Authorization header for an access token (a token dict or a string)."""
    value = token["access_token"] if isinstance(token, dict) else token
    return {"Authorization": f"Bearer {value}"}
