"""`proxy=`: checked at construction and held as a `Secret` (its user info may carry a
password); what a repr may show of it, and what an error must mask."""

from __future__ import annotations

import base64

from yarl import URL

from ._secret import Hidden, Secret

__all__ = ["checked_proxy", "proxy_secrets", "shown_proxy"]


def checked_proxy(given: Hidden) -> Secret | Exception | None:
    """`given.value` (a str, a `yarl.URL` or None) checked, or the error to raise.

    Returned rather than raised, so no frame of a traceback holds the URL; no message
    quotes it.
    """
    raw = given.value
    if raw is None:
        return None
    if not isinstance(raw, str | URL):
        return TypeError(f"proxy must be a str or a yarl.URL, not {type(raw).__name__}")
    try:
        url = URL(raw)
        problem = _problem(url)
    except (TypeError, ValueError):
        problem = "proxy is not a valid URL"
    if problem is not None:
        return ValueError(problem)
    return Secret(str(url))


def _problem(url: URL) -> str | None:
    if url.scheme not in ("http", "https") or not url.host:
        return "proxy must be an absolute http:// or https:// URL with a host"
    if url.path not in ("", "/") or url.query_string or url.fragment:
        return "proxy must not carry a path, query or fragment"
    url.port  # noqa: B018 - an invalid port raises here, not at the first request
    return None


def shown_proxy(proxy: Secret | None) -> str | None:
    """The proxy URL without its user info: what a repr may show."""
    return None if proxy is None else str(URL(proxy.value).with_user(None))


def proxy_secrets(proxy: Secret | None) -> tuple[str, ...]:
    """The proxy's user info (a token may be passed as the user), decoded and as written in
    the URL, and the `Proxy-Authorization` token made of it, to mask in errors."""
    if proxy is None:
        return ()
    url = URL(proxy.value)
    token = None
    if url.user is not None:  # as aiohttp encodes it: base64 of UTF-8 `user:password`
        token = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()
    parts = (url.user, url.raw_user, url.password, url.raw_password, token)
    return tuple(dict.fromkeys(part for part in parts if part))
