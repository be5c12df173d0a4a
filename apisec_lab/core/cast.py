"""The lab's cast: who is who in the story, and the demo credentials.

The seed data in ``data/`` holds only scrypt hashes.  The passwords below are
*published demo credentials*, like the ones printed on a workshop handout:
notebooks type them in the user's role, and ``python -m apisec_lab serve``
prints them so a person can sign in from a browser.
"""
from __future__ import annotations

import re

#: username -> password of the seeded users (demo only; public by design).
DEMO_PASSWORDS = {
    "alice": "wonderland-2026",
    "bob": "can-we-fix-it",
}

#: One line per character, for notebooks and ``serve`` to print.
CAST = {
    "alice": "Alice, the resource owner: photos, profile, messages and a saved card live in her account.",
    "bob": "Bob, another user; his data must stay out of Alice's apps' reach.",
    "photoprint": "PhotoPrint, a third-party web app that prints Alice's photos (confidential OAuth client).",
    "photocli": "PhotoCLI, a command-line tool on Alice's laptop (public client, uses PKCE).",
    "chatpal": "ChatPal, a messaging assistant (confidential OAuth client).",
    "backup-bot": "Nightly Reports Bot, a service acting for itself (client credentials).",
    "resource-server": "The Photo API itself, allowed to introspect tokens.",
    "photoprint-web": "PhotoPrint's own website, with accounts and sessions of its own (notebook 06's victim app).",
}


# -- who sent a request: the User-Agent each actor of the lab sends ------------------------------------
#: The ``User-Agent`` of the user's browser when the lab plays it (``lab.authorize``, following a redirect).
BROWSER_AGENT = "apisec-lab-browser/1.0"
#: What a sequence diagram calls the user's browser.
BROWSER = "Browser"
#: Products of general-purpose HTTP clients: their default ``User-Agent`` names no one in particular.
LIBRARIES = frozenset({"python-requests", "apisec-lab-client", "python-urllib3", "python-urllib", "python-httpx",
                       "httpx", "aiohttp", "curl", "wget", "postmanruntime", "okhttp", "go-http-client", "java"})
_PRODUCT = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_AGENT = re.compile(r"(?P<product>[!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:/\S*)?(?:\s+\((?P<comment>[^()]*)\))?")


def user_agent(name: str, version: str = "1.0") -> str:
    """The ``User-Agent`` an actor of the lab sends, naming itself honestly (RFC 9110 section 10.1.5).

    A product token has no spaces, so a name with spaces rides along as a comment:
    ``user_agent("PhotoPrint Classic")`` is ``"PhotoPrintClassic/1.0 (PhotoPrint Classic)"``.
    """
    product = "".join(_PRODUCT.findall(name)) or "client"
    return f"{product}/{version}" + (f" ({name})" if product != name else "")


def browser_agent(whose: str) -> str:
    """The ``User-Agent`` of the lab's browser when it is someone's in particular: ``"Alice's browser"``.

    Notebook 06 has two (Alice's and Mallory's), and a diagram gives each a lane of its own.
    """
    return f"{BROWSER_AGENT} ({whose})"


def named_by(agent: str | None) -> str | None:
    """Who a ``User-Agent`` says sent the request: :data:`BROWSER`, an actor's name, or None.

    The lab's browser and any ``Mozilla/...`` agent are the browser, or the browser it names
    (:func:`browser_agent`); an agent made by :func:`user_agent` is the actor it names; a library's
    default agent, or none, names nobody.
    """
    if not agent:
        return None
    if agent.startswith(BROWSER_AGENT + " (") and agent.endswith(")"):
        return agent[len(BROWSER_AGENT) + 2:-1].strip() or BROWSER
    if agent.startswith(BROWSER_AGENT.split("/")[0] + "/") or agent.startswith("Mozilla/"):
        return BROWSER
    m = _AGENT.fullmatch(agent.strip())
    if m is None or m.group("product").lower() in LIBRARIES:
        return None
    return (m.group("comment") or m.group("product")).strip() or None
