"""The API's resources: `Personas` (`/v2/personas`) and `Pals` (`/v2/pals`)."""

from .pals import Pals
from .personas import Personas

__all__ = ["Pals", "Personas"]
