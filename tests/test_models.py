"""Pure decode tests of `tavus_async.models`: body shapes, leniency, strictness, secrets."""

from __future__ import annotations

import copy
import gc
import sys
from typing import Any

import msgspec
import pytest
from rich.pretty import pretty_repr

from tavus_async.errors import DecodeError, NotFoundError, TavusError
from tavus_async.models import (
    KEEP_BODY_LIMIT,
    Layers,
    LLMLayer,
    PerceptionLayer,
    PerceptionModel,
    Persona,
    STTEngine,
    STTLayer,
    Tool,
    ToolFunction,
    TTSEngine,
    TTSLayer,
    decode_persona,
    raw_json,
)


def _plain(value: object) -> Any:
    """JSON-shaped builtins (tuples become lists), as the wire carries them."""
    return msgspec.json.decode(msgspec.json.encode(value))


LLM_KEY = "sk-llm-4b1d9e2f7a6c"
TTS_KEY = "tts-key-91c0ffee55aa"
HEADER_VALUE = "Bearer hdr-secret-77e2d1"
API_KEY = "tavus-api-key-0d15ea5e"


def _enc(value: object) -> bytes:
    return msgspec.json.encode(value)


# The full persona as the spec (get-persona.openapi.md) documents it, every value taken
# from the spec's own `example:` entries (fields without an example get a plausible value).
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
ID_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "notify_if_id_shown",
        "description": (
            "Use this function when a drivers license or passport is detected in the image "
            "with high confidence. After collecting the ID, internally use final_ask()"
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "id_type": {"type": "string", "description": "best guess on what type of ID it is"}
            },
            "required": ["id_type"],
        },
    },
}
ESCALATE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "escalate_to_human",
        "description": (
            "Escalate the conversation to a human agent when user frustration is detected"
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "The reason for escalation"}
            },
            "required": ["reason"],
        },
    },
}
SPEC_PERSONA: dict[str, Any] = {
    "persona_id": "pcb7a34da5fe",
    "persona_name": "Life Coach",
    "system_prompt": "As a Life Coach, you are a dedicated professional who specializes in...",
    "default_replica_id": "rf4e9d9790f0",
    "document_ids": ["d1234567890", "d2468101214"],
    "document_tags": ["product_info", "company_policies"],
    "layers": {
        "llm": {
            "model": "tavus-gpt-4o",
            "base_url": "your-base-url",
            "api_key": "your-api-key",
            "tools": [WEATHER_TOOL],
            "headers": {"Authorization": "Bearer your-api-key"},
            "extra_body": {"temperature": 0.7, "top_p": 0.9},
        },
        "tts": {
            "api_key": "your-api-key",
            "tts_engine": "cartesia",
            "external_voice_id": "external-voice-id",
            "voice_settings": {"speed": 0.5, "emotion": ["positivity:high", "curiosity"]},
            "tts_emotion_control": True,
            "tts_model_name": "sonic-3",
        },
        "perception": {
            "perception_model": "raven-1",
            "visual_awareness_queries": [
                "Is the user showing an ID card?",
                "Does the user appear distressed or uncomfortable?",
            ],
            "visual_tool_prompt": (
                "You have a tool to notify the system when an ID card is detected, named "
                "`notify_if_id_shown`. You MUST use this tool when a form of ID is detected."
            ),
            "visual_tools": [ID_TOOL],
            "audio_awareness_queries": [
                "Does the user sound frustrated or confused?",
                "Is the user speaking quickly as if in a hurry?",
            ],
            "audio_tool_prompt": (
                "You have a tool to escalate to a human agent when the user sounds very "
                "frustrated, named `escalate_to_human`. Use this tool when detecting sustained "
                "frustration."
            ),
            "audio_tools": [ESCALATE_TOOL],
        },
        "stt": {"stt_engine": "tavus-turbo", "hotwords": "This is a hotword example"},
    },
    "created_at": "",
    "updated_at": "2025-03-21T20:59:57.899956Z",
}


def _secret_persona() -> Persona:
    return decode_persona(
        _enc(
            {
                "persona_id": "p1",
                "persona_name": "Secretive",
                "layers": {
                    "llm": {
                        "model": "my-llm",
                        "api_key": LLM_KEY,
                        "headers": {"Authorization": HEADER_VALUE, "X-Other": HEADER_VALUE},
                        "tools": [WEATHER_TOOL],
                    },
                    "tts": {"api_key": TTS_KEY, "tts_engine": "elevenlabs"},
                },
            }
        )
    )


