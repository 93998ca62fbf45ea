"""Persona models (msgspec Structs) and the decoders that build them from response bytes.

Leniency rules, from what real Tavus servers send (see tests/test_realworld.py):
- every field but `persona_id` is optional and nullable; unknown fields are ignored;
- enum-like fields (`tts_engine`, `perception_model`, `stt_engine`) are plain `str`, so a
  value the spec does not list still decodes; the known values are constants below;
- the legacy perception names that stock personas still carry (`ambient_awareness_queries`,
  `perception_tools`, `perception_tool_prompt`, `tool_prompt`) and the fields real servers add
  (`context`, `pipeline_mode`, turn-taking settings) are modelled so nothing they hold is lost.
Strict where the spec is clear: a wrong type (`persona_name: 123`) is a `DecodeError`.

Built for bulk fetches of many personas: Structs use `gc=False` (they hold only JSON data and
never form reference cycles), arrays decode to tuples (which the collector untracks), and the
free-form JSON objects (`parameters`, `headers`, `extra_body`, `voice_settings`) are kept as
raw JSON (`msgspec.Raw`, in the `*_json` fields) and decoded on access. A retained persona
thus holds no container the cyclic GC must scan: collections stay cheap however many
personas a program keeps (see docs/benchmarks.md).

Decoding runs no Python code per persona: the raw fields are views into the response body,
which the persona keeps alive (from a body over `KEEP_BODY_LIMIT`, or a buffer other than
`bytes`, they are copied out instead), and a free-form field is checked to be an object
when it is read, not when it is decoded.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from .errors import DecodeError, NotFoundError, snippet

__all__ = [
    "Layers",
    "LLMLayer",
    "PerceptionLayer",
    "PerceptionModel",
    "Persona",
    "STTEngine",
    "STTLayer",
    "TTSEngine",
    "TTSLayer",
    "Tool",
    "ToolFunction",
    "decode_persona",
    "raw_json",
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


#: Default of a free-form field the server did not send.
ABSENT: Final = msgspec.Raw()
#: A persona decoded from a body larger than this copies its raw fields out of it rather
#: than keeping the whole body alive.
KEEP_BODY_LIMIT: Final = 32 * 1024
_OBJECT_DECODER: Final = msgspec.json.Decoder(dict[str, Any] | None)
_ANY_DECODER: Final = msgspec.json.Decoder()
_JSON_KINDS: Final[dict[type, str]] = {
    str: "a string",
    list: "an array",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _free_form(raw: msgspec.Raw, name: str) -> dict[str, Any] | None:
    """Decode a free-form field kept raw: its object, or None when absent or `null`.

    Any other JSON value is a `DecodeError` here, on access; the value itself stays
    readable in the `*_json` field.
    """
    if not raw:
        return None
    # No snippet, and raised outside the `except`: the value may be a credential
    # (`headers`), and a UnicodeDecodeError as `__context__` would carry its bytes.
    try:
        value = _ANY_DECODER.decode(raw)
    except _DECODE_FAILURES:
        reason = f"`{name}` is not valid JSON"
    else:
        if value is None or type(value) is dict:
            return value
        reason = f"`{name}` is {_JSON_KINDS.get(type(value), 'another value')}, not a JSON object"
    raise DecodeError(reason, status_code=200, snippet="")


def raw_json(value: dict[str, Any] | None) -> msgspec.Raw:
    """Encode a dict for a `*_json` field when building a model by hand."""
    return msgspec.Raw(msgspec.json.encode(value))


class _Model(msgspec.Struct, omit_defaults=True, gc=False, kw_only=True):
    """Base of every model: encodes only what was set, untracked by the cyclic GC."""

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in _display_fields(self))
        return f"{type(self).__name__}({body})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return _display_fields(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (dicts, lists, str, ...), as the API sent it; unset fields left out.

        Use this rather than `msgspec.to_builtins`, which cannot expand the raw free-form
        fields. Secrets are included: pick the fields you pass on.
        """
        try:
            result: dict[str, Any] = _OBJECT_DECODER.decode(msgspec.json.encode(self))
        except _DECODE_FAILURES:
            error = DecodeError(
                "a raw free-form field is not valid JSON", status_code=200, snippet=""
            )
        else:
            return result
        raise error  # outside the `except`: the original error may quote a credential


