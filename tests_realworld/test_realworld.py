"""Real persona payloads Tavus published (`<repo>/../shared/realworld`, see SOURCES.md there).

Not part of the self-contained suite (`pytest` collects `tests/` only): run it with
`pytest tests_realworld`. Without the folder every test here fails; none is skipped.

Every `.json` with a `persona_id` decodes, bare and enveloped, with `to_dict()` equal to the
file's object and every key the models type holding the file's value. The ones without an id
are configurations (request bodies), which are not a persona: decoding one is a `DecodeError`
naming `persona_id`; with an id added they decode like the others (`to_dict()` is the file's
object plus that id), and `Persona.from_dict` gives the same persona. `.txt` files are
published examples that are not valid JSON: a `DecodeError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from tavus_async.errors import DecodeError
from tavus_async.models import Layers, Persona, STTLayer, TransportLayer, decode_persona

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
MISSING = (
    f"The real-world payload folder {REALWORLD} does not exist: these tests need the files "
    "Tavus published (see shared/realworld/SOURCES.md); restore the folder, do not skip."
)

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
ADDED_ID = "pconfig00001"


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


def _json_files(with_id: bool) -> list[Path]:
    if not REALWORLD.is_dir():
        return _files("*.json")
    return [p for p in _files("*.json") if ("persona_id" in _load(p)) is with_id]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --------------------------------------------------------------------------- typed values


def _struct_of(t: mi.Type) -> mi.StructType | None:
    if isinstance(t, mi.UnionType):
        structs = [s for s in (_struct_of(x) for x in t.types) if s is not None]
        return structs[0] if structs else None
    return t if isinstance(t, mi.StructType) else None


def _list_item_struct(t: mi.Type) -> mi.StructType | None:
    if isinstance(t, mi.UnionType):
        found = [s for s in (_list_item_struct(x) for x in t.types) if s is not None]
        return found[0] if found else None
    return _struct_of(t.item_type) if isinstance(t, mi.ListType) else None


def _compare(original: Any, typed: Any, t: mi.Type, path: str, untyped: set[str]) -> None:
    """Assert every key the models type holds the original value; collect the others."""
    struct = _struct_of(t)
    item = _list_item_struct(t)
    if struct is not None and isinstance(original, dict):
        assert isinstance(typed, dict), f"{path or '$'}: expected an object, got {typed!r}"
        fields = {f.encode_name: f.type for f in struct.fields}
        for key, value in original.items():
            where = f"{path}.{key}" if path else key
            if key not in fields:
                untyped.add(where)
                continue
            assert key in typed, f"{where}: lost (the model has a field for it)"
            _compare(value, typed[key], fields[key], where, untyped)
    elif item is not None and isinstance(original, list):
        assert isinstance(typed, list), f"{path}: expected a list, got {typed!r}"
        assert len(typed) == len(original), f"{path}: list length changed"
        for i, (o, e) in enumerate(zip(original, typed, strict=True)):
            _compare(o, e, item, f"{path}[{i}]", untyped)
    else:
        assert typed == original, f"{path}: {original!r} came back as {typed!r}"
        assert type(typed) is type(original), f"{path}: type changed"


def typed_keys_hold(original: dict[str, Any], persona: Persona) -> set[str]:
    """Compare a JSON object with the persona's typed fields; return the untyped keys."""
    untyped: set[str] = set()
    typed = msgspec.json.decode(msgspec.json.encode(persona))
    _compare(original, typed, mi.type_info(Persona), "", untyped)
    return untyped


def _check(original: dict[str, Any], persona: Persona) -> None:
    assert persona.to_dict() == original
    assert typed_keys_hold(original, persona) == set(), "a published key is not typed any more"
    assert Persona.from_dict(original) == persona
    assert Persona.from_dict(persona.to_dict()).to_dict() == original


def test_typed_keys_hold_detects_loss() -> None:
    # The helper itself must catch a dropped or altered value, or it proves nothing.
    original = {"persona_id": "p1", "layers": {"stt": {"hotwords": "a"}}, "extra": 1}
    assert typed_keys_hold(original, decode_persona(msgspec.json.encode(original))) == {"extra"}
    with pytest.raises(AssertionError, match=r"layers\.stt\.hotwords: lost"):
        typed_keys_hold(original, Persona(persona_id="p1", layers=Layers(stt=STTLayer())))
    with pytest.raises(AssertionError, match=r"layers\.stt\.hotwords: 'a' came back as 'b'"):
        typed_keys_hold(
            original, Persona(persona_id="p1", layers=Layers(stt=STTLayer(hotwords="b")))
        )
    with pytest.raises(AssertionError, match=r"layers: lost"):
        typed_keys_hold(original, Persona(persona_id="p1", layers=None))
    with pytest.raises(AssertionError, match="persona_id"):
        typed_keys_hold(original, Persona(persona_id="other"))


# --------------------------------------------------------------------------- the folder


def test_realworld_folder_exists_with_the_published_files() -> None:
    assert REALWORLD.is_dir(), MISSING
    names = {p.name for p in REALWORLD.iterdir()}
    assert "SOURCES.md" in names
    expected = EXPECTED_WITH_ID | EXPECTED_WITHOUT_ID | EXPECTED_TXT
    assert names >= expected, f"published payloads missing from {REALWORLD}: {expected - names}"
    assert {p.name for p in _json_files(with_id=True)} >= EXPECTED_WITH_ID
    assert {p.name for p in _json_files(with_id=False)} >= EXPECTED_WITHOUT_ID


# --------------------------------------------------------------------------- with persona_id

WITH_ID = _json_files(with_id=True)