# --------------------------------------------------------------------------- body shapes


def test_enveloped_list_body() -> None:
    p = decode_persona(_enc({"data": [SPEC_PERSONA]}))
    assert p.persona_id == "pcb7a34da5fe"
    assert p.persona_name == "Life Coach"


def test_bare_persona_body() -> None:
    p = decode_persona(_enc(SPEC_PERSONA))
    assert p.persona_id == "pcb7a34da5fe"
    assert p.persona_name == "Life Coach"


def test_enveloped_object_body() -> None:
    p = decode_persona(_enc({"data": SPEC_PERSONA}))
    assert p.persona_id == "pcb7a34da5fe"
    assert p.layers is not None


def test_data_not_first_key() -> None:
    body = b'{"meta": {"page": 1}, "total": 1, "data": [{"persona_id": "p9", "persona_name": "N"}]}'
    p = decode_persona(body)
    assert p.persona_id == "p9"
    assert p.persona_name == "N"


def test_whitespace_before_body() -> None:
    assert decode_persona(b' \n\t\r {"data": [{"persona_id": "p1"}]}').persona_id == "p1"
    assert decode_persona(b'\n\n  {"persona_id": "p2"}  \n').persona_id == "p2"
    assert decode_persona(b'{ \n "data" \n : \n [{"persona_id": "p3"}]}').persona_id == "p3"


def test_empty_data_is_not_found() -> None:
    with pytest.raises(NotFoundError) as info:
        decode_persona(b'{"data": []}', status_code=200)
    assert info.value.status_code == 200
    assert isinstance(info.value, TavusError)


def test_empty_data_not_first_key_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        decode_persona(b'{"total": 0, "data": []}')


def test_envelope_picks_matching_persona() -> None:
    body = _enc({"data": [{"persona_id": "pa", "persona_name": "A"}, {"persona_id": "pb"}]})
    assert decode_persona(body, persona_id="pb").persona_id == "pb"
    assert decode_persona(body, persona_id="pa").persona_name == "A"
    assert decode_persona(body).persona_id == "pa"


# --------------------------------------------------------------------------- leniency


def _all_null(cls: type[msgspec.Struct], **keep: Any) -> dict[str, Any]:
    return {f.encode_name: None for f in msgspec.structs.fields(cls)} | keep


def test_every_optional_persona_field_null_decodes_to_none() -> None:
    body = _all_null(Persona, persona_id="p1")
    assert set(body) >= {"persona_name", "system_prompt", "layers", "document_ids"}
    p = decode_persona(_enc(body))
    assert p.persona_id == "p1"
    for name in Persona.__struct_fields__:
        if name != "persona_id":
            assert getattr(p, name) is None, name


@pytest.mark.parametrize(
    ("layer", "cls"),
    [("llm", LLMLayer), ("tts", TTSLayer), ("perception", PerceptionLayer), ("stt", STTLayer)],
)
def test_every_layer_field_null_decodes_to_none(layer: str, cls: type[msgspec.Struct]) -> None:
    body = {"persona_id": "p1", "layers": _all_null(Layers) | {layer: _all_null(cls)}}
    p = decode_persona(_enc(body))
    assert p.layers is not None
    value = getattr(p.layers, layer)
    assert isinstance(value, cls)
    for field in msgspec.structs.fields(cls):
        # Raw-backed free-form fields are read through the property of their JSON name.
        assert getattr(value, field.encode_name) is None, field.encode_name
    for other in Layers.__struct_fields__:
        if other != layer:
            assert getattr(p.layers, other) is None


def test_null_tool_fields_decode() -> None:
    tool = {"type": None, "function": _all_null(ToolFunction), "name": None, "description": None}
    p = decode_persona(_enc({"persona_id": "p1", "layers": {"llm": {"tools": [tool]}}}))
    assert p.layers is not None and p.layers.llm is not None and p.layers.llm.tools is not None
    t = p.layers.llm.tools[0]
    assert t.function is not None
    assert (t.function.name, t.function.description, t.function.parameters) == (None, None, None)
    assert t.tool_name is None
    # A raw field keeps the JSON as sent: `null` stays `null` when encoded again.
    assert t.function.to_dict() == {"parameters": None}
    assert ToolFunction().to_dict() == {}


