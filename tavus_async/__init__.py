"""tavus-async: an asyncio client for the Tavus persona API."""

from . import patch
from ._cache import TTLCache
from ._hooks import RequestEvent, ResponseEvent, RetryEvent
from ._limits import RateLimiter
from ._paging import Page
from ._patch import InvalidPatchError, PatchOperation
from ._raw import RawResponse
from ._retry import BudgetConfig, RetryPolicy
from ._stores import CacheProtocol, RateLimiterProtocol
from ._version import __version__
from .client import AsyncTavus
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    DecodeError,
    InternalServerError,
    InvalidIdError,
    InvalidPersonaIdError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseMismatchError,
    ResponseTooLargeError,
    TavusError,
    UnexpectedEncodingError,
    UnprocessableEntityError,
)
from .models import (
    ConversationalFlowLayer,
    Layers,
    LLMLayer,
    Pal,
    PerceptionLayer,
    PerceptionModel,
    Persona,
    STTEngine,
    STTLayer,
    Tool,
    ToolFunction,
    TransportLayer,
    TTSEngine,
    TTSLayer,
)
from .resources import Pals, PalsWithRawResponse, Personas, PersonasWithRawResponse

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncTavus",
    "AuthenticationError",
    "BadRequestError",
    "BudgetConfig",
    "CacheProtocol",
    "ClientClosedError",
    "ConflictError",
    "ConversationalFlowLayer",
    "DecodeError",
    "InternalServerError",
    "InvalidIdError",
    "InvalidPatchError",
    "InvalidPersonaIdError",
    "LLMLayer",
    "Layers",
    "MissingAPIKeyError",
    "NotFoundError",
    "Page",
    "Pal",
    "Pals",
    "PalsWithRawResponse",
    "PatchOperation",
    "PerceptionLayer",
    "PerceptionModel",
    "PermissionDeniedError",
    "Persona",
    "Personas",
    "PersonasWithRawResponse",
    "RateLimitError",
    "RateLimiter",
    "RateLimiterProtocol",
    "RawResponse",
    "RequestEvent",
    "ResponseEvent",
    "ResponseMismatchError",
    "ResponseTooLargeError",
    "RetryEvent",
    "RetryPolicy",
    "STTEngine",
    "STTLayer",
    "TTLCache",
    "TTSEngine",
    "TTSLayer",
    "TavusError",
    "Tool",
    "ToolFunction",
    "TransportLayer",
    "UnexpectedEncodingError",
    "UnprocessableEntityError",
    "__version__",
    "patch",
]
