"""Pure tests of `tavus_async.errors`: the status -> exception mapping, redaction, snippets.

No mocks, no I/O: `error_for_status` is a pure function of (status, body, headers, secret).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import STATUS_CLASSES

from tavus_async.errors import (
    SNIPPET_LIMIT,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    DecodeError,
    InternalServerError,
    InvalidPersonaIdError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    TavusError,
    UnprocessableEntityError,
    error_for_status,
    redact,
    snippet,
)

SECRET = "tvs_live_7f3a9c2e41b84d6aa0c5e9f1d2b3c4a5"
NO_HEADERS: Mapping[str, str] = {}


def _json(value: object) -> bytes:
    return msgspec.json.encode(value)


# --------------------------------------------------------------------------- status mapping


@pytest.mark.parametrize(("status", "cls"), [*STATUS_CLASSES, (599, InternalServerError)])
def test_status_maps_to_exact_class(status: int, cls: type[APIStatusError]) -> None:
    err = error_for_status(status, _json({"message": "boom"}), NO_HEADERS)
    assert type(err) is cls
    assert err.status_code == status
    assert err.message == "boom"
    assert str(err) == f"Error code: {status} - boom"


def test_400_message_comes_from_body_error() -> None:
    # The spec's 400 shape: {"error": "..."}.
    err = error_for_status(400, _json({"error": "Invalid persona_id"}), NO_HEADERS)
    assert isinstance(err, BadRequestError)
    assert err.message == "Invalid persona_id"
    assert "Invalid persona_id" in str(err)


def test_401_message_comes_from_body_message() -> None:
    # The spec's 401 shape: {"message": "..."}.
    err = error_for_status(401, _json({"message": "Invalid access token"}), NO_HEADERS)
    assert isinstance(err, AuthenticationError)
    assert err.message == "Invalid access token"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"detail": "d", "error": "e", "message": "m"}, "m"),
        ({"error": "e", "message": "m"}, "m"),
        ({"detail": "d", "message": "m"}, "m"),
        ({"detail": "d", "error": "e"}, "e"),
        ({"detail": "d"}, "d"),
        # Empty / non-string values are skipped in favour of the next key.
        ({"message": "", "error": "e"}, "e"),
        ({"message": None, "detail": "d"}, "d"),
        ({"message": 5, "error": "e"}, "e"),
        # Gateways wrap the message: {"error": {"message": "..."}}.
        ({"error": {"message": "inner"}}, "inner"),
    ],
)
def test_message_precedence(body: dict[str, object], expected: str) -> None:
    err = error_for_status(400, _json(body), NO_HEADERS)
    assert err.message == expected
    assert err.body == body


def test_html_502_page_gives_short_text_message() -> None:
    page = (
        b"<html><head><title>502 Bad Gateway</title></head><body>"
        + b"<center><h1>502 Bad Gateway</h1></center>" * 200
        + b"<hr><center>nginx</center></body></html>"
    )
    err = error_for_status(502, page, {"Content-Type": "text/html"})
    assert isinstance(err, InternalServerError)
    assert err.message.startswith("<html><head><title>502 Bad Gateway</title>")
    assert len(err.message) <= SNIPPET_LIMIT + len("...")
    assert len(err.message) < len(page)
    # The body is kept as (bounded) text since it is not JSON.
    assert isinstance(err.body, str)
    assert err.body.startswith("<html>")
    assert len(err.body) <= 1000 + len("...")


def test_json_without_message_keys_gives_text_message() -> None:
    err = error_for_status(500, _json({"code": 17}), NO_HEADERS)
    assert err.message == '{"code":17}'
    assert err.body == {"code": 17}


def test_empty_body_uses_reason_then_default() -> None:
    err = error_for_status(503, b"", NO_HEADERS, reason="Service Unavailable")
    assert isinstance(err, InternalServerError)
    assert err.message == "Service Unavailable"
    assert err.body is None
    bare = error_for_status(503, b"", NO_HEADERS)
    assert bare.message == "HTTP error"
    assert bare.body is None
    # Whitespace only is as good as empty.
    assert error_for_status(404, b"  \r\n ", NO_HEADERS, reason="Not Found").message == "Not Found"


def test_attributes_status_body_headers() -> None:
    body = {"message": "slow down", "retry_in": 3}
    err = error_for_status(
        429, _json(body), {"Retry-After": "3", "Content-Type": "application/json"}
    )
    assert isinstance(err, RateLimitError)
    assert err.status_code == 429
    assert err.body == body
    assert err.headers["Retry-After"] == "3"
    assert err.headers["Content-Type"] == "application/json"
    assert err.attempts == 0
    assert err.retry_after is None
    assert repr(err) == "RateLimitError(status_code=429, message='slow down')"


def test_headers_are_case_insensitive() -> None:
    err = error_for_status(500, b"", {"X-Request-Id": "abc", "retry-after-ms": "250"})
    assert err.headers["x-request-id"] == "abc"
    assert err.headers["X-REQUEST-ID"] == "abc"
    assert err.headers["Retry-After-Ms"] == "250"
    assert err.headers.get("X-Should-Retry") is None


# --------------------------------------------------------------------------- secrets


def _walk(value: object) -> Iterator[str]:
    """Every string (keys included) in a nested JSON-like value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)
    else:
        yield repr(value)