def test_unknown_fields_at_every_level_are_ignored() -> None:
    body = copy.deepcopy(SPEC_PERSONA)
    body["brand_new_top"] = {"nested": [1, 2, {"x": None}]}
    layers = body["layers"]
    layers["transport"] = {"transport_type": "livekit"}
    layers["conversational_flow"] = {"turn_taking": "x"}
    layers["llm"]["reasoning_effort"] = "high"
    layers["tts"]["sample_rate"] = 24000
    layers["perception"]["video_fps"] = [1, 2]
    layers["stt"]["language"] = {"code": "en"}
    layers["llm"]["tools"][0]["strict"] = True
    layers["llm"]["tools"][0]["function"]["strict"] = True
    layers["perception"]["visual_tools"][0]["cache"] = False
    p = decode_persona(_enc(body))
    assert p == decode_persona(_enc(SPEC_PERSONA))


@pytest.mark.parametrize(
    ("layer", "field", "value"),
    [
        ("tts", "tts_engine", "playht"),
        ("perception", "perception_model", "raven-2"),
        ("stt", "stt_engine", "whisper"),
    ],
)
def test_new_enum_values_decode(layer: str, field: str, value: str) -> None:
    p = decode_persona(_enc({"persona_id": "p1", "layers": {layer: {field: value}}}))
    assert getattr(getattr(p.layers, layer), field) == value


def _constants(cls: type) -> set[str]:
    return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


def test_enum_constants_have_spec_values() -> None:
    assert _constants(TTSEngine) == {"cartesia", "elevenlabs"}
    assert TTSEngine.CARTESIA == "cartesia"
    assert TTSEngine.ELEVENLABS == "elevenlabs"
    assert _constants(PerceptionModel) == {"raven-1", "raven-0", "off"}
    assert PerceptionModel.RAVEN_1 == "raven-1"
    assert PerceptionModel.RAVEN_0 == "raven-0"
    assert PerceptionModel.OFF == "off"
    assert _constants(STTEngine) == {"tavus-turbo", "tavus-advanced"}
    assert STTEngine.TAVUS_TURBO == "tavus-turbo"
    assert STTEngine.TAVUS_ADVANCED == "tavus-advanced"


def test_empty_created_at_decodes() -> None:
    p = decode_persona(b'{"persona_id": "p1", "created_at": "", "updated_at": ""}')
    assert p.created_at == ""
    assert p.updated_at == ""


@pytest.mark.parametrize(
    ("value", "kind"),
    [("fast", "a string"), ([1, 2], "an array"), (3, "a number"), (True, "a boolean")],
)
def test_a_non_object_free_form_field_is_kept_and_an_error_when_read(
    value: object, kind: str
) -> None:
    body = {
        "persona_id": "p1",
        "persona_name": "still here",
        "layers": {"tts": {"voice_settings": value}, "llm": {"headers": value}},
    }
    p = decode_persona(_enc(body))  # the rest of the persona is not lost for it
    assert p.persona_name == "still here"
    assert p.layers is not None and p.layers.tts is not None and p.layers.llm is not None
    with pytest.raises(DecodeError, match=f"`voice_settings` is {kind}, not a JSON object"):
        _ = p.layers.tts.voice_settings
    assert msgspec.json.decode(p.layers.tts.voice_settings_json) == value
    assert p.to_dict()["layers"]["tts"]["voice_settings"] == value
    assert "voice_settings=" in repr(p)  # repr never raises
    # `headers` may hold a credential: the error does not quote the value.
    with pytest.raises(DecodeError) as info:
        _ = p.layers.llm.headers
    assert "`headers` is" in str(info.value)
    assert "fast" not in str(info.value)


def test_raw_fields_keep_a_small_body_alive_but_copy_out_of_a_large_one() -> None:
    small = _enc(SPEC_PERSONA)
    large = _enc(SPEC_PERSONA | {"padding": "x" * KEEP_BODY_LIMIT})
    for body, kept in ((small, True), (large, False)):
        before = sys.getrefcount(body)
        p = decode_persona(body)
        assert (sys.getrefcount(body) > before) is kept, len(body)
        assert p.layers is not None and p.layers.llm is not None
        assert p.layers.llm.extra_body == SPEC_PERSONA["layers"]["llm"]["extra_body"]
        del p
        assert sys.getrefcount(body) == before


