"""apisec-lab: a real toy API and OAuth 2 authorization server inside your kernel.

>>> import apisec_lab
>>> lab = apisec_lab.start()

Everything a notebook needs hangs off the lab object: ``lab.api_url``,
``lab.issuer``, ``lab.wiretap``, ``lab.clock``, ``lab.weaknesses``,
``lab.register_client(...)``, ``lab.add_user(...)``.  See the README.

The names below load on first use (PEP 562), so ``import apisec_lab`` costs
nothing until a lab is wanted: ``python -m apisec_lab serve`` installs its
signal handlers before the servers' libraries (pandas, oauthlib, werkzeug) load.
"""
__all__ = ["start", "stop", "current", "Lab", "LabConfig", "Credentials", "Redirect", "AuthorizationFailed",
           "Weaknesses", "CAST", "DEMO_PASSWORDS"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'apisec_lab' has no attribute {name!r}")
    from .core.cast import CAST, DEMO_PASSWORDS
    from .core.store import Credentials
    from .core.weaknesses import Weaknesses
    from .lab import AuthorizationFailed, Lab, LabConfig, current, start, stop
    from .servers.apps import Redirect

    exports = {"start": start, "stop": stop, "current": current, "Lab": Lab, "LabConfig": LabConfig,
               "Credentials": Credentials, "Redirect": Redirect, "AuthorizationFailed": AuthorizationFailed,
               "Weaknesses": Weaknesses, "CAST": CAST, "DEMO_PASSWORDS": DEMO_PASSWORDS}
    globals().update(exports)        # later lookups are plain module attributes
    return exports[name]


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
