"""Changing a settings dataclass for a ``with`` block, and back to its defaults.

Shared by :class:`apisec_lab.core.weaknesses.Weaknesses` and the gateway's
:class:`apisec_lab.servers.gateway.GatewayPolicy`.
"""
from __future__ import annotations

import contextlib
import dataclasses


@contextlib.contextmanager
def changed(settings, what: str, **values):
    """Set fields of the dataclass *settings* for the block, then restore them.

    Unknown names raise :class:`AttributeError` naming the known ones (*what*
    says what kind of setting it is, for the message).
    """
    names = {f.name for f in dataclasses.fields(settings)}
    unknown = set(values) - names
    if unknown:
        raise AttributeError(f"no {what} {sorted(unknown)}; known: {sorted(names)}")
    before = {k: getattr(settings, k) for k in values}
    for k, v in values.items():
        setattr(settings, k, v)
    try:
        yield settings
    finally:
        for k, v in before.items():
            setattr(settings, k, v)


def reset(settings) -> None:
    """Every field of the dataclass *settings* back to its declared default."""
    for f in dataclasses.fields(settings):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        setattr(settings, f.name, default)
