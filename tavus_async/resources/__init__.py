"""The API's resources: `Personas` (`/v2/personas`) and `Pals` (`/v2/pals`)."""

from ._base import validate_persona_id
from .pals import Pals, PalsWithRawResponse
from .personas import Personas, PersonasWithRawResponse

__all__ = [
    "Pals",
    "PalsWithRawResponse",
    "Personas",
    "PersonasWithRawResponse",
    "validate_persona_id",
]