@pytest.mark.parametrize("path", WITH_ID, ids=_ids(WITH_ID))
def test_persona_file_decodes_bare_with_everything_kept(path: Path) -> None:
    original = _load(path)
    persona = decode_persona(path.read_bytes(), persona_id=original["persona_id"])
    assert persona.persona_id == original["persona_id"]
    _check(original, persona)


@pytest.mark.parametrize("path", WITH_ID, ids=_ids(WITH_ID))
def test_persona_file_decodes_enveloped_with_everything_kept(path: Path) -> None:
    original = _load(path)
    for body in ({"data": [original]}, {"data": original}):
        persona = decode_persona(msgspec.json.encode(body), persona_id=original["persona_id"])
        _check(original, persona)
        assert persona == decode_persona(path.read_bytes())


def test_stock_persona_values() -> None:
    p = decode_persona((REALWORLD / "05-stock-ai-interviewer-pe13ed370726.json").read_bytes())
    assert p.persona_name == "AI Interviewer"
    assert p.pipeline_mode == "full"
    assert p.context is not None and p.context.startswith("You are Jane Smith")
    assert p.created_at == "2025-03-21T20:59:57.842061Z"
    assert p.default_replica_id == p.default_face_id == "r9d30b0e55ac"
    assert p.layers is not None
    assert p.layers.llm is None
    assert p.layers.tts is None
    perception, stt = p.layers.perception, p.layers.stt
    assert perception is not None and stt is not None
    assert perception.perception_model == "raven-0"
    assert perception.perception_tools == []
    assert perception.tool_prompt == ""
    assert perception.perception_tool_prompt == ""
    assert perception.ambient_awareness_queries is not None
    assert len(perception.ambient_awareness_queries) == 3
    assert stt.hotwords == ""
    assert stt.smart_turn_detection is True
    assert stt.participant_pause_sensitivity == "high"
    assert stt.participant_interrupt_sensitivity == "medium"


def test_non_ascii_prompt_survives() -> None:
    path = REALWORLD / "08-stock-tavus-researcher-p48fdf065d6b.json"
    p = decode_persona(path.read_bytes())
    assert p.system_prompt == _load(path)["system_prompt"]
    assert "—" in (p.system_prompt or "")
    assert p.layers is not None and p.layers.perception is None and p.layers.stt is not None


# --------------------------------------------------------------------------- without persona_id

WITHOUT_ID = _json_files(with_id=False)


@pytest.mark.parametrize("path", WITHOUT_ID, ids=_ids(WITHOUT_ID))
def test_config_without_id_is_a_decode_error_naming_persona_id(path: Path) -> None:
    _load(path)
    with pytest.raises(DecodeError) as info:
        decode_persona(path.read_bytes())
    assert "persona_id" in info.value.message
    assert info.value.status_code == 200
    with pytest.raises(DecodeError, match="persona_id"):
        Persona.from_dict(_load(path))


@pytest.mark.parametrize("path", WITHOUT_ID, ids=_ids(WITHOUT_ID))
def test_config_with_an_id_added_decodes_with_everything_kept(path: Path) -> None:
    original = _load(path) | {"persona_id": ADDED_ID}
    for body in (original, {"data": [original]}):
        persona = decode_persona(msgspec.json.encode(body), persona_id=ADDED_ID)
        assert persona.persona_id == ADDED_ID
        _check(original, persona)
        without_id = persona.to_dict()
        del without_id["persona_id"]
        assert without_id == _load(path)


def test_customer_service_config_layers() -> None:
    original = _load(REALWORLD / "10-docs-customer-service-config-no-id.json")
    p = Persona.from_dict(original | {"persona_id": "p1"})
    assert p.layers is not None
    llm, tts, perception, stt = p.layers.llm, p.layers.tts, p.layers.perception, p.layers.stt
    assert llm is not None and tts is not None and perception is not None and stt is not None
    # llm tools, with the key order name/parameters/description inside `function`.
    raw_function = original["layers"]["llm"]["tools"][0]["function"]
    assert list(raw_function) == ["name", "parameters", "description"]
    assert list(p.to_dict()["layers"]["llm"]["tools"][0]["function"]) == list(raw_function)
    assert llm.tools is not None and len(llm.tools) == 1
    tool = llm.tools[0]
    assert tool.type == "function"
    assert tool.tool_name == "resolve_customer_issue"
    assert tool.function is not None
    assert tool.function.parameters == raw_function["parameters"]
    assert tool.function.description == raw_function["description"]
    assert llm.model == "tavus-llama"
    assert llm.speculative_inference is True
    assert tts.tts_engine == "cartesia"
    assert tts.tts_emotion_control is True
    assert perception.perception_model == "raven-0"
    assert (
        perception.ambient_awareness_queries
        == original["layers"]["perception"]["ambient_awareness_queries"]
    )
    assert perception.perception_tool_prompt is not None
    assert "user_emotional_state" in perception.perception_tool_prompt
    assert perception.perception_tools is not None
    assert [t.tool_name for t in perception.perception_tools] == ["user_emotional_state"]
    assert stt.stt_engine == "tavus-advanced"
    assert stt.participant_pause_sensitivity == "medium"
    assert stt.participant_interrupt_sensitivity == "high"
    assert stt.smart_turn_detection is True
    assert stt.hotwords is None


def test_echo_config_has_no_system_prompt_and_a_livekit_transport() -> None:
    original = _load(REALWORLD / "12-docs-livekit-echo-persona-config-no-id.json")
    p = Persona.from_dict(original | {"persona_id": "p1"})
    assert p.pipeline_mode == "echo"
    assert p.system_prompt is None
    assert p.layers == Layers(transport=TransportLayer(transport_type="livekit"))


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
        assert info.value.body_length == len(body)
        assert "JSON is malformed" in info.value.message
