"""The people in the story and the programs they use: a scripted web browser (notebook 06's victim).

:class:`~apisec_lab.agents.browser.Browser` is a user agent: cookies per
origin, redirects, a page's images and scripts fetched from their origins,
auto-submitting forms, ``Referer`` by each page's Referrer-Policy, a history.
The lab's facade gives Alice one, signed in (``lab.victim``), and makes others
(``lab.browser(name)``).

This package sits at the facade's level: it imports from ``core``, ``http``
and ``servers`` only (tests/test_layers.py), and the facade imports it.  A
browser speaks HTTP to the lab's servers like any client, so it needs none of
the client layer (``apisec_lab.client``), which sits above the facade.
"""
from .browser import Browser, Hop, Page

__all__ = ["Browser", "Hop", "Page"]