def test_a_caller_buffer_is_never_shared() -> None:
    body = bytearray(_enc(SPEC_PERSONA))
    expected = SPEC_PERSONA["layers"]["llm"]["extra_body"]
    layers = [decode_persona(body).layers, decode_persona(memoryview(body)).layers]
    body[:] = b" " * len(body)
    body.extend(b"more")  # would fail while a view into it were alive
    for decoded in layers:
        assert decoded is not None and decoded.llm is not None
        assert decoded.llm.extra_body == expected
    with pytest.raises(DecodeError, match="body starts '   "):
        decode_persona(memoryview(bytes(body)))


def test_an_unreadable_secret_field_never_leaks_and_repr_never_raises() -> None:
    secret = "Bearer sk-live-SECRET"
    body = (
        b'{"persona_id":"p1","layers":{"llm":{"headers":{"Authorization":"'
        + secret.encode().replace(b"sk-", b"sk-\xff")  # invalid UTF-8 inside the value
        + b'"}}}}'
    )
    p = decode_persona(body)  # msgspec does not read inside a raw value
    assert p.layers is not None and p.layers.llm is not None
    shown = [repr(p), str(p), pretty_repr(p)]
    llm = p.layers.llm

    def read_headers() -> object:
        return llm.headers

    for failure in (read_headers, p.to_dict):
        with pytest.raises(DecodeError) as info:
            failure()
        assert info.value.__context__ is None
        shown.append(str(info.value))
    assert not [text for text in shown if "SECRET" in text]


def test_a_hand_built_secret_field_is_masked_whatever_its_type() -> None:
    layer = LLMLayer(headers_json={"Authorization": HEADER_VALUE})  # type: ignore[arg-type]
    assert HEADER_VALUE not in repr(layer)
    assert HEADER_VALUE not in pretty_repr(layer)
    assert "headers={'Authorization': '***'}" in repr(layer)


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"persona_id": "p1", "persona_name": 123}, "persona_name"),
        ({"persona_id": "p1", "document_ids": "x"}, "document_ids"),
        ({"persona_id": "p1", "layers": []}, "layers"),
        ({"persona_name": "no id"}, "persona_id"),
        ({"persona_id": 42}, "persona_id"),
        ({"persona_id": "p1", "layers": {"llm": {"tools": {"name": "x"}}}}, "tools"),
        ({"persona_id": "p1", "layers": {"tts": {"tts_emotion_control": "yes"}}}, "tts"),
        ({"data": [{"persona_id": "p1", "persona_name": 123}]}, "persona_name"),
    ],
)
@pytest.mark.parametrize("status", [200, 201])
def test_wrong_types_are_decode_errors(body: dict[str, Any], where: str, status: int) -> None:
    raw = _enc(body)
    with pytest.raises(DecodeError) as info:
        decode_persona(raw, status_code=status)
    err = info.value
    assert err.status_code == status
    assert err.snippet == raw.decode()
    assert where in err.message
    assert f"status {status}" in str(err)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"<html>502</html>", id="html"),
        pytest.param(b'{"persona_id": "p1", "persona_name": "Li', id="truncated"),
        pytest.param(b'{"data": [{"persona_id": "p1"}', id="truncated-envelope"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"p1"', id="string"),
        pytest.param(b'{"persona_id": "\xff"}', id="invalid-utf8"),
        pytest.param(b'{"data": [{"persona_id": "\xc3\x28"}]}', id="invalid-utf8-envelope"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-array"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="deep-object"),
        pytest.param(
            b'{"persona_id": "p1", "x": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001,
            id="deep-unknown-field",
        ),
        pytest.param(
            b'{"persona_id": "p1", "layers": {"llm": {"extra_body": '
            + b'{"a":' * 100_000
            + b"1"
            + b"}" * 100_003,
            id="deep-any-field",
        ),
        pytest.param(
            b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            id="deep-envelope",
        ),
        pytest.param(b'{"data": [' + b"[" * 100_000, id="deep-truncated"),
    ],
)
def test_broken_bodies_are_decode_errors(body: bytes) -> None:
    # pytest.raises(DecodeError) lets a UnicodeDecodeError / RecursionError escape: it fails.
    with pytest.raises(DecodeError) as info:
        decode_persona(body, status_code=200)
    assert info.value.status_code == 200
    assert len(info.value.snippet) <= 203
    assert not isinstance(info.value, UnicodeDecodeError | RecursionError)


