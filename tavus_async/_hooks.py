"""Event hooks and the per-attempt DEBUG line: what a client tells the outside world about
each request it sends.

`AsyncTavus(event_hooks={"request": [...], "response": [...], "retry": [...]})` calls each
hook with a small frozen event. `Observer` is the transport's side of it: it is consulted
only when a hook is set or the `tavus_async` logger shows DEBUG, so a client with neither
pays nothing per attempt.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from yarl import URL

from ._logging import logger
from ._secret import MASK, Secret
from .errors import TavusError, redact

__all__ = [
    "EVENT_NAMES",
    "HOOK_TIMEOUT",
    "EventHooks",
    "Observer",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "check_event_hooks",
    "public_url",
]

#: Seconds an async hook may take before it is abandoned (cancelled, logged) so that the
#: call goes on: a hook records, it does not work.
HOOK_TIMEOUT: Final = 1.0
EVENT_NAMES: Final = ("request", "response", "retry")
# A query parameter whose name says it holds a credential: its value is masked in event URLs.
_SECRET_PARAM: Final = re.compile(r"key|token|secret|passw|signature|auth|credential", re.I)


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """An attempt is about to be sent. `attempt` is 1-based; a hedged GET sends a second
    request under the same attempt number."""

    method: str
    #: The full URL with its query, credentials masked (the API key travels in a header).
    url: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """An attempt got an HTTP answer (any status: a 503 that will be retried too), before
    its body is decoded. `elapsed`: seconds from sending this attempt to its answer.

    An attempt that gets no answer (connection error, timeout) has no response event: a
    retry event follows if it is retried, else the call raises.
    """

    method: str
    url: str
    attempt: int
    status_code: int
    elapsed: float


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """Attempt `attempt` failed with `error` and the call will try again after `wait`
    seconds (attempt `attempt + 1`)."""

    method: str
    url: str
    attempt: int
    wait: float
    error: TavusError


#: A hook: called with an event; may return an awaitable, which is awaited.
Hook = Callable[[Any], object]
Hooks = tuple[Hook, ...]
#: `AsyncTavus(event_hooks=...)`: for "request", "response" and "retry", the hooks to call
#: with each such event, in order.
EventHooks = Mapping[str, Sequence[Hook]]


def check_event_hooks(value: object) -> dict[str, Hooks]:
    """The hooks of `event_hooks` by event name, checked: a mapping of the names in
    `EVENT_NAMES` (else ValueError) to lists of callables (else TypeError). Pure."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"event_hooks must be a dict of lists, not {type(value).__name__}")
    checked: dict[str, Hooks] = {}
    for name, hooks in value.items():
        if not isinstance(name, str):
            raise TypeError(f"event_hooks keys must be str, not {type(name).__name__}")
        if name not in EVENT_NAMES:
            raise ValueError(
                f"event_hooks has no event {name[:40]!r}: use 'request', 'response' or 'retry'"
            )
        if callable(hooks) or isinstance(hooks, str | bytes) or not isinstance(hooks, Sequence):
            raise TypeError(
                f"event_hooks[{name!r}] must be a list of callables, not "
                f"{type(hooks).__name__} (wrap a single hook in [...])"
            )
        for index, hook in enumerate(hooks):
            if not callable(hook):
                raise TypeError(
                    f"event_hooks[{name!r}][{index}] must be callable, not {type(hook).__name__}"
                )
        if hooks:
            checked[name] = tuple(hooks)
    return checked


