"""The names of the client implementations, and how the report labels them."""

from __future__ import annotations

from typing import Final

__all__ = ["BULK_IMPLS", "DECODER_LABELS", "IMPLS", "LABELS", "SINGLE_IMPLS"]

#: Bulk clients, in the order every round runs them; the first is the floor.
BULK_IMPLS: Final = (
    "aiohttp_raw",
    "aiohttp_json",
    "httpx_pydantic",
    "tavus_get_many",
    "tavus_iter_many",
)
#: One request at a time (latency); the first is the floor.
SINGLE_IMPLS: Final = ("aiohttp_single", "tavus_get", "tavus_get_uncoalesced")
IMPLS: Final = BULK_IMPLS + SINGLE_IMPLS
LABELS: Final = {
    "aiohttp_raw": "aiohttp, bytes only (floor)",
    "aiohttp_json": "aiohttp + json.loads",
    "httpx_pydantic": "httpx + pydantic v2",
    "tavus_get_many": "tavus-async get_many",
    "tavus_iter_many": "tavus-async iter_many",
    "aiohttp_single": "aiohttp, bytes only (floor)",
    "tavus_get": "tavus-async get",
    "tavus_get_uncoalesced": "tavus-async get, `coalesce=False`",
}
#: The decode micro-benchmark's decoders (`benchmarks.decode_bench.DECODERS`).
DECODER_LABELS: Final = {
    "tavus_decode_persona": "`tavus_async.models.decode_persona` (msgspec Structs)",
    "pydantic_model_validate_json": "pydantic v2 `Envelope.model_validate_json`",
    "pydantic_model_validate_json_loads": "pydantic v2 `model_validate(json.loads(...))`",
    "json_loads": "`json.loads` (dicts)",
    "msgspec_to_dict": "`msgspec.json.decode` (dicts)",
}
