"""Persona models (frozen msgspec Structs) and `decode_persona`, which builds them from a body.

Decoding reads the body once into plain JSON data, takes the persona out of its envelope and
converts it with msgspec's non-strict rules, which match what real Tavus servers send:
- every field but `persona_id` is optional and nullable; unknown fields, and values of
  enum-like fields (`tts_engine`, ...) that the spec does not list, decode;
- a scalar field accepts its string form (`"false"` for a bool, `"12"` for an int); any other
  wrong type is a `DecodeError` naming the field's path;
- the PAL names (`pal_id`, `pal_name`, `default_face_id`) fill the persona fields.

A decoded persona keeps the JSON object it came from (compact bytes of its own, never the
response body), so `to_dict()` gives back every key the server sent, known or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Self, TypeVar

import msgspec

from .errors import DecodeError, NotFoundError, TavusError

__all__ = [
    "ConversationalFlowLayer",
    "Layers",
    "LLMLayer",
    "Pal",
    "PerceptionLayer",
    "PerceptionModel",
    "Persona",
    "STTEngine",
    "STTLayer",
    "TTSEngine",
    "TTSLayer",
    "Tool",
    "ToolFunction",
    "TransportLayer",
    "decode_persona",
]

MASK: Final = "***"


class TTSEngine:
    """Known values of `TTSLayer.tts_engine` (others still decode)."""

    CARTESIA: Final = "cartesia"
    ELEVENLABS: Final = "elevenlabs"


class PerceptionModel:
    """Known values of `PerceptionLayer.perception_model` (others still decode)."""

    RAVEN_1: Final = "raven-1"
    RAVEN_0: Final = "raven-0"
    OFF: Final = "off"


class STTEngine:
    """Known values of `STTLayer.stt_engine` (others still decode)."""

    TAVUS_TURBO: Final = "tavus-turbo"
    TAVUS_ADVANCED: Final = "tavus-advanced"


_JSON: Final = msgspec.json.Decoder()
_encode: Final = msgspec.json.Encoder().encode
_JSON_FAILURES: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


# `gc=False`: the models are not tracked by the cyclic collector, so the thousands a bulk
# call keeps are not walked by every collection. They hold JSON data, which never refers
# back to a model (a list of one made to hold that model itself would never be freed).
# `Persona` is tracked: it keeps a `__dict__`, which msgspec allows only with tracking.
class _Model(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, gc=False):
    """Base of every model: immutable, compared by field, encodes only the fields set."""

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={_safe_repr(v)}" for k, v in _display_fields(self))
        return f"{type(self).__name__}({body})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return _display_fields(self)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """`(JSON key, value)` pairs of `to_dict()`: `dict(model)` is its JSON object."""
        return iter(self.to_dict().items())

    def to_dict(self) -> dict[str, Any]:
        """A new dict of plain JSON data (dicts, lists, str, ...); unset fields left out.

        Secrets are included: pick the fields you pass on.
        """
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Build and validate a model from JSON data, as decoding would (`DecodeError`)."""
        result = _from_data(cls, data)
        del data  # a traceback rendered with locals must not show it
        if isinstance(result, DecodeError):
            raise result
        return result


class ToolFunction(_Model, frozen=True):
    """An OpenAI-style function declaration: name, description and a JSON-schema `parameters`."""

    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Model, frozen=True):
    """A tool the persona may call.

    The spec documents two shapes and servers send both: `{"type": "function",
    "function": {...}}` (LLM tools, and the perception examples) and a flat
    `{"name", "description"}` (the perception item schema). Both decode into this Struct.
    """

    type: str | None = None
    function: ToolFunction | None = None
    name: str | None = None
    description: str | None = None

    @property
    def tool_name(self) -> str | None:
        """The tool's name whichever shape it came in."""
        if self.function is not None and self.function.name is not None:
            return self.function.name
        return self.name


