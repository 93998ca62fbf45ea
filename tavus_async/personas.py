"""The personas resource: `client.personas.get(...)`."""

from __future__ import annotations

import re
from typing import Final

from ._transport import Transport
from .models import Persona, decode_persona

__all__ = ["Personas", "validate_persona_id"]

MAX_PERSONA_ID_LENGTH: Final = 256
# Path separators, query/fragment/escape characters, whitespace and C0/C1 controls.
_FORBIDDEN: Final = re.compile(r"[/?#%\s\x00-\x1f\x7f-\x9f]|\.\.")


def validate_persona_id(persona_id: str) -> str:
    """Return `persona_id` if it is safe to put in the URL path, else raise `ValueError`.

    Checked before any I/O so a bad id can never reach another endpoint.
    """
    if not isinstance(persona_id, str):
        raise TypeError(f"persona_id must be a str, not {type(persona_id).__name__}")
    if not persona_id:
        raise ValueError("persona_id must not be empty")
    if len(persona_id) > MAX_PERSONA_ID_LENGTH:
        raise ValueError(f"persona_id is longer than {MAX_PERSONA_ID_LENGTH} characters")
    bad = _FORBIDDEN.search(persona_id)
    if bad is not None:
        raise ValueError(
            f"persona_id {persona_id[:64]!r} contains {bad.group()!r}: "
            "'/', '?', '#', '%', whitespace, control characters and '..' are not allowed"
        )
    return persona_id


class Personas:
    """Persona lookups. Reach it as `AsyncTavus(...).personas`."""

    __slots__ = ("_prefix", "_secret", "_transport")

    def __init__(self, transport: Transport, base_url: str, secret: str) -> None:
        self._transport = transport
        self._prefix = f"{base_url}/v2/personas/"
        self._secret = secret

    async def get(self, persona_id: str) -> Persona:
        """Fetch one persona by id (`GET /v2/personas/{persona_id}`).

        Raises `ValueError` for an unsafe id (before any I/O), an `APIStatusError` subclass
        for an error status, `APIConnectionError`/`APITimeoutError` when the network fails
        after retries, and `DecodeError` for a 2xx body that is not a persona.
        """
        validate_persona_id(persona_id)
        secret = self._secret

        def parse(body: bytes, status: int) -> Persona:
            return decode_persona(body, status_code=status, persona_id=persona_id, secret=secret)

        return await self._transport.get(self._prefix + persona_id, parse)
