"""Pure tests of `tavus_async.models`: body shapes, data behaviour, leniency, strictness,
secrets. Every payload here is written in this file (the spec's examples, and records shaped
like the ones Tavus published); nothing is read from outside the repository."""

from __future__ import annotations

import copy
import io
import pickle
import sys
import traceback
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import rich
from fastapi.encoders import jsonable_encoder
from rich.console import Console
from rich.pretty import pretty_repr

import tavus_async
from tavus_async.errors import DecodeError, NotFoundError, TavusError
from tavus_async.models import (
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
    _unreadable_reason,
    decode_persona,
    parse_response,
)


def _plain(value: object) -> Any:
    """JSON-shaped builtins, as the wire carries them (the modelled fields only)."""
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


# A record shaped like the stock personas Tavus published for GET (legacy perception names,
# an stt layer with turn-taking settings, context and pipeline_mode), plus the fields newer
# records carry and a boolean sent as a string, as Tavus's published examples do.
STOCK_PERSONA: dict[str, Any] = {
    "persona_id": "pe13ed370726",
    "persona_name": "AI Interviewer",
    "pipeline_mode": "full",
    "system_prompt": "You are Jane Smith, a seasoned Principal — be concise.",
    "context": "You are interviewing a candidate for an analyst role.",
    "greeting": "Hi, thanks for joining!",
    "objectives_id": "o12345",
    "guardrails_id": "g12345",
    "layers": {
        "perception": {
            "ambient_awareness_queries": ["Is there another person in the scene?"],
            "perception_model": "raven-0",
            "perception_tool_prompt": "",
            "perception_tools": [],
            "tool_prompt": "",
        },
        "stt": {
            "stt_engine": "tavus-advanced",
            "participant_pause_sensitivity": "high",
            "participant_interrupt_sensitivity": "medium",
            "smart_turn_detection": True,
            "hotwords": "",
        },
        "tts": {
            "tts_engine": "cartesia",
            "tts_emotion_control": "false",
            "pronunciation_dictionary_id": "pd_123",
        },
        "conversational_flow": {
            "turn_detection_model": "sparrow-1",
            "turn_taking_patience": "high",
            "replica_interruptibility": "medium",
        },
        "transport": {"transport_type": "livekit", "room_settings": {"max_participants": 2}},
    },
    "default_replica_id": "r9d30b0e55ac",
    "created_at": "2025-03-21T20:59:57.842061Z",
    "updated_at": "2025-03-21T20:59:57.899956Z",
}