class LLMLayer(_Model, frozen=True):
    """The language model layer. `api_key` and every `headers` value are masked in repr."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    tools: list[Tool] | None = None
    headers: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None
    speculative_inference: bool | None = None


class TTSLayer(_Model, frozen=True):
    """The text-to-speech layer. `api_key` is masked in repr."""

    api_key: str | None = None
    tts_engine: str | None = None
    external_voice_id: str | None = None
    voice_settings: dict[str, Any] | None = None
    tts_emotion_control: bool | None = None
    tts_model_name: str | None = None
    pronunciation_dictionary_id: str | None = None
    playht_user_id: str | None = None


class PerceptionLayer(_Model, frozen=True):
    """The perception (Raven) layer, with the legacy raven-0 names stock personas still use."""

    perception_model: str | None = None
    visual_awareness_queries: list[str] | None = None
    visual_tool_prompt: str | None = None
    visual_tools: list[Tool] | None = None
    audio_awareness_queries: list[str] | None = None
    audio_tool_prompt: str | None = None
    audio_tools: list[Tool] | None = None
    # Legacy names (raven-0 era) that published stock personas carry.
    ambient_awareness_queries: list[str] | None = None
    perception_tool_prompt: str | None = None
    perception_tools: list[Tool] | None = None
    tool_prompt: str | None = None


class STTLayer(_Model, frozen=True):
    """The speech-to-text layer, with the turn-taking settings older personas carry."""

    stt_engine: str | None = None
    hotwords: str | None = None
    participant_pause_sensitivity: str | None = None
    participant_interrupt_sensitivity: str | None = None
    smart_turn_detection: bool | None = None


class ConversationalFlowLayer(_Model, frozen=True):
    """Turn-taking and interruption settings (`sparrow-1`, `low`/`medium`/`high`, ...)."""

    turn_detection_model: str | None = None
    turn_taking_patience: str | None = None
    replica_interruptibility: str | None = None


class TransportLayer(_Model, frozen=True):
    """How the replica joins a call: `transport_type` (`livekit`, ...) and its room settings."""

    transport_type: str | None = None
    room_settings: dict[str, Any] | None = None


class Layers(_Model, frozen=True):
    """The persona's pipeline layers; any of them may be absent."""

    llm: LLMLayer | None = None
    tts: TTSLayer | None = None
    perception: PerceptionLayer | None = None
    stt: STTLayer | None = None
    conversational_flow: ConversationalFlowLayer | None = None
    transport: TransportLayer | None = None


