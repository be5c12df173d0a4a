"""Shared fixtures: one real lab for the test session, reset before every test; the one Playwright."""
from __future__ import annotations

import os

import pytest

import apisec_lab
from apisec_lab.client import flows


@pytest.fixture(scope="session")
def _lab_session():
    yield
    apisec_lab.stop()


@pytest.fixture(scope="session")
def _playwright():
    """The single Playwright (sync API) instance of this process, shared by tests/browser and tests/hub.

    A second ``sync_playwright()`` in the same thread fails, so the instance lives here, above both.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright not installed: pip install playwright"
        required = [v for v in ("APISEC_REQUIRE_BROWSER", "APISEC_REQUIRE_HUB") if os.environ.get(v) == "1"]
        if required:
            pytest.fail(f"{reason} ({required[0]}=1)", pytrace=False)
        pytest.skip(reason)
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


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