def _secret_body() -> dict[str, Any]:
    return {
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


def _secret_persona() -> Persona:
    return decode_persona(_enc(_secret_body()))


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
    assert p.to_dict() == SPEC_PERSONA


def test_data_not_first_key() -> None:
    body = b'{"meta": {"page": 1}, "total": 1, "data": [{"persona_id": "p9", "persona_name": "N"}]}'
    p = decode_persona(body)
    assert p.persona_id == "p9"
    assert p.to_dict() == {"persona_id": "p9", "persona_name": "N"}  # the persona, not the page


def test_whitespace_before_body() -> None:
    assert decode_persona(b' \n\t\r {"data": [{"persona_id": "p1"}]}').persona_id == "p1"
    assert decode_persona(b'\n\n  {"persona_id": "p2"}  \n').persona_id == "p2"
    assert decode_persona(b'{ \n "data" \n : \n [{"persona_id": "p3"}]}').persona_id == "p3"


@pytest.mark.parametrize("body", [b'{"data": []}', b'{"total": 0, "data": []}'])
def test_empty_data_is_not_found(body: bytes) -> None:
    with pytest.raises(NotFoundError) as info:
        decode_persona(body, status_code=200)
    assert info.value.status_code == 200
    assert isinstance(info.value, TavusError)


def test_envelope_picks_matching_persona_else_the_first() -> None:
    body = _enc({"data": [{"persona_id": "pa", "persona_name": "A"}, {"persona_id": "pb"}]})
    assert decode_persona(body, persona_id="pb").persona_id == "pb"
    assert decode_persona(body, persona_id="pa").persona_name == "A"
    assert decode_persona(body).persona_id == "pa"
    # No id check here (the resource makes it): an unknown id gives the first persona.
    assert decode_persona(body, persona_id="pz").persona_id == "pa"
    assert decode_persona(_enc({"pal_id": "pb"}), persona_id="other").persona_id == "pb"


def test_envelope_matches_a_pal_id() -> None:
    body = _enc({"data": [{"pal_id": "pa"}, {"pal_id": "pb", "pal_name": "B"}]})
    assert decode_persona(body, persona_id="pb").persona_name == "B"


def test_parse_response_refuses_another_persona() -> None:
    body = _enc({"persona_id": "pa"})
    assert parse_response(body, 200, "pa", "any-secret").persona_id == "pa"
    with pytest.raises(NotFoundError, match="held persona 'pa', not 'pb'"):
        parse_response(body, 200, "pb", None)


def test_a_bytearray_or_memoryview_body_decodes_and_is_not_kept() -> None:
    body = bytearray(_enc(SPEC_PERSONA))
    personas = [decode_persona(body), decode_persona(memoryview(body))]
    body[:] = b" " * len(body)
    body.extend(b"more")  # would fail while a view into it were alive
    for p in personas:
        assert p.to_dict() == SPEC_PERSONA


def test_a_persona_does_not_keep_the_response_body_alive() -> None:
    body = _enc({"data": [SPEC_PERSONA, STOCK_PERSONA]})
    before = sys.getrefcount(body)
    p = decode_persona(body, persona_id=STOCK_PERSONA["persona_id"])
    assert sys.getrefcount(body) == before
    assert p.to_dict() == STOCK_PERSONA  # what it keeps is its own object, not the envelope


# --------------------------------------------------------------------------- data behaviour


def _spec_built_by_hand() -> Persona:
    """SPEC_PERSONA built with keywords, plain lists and dicts."""
    layers = SPEC_PERSONA["layers"]
    perception = layers["perception"]

    def tool(raw: dict[str, Any]) -> Tool:
        return Tool(type=raw["type"], function=ToolFunction(**raw["function"]))

    return Persona(
        persona_id="pcb7a34da5fe",
        persona_name="Life Coach",
        system_prompt=SPEC_PERSONA["system_prompt"],
        default_replica_id="rf4e9d9790f0",
        document_ids=["d1234567890", "d2468101214"],
        document_tags=["product_info", "company_policies"],
        layers=Layers(
            llm=LLMLayer(
                model="tavus-gpt-4o",
                base_url="your-base-url",
                api_key="your-api-key",
                tools=[tool(WEATHER_TOOL)],
                headers={"Authorization": "Bearer your-api-key"},
                extra_body={"temperature": 0.7, "top_p": 0.9},
            ),
            tts=TTSLayer(**layers["tts"]),
            perception=PerceptionLayer(
                perception_model="raven-1",
                visual_awareness_queries=perception["visual_awareness_queries"],
                visual_tool_prompt=perception["visual_tool_prompt"],
                visual_tools=[tool(ID_TOOL)],
                audio_awareness_queries=perception["audio_awareness_queries"],
                audio_tool_prompt=perception["audio_tool_prompt"],
                audio_tools=[tool(ESCALATE_TOOL)],
            ),
            stt=STTLayer(stt_engine="tavus-turbo", hotwords="This is a hotword example"),
        ),
        created_at="",
        updated_at="2025-03-21T20:59:57.899956Z",
    )


def test_keyword_construction_with_plain_lists_and_dicts_equals_the_decoded_persona() -> None:
    built = _spec_built_by_hand()
    decoded = decode_persona(_enc({"data": [SPEC_PERSONA]}))
    assert built == decoded
    assert built.to_dict() == decoded.to_dict() == SPEC_PERSONA
    assert decoded.document_ids == ["d1234567890", "d2468101214"]
    assert decoded.layers is not None and decoded.layers.llm is not None
    assert type(decoded.layers.llm.tools) is list
    assert type(decoded.layers.llm.extra_body) is dict
    assert ToolFunction(parameters={"type": "object"}).parameters == {"type": "object"}
    assert built != msgspec.structs.replace(built, persona_name="Other")


def test_builtins_and_json_round_trips() -> None:
    for p in (decode_persona(_enc(SPEC_PERSONA)), _spec_built_by_hand()):
        assert msgspec.to_builtins(p) == SPEC_PERSONA
        assert msgspec.json.decode(msgspec.json.encode(p), type=Persona) == p
        assert msgspec.convert(p.to_dict(), Persona) == p
        assert Persona.from_dict(p.to_dict()) == p
        assert Persona.from_dict(p.to_dict()).to_dict() == p.to_dict()


def test_models_are_frozen() -> None:
    p = decode_persona(_enc(SPEC_PERSONA))
    assert p.layers is not None and p.layers.llm is not None
    for obj, name in [(p, "persona_name"), (p.layers, "llm"), (p.layers.llm, "api_key")]:
        with pytest.raises(AttributeError):
            setattr(obj, name, "changed")
    with pytest.raises(AttributeError):
        p.new_attribute = 1  # type: ignore[attr-defined]
    assert p.persona_name == "Life Coach"


def test_to_dict_returns_everything_received_with_unknown_keys_at_every_depth() -> None:
    body = copy.deepcopy(SPEC_PERSONA)
    body["brand_new_top"] = {"nested": [1, 2, {"x": None}]}
    body["persona_name"] = None
    layers = body["layers"]
    layers["brand_new_layer"] = {"mode": "x"}
    layers["llm"]["reasoning_effort"] = "high"
    layers["tts"]["sample_rate"] = 24000
    layers["perception"]["video_fps"] = [1, 2]
    layers["stt"]["language"] = {"code": "en"}
    layers["llm"]["tools"][0]["strict"] = True
    layers["llm"]["tools"][0]["function"]["strict"] = True
    layers["perception"]["visual_tools"][0]["cache"] = False
    for raw in (_enc(body), _enc({"data": [body]}), _enc({"data": body})):
        p = decode_persona(raw)
        assert p.to_dict() == body
        assert dict(p) == body
        assert Persona.from_dict(body).to_dict() == body
        assert Persona.from_dict(p.to_dict()) == p


def test_equality_compares_the_modelled_fields_only() -> None:
    """Decision: keys the models do not know are kept for to_dict() but not compared."""
    plain = decode_persona(_enc(SPEC_PERSONA))
    extra = decode_persona(_enc(SPEC_PERSONA | {"unknown": 1}))
    assert plain == extra
    assert plain.to_dict() != extra.to_dict()
    assert plain != decode_persona(_enc(SPEC_PERSONA | {"persona_name": "Other"}))


def test_to_dict_hands_out_copies() -> None:
    for p in (decode_persona(_enc(SPEC_PERSONA)), _spec_built_by_hand()):
        data = p.to_dict()
        data["layers"]["llm"]["extra_body"]["temperature"] = 2.0
        data["document_ids"].append("d-new")
        data["persona_name"] = "changed"
        assert p.to_dict() == SPEC_PERSONA
        assert p.layers is not None and p.layers.llm is not None
        assert p.layers.llm.extra_body == {"temperature": 0.7, "top_p": 0.9}


def test_from_dict_copies_its_input() -> None:
    data = copy.deepcopy(SPEC_PERSONA)
    p = Persona.from_dict(data)
    data["layers"]["llm"]["extra_body"]["temperature"] = 2.0
    data["document_ids"].append("d-new")
    assert p.to_dict() == SPEC_PERSONA
    assert p.document_ids == ["d1234567890", "d2468101214"]


def test_a_hand_built_persona_gives_the_fields_set() -> None:
    p = Persona(persona_id="p1", layers=Layers(stt=STTLayer(hotwords="a")))
    assert p.to_dict() == {"persona_id": "p1", "layers": {"stt": {"hotwords": "a"}}}
    assert Persona.from_dict(p.to_dict()) == p


def test_hashing_works_without_list_or_dict_fields_only() -> None:
    assert hash(Persona(persona_id="p1")) == hash(decode_persona(b'{"persona_id": "p1"}'))
    with pytest.raises(TypeError, match="unhashable"):
        hash(decode_persona(_enc(SPEC_PERSONA)))


def test_copy_deepcopy_and_pickle_keep_what_was_received() -> None:
    p = decode_persona(_enc(STOCK_PERSONA | {"unknown": {"a": [1]}}))
    for clone in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert clone == p
        assert clone.to_dict() == p.to_dict()
        assert clone.to_dict()["unknown"] == {"a": [1]}
    hand_built = Persona(persona_id="p1", document_ids=["d"])
    assert pickle.loads(pickle.dumps(hand_built)) == hand_built


def test_fastapi_jsonable_encoder_gives_the_received_object() -> None:
    p = decode_persona(_enc(STOCK_PERSONA))
    assert jsonable_encoder(p) == STOCK_PERSONA
    assert jsonable_encoder(p.layers) == _plain(p.layers)
    assert jsonable_encoder(p.to_dict()) == STOCK_PERSONA


# --------------------------------------------------------------------------- documented fields


def test_fields_beyond_the_get_spec_are_typed() -> None:
    p = decode_persona(_enc(STOCK_PERSONA))
    assert p.context == "You are interviewing a candidate for an analyst role."
    assert p.pipeline_mode == "full"
    assert p.objectives_id == "o12345"
    assert p.guardrails_id == "g12345"
    layers = p.layers
    assert layers is not None and layers.tts is not None
    assert layers.tts.pronunciation_dictionary_id == "pd_123"
    assert layers.tts.tts_emotion_control is False  # sent as "false"
    assert layers.conversational_flow == ConversationalFlowLayer(
        turn_detection_model="sparrow-1",
        turn_taking_patience="high",
        replica_interruptibility="medium",
    )
    assert layers.transport == TransportLayer(
        transport_type="livekit", room_settings={"max_participants": 2}
    )
    perception, stt = layers.perception, layers.stt
    assert perception is not None and stt is not None
    assert perception.perception_model == PerceptionModel.RAVEN_0
    assert perception.perception_tools == []
    assert perception.ambient_awareness_queries == ["Is there another person in the scene?"]
    assert stt.smart_turn_detection is True
    assert stt.participant_pause_sensitivity == "high"
    # Untyped keys stay reachable, unchanged (the string "false" too).
    assert p.to_dict() == STOCK_PERSONA
    assert p.to_dict()["greeting"] == "Hi, thanks for joining!"


# --------------------------------------------------------------------------- PAL naming


PAL_BODY: dict[str, Any] = {
    "pal_id": "pcb7a34da5fe",
    "pal_name": "Life Coach",
    "default_face_id": "rf4e9d9790f0",
    "system_prompt": SPEC_PERSONA["system_prompt"],
}


def test_pal_names_decode_into_the_same_model() -> None:
    persona_body = {
        "persona_id": "pcb7a34da5fe",
        "persona_name": "Life Coach",
        "default_replica_id": "rf4e9d9790f0",
        "system_prompt": SPEC_PERSONA["system_prompt"],
    }
    for raw in (_enc(PAL_BODY), _enc({"data": [PAL_BODY]})):
        pal = decode_persona(raw, persona_id="pcb7a34da5fe")
        assert pal == decode_persona(_enc(persona_body))
        assert (pal.persona_id, pal.persona_name, pal.default_replica_id) == (
            "pcb7a34da5fe",
            "Life Coach",
            "rf4e9d9790f0",
        )
        assert (pal.pal_id, pal.pal_name, pal.default_face_id) == (
            "pcb7a34da5fe",
            "Life Coach",
            "rf4e9d9790f0",
        )
        assert pal.to_dict() == PAL_BODY  # as received, with the PAL keys
    assert Pal.from_dict(PAL_BODY) == decode_persona(_enc(persona_body))


def test_pal_aliases_are_read_only_and_pal_is_the_persona_model() -> None:
    assert Pal is Persona
    assert tavus_async.Pal is tavus_async.Persona
    p = Persona(persona_id="p1", persona_name="N", default_replica_id="r1")
    assert (p.pal_id, p.pal_name, p.default_face_id) == ("p1", "N", "r1")
    for name in ("pal_id", "pal_name", "default_face_id"):
        with pytest.raises(AttributeError):
            setattr(p, name, "x")


def test_persona_names_win_over_pal_names() -> None:
    p = decode_persona(_enc({"persona_id": "p1", "pal_id": "p2", "pal_name": "N"}))
    assert p.persona_id == p.pal_id == "p1"
    assert p.persona_name == "N"


@pytest.mark.parametrize("body", [{"persona_name": "no id"}, {"pal_name": "no id"}])
def test_a_body_with_neither_id_is_a_decode_error_naming_persona_id(body: dict[str, Any]) -> None:
    with pytest.raises(DecodeError, match="persona_id"):
        decode_persona(_enc(body))


# --------------------------------------------------------------------------- leniency


def _all_null(cls: type[msgspec.Struct], **keep: Any) -> dict[str, Any]:
    return {f.encode_name: None for f in msgspec.structs.fields(cls)} | keep


def test_every_optional_persona_field_null_decodes_to_none() -> None:
    body = _all_null(Persona, persona_id="p1")
    assert set(body) >= {"persona_name", "system_prompt", "layers", "document_ids", "context"}
    p = decode_persona(_enc(body))
    assert p.persona_id == "p1"
    for name in Persona.__struct_fields__:
        if name != "persona_id":
            assert getattr(p, name) is None, name
    assert p.to_dict() == body  # the nulls are kept as sent


LAYER_CLASSES = [
    ("llm", LLMLayer),
    ("tts", TTSLayer),
    ("perception", PerceptionLayer),
    ("stt", STTLayer),
    ("conversational_flow", ConversationalFlowLayer),
    ("transport", TransportLayer),
]


def test_layer_classes_cover_every_layer() -> None:
    assert [name for name, _ in LAYER_CLASSES] == list(Layers.__struct_fields__)


@pytest.mark.parametrize(("layer", "cls"), LAYER_CLASSES)
def test_every_layer_field_null_decodes_to_none(layer: str, cls: type[msgspec.Struct]) -> None:
    body = {"persona_id": "p1", "layers": _all_null(Layers) | {layer: _all_null(cls)}}
    p = decode_persona(_enc(body))
    assert p.layers is not None
    value = getattr(p.layers, layer)
    assert isinstance(value, cls)
    for field in msgspec.structs.fields(cls):
        assert getattr(value, field.name) is None, field.name
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
    assert p.to_dict()["layers"]["llm"]["tools"] == [tool]
    assert ToolFunction().to_dict() == {}


@pytest.mark.parametrize(
    ("layer", "field", "value"),
    [
        ("tts", "tts_engine", "playht"),
        ("perception", "perception_model", "raven-2"),
        ("stt", "stt_engine", "whisper"),
        ("conversational_flow", "turn_detection_model", "sparrow-2"),
        ("transport", "transport_type", "pigeon"),
    ],
)
def test_new_enum_values_decode(layer: str, field: str, value: str) -> None:
    p = decode_persona(_enc({"persona_id": "p1", "layers": {layer: {field: value}}}))
    assert getattr(getattr(p.layers, layer), field) == value


def _constants(cls: type) -> set[str]:
    return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


def test_enum_constants_have_spec_values() -> None:
    assert _constants(TTSEngine) == {"cartesia", "elevenlabs"}
    assert _constants(PerceptionModel) == {"raven-1", "raven-0", "off"}
    assert _constants(STTEngine) == {"tavus-turbo", "tavus-advanced"}
    assert TTSEngine.CARTESIA == "cartesia"
    assert PerceptionModel.RAVEN_1 == "raven-1"
    assert STTEngine.TAVUS_ADVANCED == "tavus-advanced"


def test_empty_created_at_decodes() -> None:
    p = decode_persona(b'{"persona_id": "p1", "created_at": "", "updated_at": ""}')
    assert (p.created_at, p.updated_at) == ("", "")


@pytest.mark.parametrize(
    ("sent", "value"),
    [("false", False), ("true", True), ("False", False), ("TRUE", True), ("0", False), ("1", True)],
)
@pytest.mark.parametrize(
    ("layer", "field"),
    [
        ("tts", "tts_emotion_control"),
        ("llm", "speculative_inference"),
        ("stt", "smart_turn_detection"),
    ],
)
def test_booleans_sent_as_strings_decode(layer: str, field: str, sent: str, value: bool) -> None:
    body = {"persona_id": "p1", "layers": {layer: {field: sent}}}
    for p in (decode_persona(_enc(body)), Persona.from_dict(body)):
        assert getattr(getattr(p.layers, layer), field) is value
        assert p.to_dict() == body  # the string form is kept as received


@pytest.mark.parametrize(
    ("value", "kind"),
    [("fast", "str"), ([1, 2], "array"), (3, "int"), (True, "bool")],
)
def test_a_non_object_free_form_field_is_a_decode_error_naming_it(value: object, kind: str) -> None:
    for layer, field in [("tts", "voice_settings"), ("llm", "headers"), ("llm", "extra_body")]:
        body = {"persona_id": "p1", "layers": {layer: {field: value}}}
        with pytest.raises(DecodeError) as info:
            decode_persona(_enc(body))
        assert f"got `{kind}` - at `$.layers.{layer}.{field}`" in info.value.message
        assert "fast" not in str(info.value)


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"persona_id": "p1", "persona_name": 123}, "`$.persona_name`"),
        ({"persona_id": "p1", "document_ids": "x"}, "`$.document_ids`"),
        ({"persona_id": "p1", "document_ids": [1]}, "`$.document_ids[0]`"),
        ({"persona_id": "p1", "layers": []}, "`$.layers`"),
        ({"persona_name": "no id"}, "`persona_id`"),
        ({"persona_id": 42}, "`$.persona_id`"),
        ({"persona_id": "p1", "layers": {"llm": {"tools": {"name": "x"}}}}, "`$.layers.llm.tools`"),
        (
            {"persona_id": "p1", "layers": {"tts": {"tts_emotion_control": "yes"}}},
            "`$.layers.tts.tts_emotion_control`",
        ),
        ({"data": [{"persona_id": "p1", "persona_name": 123}]}, "`$.data[0].persona_name`"),
        ({"data": {"persona_id": "p1", "persona_name": 123}}, "`$.data.persona_name`"),
        ({"data": ["p1"]}, "`$.data[0]`"),
        ({"data": None}, "`data` is null"),
        ({"data": "p1"}, "`data` is a string"),
    ],
)
@pytest.mark.parametrize("status", [200, 201])
def test_wrong_types_are_decode_errors_naming_the_path(
    body: dict[str, Any], where: str, status: int
) -> None:
    raw = _enc(body)
    with pytest.raises(DecodeError) as info:
        decode_persona(raw, status_code=status)
    err = info.value
    assert err.status_code == status
    assert err.body_length == len(raw)
    assert where in err.message
    assert str(err) == f"{err.message} (status {status}, body of {len(raw)} bytes)"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"persona_id": "p1", "persona_name": 123}, "`$.persona_name`"),
        ({"persona_id": "p1", "layers": {"tts": {"tts_emotion_control": "yes"}}}, "tts_emotion"),
        ({"persona_name": "no id"}, "`persona_id`"),
        (["p1"], "Expected `object`, got `array`"),
        ({"persona_id": "p1", "x": object()}, "not JSON data"),
        ({"persona_id": "p1", "x": "\ud800"}, "not valid Unicode"),
    ],
)
def test_from_dict_validates_like_decoding(data: Any, where: str) -> None:
    with pytest.raises(DecodeError) as info:
        Persona.from_dict(data)
    assert where in info.value.message
    assert info.value.status_code is None
    assert info.value.__context__ is None


