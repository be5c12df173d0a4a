"""No secret in any log: the records of the libraries that handle the lab's secrets, redacted at birth.

With ``logging.basicConfig(level=logging.DEBUG)`` in a kernel, the libraries
that run the lab's OAuth traffic would print its secrets:

- **oauthlib** (the authorization server) logs the codes it creates
  ("Created authorization code grant {'code': ...}"), the tokens it issues
  and the refresh tokens it validates;
- **requests-oauthlib** (a client) logs token request bodies (code, verifier,
  client secret) and token responses;
- **urllib3** (under requests) logs every URL it fetches, and a redirect URI's
  query carries the code (or, with the ``token_in_query`` weakness, an access
  token).

:func:`keep_secrets_out_of_logs` installs one log-record factory, chained to
the one before it, that rewrites those libraries' records as they are created,
so no level, handler or logger setting can bring the secrets back:

- oauthlib and requests-oauthlib lines keep their wording, and every argument
  but a number is shown as ``***`` (the arguments are where they put requests,
  grants and tokens);
- urllib3's arguments keep their shape with every query value shown as ``***``;
- every finished message (and traceback) is scrubbed once more for credentials
  in ``name=value`` or ``'name': 'value'`` form, ``Basic``/``Bearer``
  credentials, the lab's ``at_``/``rt_`` tokens and JWTs, which catches lines a
  library formatted before logging them.
"""
from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Mapping

#: Loggers whose records are rewritten (a name and everything under it).
LIBRARIES = ("oauthlib", "requests_oauthlib", "urllib3")
_WITHHELD = ("oauthlib", "requests_oauthlib")     # every non-number argument hidden
MASK = "***"

_SECRET_NAMES = (r"code|access_token|refresh_token|token|id_token|client_secret|password|passwd|"
                 r"code_verifier|assertion|client_assertion|api_key")
_PAIR = re.compile(rf"(?i)\b({_SECRET_NAMES})=([^&\s'\",;)]+)")
_QUOTED = re.compile(rf"(?i)(['\"])({_SECRET_NAMES})\1(\s*:\s*)(['\"])(.*?)\4")
_CREDENTIALS = re.compile(r"(?i)\b(Basic|Bearer)(\s+)[A-Za-z0-9+/=._~\-]+")
_LAB_TOKEN = re.compile(r"\b(at|rt)_[A-Za-z0-9_\-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*")     # a JWS compact serialization
_QUERY_VALUE = re.compile(r"([?&][^=&#\s'\"]*=)[^&#\s'\"]*")


def scrub(text: str) -> str:
    """*text* with every credential-looking value replaced by ``***``."""
    text = _PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}",
                       text)
    text = _CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _JWT.sub(f"eyJ{MASK}", text)
    return _LAB_TOKEN.sub(lambda m: f"{m.group(1)}_{MASK}", text)


class _Hidden:
    def __str__(self) -> str:
        return MASK

    __repr__ = __str__


def _shown(arg, withheld: bool):
    if isinstance(arg, (int, float)) or arg is None:    # status codes, ports, counts (bool is an int)
        return arg
    if withheld:
        return _Hidden()
    return _QUERY_VALUE.sub(lambda m: m.group(1) + MASK, str(arg))


def redact(record: logging.LogRecord) -> None:
    """Rewrite *record* in place: message formatted with safe arguments, scrubbed, no arguments left."""
    withheld = record.name.split(".")[0] in _WITHHELD
    msg = str(record.msg)
    if record.args:
        args = record.args
        try:
            if isinstance(args, Mapping):
                msg = msg % {k: _shown(v, withheld) for k, v in args.items()}
            else:
                msg = msg % tuple(_shown(a, withheld) for a in args)
        except (TypeError, ValueError, KeyError):
            msg = f"{msg} [arguments withheld]"
    record.msg, record.args = scrub(msg), ()
    if record.exc_info:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text, record.exc_info = scrub(text), None


def _is_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LIBRARIES)


_install_lock = threading.Lock()


def keep_secrets_out_of_logs() -> None:
    """Install the redacting record factory (once per process; safe to call again)."""
    with _install_lock:
        previous = logging.getLogRecordFactory()
        if getattr(previous, "apisec_lab_redacts", False):
            return

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            if _is_library(record.name):
                redact(record)
            return record

        factory.apisec_lab_redacts = True
        logging.setLogRecordFactory(factory)
