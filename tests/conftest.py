"""Shared fixtures: one real lab for the test session, reset before every test."""
from __future__ import annotations

import pytest

import apisec_lab


@pytest.fixture(scope="session")
def _running_lab():
    lab = apisec_lab.start(fresh=True)
    yield lab
    apisec_lab.stop()


@pytest.fixture
def lab(_running_lab):
    """A running lab in its seeded state; fails the test if a server hit a bug."""
    _running_lab.reset()
    yield _running_lab
    assert _running_lab.errors == [], _running_lab.errors[0]["traceback"]


@pytest.fixture
def http(lab):
    """A requests session that ignores proxy settings from the environment."""
    with lab.session() as s:
        yield s