class Persona(_Model, frozen=True, dict=True, gc=True):
    """A Tavus persona (a PAL) as returned by `GET /v2/personas/{persona_id}`.

    Two personas are equal when their fields are: keys the models do not know (kept for
    `to_dict()`) are not compared. Every caller gets a persona of its own (a cache hit is
    decoded anew, coalesced callers each get a copy), so changing its lists or dicts
    changes nobody else's.
    """

    persona_id: str
    persona_name: str | None = None
    system_prompt: str | None = None
    context: str | None = None
    pipeline_mode: str | None = None
    default_replica_id: str | None = None
    document_ids: list[str] | None = None
    document_tags: list[str] | None = None
    objectives_id: str | None = None
    guardrails_id: str | None = None
    layers: Layers | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def pal_id(self) -> str:
        """The PAL name of `persona_id`."""
        return self.persona_id

    @property
    def pal_name(self) -> str | None:
        """The PAL name of `persona_name`."""
        return self.persona_name

    @property
    def default_face_id(self) -> str | None:
        """The PAL name of `default_replica_id`."""
        return self.default_replica_id

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Build a persona from JSON data (`to_dict()`'s, a config, PAL names...) as decoding
        would: same leniency, a `DecodeError` naming the field at fault; `data` is copied,
        unknown keys included, so `to_dict()` gives it back.
        """
        result = _from_data(cls, data)
        del data  # a traceback rendered with locals must not show it
        if isinstance(result, DecodeError):
            raise result
        return result

    def to_dict(self) -> dict[str, Any]:
        """A new dict of the JSON object as received, every key at every depth, unknown ones
        included; for a persona built by keyword, the fields set.

        Secrets are included: pick the fields you pass on.
        """
        received = self.__dict__.get(_RECEIVED)
        if not isinstance(received, _Received):
            return super().to_dict()
        result: dict[str, Any] = _JSON.decode(received.json)
        return result

    def __copy__(self) -> Self:
        copied = msgspec.structs.replace(self)
        copied.__dict__.update(self.__dict__)
        return copied

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and deepcopy: rebuilt from what was received, so nothing is lost.
        return (type(self).from_dict, (self.to_dict(),))


#: The same model under the name Tavus now uses for personas.
Pal = Persona
_M = TypeVar("_M", bound=_Model)

# Where a decoded persona keeps its JSON object (in `__dict__`: not a field, so not compared
# or encoded), inside a `_Received`.
_RECEIVED: Final = "_received"


class _Received:
    """The JSON object a persona was built from (compact bytes; read-only), held so that
    `vars(persona)`, `rich.inspect(persona, all=True)` and a traceback's locals show only
    its size: it carries the persona's credentials unmasked."""

    __slots__ = ("json",)

    def __init__(self, json: bytes) -> None:
        self.json: Final = json

    def __repr__(self) -> str:
        return f"<received JSON, {len(self.json)} bytes, not shown>"

    __str__ = __repr__


_PAL_NAMES: Final = (
    ("pal_id", "persona_id"),
    ("pal_name", "persona_name"),
    ("default_face_id", "default_replica_id"),
)
_SECRETS: Final[dict[type[msgspec.Struct], frozenset[str]]] = {
    LLMLayer: frozenset({"api_key", "headers"}),
    TTSLayer: frozenset({"api_key"}),
}
_JSON_KINDS: Final[dict[type, str]] = {
    type(None): "null",
    str: "a string",
    list: "an array",
    dict: "an object",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _display_fields(obj: msgspec.Struct) -> list[tuple[str, Any]]:
    """Fields as repr shows them: secrets masked, the names in a headers dict kept."""
    secrets = _SECRETS.get(type(obj), frozenset())
    fields = []
    for name in obj.__struct_fields__:
        value = getattr(obj, name)
        if name in secrets and value is not None:
            value = {k: MASK for k in value} if isinstance(value, dict) else MASK
        fields.append((name, value))
    return fields


def _safe_repr(value: object) -> str:
    """`repr(value)`, or a placeholder when it cannot be built (absurd nesting, ...)."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _with_persona_names(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with the PAL names copied to the persona names it lacks."""
    renamed = None
    for pal, persona in _PAL_NAMES:
        if pal in record and persona not in record:
            renamed = renamed if renamed is not None else dict(record)
            renamed[persona] = record[pal]
    return record if renamed is None else renamed


def _located(reason: str, where: str) -> str:
    """msgspec's reason with its path (`$...`) made relative to `where` in the body."""
    if where == "$":
        return reason
    if "- at `$" in reason:
        return reason.replace("- at `$", f"- at `{where}", 1)
    return f"{reason} - at `{where}`"


def _build(
    cls: type[_M],
    obj: Any,
    where: str,
    status_code: int | None,
    size: int | None,
    raw: bytes | None = None,
) -> _M | DecodeError:
    """Convert JSON data to `cls`; a persona also keeps `obj` (as `raw` JSON bytes)."""
    is_persona = issubclass(cls, Persona)
    try:
        if is_persona and type(obj) is dict:
            model = msgspec.convert(_with_persona_names(obj), cls, strict=False)
        else:
            model = msgspec.convert(obj, cls, strict=False)
        if is_persona:
            model.__dict__[_RECEIVED] = _Received(raw if raw is not None else _encode(obj))
    except msgspec.ValidationError as error:
        reason = _located(str(error), where)
    except RecursionError:
        reason = "JSON nested too deeply"
    else:
        return model
    return DecodeError(f"not a {cls.__name__}: {reason}", status_code=status_code, body_length=size)


def _from_data(cls: type[_M], data: Any) -> _M | DecodeError:
    """`cls.from_dict(data)`, its error returned: JSON data copied, then built."""
    try:
        raw = _encode(data)
        obj = _JSON.decode(raw)
    except UnicodeError:  # its text would quote the character
        return DecodeError("not JSON data: a string is not valid Unicode")
    except RecursionError:
        return DecodeError("not JSON data: nested too deeply")
    except (TypeError, ValueError) as error:  # msgspec's text names a type, not a value
        return DecodeError(f"not JSON data: {error}")
    return _build(cls, obj, "$", None, None, raw)


def _is_utf8(body: bytes | bytearray | memoryview) -> bool:
    try:
        str(body, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _unreadable_reason(error: Exception, body_is_utf8: bool) -> str:
    """Why a body is not JSON, from the decoder's error: the same text on every msgspec.

    msgspec before 0.20 raises `UnicodeDecodeError` for invalid UTF-8, later versions a
    `msgspec.DecodeError`; both are reported from the body itself.
    """
    if isinstance(error, RecursionError):
        return "JSON nested too deeply"
    if not body_is_utf8 or isinstance(error, UnicodeDecodeError):
        return "response body is not valid UTF-8"
    return f"response is not JSON: {error}"


def _kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), "another value")


def _pick(obj: Any, persona_id: str | None) -> tuple[Any, str] | str | None:
    """The persona object in a parsed body and its path; a reason when there is none to
    take, or None for an empty envelope.

    From a `data` list it takes the item whose id is `persona_id`, else the first.
    """
    if type(obj) is not dict:
        return f"the body is {_kind(obj)}, not a persona object"
    if "data" not in obj or "persona_id" in obj or "pal_id" in obj:
        return obj, "$"
    data = obj["data"]
    if type(data) is dict:
        return data, "$.data"
    if type(data) is not list:
        return f"`data` is {_kind(data)}, not a persona or a list of personas"
    if not data:
        return None
    if persona_id is not None:
        for index, item in enumerate(data):
            if type(item) is dict and item.get("persona_id", item.get("pal_id")) == persona_id:
                return item, f"$.data[{index}]"
    return data[0], "$.data[0]"


def _decode(
    body: bytes | bytearray | memoryview, persona_id: str | None, status_code: int
) -> Persona | TavusError:
    """`decode_persona` with its error returned rather than raised."""
    size = len(body)
    try:
        obj = _JSON.decode(body)
    except _JSON_FAILURES as error:
        reason = _unreadable_reason(error, _is_utf8(body))
        return DecodeError(reason, status_code=status_code, body_length=size)
    picked = _pick(obj, persona_id)
    if picked is None:
        return NotFoundError(
            "The response held no persona (empty `data`).",
            status_code=status_code,
            body={"data": []},
        )
    if isinstance(picked, str):
        return DecodeError(f"not a Persona: {picked}", status_code=status_code, body_length=size)
    record, where = picked
    return _build(Persona, record, where, status_code, size)


def decode_persona(
    body: bytes | bytearray | memoryview,
    *,
    persona_id: str | None = None,
    status_code: int = 200,
) -> Persona:
    """Decode a 2xx body, bare or enveloped (`{"data": [...]}` / `{"data": {...}}`).

    From a list it takes the persona whose id is `persona_id` (when given), else the first;
    it does not check that the id matches. Raises `DecodeError` (not JSON, invalid UTF-8,
    absurd nesting, wrong schema: the message names the path, never a value) or
    `NotFoundError` (an envelope with no persona).
    """
    result = _decode(body, persona_id, status_code)
    del body  # a traceback rendered with locals must not show it
    if isinstance(result, TavusError):
        raise result
    return result


def parse_response(
    body: bytes | bytearray | memoryview,
    status_code: int,
    persona_id: str | None,
    secret: str | None = None,
) -> Persona:
    """`decode_persona` that also refuses a persona with another id than `persona_id`.

    The current resource's parse step; `secret` is accepted and unused (errors quote no
    part of the body).
    """
    result = _decode(body, persona_id, status_code)
    del body, secret  # a traceback rendered with locals must not show them
    if isinstance(result, Persona) and persona_id is not None and result.persona_id != persona_id:
        # Never hand back somebody else's persona.
        result = NotFoundError(
            f"The response held persona {result.persona_id!r}, not {persona_id!r}.",
            status_code=status_code,
            body={"persona_id": result.persona_id},
        )
    if isinstance(result, TavusError):
        raise result
    return result
