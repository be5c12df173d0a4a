"""apisec-lab: a real toy API and OAuth 2 authorization server inside your kernel.

>>> import apisec_lab
>>> lab = apisec_lab.start()

Everything a notebook needs hangs off the lab object: ``lab.api_url``,
``lab.issuer``, ``lab.wiretap``, ``lab.clock``, ``lab.weaknesses``,
``lab.register_client(...)``, ``lab.add_user(...)``.  See the README.
"""
from .core.cast import CAST, DEMO_PASSWORDS
from .core.store import Credentials
from .core.weaknesses import Weaknesses
from .lab import AuthorizationFailed, Lab, LabConfig, current, start, stop
from .servers.apps import Redirect

__all__ = ["start", "stop", "current", "Lab", "LabConfig", "Credentials", "Redirect", "AuthorizationFailed",
           "Weaknesses", "CAST", "DEMO_PASSWORDS"]
__version__ = "0.1.0"
