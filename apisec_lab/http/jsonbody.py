"""JSON request bodies (RFC 8259), read in one place, with limits.

Python's :func:`json.loads` parses what RFC 8259 allows and a little more,
and some inputs it accepts cost a server dearly later.  Every lab server
reads a JSON body through :func:`read_json`, which refuses, with a 400:

- nesting deeper than :data:`MAX_DEPTH` (``json.loads`` recurses, and
  raises ``RecursionError`` near a thousand levels; RFC 8259 section 9 lets
  a parser "set limits on the maximum depth of nesting");
- number literals longer than :data:`MAX_NUMBER_CHARS` (``int()`` refuses
  past 4300 digits with ``ValueError``, and costs quadratic time below that)
  and numbers that overflow a double (RFC 8259 section 9: "limits on the
  range and precision of numbers");
- ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON (section 6);
- strings holding a lone surrogate (``"\\ud800"``): valid JSON syntax, but no
  Unicode text, so nothing can store or encode it (section 8.2);
- an object naming a member twice: "the behavior of software that receives
  such an object is unpredictable" (section 4), so two parsers (the gateway's,
  the API's) could read two different requests from it;
- a body that is not UTF-8 (section 8.1), and anything not sent as
  ``application/json`` (415).
"""
from __future__ import annotations

import json
import math
import re

from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from werkzeug.wrappers import Request

#: Deepest nesting of arrays and objects accepted (the lab's bodies are one level deep).
MAX_DEPTH = 32
#: Longest number literal accepted, in characters (a 64-bit integer has 20, a double's repr at most 24).
MAX_NUMBER_CHARS = 40

_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ValueError):
    """The text is not JSON the lab accepts; the message says why, for the learner."""


def _number(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidJSON(f"A number of {len(text)} characters is over the limit of {MAX_NUMBER_CHARS} "
                          f"(RFC 8259 section 9).")


def _int(text: str) -> int:
    _number(text)
    return int(text)


def _float(text: str) -> float:
    _number(text)
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSON(f"The number {text} is out of range (RFC 8259 section 6).")
    return value


def _constant(name: str):
    raise InvalidJSON(f"{name} is not a JSON value (RFC 8259 section 6).")


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj: dict = {}
    for name, value in pairs:
        if name in obj:
            raise InvalidJSON(f"The member {name[:40]!r} appears twice in one object (RFC 8259 section 4).")
        obj[name] = value
    return obj


def _check_tree(value) -> None:
    """Depth and Unicode of an already-parsed value, without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise InvalidJSON("A string holds a lone UTF-16 surrogate (such as \\ud800), which is not "
                                  "Unicode text (RFC 8259 section 8.2).")
            continue
        if isinstance(item, (list, dict)):
            if depth > MAX_DEPTH:
                raise InvalidJSON(f"The body is nested deeper than {MAX_DEPTH} levels (RFC 8259 section 9).")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def parse_json(data: bytes):
    """The JSON value in *data* (UTF-8), within the limits above; :class:`InvalidJSON` otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidJSON(f"The body is not UTF-8 (RFC 8259 section 8.1): {e.reason} at byte {e.start}.") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant,
                           object_pairs_hook=_object)
    except RecursionError:
        raise InvalidJSON(f"The body is nested deeper than {MAX_DEPTH} levels (RFC 8259 section 9).") from None
    except json.JSONDecodeError as e:
        raise InvalidJSON(f"The body is not valid JSON: {e}") from None
    _check_tree(value)
    return value


def read_json(request: Request):
    """The request's JSON body; werkzeug's 415 or 400 (which :func:`~.wsgi.guard` answers as JSON) otherwise."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        return parse_json(request.get_data())
    except InvalidJSON as e:
        raise BadRequest(str(e)) from None
