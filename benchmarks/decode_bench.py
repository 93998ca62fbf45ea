"""Decode micro-benchmark: the same persona bodies through each decoder, no network.

`python -m benchmarks.decode_bench` prints one JSON line: microseconds per decode (median of
`--repeats` timings of `--iterations` decodes each) and bytes each decoded persona keeps
alive (tracemalloc over `--keep` decodes).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, Final

import msgspec

from benchmarks.affinity import pin_to_cpu
from benchmarks.ids import persona_id
from benchmarks.payload import body_for, templates
from benchmarks.pydantic_models import Envelope
from benchmarks.stats import median
from tavus_async.models import decode_persona

__all__ = ["DECODERS", "main", "run"]

Decoder = Callable[[bytes, str], object]
_msgspec_decode = msgspec.json.Decoder().decode


def _tavus(body: bytes, pid: str) -> object:
    return decode_persona(body, persona_id=pid)


def _pydantic_json(body: bytes, pid: str) -> object:
    return Envelope.model_validate_json(body)


def _pydantic_dict(body: bytes, pid: str) -> object:
    return Envelope.model_validate(json.loads(body))


def _json_loads(body: bytes, pid: str) -> object:
    return json.loads(body)


def _msgspec_dict(body: bytes, pid: str) -> object:
    return _msgspec_decode(body)


DECODERS: Final[dict[str, Decoder]] = {
    "tavus_decode_persona": _tavus,
    "pydantic_model_validate_json": _pydantic_json,
    "pydantic_model_validate_json_loads": _pydantic_dict,
    "json_loads": _json_loads,
    "msgspec_to_dict": _msgspec_dict,
}


def _time_one(decode: Decoder, cases: list[tuple[bytes, str]], iterations: int) -> float:
    rounds = max(1, iterations // len(cases))
    gc.collect()
    started = time.process_time()
    for _ in range(rounds):
        for body, pid in cases:
            decode(body, pid)
    return (time.process_time() - started) / (rounds * len(cases))


def _kept_bytes(decode: Decoder, cases: list[tuple[bytes, str]], keep: int) -> float:
    gc.collect()
    tracemalloc.start()
    kept = [decode(*cases[i % len(cases)]) for i in range(keep)]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return size / keep


def run(iterations: int, repeats: int, keep: int) -> dict[str, Any]:
    """Time every decoder, interleaved across repeats; return the medians."""
    cases = [(body_for(t, persona_id(i)), persona_id(i)) for i, t in enumerate(templates())]
    for decode in DECODERS.values():  # warm up; every decoder must accept every body
        for body, pid in cases:
            decode(body, pid)
    samples: dict[str, list[float]] = {name: [] for name in DECODERS}
    for _ in range(repeats):
        for name, decode in DECODERS.items():
            samples[name].append(_time_one(decode, cases, iterations))
    return {
        "body_bytes": sum(len(b) for b, _ in cases) / len(cases),
        "iterations": iterations,
        "repeats": repeats,
        "us_per_decode": {name: median(v) * 1e6 for name, v in samples.items()},
        "kept_bytes_per_persona": {
            name: _kept_bytes(decode, cases, keep) for name, decode in DECODERS.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the micro-benchmark and print it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20_000, help="decodes per timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=int, default=2_000, help="decodes kept for tracemalloc")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (-1: no pinning)")
    args = parser.parse_args(argv)
    pinned = pin_to_cpu(args.cpu) if args.cpu >= 0 else False
    result = run(args.iterations, args.repeats, args.keep)
    result["pinned"] = pinned
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
