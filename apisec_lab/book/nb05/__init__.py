"""Notebook 05, the gateway as a shield: the attacks, the dashboard, the OWASP mapping, the exercises.

The lab's API gateway (:mod:`apisec_lab.servers.gateway`) runs on its own port,
``lab.gateway_url``, in front of the API at ``lab.api_url``.  The notebook
imports this one package::

    from apisec_lab.book import nb05

- :mod:`.replay`: the two doors (:func:`base_url`, :func:`same_answer`), what a
  replayed attack got (:class:`Outcome`, :class:`Comparison`, :func:`compare`),
  the gateway's log and policy tables.
- :mod:`.attacks`: :func:`brute_force_basic`, :func:`token_in_url`, :func:`flood`,
  :func:`admin_route`, :func:`revoked_token`, :func:`oversized`, and :func:`bola`,
  the one a gateway cannot see; :func:`normal_request` for contrast;
  :func:`staleness_table`: how long a revoked token still passes the gateway.
- :mod:`.signin`: :func:`guess_on_sign_in_page`, guessing on the authorization server's
  sign-in page, which throttles failed passwords itself; :func:`sign_in_limits`.
- :mod:`.dashboard`: :class:`Dashboard`, buttons that fire the attacks.
- :mod:`.owasp`: :func:`scorecard`, :func:`owasp_top10`.
- :mod:`.exercises`: :data:`q1` (a rate-limit policy), :data:`q2` (find the
  request the gateway let through), :data:`q3` (a cache lifetime).
"""
from ...servers.gateway import Limit
from ..common import connect
from .attacks import (
    GUESSES,
    admin_route,
    bola,
    brute_force_basic,
    flood,
    normal_request,
    oversized,
    revoked_token,
    staleness,
    staleness_table,
    token_in_url,
)
from .dashboard import Dashboard
from .exercises import flood_test, mixed_traffic, q1, q2, q3
from .owasp import OWASP_TOP10, SCORECARD, owasp_top10, scorecard
from .replay import (
    LOG_COLUMNS,
    VIA,
    Comparison,
    Outcome,
    base_url,
    compare,
    log,
    photo_owners,
    same_answer,
    show_policy,
)
from .signin import SIGN_IN_GUESSES, Guessing, guess_on_sign_in_page, sign_in_limits

__all__ = ["connect", "base_url", "same_answer", "show_policy", "log", "LOG_COLUMNS", "VIA", "Outcome", "Comparison",
           "compare", "GUESSES", "brute_force_basic", "token_in_url", "flood", "admin_route", "revoked_token",
           "oversized", "bola", "normal_request", "staleness", "staleness_table", "Dashboard", "scorecard",
           "SCORECARD", "owasp_top10", "OWASP_TOP10", "photo_owners", "mixed_traffic", "flood_test", "Limit",
           "guess_on_sign_in_page", "Guessing", "sign_in_limits", "SIGN_IN_GUESSES", "q1", "q2", "q3"]
