"""apisec-lab: a real toy API and OAuth 2 authorization server inside your kernel.

>>> import apisec_lab
>>> lab = apisec_lab.start()

Everything a notebook needs hangs off the lab object: ``lab.api_url``,
``lab.issuer``, ``lab.wiretap``, ``lab.clock``, ``lab.weaknesses``,
``lab.register_client(...)``, ``lab.add_user(...)``.  See the README.
"""
from .apps_web import Redirect
from .cast import CAST, DEMO_PASSWORDS
from .lab import AuthorizationFailed, Lab, current, start, stop
from .store import Credentials
from .weaknesses import Weaknesses

__all__ = ["start", "stop", "current", "Lab", "Credentials", "Redirect", "AuthorizationFailed",
           "Weaknesses", "CAST", "DEMO_PASSWORDS"]
__version__ = "0.1.0"
