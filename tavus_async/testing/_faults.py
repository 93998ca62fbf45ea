"""`Fault`: one scripted misbehaviour of `FakeTavus`, and where it applies (`FaultQueue`)."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import Any, Literal, get_args

__all__ = ["Fault", "FaultKind", "FaultQueue", "reason"]

Body = bytes | str | dict[str, Any] | list[Any] | None

#: How a fault delivers its answer (after any `delay`).
FaultKind = Literal["reply", "stall", "drip", "drop_mid_body", "close_connection", "lose_response"]
_KINDS = frozenset(get_args(FaultKind))


def reason(status: int) -> str:
    """The standard reason phrase of `status` ("Unknown" for a non-standard one)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass(frozen=True, repr=False)
class Fault:
    """One scripted misbehaviour, consumed by exactly one matching request.

    The request waits `delay` seconds, then `kind` says what happens: `"reply"` sends the
    answer (`status`/`body`/`headers` if `status` is set, else the normal answer plus extra
    `headers`); `"drip"` sends it `drip_chunk` bytes every `drip_interval` seconds;
    `"drop_mid_body"` sends the headers and half the body, then closes; `"stall"` never
    answers; `"close_connection"` closes the connection without doing anything;
    `"lose_response"` does the request's normal work (a write is applied) and closes the
    connection instead of answering.
    """

    status: int | None = None
    body: Body = None
    headers: Mapping[str, str] | None = None
    _: KW_ONLY
    delay: float = 0.0
    kind: FaultKind = "reply"
    drip_interval: float = 0.0
    drip_chunk: int = 1

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be in 100..599, got {self.status}")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}")
        if self.drip_interval < 0:
            raise ValueError("drip_interval must be >= 0")
        if self.drip_chunk < 1:
            raise ValueError("drip_chunk must be >= 1")
        if self.headers is not None:
            object.__setattr__(self, "headers", dict(self.headers))
        object.__setattr__(self, "delay", float(self.delay))

    def __repr__(self) -> str:
        parts = [
            f"{field.name}={getattr(self, field.name)!r}"
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != field.default
        ]
        return f"Fault({', '.join(parts)})"

    @classmethod
    def http(
        cls, status: int, body: Body = None, headers: Mapping[str, str] | None = None
    ) -> Fault:
        """Respond with `status` (and optional body/headers) instead of the normal answer.

        `body` may be a dict or list (sent as JSON), `str` (text) or `bytes` (sent as JSON);
        a 4xx/5xx without one gets `{"message": <reason>}`.
        """
        return cls(status, body, headers)

    @classmethod
    def retry_after(cls, status: int = 429, seconds: str | float = "1") -> Fault:
        """Respond `status` with a `Retry-After: seconds` header (value sent as given)."""
        return cls(status, headers={"Retry-After": str(seconds)})

    @classmethod
    def invalid_json(cls) -> Fault:
        """Respond 200 `application/json` with a body that is not valid JSON."""
        return cls(200, b"{not json")

    @classmethod
    def delay_then(cls, delay: float, status: int | None = None) -> Fault:
        """Sleep `delay` seconds, then respond normally (or with `status`)."""
        return cls(status, delay=delay)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Respond with an HTML error page, as a proxy or load balancer would."""
        phrase = reason(status)
        page = (
            f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {phrase}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return cls(status, page, {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def stall(cls) -> Fault:
        """Never respond; the handler waits until the client leaves or the server stops."""
        return cls(kind="stall")

    @classmethod
    def drip(cls, interval: float, chunk_size: int = 1) -> Fault:
        """Send the normal body `chunk_size` byte(s) at a time, every `interval` seconds."""
        return cls(kind="drip", drip_interval=interval, drip_chunk=chunk_size)

    @classmethod
    def drop_mid_body(cls) -> Fault:
        """Send headers with the full Content-Length and half the body, then close."""
        return cls(kind="drop_mid_body")

    @classmethod
    def close_connection(cls) -> Fault:
        """Close the TCP connection as soon as the request arrives, sending nothing."""
        return cls(kind="close_connection")

    @classmethod
    def lose_response(cls) -> Fault:
        """Do the request's work (a create, patch or delete is applied), then close the
        connection without answering: the client cannot tell whether the write happened."""
        return cls(kind="lose_response")


@dataclass(frozen=True)
class _Scoped:
    fault: Fault
    method: str | None
    path: str | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or fnmatchcase(path, self.path)
        )


class FaultQueue:
    """Queued faults; each is used by the first request it matches, in order.

    Faults scoped to a persona id come first, then faults scoped only by method or path,
    then unscoped ones.
    """

    def __init__(self) -> None:
        self._unscoped: deque[Fault] = deque()
        self._scoped: dict[str | None, list[_Scoped]] = {}

    def add(
        self,
        faults: tuple[Fault, ...],
        *,
        persona_id: str | None,
        method: str | None,
        path: str | None,
    ) -> None:
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected Fault, got {type(fault).__name__}")
        if persona_id is None and method is None and path is None:
            self._unscoped.extend(faults)
            return
        method = method.upper() if method is not None else None
        entries = self._scoped.setdefault(persona_id, [])
        entries.extend(_Scoped(fault, method, path) for fault in faults)

    def pop(self, method: str, path: str, persona_id: str | None) -> Fault | None:
        """The fault for this request, removed from the queue, or None."""
        if self._scoped:
            keys = (persona_id, None) if persona_id is not None else (None,)
            for key in keys:
                entries = self._scoped.get(key)
                if not entries:
                    continue
                for position, entry in enumerate(entries):
                    if entry.matches(method, path):
                        del entries[position]
                        if not entries:
                            del self._scoped[key]
                        return entry.fault
        if self._unscoped:
            return self._unscoped.popleft()
        return None

    def clear(self) -> None:
        self._unscoped.clear()
        self._scoped.clear()

    def __bool__(self) -> bool:
        return bool(self._unscoped or self._scoped)

    def __len__(self) -> int:
        return len(self._unscoped) + sum(len(entries) for entries in self._scoped.values())