def _assert_no_secret(err: APIStatusError) -> None:
    assert SECRET not in str(err)
    assert SECRET not in repr(err)
    assert SECRET not in err.message
    assert SECRET not in repr(err.args)
    for text in _walk(err.body):
        assert SECRET not in text
    for key, value in err.headers.items():
        assert SECRET not in key
        assert SECRET not in value
    assert "x-api-key" not in {k.lower() for k in err.headers}


@pytest.mark.parametrize("key", ["message", "error", "detail"])
def test_secret_echoed_as_message_is_scrubbed(key: str) -> None:
    body = _json({key: f"Invalid access token {SECRET}"})
    err = error_for_status(401, body, NO_HEADERS, secret=SECRET)
    _assert_no_secret(err)
    assert err.message == "Invalid access token ***"


def test_secret_nested_anywhere_in_body_is_scrubbed() -> None:
    body = {
        "message": "denied",
        "request": {
            "headers": {"x-api-key": SECRET, SECRET: "key-as-a-key"},
            "echo": [SECRET, {"deeper": [f"prefix-{SECRET}-suffix", 1, None, True]}],
        },
    }
    err = error_for_status(403, _json(body), NO_HEADERS, secret=SECRET)
    _assert_no_secret(err)
    assert isinstance(err.body, dict)
    request = err.body["request"]
    assert request["headers"]["x-api-key"] == "***"
    assert request["echo"][1]["deeper"] == ["prefix-***-suffix", 1, None, True]


def test_secret_in_nested_error_message_is_scrubbed() -> None:
    body = _json({"error": {"message": f"key {SECRET} revoked"}})
    err = error_for_status(401, body, NO_HEADERS, secret=SECRET)
    _assert_no_secret(err)
    assert err.message == "key *** revoked"