def test_nested_models_have_from_dict_too() -> None:
    assert LLMLayer.from_dict({"tools": [WEATHER_TOOL]}).tools == [Tool.from_dict(WEATHER_TOOL)]
    with pytest.raises(DecodeError, match=r"`\$.tools`"):
        LLMLayer.from_dict({"tools": 1})


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
        pytest.param(b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="deep-envelope"),
        pytest.param(b'{"data": [' + b"[" * 100_000, id="deep-truncated"),
    ],
)
def test_broken_bodies_are_decode_errors(body: bytes) -> None:
    # pytest.raises(DecodeError) lets a UnicodeDecodeError / RecursionError escape: it fails.
    with pytest.raises(DecodeError) as info:
        decode_persona(body, status_code=200)
    err = info.value
    assert err.status_code == 200
    assert err.body_length == len(body)
    assert err.__context__ is None and err.__cause__ is None
    assert len(str(err)) < 200


def test_decode_error_reasons() -> None:
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        decode_persona(b'{"persona_id": "\xff"}')
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_persona(b'{"persona_id": "p1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(DecodeError, match="response is not JSON: JSON is malformed"):
        decode_persona(b"<html>")


_BAD_UTF8 = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


@pytest.mark.parametrize(
    ("error", "body_is_utf8", "reason"),
    [
        # msgspec < 0.20 raises UnicodeDecodeError for invalid UTF-8 ...
        (_BAD_UTF8, False, "response body is not valid UTF-8"),
        (_BAD_UTF8, True, "response body is not valid UTF-8"),
        # ... msgspec >= 0.20 a msgspec.DecodeError.
        (msgspec.DecodeError("Invalid UTF-8 encoded string"), False, "not valid UTF-8"),
        (RecursionError("maximum recursion depth"), True, "JSON nested too deeply"),
        (RecursionError("maximum recursion depth"), False, "JSON nested too deeply"),
        (
            msgspec.DecodeError("JSON is malformed: invalid character (byte 0)"),
            True,
            "response is not JSON: JSON is malformed: invalid character (byte 0)",
        ),
    ],
)
def test_unreadable_reason_is_the_same_on_every_msgspec(
    error: Exception, body_is_utf8: bool, reason: str
) -> None:
    assert reason in _unreadable_reason(error, body_is_utf8)


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
    assert isinstance(tools, list)
    assert all(isinstance(t, Tool) for t in tools)
    nested, flat = tools
    assert nested.type == "function"
    assert nested.function is not None
    assert nested.function.name == "get_current_weather"
    assert nested.function.parameters == WEATHER_TOOL["function"]["parameters"]
    assert nested.tool_name == "get_current_weather"
    assert flat.function is None
    assert (flat.name, flat.description, flat.tool_name) == (
        "flag_user",
        "Flag the user.",
        "flag_user",
    )
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
    assert p.document_ids == ["d1234567890", "d2468101214"]
    assert p.document_tags == ["product_info", "company_policies"]
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
    assert tts.api_key == "your-api-key"
    assert tts.tts_engine == TTSEngine.CARTESIA
    assert tts.external_voice_id == "external-voice-id"
    assert tts.voice_settings == {"speed": 0.5, "emotion": ["positivity:high", "curiosity"]}
    assert tts.tts_emotion_control is True
    assert tts.tts_model_name == "sonic-3"
    assert perception.perception_model == PerceptionModel.RAVEN_1
    spec_perception = SPEC_PERSONA["layers"]["perception"]
    assert perception.visual_awareness_queries == spec_perception["visual_awareness_queries"]
    assert perception.visual_tool_prompt == spec_perception["visual_tool_prompt"]
    assert perception.visual_tools is not None
    assert [t.tool_name for t in perception.visual_tools] == ["notify_if_id_shown"]
    assert perception.audio_awareness_queries == spec_perception["audio_awareness_queries"]
    assert perception.audio_tool_prompt == spec_perception["audio_tool_prompt"]
    assert perception.audio_tools is not None
    assert [t.tool_name for t in perception.audio_tools] == ["escalate_to_human"]
    assert stt.stt_engine == STTEngine.TAVUS_TURBO
    assert stt.hotwords == "This is a hotword example"
    # Nothing is lost: the modelled fields alone give back exactly the spec example.
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
    assert "headers={'Authorization': '***', 'X-Other': '***'}" in llm_text  # names stay
    assert "model='my-llm'" in llm_text
    assert "api_key='***'" in repr(p.layers.tts)
    assert "tts_engine='elevenlabs'" in repr(p.layers.tts)


def test_rich_repr_of_layers_masks_values() -> None:
    llm = LLMLayer(api_key=LLM_KEY, headers={"Authorization": HEADER_VALUE}, model="m")
    fields = dict(llm.__rich_repr__())
    assert fields["api_key"] == "***"
    assert fields["headers"] == {"Authorization": "***"}
    assert fields["model"] == "m"
    tts_fields = dict(TTSLayer(api_key=TTS_KEY, tts_engine="cartesia").__rich_repr__())
    assert tts_fields["api_key"] == "***"
    assert tts_fields["tts_engine"] == "cartesia"


def test_a_hand_built_secret_field_is_masked_whatever_its_type() -> None:
    for headers in ([HEADER_VALUE], HEADER_VALUE, {1: HEADER_VALUE}):
        layer = LLMLayer(headers=headers, api_key=[LLM_KEY])  # type: ignore[arg-type]
        assert HEADER_VALUE not in repr(layer)
        assert LLM_KEY not in repr(layer)
        assert HEADER_VALUE not in pretty_repr(layer)


def test_vars_and_rich_inspect_show_no_secret_and_no_plain_received_json() -> None:
    decoded = _secret_persona()
    for p in (decoded, Persona.from_dict(decoded.to_dict()), copy.copy(decoded)):
        buffer = io.StringIO()
        console = Console(file=buffer, width=240, color_system=None)
        rich.inspect(p, all=True, private=True, dunder=True, console=console)
        texts = [repr(vars(p)), str(p.__dict__), pretty_repr(vars(p)), buffer.getvalue()]
        for text in texts:
            for secret in (LLM_KEY, TTS_KEY, HEADER_VALUE):
                assert secret not in text
        # What was received is no plain value to read or overwrite.
        assert not any(isinstance(v, bytes | str | dict | list) for v in vars(p).values())
        assert p.to_dict() == _secret_body()


def test_unset_secrets_show_none() -> None:
    assert "api_key=None" in repr(LLMLayer())
    assert "headers=None" in repr(LLMLayer())
    assert "api_key=None" in repr(TTSLayer())


def test_repr_never_raises() -> None:
    # As deep as msgspec decodes here: deeper than repr can go.
    for depth in range(1000, 0, -10):
        nested = b'{"a":' * depth + b"1" + b"}" * depth
        deep = b'{"persona_id":"p","layers":{"llm":{"extra_body":' + nested
        try:
            p = decode_persona(deep + b"}}}")
        except DecodeError:
            continue
        break
    assert depth > 100
    assert repr(p).startswith("Persona(persona_id='p'")
    pretty_repr(p)

    class Hostile:
        def __repr__(self) -> str:
            raise ValueError("no")

    assert "document_ids=<Hostile>" in repr(Persona(persona_id="p", document_ids=Hostile()))  # type: ignore[arg-type]


def test_secret_values_are_still_readable_and_round_trip() -> None:
    p = _secret_persona()
    assert p.layers is not None and p.layers.llm is not None and p.layers.tts is not None
    assert p.layers.llm.api_key == LLM_KEY
    assert p.layers.llm.headers == {"Authorization": HEADER_VALUE, "X-Other": HEADER_VALUE}
    assert p.layers.tts.api_key == TTS_KEY
    assert p.to_dict() == _secret_body()
    encoded = msgspec.json.encode(p)
    assert LLM_KEY.encode() in encoded
    assert msgspec.json.decode(encoded, type=Persona) == p


def _secret_body_with_a_type_error() -> bytes:
    body = _secret_body()
    body["layers"]["stt"] = {"smart_turn_detection": [HEADER_VALUE]}  # the wrong type
    body["note"] = f"copy of {API_KEY} and {LLM_KEY}"
    return _enc({"data": [body]})


def _leak_check(err: BaseException) -> None:
    rendered = [
        str(err),
        repr(err),
        repr(err.args),
        "".join(traceback.TracebackException.from_exception(err, capture_locals=True).format()),
    ]
    for text in rendered:
        for secret in (LLM_KEY, TTS_KEY, HEADER_VALUE, API_KEY, "Bearer"):
            assert secret not in text, text
    assert err.__context__ is None
    assert err.__cause__ is None


def test_a_decode_error_never_shows_credentials_even_in_a_traceback_with_locals() -> None:
    with pytest.raises(DecodeError) as info:
        decode_persona(_secret_body_with_a_type_error(), persona_id="p1")
    assert "`$.data[0].layers.stt.smart_turn_detection`" in info.value.message
    _leak_check(info.value)
    with pytest.raises(DecodeError) as parsed:
        parse_response(_secret_body_with_a_type_error(), 200, "p1", API_KEY)
    _leak_check(parsed.value)
    with pytest.raises(DecodeError) as built:
        Persona.from_dict(msgspec.json.decode(_secret_body_with_a_type_error())["data"][0])
    _leak_check(built.value)


def _not_json() -> bytes:
    return _enc(_secret_body())[:-1] + b", }"  # a trailing comma, after the credentials


def _invalid_utf8_in_a_header() -> bytes:
    # msgspec < 0.20 raises UnicodeDecodeError, whose `object` holds the bytes around it.
    return _enc(_secret_body()).replace(b"hdr-secret", b"hdr-\xffsecret")


@pytest.mark.parametrize("make_body", [_not_json, _invalid_utf8_in_a_header])
def test_an_unreadable_body_never_shows_credentials(make_body: Callable[[], bytes]) -> None:
    with pytest.raises(DecodeError) as info:
        decode_persona(make_body())  # no local of this frame holds the body
    _leak_check(info.value)
