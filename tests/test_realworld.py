"""Real persona payloads Tavus published (../shared/realworld, see SOURCES.md there).

Every `.json` with a `persona_id` must decode, bare and enveloped, and lose nothing the models
know; the ones without an id are configurations that decode once an id is added; `.txt` files
are published examples that are not valid JSON and must give a `DecodeError`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from tavus_async.errors import DecodeError
from tavus_async.models import Layers, Persona, STTLayer, decode_persona


def _plain(value: object) -> Any:
    """JSON-shaped builtins (tuples become lists), as the wire carries them."""
    return msgspec.json.decode(msgspec.json.encode(value))


REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
MISSING = (
    f"The real-world payload folder {REALWORLD} does not exist: these tests need the files "
    "Tavus published (see shared/realworld/SOURCES.md); restore the folder, do not skip."
)

# Keys present in the published payloads that the models deliberately do not model, per file,
# as dotted paths. A key that is not listed here and not modelled fails the tests below.
UNKNOWN_KEYS: dict[str, set[str]] = {
    "12-docs-livekit-echo-persona-config-no-id.json": {"layers.transport"},
}

# What the folder held when these tests were written; each must still be there.
EXPECTED_WITH_ID = {
    "05-stock-ai-interviewer-pe13ed370726.json",
    "06-stock-history-teacher-pc55154f229a.json",
    "07-stock-sales-coach-pdced222244b.json",
    "08-stock-tavus-researcher-p48fdf065d6b.json",
}
EXPECTED_WITHOUT_ID = {
    "10-docs-customer-service-config-no-id.json",
    "12-docs-livekit-echo-persona-config-no-id.json",
}
EXPECTED_TXT = {"14-docs-health-care-config-invalid-json.txt"}


def _files(pattern: str) -> list[Path]:
    # When the folder is missing, yield one (missing) path so the tests run and fail loudly
    # instead of pytest skipping an empty parameter set.
    if not REALWORLD.is_dir():
        return [REALWORLD / pattern]
    return sorted(REALWORLD.glob(pattern))


def _load(path: Path) -> dict[str, Any]:
    assert REALWORLD.is_dir(), MISSING
    assert path.is_file(), f"{path} is missing"
    value = msgspec.json.decode(path.read_bytes())
    assert isinstance(value, dict), f"{path.name} is not a JSON object"
    return value


def _json_with_id() -> list[Path]:
    if not REALWORLD.is_dir():
        return _files("*.json")
    return [p for p in _files("*.json") if "persona_id" in _load(p)]


def _json_without_id() -> list[Path]:
    if not REALWORLD.is_dir():
        return _files("*.json")
    return [p for p in _files("*.json") if "persona_id" not in _load(p)]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --------------------------------------------------------------------------- lose nothing


def _struct_of(t: mi.Type) -> mi.StructType | None:
    if isinstance(t, mi.UnionType):
        structs = [s for s in (_struct_of(x) for x in t.types) if s is not None]
        return structs[0] if structs else None
    return t if isinstance(t, mi.StructType) else None


def _list_item_struct(t: mi.Type) -> mi.StructType | None:
    if isinstance(t, mi.UnionType):
        for x in t.types:
            found = _list_item_struct(x)
            if found is not None:
                return found
        return None
    if isinstance(t, mi.ListType):
        return _struct_of(t.item_type)
    return None


def _compare(original: Any, encoded: Any, t: mi.Type, path: str, unknown: set[str]) -> None:
    """Assert every key the models know survives with an equal value; collect unknown keys."""
    struct = _struct_of(t)
    item = _list_item_struct(t)
    if struct is not None and isinstance(original, dict):
        assert isinstance(encoded, dict), f"{path or '$'}: expected an object, got {encoded!r}"
        fields = {f.encode_name: f.type for f in struct.fields}
        for key, value in original.items():
            where = f"{path}.{key}" if path else key
            if key not in fields:
                unknown.add(where)
                assert key not in encoded, f"{where}: unknown key came back"
                continue
            assert key in encoded, f"{where}: lost (the model has a field for it)"
            _compare(value, encoded[key], fields[key], where, unknown)
    elif item is not None and isinstance(original, list):
        assert isinstance(encoded, list), f"{path}: expected a list, got {encoded!r}"
        assert len(encoded) == len(original), f"{path}: list length changed"
        for i, (o, e) in enumerate(zip(original, encoded, strict=True)):
            _compare(o, e, item, f"{path}[{i}]", unknown)
    else:
        assert encoded == original, f"{path}: {original!r} came back as {encoded!r}"
        assert type(encoded) is type(original), f"{path}: type changed"


def lose_nothing(original: dict[str, Any], persona: Persona) -> set[str]:
    """Compare a JSON dict with the decoded persona; return the keys the models do not know."""
    unknown: set[str] = set()
    _compare(original, _plain(persona), mi.type_info(Persona), "", unknown)
    return unknown


def _without(original: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    result = copy.deepcopy(original)
    for dotted in paths:
        *parents, last = dotted.split(".")
        node = result
        for part in parents:
            node = node[part]
        del node[last]
    return result


def _check_lossless(name: str, original: dict[str, Any], persona: Persona) -> None:
    unknown = lose_nothing(original, persona)
    assert unknown == UNKNOWN_KEYS.get(name, set()), (
        f"{name}: keys the models do not know changed: {sorted(unknown)}"
    )
    assert _plain(persona) == _without(original, unknown)


def test_lose_nothing_helper_detects_loss() -> None:
    # The helper itself must catch a dropped or altered value, or it proves nothing.
    original = {"persona_id": "p1", "layers": {"stt": {"hotwords": "a"}}, "extra": 1}
    assert lose_nothing(original, decode_persona(msgspec.json.encode(original))) == {"extra"}
    with pytest.raises(AssertionError, match=r"layers\.stt\.hotwords: lost"):
        lose_nothing(original, Persona(persona_id="p1", layers=Layers(stt=STTLayer())))
    with pytest.raises(AssertionError, match=r"layers\.stt\.hotwords: 'a' came back as 'b'"):
        lose_nothing(original, Persona(persona_id="p1", layers=Layers(stt=STTLayer(hotwords="b"))))
    with pytest.raises(AssertionError, match=r"layers: lost"):
        lose_nothing(original, Persona(persona_id="p1", layers=None))
    with pytest.raises(AssertionError, match="persona_id"):
        lose_nothing(original, Persona(persona_id="other"))


# --------------------------------------------------------------------------- the folder


def test_realworld_folder_exists_with_the_published_files() -> None:
    assert REALWORLD.is_dir(), MISSING
    names = {p.name for p in REALWORLD.iterdir()}
    assert "SOURCES.md" in names
    assert names >= EXPECTED_WITH_ID | EXPECTED_WITHOUT_ID | EXPECTED_TXT, (
        f"published payloads missing from {REALWORLD}: "
        f"{sorted((EXPECTED_WITH_ID | EXPECTED_WITHOUT_ID | EXPECTED_TXT) - names)}"
    )
    assert {p.name for p in _json_with_id()} >= EXPECTED_WITH_ID
    assert {p.name for p in _json_without_id()} >= EXPECTED_WITHOUT_ID
    for name in UNKNOWN_KEYS:
        assert name in names, f"UNKNOWN_KEYS lists {name}, which is not in the folder"


# --------------------------------------------------------------------------- with persona_id

WITH_ID = _json_with_id()


@pytest.mark.parametrize("path", WITH_ID, ids=_ids(WITH_ID))
def test_persona_file_decodes_bare_and_loses_nothing(path: Path) -> None:
    original = _load(path)
    persona = decode_persona(path.read_bytes(), persona_id=original["persona_id"])
    assert persona.persona_id == original["persona_id"]
    _check_lossless(path.name, original, persona)


@pytest.mark.parametrize("path", WITH_ID, ids=_ids(WITH_ID))
def test_persona_file_decodes_enveloped_and_loses_nothing(path: Path) -> None:
    original = _load(path)
    body = msgspec.json.encode({"data": [original]})
    persona = decode_persona(body, persona_id=original["persona_id"])
    assert persona.persona_id == original["persona_id"]
    _check_lossless(path.name, original, persona)
    # The enveloped and the bare decode agree.
    assert persona == decode_persona(path.read_bytes())


def test_stock_persona_values() -> None:
    original = _load(REALWORLD / "05-stock-ai-interviewer-pe13ed370726.json")
    p = decode_persona(msgspec.json.encode(original))
    assert p.persona_name == "AI Interviewer"
    assert p.pipeline_mode == "full"
    assert p.context is not None and p.context.startswith("You are Jane Smith")
    assert p.created_at == "2025-03-21T20:59:57.842061Z"
    assert p.default_replica_id == "r9d30b0e55ac"
    assert p.layers is not None
    assert p.layers.llm is None
    assert p.layers.tts is None
    perception, stt = p.layers.perception, p.layers.stt
    assert perception is not None and stt is not None
    assert perception.perception_model == "raven-0"
    assert perception.perception_tools == ()
    assert perception.tool_prompt == ""
    assert perception.perception_tool_prompt == ""
    assert perception.ambient_awareness_queries is not None
    assert len(perception.ambient_awareness_queries) == 3
    assert stt.hotwords == ""
    assert stt.smart_turn_detection is True
    assert stt.participant_pause_sensitivity == "high"
    assert stt.participant_interrupt_sensitivity == "medium"


def test_non_ascii_prompt_survives() -> None:
    original = _load(REALWORLD / "08-stock-tavus-researcher-p48fdf065d6b.json")
    p = decode_persona((REALWORLD / "08-stock-tavus-researcher-p48fdf065d6b.json").read_bytes())
    assert p.system_prompt == original["system_prompt"]
    assert "—" in (p.system_prompt or "")
    assert p.layers is not None and p.layers.perception is None and p.layers.stt is not None


# --------------------------------------------------------------------------- without persona_id

WITHOUT_ID = _json_without_id()


@pytest.mark.parametrize("path", WITHOUT_ID, ids=_ids(WITHOUT_ID))
def test_config_without_id_is_a_decode_error_naming_persona_id(path: Path) -> None:
    _load(path)
    with pytest.raises(DecodeError) as info:
        decode_persona(path.read_bytes())
    assert "persona_id" in info.value.message
    assert "persona_id" in str(info.value)
    assert info.value.status_code == 200


@pytest.mark.parametrize("path", WITHOUT_ID, ids=_ids(WITHOUT_ID))
def test_config_with_id_added_decodes_and_loses_nothing(path: Path) -> None:
    original = _load(path) | {"persona_id": "pconfig00001"}
    for body in (original, {"data": [original]}):
        persona = decode_persona(msgspec.json.encode(body), persona_id="pconfig00001")
        assert persona.persona_id == "pconfig00001"
        _check_lossless(path.name, original, persona)


def test_customer_service_config_layers() -> None:
    original = _load(REALWORLD / "10-docs-customer-service-config-no-id.json")
    p = decode_persona(msgspec.json.encode(original | {"persona_id": "p1"}))
    assert p.layers is not None
    llm, tts, perception, stt = p.layers.llm, p.layers.tts, p.layers.perception, p.layers.stt
    assert llm is not None and tts is not None and perception is not None and stt is not None
    # llm tools, with the key order name/parameters/description inside `function`.
    raw_function = original["layers"]["llm"]["tools"][0]["function"]
    assert list(raw_function) == ["name", "parameters", "description"]
    assert llm.tools is not None and len(llm.tools) == 1
    tool = llm.tools[0]
    assert tool.type == "function"
    assert tool.tool_name == "resolve_customer_issue"
    assert tool.function is not None
    assert tool.function.parameters == raw_function["parameters"]
    assert tool.function.description == raw_function["description"]
    assert llm.model == "tavus-llama"
    assert llm.speculative_inference is True
    # tts
    assert tts.tts_engine == "cartesia"
    assert tts.tts_emotion_control is True
    # perception, legacy names
    assert perception.perception_model == "raven-0"
    assert (
        list(perception.ambient_awareness_queries or ())
        == original["layers"]["perception"]["ambient_awareness_queries"]
    )
    assert perception.perception_tool_prompt is not None
    assert "user_emotional_state" in perception.perception_tool_prompt
    assert perception.perception_tools is not None
    assert [t.tool_name for t in perception.perception_tools] == ["user_emotional_state"]
    # stt
    assert stt.stt_engine == "tavus-advanced"
    assert stt.participant_pause_sensitivity == "medium"
    assert stt.participant_interrupt_sensitivity == "high"
    assert stt.smart_turn_detection is True
    assert stt.hotwords is None


def test_echo_config_has_no_system_prompt_and_drops_transport_only() -> None:
    original = _load(REALWORLD / "12-docs-livekit-echo-persona-config-no-id.json")
    p = decode_persona(msgspec.json.encode(original | {"persona_id": "p1"}))
    assert p.pipeline_mode == "echo"
    assert p.system_prompt is None
    assert p.layers is not None
    assert _plain(p.layers) == {}


# --------------------------------------------------------------------------- invalid JSON

TXT = _files("*.txt")


@pytest.mark.parametrize("path", TXT, ids=_ids(TXT))
def test_invalid_json_file_is_a_decode_error(path: Path) -> None:
    assert REALWORLD.is_dir(), MISSING
    raw = path.read_bytes()
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(raw)  # the file really is not JSON
    # Only DecodeError is acceptable: any other exception type escapes pytest.raises.
    for body in (raw, b'{"data": [' + raw + b"]}"):
        with pytest.raises(DecodeError) as info:
            decode_persona(body, status_code=200, persona_id="p1")
        assert info.value.status_code == 200
        assert info.value.snippet
