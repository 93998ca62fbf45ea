"""Test helpers for tavus-async: `FakeTavus`, an in-process fake Tavus API.

This package is independent of the SDK core; it only needs aiohttp and msgspec.
"""

from ._personas_gen import generate_persona, persona_id_for, stock_persona_ids
from ._server import FakeTavus, Fault, RecordedRequest, serve

__all__ = [
    "FakeTavus",
    "Fault",
    "RecordedRequest",
    "generate_persona",
    "persona_id_for",
    "serve",
    "stock_persona_ids",
]
