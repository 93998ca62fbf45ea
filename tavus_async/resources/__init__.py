"""The API's resources: `Personas` (`/v2/personas`) and `Pals` (`/v2/pals`)."""

from ._base import validate_persona_id
from .pals import Pals
from .personas import Personas

__all__ = ["Pals", "Personas", "validate_persona_id"]