class ToolFunction(_Model):
    """An OpenAI-style function declaration: name, description and a JSON-schema `parameters`."""

    name: str | None = None
    description: str | None = None
    parameters_json: msgspec.Raw = msgspec.field(default=ABSENT, name="parameters")

    @property
    def parameters(self) -> dict[str, Any] | None:
        """The JSON-schema parameters object, decoded from `parameters_json` on access."""
        return _free_form(self.parameters_json, "parameters")


class Tool(_Model):
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


class LLMLayer(_Model):
    """The language model layer. `api_key` and `headers` values are masked in repr."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    tools: tuple[Tool, ...] | None = None
    headers_json: msgspec.Raw = msgspec.field(default=ABSENT, name="headers")
    extra_body_json: msgspec.Raw = msgspec.field(default=ABSENT, name="extra_body")
    speculative_inference: bool | None = None

    @property
    def headers(self) -> dict[str, Any] | None:
        """Headers sent to a custom LLM, decoded from `headers_json` on access."""
        return _free_form(self.headers_json, "headers")

    @property
    def extra_body(self) -> dict[str, Any] | None:
        """Extra LLM request parameters, decoded from `extra_body_json` on access."""
        return _free_form(self.extra_body_json, "extra_body")


class TTSLayer(_Model):
    """The text-to-speech layer. `api_key` is masked in repr."""

    api_key: str | None = None
    tts_engine: str | None = None
    external_voice_id: str | None = None
    voice_settings_json: msgspec.Raw = msgspec.field(default=ABSENT, name="voice_settings")
    tts_emotion_control: bool | None = None
    tts_model_name: str | None = None

    @property
    def voice_settings(self) -> dict[str, Any] | None:
        """Engine voice settings, decoded from `voice_settings_json` on access."""
        return _free_form(self.voice_settings_json, "voice_settings")


class PerceptionLayer(_Model):
    """The perception (Raven) layer, with the legacy raven-0 names stock personas still use."""

    perception_model: str | None = None
    visual_awareness_queries: tuple[str, ...] | None = None
    visual_tool_prompt: str | None = None
    visual_tools: tuple[Tool, ...] | None = None
    audio_awareness_queries: tuple[str, ...] | None = None
    audio_tool_prompt: str | None = None
    audio_tools: tuple[Tool, ...] | None = None
    # Legacy names (raven-0 era) that published stock personas carry.
    ambient_awareness_queries: tuple[str, ...] | None = None
    perception_tool_prompt: str | None = None
    perception_tools: tuple[Tool, ...] | None = None
    tool_prompt: str | None = None


class STTLayer(_Model):
    """The speech-to-text layer, with the turn-taking settings older personas carry."""

    stt_engine: str | None = None
    hotwords: str | None = None
    participant_pause_sensitivity: str | None = None
    participant_interrupt_sensitivity: str | None = None
    smart_turn_detection: bool | None = None


class Layers(_Model):
    """The persona's pipeline layers; any of them may be absent."""

    llm: LLMLayer | None = None
    tts: TTSLayer | None = None
    perception: PerceptionLayer | None = None
    stt: STTLayer | None = None


class Persona(_Model):
    """A Tavus persona as returned by `GET /v2/personas/{persona_id}`."""

    persona_id: str
    persona_name: str | None = None
    system_prompt: str | None = None
    context: str | None = None
    pipeline_mode: str | None = None
    default_replica_id: str | None = None
    document_ids: tuple[str, ...] | None = None
    document_tags: tuple[str, ...] | None = None
    layers: Layers | None = None
    created_at: str | None = None
    updated_at: str | None = None


_SECRETS: Final[dict[type[msgspec.Struct], frozenset[str]]] = {
    LLMLayer: frozenset({"api_key", "headers"}),
    TTSLayer: frozenset({"api_key"}),
}


def _display_fields(obj: msgspec.Struct) -> list[tuple[str, Any]]:
    """Fields as repr shows them: raw JSON decoded under its public name, secrets masked."""
    secrets = _SECRETS.get(type(obj), frozenset())
    fields = []
    for name in obj.__struct_fields__:
        value = getattr(obj, name)
        if name.endswith("_json"):  # free-form: shown under its JSON name, masked by that name
            name = name.removesuffix("_json")
            if isinstance(value, msgspec.Raw):
                value = _shown(value)
        if name in secrets and value is not None:
            value = {k: MASK for k in value} if isinstance(value, dict) else MASK
        fields.append((name, value))
    return fields


