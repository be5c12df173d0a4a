"""Notebook 06, attack the authorization flow, then close the hole.

    from apisec_lab.book import nb06

You are Mallory.  PhotoPrint's website (``lab.photoprint``, at ``lab.web_url``) is the victim app, Alice's
browser (``lab.victim``) opens what you send her, your server (``lab.attacker``) serves your pages and logs what
reaches it.  Five labs (:data:`LABS`), each opened by its weakness switches inside :func:`scene`; an attempt
(:func:`attempt`, what the checks ``q1`` ... ``q5`` run) is judged from the lab's records and replayed with the
switch off.  ``q6`` is the fix-it: a redirect-URI matcher against an attack corpus and a functional corpus.

- :mod:`.stage`: Mallory (:func:`mallory`, :func:`mallory_sign_in`), :func:`swap`, :class:`PhotoSync`,
  :func:`ps`, :func:`hops`;
- :mod:`.sections`: the tables the sections show (:func:`stage`, :func:`referrer_table`, :func:`matcher_table`);
- :mod:`.labs`: the labs, their scenes, detectors and replays (:func:`map_table`);
- :mod:`.exercises`: q1 ... q6, :func:`wire`; :mod:`.fixit`: the corpora; :mod:`.panel`: the exploit server panel.
"""
from ..common import Table
from .exercises import alice_runs_photosync, link_request, q1, q2, q3, q4, q5, q6, wire
from .fixit import corpus_table
from .labs import LABS, Attempt, attempt, last_attempt, mallorys_code, map_table, photosync, scene
from .panel import ExploitServer
from .sections import matcher_table, referrer_table, stage
from .stage import (
    MALLORY,
    MALLORY_PASSWORD,
    PhotoSync,
    exchange_text,
    hops,
    log,
    mallory,
    mallory_authorizes,
    mallory_sign_in,
    mallory_signs_in,
    mallory_user,
    params,
    pkce_table,
    ps,
    short,
    swap,
)

__all__ = ["LABS", "Attempt", "attempt", "last_attempt", "map_table", "scene", "mallorys_code", "photosync",
           "alice_runs_photosync", "link_request", "wire", "ExploitServer", "stage", "referrer_table",
           "matcher_table", "corpus_table", "MALLORY", "MALLORY_PASSWORD", "PhotoSync", "exchange_text", "hops", "log",
           "mallory", "mallory_authorizes", "mallory_sign_in", "mallory_signs_in", "mallory_user", "params",
           "pkce_table", "ps", "short", "swap", "Table", "q1", "q2", "q3", "q4", "q5", "q6"]