def test_decode_error_reasons() -> None:
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        decode_persona(b'{"persona_id": "\xff"}')
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_persona(b'{"persona_id": "p1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_secret_is_scrubbed_from_decode_error() -> None:
    body = _enc({"persona_name": f"leaked {API_KEY}", "note": API_KEY})
    with pytest.raises(DecodeError) as info:
        decode_persona(body, secret=API_KEY)
    err = info.value
    assert API_KEY not in err.snippet
    assert API_KEY not in str(err)
    assert API_KEY not in repr(err)
    assert API_KEY not in err.message
    assert "***" in err.snippet
    # Without a secret, nothing is masked (proves the scrubbing is what removed it).
    with pytest.raises(DecodeError) as plain:
        decode_persona(body)
    assert API_KEY in plain.value.snippet


# --------------------------------------------------------------------------- tools


FLAT_TOOL: dict[str, Any] = {"name": "flag_user", "description": "Flag the user."}


@pytest.mark.parametrize(
    "where", ["llm.tools", "perception.visual_tools", "perception.audio_tools"]
)
def test_both_tool_shapes(where: str) -> None:
    layer, field = where.split(".")
    body = {"persona_id": "p1", "layers": {layer: {field: [WEATHER_TOOL, FLAT_TOOL]}}}
    p = decode_persona(_enc(body))
    tools = getattr(getattr(p.layers, layer), field)
    assert isinstance(tools, tuple)
    assert all(isinstance(t, Tool) for t in tools)
    nested, flat = tools
    assert nested.type == "function"
    assert nested.function is not None
    assert nested.function.name == "get_current_weather"
    assert nested.function.description == "Get the current weather in a given location"
    assert nested.function.parameters == WEATHER_TOOL["function"]["parameters"]
    assert nested.tool_name == "get_current_weather"
    assert flat.function is None
    assert flat.name == "flag_user"
    assert flat.description == "Flag the user."
    assert flat.tool_name == "flag_user"
    assert _plain(tools) == [WEATHER_TOOL, FLAT_TOOL]


def test_tool_name_prefers_function_name() -> None:
    assert Tool(name="outer", function=ToolFunction(name="inner")).tool_name == "inner"
    assert Tool(name="outer", function=ToolFunction()).tool_name == "outer"
    assert Tool().tool_name is None


# --------------------------------------------------------------------------- spec example


def test_every_spec_field_decodes_from_spec_example() -> None:
    p = decode_persona(_enc({"data": [SPEC_PERSONA]}), persona_id="pcb7a34da5fe")
    assert p.persona_id == "pcb7a34da5fe"
    assert p.persona_name == "Life Coach"
    assert p.system_prompt == SPEC_PERSONA["system_prompt"]
    assert p.default_replica_id == "rf4e9d9790f0"
    assert p.document_ids == ("d1234567890", "d2468101214")
    assert p.document_tags == ("product_info", "company_policies")
    assert p.created_at == ""
    assert p.updated_at == "2025-03-21T20:59:57.899956Z"
    layers = p.layers
    assert layers is not None
    llm, tts, perception, stt = layers.llm, layers.tts, layers.perception, layers.stt
    assert llm is not None and tts is not None and perception is not None and stt is not None

    assert llm.model == "tavus-gpt-4o"
    assert llm.base_url == "your-base-url"
    assert llm.api_key == "your-api-key"
    assert llm.headers == {"Authorization": "Bearer your-api-key"}
    assert llm.extra_body == {"temperature": 0.7, "top_p": 0.9}
    assert llm.tools is not None
    assert [t.tool_name for t in llm.tools] == ["get_current_weather"]
    assert llm.tools[0].function is not None
    assert llm.tools[0].function.parameters is not None
    assert llm.tools[0].function.parameters["required"] == ["location"]

    assert tts.api_key == "your-api-key"
    assert tts.tts_engine == TTSEngine.CARTESIA
    assert tts.external_voice_id == "external-voice-id"
    assert tts.voice_settings == {"speed": 0.5, "emotion": ["positivity:high", "curiosity"]}
    assert tts.tts_emotion_control is True
    assert tts.tts_model_name == "sonic-3"

    assert perception.perception_model == PerceptionModel.RAVEN_1
    assert (
        list(perception.visual_awareness_queries or ())
        == SPEC_PERSONA["layers"]["perception"]["visual_awareness_queries"]
    )
    assert perception.visual_tool_prompt is not None
    assert "notify_if_id_shown" in perception.visual_tool_prompt
    assert perception.visual_tools is not None
    assert [t.tool_name for t in perception.visual_tools] == ["notify_if_id_shown"]
    assert list(perception.audio_awareness_queries or ()) == [
        "Does the user sound frustrated or confused?",
        "Is the user speaking quickly as if in a hurry?",
    ]
    assert perception.audio_tool_prompt is not None
    assert "escalate_to_human" in perception.audio_tool_prompt
    assert perception.audio_tools is not None
    assert [t.tool_name for t in perception.audio_tools] == ["escalate_to_human"]

    assert stt.stt_engine == STTEngine.TAVUS_TURBO
    assert stt.hotwords == "This is a hotword example"

    # Nothing is lost: encoding gives back exactly the spec example.
    assert _plain(p) == SPEC_PERSONA


# --------------------------------------------------------------------------- secrets


def _shown(obj: object) -> list[str]:
    """Every way a human may print a model: repr, str, f-string, rich pretty."""
    texts = [repr(obj), str(obj), f"{obj}", f"{obj!r}", pretty_repr(obj)]
    rich_repr = getattr(obj, "__rich_repr__", None)
    assert rich_repr is not None
    texts.append(repr(list(rich_repr())))
    texts.append(pretty_repr([obj, {"nested": obj}]))
    return texts


def test_secrets_are_masked_in_repr_str_and_rich() -> None:
    p = _secret_persona()
    assert p.layers is not None
    for obj in (p, p.layers, p.layers.llm, p.layers.tts):
        for text in _shown(obj):
            assert LLM_KEY not in text
            assert TTS_KEY not in text
            assert HEADER_VALUE not in text
    llm_text = repr(p.layers.llm)
    assert "api_key='***'" in llm_text
    assert "'Authorization': '***'" in llm_text  # header names stay visible
    assert "model='my-llm'" in llm_text
    assert "api_key='***'" in repr(p.layers.tts)
    assert "tts_engine='elevenlabs'" in repr(p.layers.tts)


def test_rich_repr_of_layers_masks_values() -> None:
    llm = LLMLayer(
        api_key=LLM_KEY, headers_json=raw_json({"Authorization": HEADER_VALUE}), model="m"
    )
    fields = dict(llm.__rich_repr__())
    assert fields["api_key"] == "***"
    assert fields["headers"] == {"Authorization": "***"}
    assert fields["model"] == "m"
    tts = TTSLayer(api_key=TTS_KEY, tts_engine="cartesia")
    tts_fields = dict(tts.__rich_repr__())
    assert tts_fields["api_key"] == "***"
    assert tts_fields["tts_engine"] == "cartesia"


def test_unset_secrets_show_none() -> None:
    assert "api_key=None" in repr(LLMLayer())
    assert "headers=None" in repr(LLMLayer())
    assert "api_key=None" in repr(TTSLayer())


def test_secret_values_are_still_readable_and_round_trip() -> None:
    p = _secret_persona()
    assert p.layers is not None and p.layers.llm is not None and p.layers.tts is not None
    assert p.layers.llm.api_key == LLM_KEY
    assert p.layers.llm.headers == {"Authorization": HEADER_VALUE, "X-Other": HEADER_VALUE}
    assert p.layers.tts.api_key == TTS_KEY
    encoded = msgspec.json.encode(p)
    assert LLM_KEY.encode() in encoded
    assert msgspec.json.decode(encoded, type=Persona) == p


# --------------------------------------------------------------------------- GC


def test_structs_are_not_tracked_by_gc() -> None:
    p = decode_persona(_enc(SPEC_PERSONA))
    assert p.layers is not None and p.layers.llm is not None and p.layers.llm.tools is not None
    assert gc.is_tracked(p) is False
    assert gc.is_tracked(p.layers) is False
    assert gc.is_tracked(p.layers.llm) is False
    assert gc.is_tracked(p.layers.llm.tools[0]) is False
    assert gc.is_tracked(Persona(persona_id="x")) is False