def _json_escaped(text: str) -> str:
    """`text` as a JSON string body with every character \\u-escaped (valid, equivalent JSON)."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


@pytest.mark.parametrize("key", ["message", "error", "note"])
def test_secret_echoed_json_escaped_is_scrubbed(key: str) -> None:
    # `"\u0074vs..."` and `"tvs..."` are the same JSON string: once parsed, the key is there.
    body = f'{{"{key}": "bad key {_json_escaped(SECRET)}", "echo": ["{_json_escaped(SECRET)}"]}}'
    err = error_for_status(401, body.encode(), NO_HEADERS, secret=SECRET)
    assert isinstance(err.body, dict)
    assert err.body["echo"] == ["***"]
    _assert_no_secret(err)


def test_secret_in_non_json_body_is_scrubbed() -> None:
    body = f"<html>bad key {SECRET} and again {SECRET}</html>".encode()
    err = error_for_status(502, body, NO_HEADERS, secret=SECRET)
    _assert_no_secret(err)
    assert err.message == "<html>bad key *** and again ***</html>"


def test_secret_in_reason_is_scrubbed() -> None:
    err = error_for_status(500, b"", NO_HEADERS, secret=SECRET, reason=f"oops {SECRET}")
    _assert_no_secret(err)


def test_secret_in_header_value_and_api_key_header_are_scrubbed() -> None:
    headers = {
        "X-Api-Key": SECRET,
        "X-Debug-Echo": f"key={SECRET}",
        "Content-Type": "application/json",
    }
    err = error_for_status(500, _json({"message": "x"}), headers, secret=SECRET)
    _assert_no_secret(err)
    assert err.headers["x-debug-echo"] == "key=***"
    assert err.headers["content-type"] == "application/json"


@pytest.mark.parametrize("name", ["x-api-key", "X-API-KEY", "X-Api-Key"])
def test_api_key_response_header_is_dropped_in_any_case(name: str) -> None:
    err = error_for_status(401, b"", {name: "whatever-value"}, secret=SECRET)
    assert name not in err.headers
    assert "x-api-key" not in err.headers
    assert "whatever-value" not in repr(dict(err.headers))


# --------------------------------------------------------------------------- hierarchy


def test_hierarchy() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, TavusError)
    assert issubclass(ResponseTooLargeError, APIConnectionError)
    assert issubclass(DecodeError, TavusError)
    assert not issubclass(DecodeError, APIStatusError)
    assert issubclass(APIStatusError, TavusError)
    assert issubclass(MissingAPIKeyError, TavusError)
    assert issubclass(ClientClosedError, TavusError)
    assert issubclass(TavusError, Exception)
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        UnprocessableEntityError,
        RateLimitError,
        InternalServerError,
    ):
        assert issubclass(cls, APIStatusError), cls
        assert not issubclass(cls, APIConnectionError), cls


def _raised(error: TavusError) -> TavusError:
    try:
        raise error
    except TavusError as caught:
        return caught


def _rate_limited() -> RateLimitError:
    error = error_for_status(429, b'{"message": "slow down"}', {"Retry-After": "2"})
    assert isinstance(error, RateLimitError)
    error.retry_after = 2.0
    error.attempts = 3
    return error


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("Invalid access token", status_code=401, body={"a": 1}, attempts=1),
        _rate_limited(),
        DecodeError("not JSON", status_code=201, body_length=9, attempts=2),
        APITimeoutError("Request timed out.", attempts=4, request_sent=False),
        InvalidPersonaIdError("persona_id must not be empty"),
        MissingAPIKeyError("no key"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_copy_of_an_error_keeps_class_and_attributes(error: TavusError) -> None:
    """`copy.copy` works for every error (the default would call `__init__` with the
    message alone, which keyword-only arguments refuse) and leaves the traceback behind."""
    original = _raised(error)
    copied = copy.copy(original)
    assert copied is not original and type(copied) is type(original)
    assert (str(copied), repr(copied), copied.args) == (
        str(original),
        repr(original),
        original.args,
    )
    assert vars(copied) == vars(original)
    assert original.__traceback__ is not None and copied.__traceback__ is None
    copied.attempts = 99
    assert original.attempts != 99


def test_timeout_error_is_caught_as_connection_error() -> None:
    with pytest.raises(APIConnectionError) as info:
        raise APITimeoutError(attempts=3)
    assert isinstance(info.value, TavusError)
    assert info.value.attempts == 3
    assert info.value.message == "Request timed out."


def test_decode_error_attributes() -> None:
    err = DecodeError("bad", status_code=200, body_length=5)
    assert isinstance(err, TavusError)
    assert err.status_code == 200
    assert err.body_length == 5
    assert err.message == "bad"
    assert str(err) == "bad (status 200, body of 5 bytes)"
    assert str(DecodeError("bad")) == "bad"  # from_dict: no response
    assert DecodeError("bad").status_code is None


# --------------------------------------------------------------------------- never raises


@settings(database=None, max_examples=300, deadline=None)
@given(st.binary(), st.integers(300, 599))
def test_error_for_status_never_raises_on_garbage(body: bytes, status: int) -> None:
    err = error_for_status(status, body, {"X-Api-Key": SECRET}, secret=SECRET)
    assert isinstance(err, APIStatusError)
    assert err.status_code == status
    assert isinstance(err.message, str)
    assert err.message
    assert len(err.message) <= max(SNIPPET_LIMIT + 3, len(body))
    if status >= 500:
        assert isinstance(err, InternalServerError)
    assert "x-api-key" not in err.headers


@pytest.mark.parametrize("secret", [None, SECRET], ids=["no-secret", "with-secret"])
@pytest.mark.parametrize("opener", [b"[", b'{"a":', b'{"message":'])
def test_error_for_status_never_raises_on_deep_nesting(opener: bytes, secret: str | None) -> None:
    # A proxy or a hostile server can send an absurdly nested JSON error body. Every depth,
    # from shallow to far beyond any recursion limit, must still give an exception object.
    # (The client always passes its API key as `secret`, so redaction runs on the body.)
    closer = b"]" if opener == b"[" else b"}"
    leaf = b"" if opener == b"[" else b'"x"'
    failures: list[tuple[int, str]] = []
    for depth in [*range(1, 1300), 5_000, 100_000]:
        body = opener * depth + leaf + closer * depth
        try:
            err = error_for_status(500, body, NO_HEADERS, secret=secret)
        except Exception as exc:  # collected, asserted below
            failures.append((depth, type(exc).__name__))
            continue
        if not isinstance(err, InternalServerError):
            failures.append((depth, type(err).__name__))
    assert failures == [], (
        f"error_for_status raised for {len(failures)} nesting depths, first: {failures[:3]}"
    )


# --------------------------------------------------------------------------- redact / snippet


def test_redact() -> None:
    assert redact(f"a {SECRET} b {SECRET}", SECRET) == "a *** b ***"
    assert redact("nothing here", SECRET) == "nothing here"
    assert redact(f"keep {SECRET}", None) == f"keep {SECRET}"
    assert redact("keep", "") == "keep"


def test_snippet_is_bounded_and_marked() -> None:
    assert snippet(b"short") == "short"
    long = snippet(b"x" * 5000)
    assert long == "x" * SNIPPET_LIMIT + "..."
    assert snippet(b"abcdef", limit=3) == "abc..."


def test_snippet_redacts_secret() -> None:
    text = snippet(f'{{"persona_name": "{SECRET}"}}'.encode(), SECRET)
    assert SECRET not in text
    assert text == '{"persona_name": "***"}'


def test_snippet_never_raises_on_invalid_utf8() -> None:
    text = snippet(b'{"persona_id": "\xff\xfe"}' + "é".encode()[:1])
    assert text.startswith('{"persona_id": "')
    assert "\ufffd" in text


@settings(database=None, max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 400))
def test_snippet_total(body: bytes, limit: int) -> None:
    text = snippet(body, SECRET, limit=limit)
    assert len(text) <= limit + 3
    assert SECRET not in text