def _shown(raw: msgspec.Raw) -> Any:
    """A raw field as repr shows it: its JSON value (whatever it is), never an exception."""
    if not raw:
        return None
    try:
        return _ANY_DECODER.decode(raw)
    except _DECODE_FAILURES:  # not JSON (hand-built), invalid UTF-8 inside, or too deep
        return raw  # its repr shows no content


def _detach(obj: msgspec.Struct) -> None:
    """Copy every raw field of `obj` (and of its nested models) out of the response body."""
    for name in obj.__struct_fields__:
        value = getattr(obj, name)
        if isinstance(value, msgspec.Raw):
            if value:
                setattr(obj, name, value.copy())
        elif isinstance(value, msgspec.Struct):
            _detach(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, msgspec.Struct):
                    _detach(item)


class _Envelope(_Model):
    """The spec's shape `{"data": [persona]}` (an object in place of the list is accepted)."""

    data: list[Persona] | Persona | None = None


_PERSONA_DECODER: Final = msgspec.json.Decoder(Persona)
_ENVELOPE_DECODER: Final = msgspec.json.Decoder(_Envelope)
# Which shape to try first; the other is the fallback, so a wrong guess costs only speed.
_LOOKS_ENVELOPED: Final = re.compile(rb'\s*\{\s*"data"\s*:')
_DECODE_FAILURES: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _from_envelope(env: _Envelope, status_code: int, persona_id: str | None) -> Persona:
    data = env.data
    if isinstance(data, Persona):
        return data
    if not data:
        raise NotFoundError(
            "The response held no persona (empty `data`).",
            status_code=status_code,
            body={"data": []},
        )
    if persona_id is None:
        return data[0]
    for persona in data:
        if persona.persona_id == persona_id:
            return persona
    # Never hand back somebody else's persona.
    raise NotFoundError(
        f"The response held no persona with id {persona_id!r}.",
        status_code=status_code,
        body={"data": [p.persona_id for p in data]},
    )


def decode_persona(
    body: bytes | bytearray | memoryview,
    *,
    status_code: int = 200,
    persona_id: str | None = None,
    secret: str | None = None,
) -> Persona:
    """Decode a 2xx body, enveloped (`{"data": [...]}`) or bare, into a `Persona`.

    Raises `DecodeError` (not JSON, invalid UTF-8, absurd nesting, wrong schema) or
    `NotFoundError` (an envelope with no persona). `secret` is scrubbed from error text.
    """
    return parse_response(body, status_code, persona_id, secret)


def parse_response(
    body: bytes | bytearray | memoryview,
    status_code: int,
    persona_id: str | None,
    secret: str | None,
) -> Persona:
    """`decode_persona` with positional arguments: the transport's parse step, per response."""
    persona = _decode_shapes(body, status_code, persona_id, secret)
    if persona_id is not None and persona.persona_id != persona_id:
        # Never hand back somebody else's persona, whatever the body's shape.
        raise NotFoundError(
            f"The response held persona {persona.persona_id!r}, not {persona_id!r}.",
            status_code=status_code,
            body={"persona_id": persona.persona_id},
        )
    # Raw fields are views into `body`: keep it alive only when it is immutable `bytes` of a
    # modest size (a caller's bytearray may change or grow; an outsized body is not pinned).
    if type(body) is not bytes or len(body) > KEEP_BODY_LIMIT:
        _detach(persona)
    return persona


def _decode_shapes(
    body: bytes | bytearray | memoryview,
    status_code: int,
    persona_id: str | None,
    secret: str | None,
) -> Persona:
    enveloped_first = _LOOKS_ENVELOPED.match(body) is not None
    try:
        if enveloped_first:
            return _from_envelope(_ENVELOPE_DECODER.decode(body), status_code, persona_id)
        return _PERSONA_DECODER.decode(body)
    except _DECODE_FAILURES as first:
        error: Exception = first
    # The guess was wrong, or the body is broken: try the other shape before giving up.
    try:
        if enveloped_first:
            return _PERSONA_DECODER.decode(body)
        env = _ENVELOPE_DECODER.decode(body)
        if env.data is not None:
            return _from_envelope(env, status_code, persona_id)
    except _DECODE_FAILURES:
        pass
    if isinstance(error, RecursionError):
        reason = "JSON nested too deeply"
    elif isinstance(error, UnicodeDecodeError):
        reason = "response body is not valid UTF-8"
    else:
        reason = f"response is not a persona: {error}"
    raise DecodeError(reason, status_code=status_code, snippet=snippet(body, secret)) from None