def public_url(url: URL, params: Mapping[str, str] | None, secret: Secret) -> str:
    """`url` with `params` as it goes on the wire, minus anything that may be a credential:
    user info dropped, the values of key/token/secret-like query parameters masked, and the
    API key masked wherever it appears. Pure."""
    if params:
        url = url.extend_query(params)
    if url.raw_user is not None or url.raw_password is not None:
        url = url.with_user(None)
    if any(_SECRET_PARAM.search(name) for name in url.query):
        url = url.with_query(
            [(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in url.query.items()]
        )
    return redact(str(url), secret)


class _Answered(Protocol):
    @property
    def status_code(self) -> int: ...


A = TypeVar("A", bound=_Answered)
L = TypeVar("L")


class Observer:
    """A transport's hooks and its per-attempt DEBUG line."""

    __slots__ = ("_hooked", "_request", "_response", "_retry", "_secret", "_timeout")

    def __init__(
        self, hooks: Mapping[str, Hooks], secret: Secret, timeout: float = HOOK_TIMEOUT
    ) -> None:
        self._request = hooks.get("request", ())
        self._response = hooks.get("response", ())
        self._retry = hooks.get("retry", ())
        self._hooked = bool(self._request or self._response or self._retry)
        self._secret = secret
        self._timeout = timeout

    def __repr__(self) -> str:
        counts = (len(self._request), len(self._response), len(self._retry))
        return "Observer(request={}, response={}, retry={})".format(*counts)

    def watching(self) -> bool:
        """Whether an attempt has anything to tell: a hook is set, or DEBUG is logged."""
        return self._hooked or logger.isEnabledFor(logging.DEBUG)

    async def exchange(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        attempt: int,
        send: Callable[[], Awaitable[tuple[A, L]]],
    ) -> tuple[A, L]:
        """`send()` (one attempt's exchange) between its request and response events,
        then its DEBUG line."""
        if self._request:
            request = RequestEvent(method, public_url(url, params, self._secret), attempt)
            await self._emit("request", self._request, request)
        started = time.monotonic()
        try:
            answer = await send()
        except Exception as exc:
            logger.debug(
                "%s %s failed: %s (attempt %d, %.3fs)",
                method,
                redact(url.raw_path, self._secret),
                type(exc).__name__,
                attempt,
                time.monotonic() - started,
            )
            raise
        elapsed = time.monotonic() - started
        status = answer[0].status_code
        logger.debug(
            "%s %s -> %d in %.3fs (attempt %d)",
            method,
            redact(url.raw_path, self._secret),
            status,
            elapsed,
            attempt,
        )
        if self._response:
            where = public_url(url, params, self._secret)
            response = ResponseEvent(method, where, attempt, status, elapsed)
            await self._emit("response", self._response, response)
        return answer

    def on_retry(
        self, method: str, url: URL, params: Mapping[str, str] | None
    ) -> Callable[[int, float, BaseException], Awaitable[None]] | None:
        """What the retry loop calls before it waits (None: no retry hook is set)."""
        if not self._retry:
            return None

        async def emit(attempt: int, wait: float, error: BaseException) -> None:
            if isinstance(error, TavusError):  # only those are ever retried
                where = public_url(url, params, self._secret)
                await self._emit(
                    "retry", self._retry, RetryEvent(method, where, attempt, wait, error)
                )

        return emit

    async def _emit(self, name: str, hooks: Hooks, event: object) -> None:
        """Call each hook; one that raises or overruns `HOOK_TIMEOUT` is logged, and the
        call goes on. A `CancelledError` while nobody cancels the task is the hook's own
        failure (it raised one, or awaited a cancelled future), not a cancel of the call."""
        task = asyncio.current_task()
        for hook in hooks:
            scope = asyncio.timeout(self._timeout)
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    async with scope:
                        await result
            except asyncio.CancelledError:
                if task is None or task.cancelling():
                    raise
                logger.warning("The %s hook %s raised", name, _name(hook), exc_info=True)
            except Exception:
                if scope.expired():
                    logger.warning(
                        "The %s hook %s took longer than %gs: abandoned",
                        name,
                        _name(hook),
                        self._timeout,
                    )
                else:
                    logger.warning("The %s hook %s raised", name, _name(hook), exc_info=True)


def _name(hook: object) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__name__
