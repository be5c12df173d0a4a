"""The lab's cast: who is who in the story, and the demo credentials.

The seed data in ``data/`` holds only scrypt hashes.  The passwords below are
*published demo credentials*, like the ones printed on a workshop handout:
notebooks type them in the user's role, and ``python -m apisec_lab serve``
prints them so a person can sign in from a browser.
"""
from __future__ import annotations

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
}
