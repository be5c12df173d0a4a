"""Notebook 08, the rest of the OWASP API Security Top 10 (2023): each flaw attacked, detected and fixed.

The notebook imports this one package::

    from apisec_lab.book import nb08

- :mod:`.caller`: the attacker, an ordinary user: :func:`own_app` (Alice registers an app of her own and signs
  in), :class:`Caller` (her script's requests, through the gateway and the wiretap), :class:`Answer`.
- :mod:`.attacks`: one function per flaw, replayable through any door with the flaw on or fixed, each an
  :class:`Attempt` judged by the API's own detector records: :func:`mass_assignment`, :func:`data_exposure`
  (API3), :func:`whole_catalogue` (API4), :func:`staff_function` (API5), :func:`coupon_farm` (API6),
  :func:`webhook_ssrf` (API7), :func:`partner_takeover` (API10).
- :mod:`.report`: :func:`doors` (one attack, four ways), :func:`scorecard` (all of them), :func:`exploits`.
- :mod:`.fixits`: the attack and functional corpora of the two fix-its.
- :mod:`.exercises`: :data:`q1` (the API's cloud key, through SSRF), :data:`q2` (a field allow-list),
  :data:`q3` (an SSRF-safe URL check).
"""
from .attacks import (
    ATTACKS,
    FAKE_ORDER,
    Attempt,
    coupon_farm,
    data_exposure,
    mass_assignment,
    metadata_url,
    partner_taken_over,
    partner_takeover,
    staff_function,
    webhook_ssrf,
    whole_catalogue,
)
from .caller import APP_SCOPES, Answer, Caller, own_app, token_for
from .exercises import q1, q2, q3
from .fixits import BINDER_ATTACKS, BINDER_FUNCTIONAL, judge_binder, judge_url_check, url_attacks, url_functional
from .report import doors, exploits, scorecard

__all__ = ["APP_SCOPES", "Answer", "Caller", "own_app", "token_for", "Attempt", "ATTACKS", "FAKE_ORDER",
           "mass_assignment", "data_exposure", "staff_function", "whole_catalogue", "coupon_farm", "webhook_ssrf",
           "partner_takeover", "partner_taken_over", "metadata_url", "doors", "scorecard", "exploits",
           "BINDER_ATTACKS", "BINDER_FUNCTIONAL", "judge_binder", "judge_url_check", "url_attacks", "url_functional",
           "q1", "q2", "q3"]
