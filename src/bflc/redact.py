"""Safe output: no secrets from endpoint URLs, no terminal escapes from other nodes.

A JSON-RPC or store URL often carries a credential: ``user:password@`` in
its authority, an API key as a path segment (``/v3/<key>``) or as a query
parameter (``?apikey=...``). Only the scheme, host and port identify an
endpoint to a reader, so :func:`redact_url` keeps those and replaces
everything else with ``***``. :func:`redact_text` does the same to every URL
inside a message (an exception from ``requests`` quotes the URL it failed on).
:func:`printable` escapes what a terminal would obey (text chosen by other
nodes: URIs, revert reasons).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["HIDDEN", "one_line", "printable", "redact_text", "redact_url"]

HIDDEN = "***"
"""What stands in place of a URL's user information, path and query."""

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")


def redact_url(url: str) -> str:
    """``url`` with only its scheme, host and port kept.

    Parameters
    ----------
    url : str
        Any URL, well-formed or not.

    Returns
    -------
    str
        ``scheme://host:port`` followed by ``/***`` when the URL had user
        information, a path, a query or a fragment; ``***`` when ``url`` cannot
        be parsed as a URL with a host.

    Examples
    --------
    >>> redact_url("https://alice:pw@rpc.example.org:8545/v3/0123abcd?key=s3cret")
    'https://***@rpc.example.org:8545/***'
    >>> redact_url("http://127.0.0.1:8545")
    'http://127.0.0.1:8545'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return HIDDEN
    if not parts.scheme or not host:
        return HIDDEN
    shown_host = f"[{host}]" if ":" in host else host
    authority = shown_host if port is None else f"{shown_host}:{port}"
    if parts.username is not None or parts.password is not None:
        authority = f"{HIDDEN}@{authority}"
    hidden_rest = parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{authority}" + (f"/{HIDDEN}" if hidden_rest else parts.path)


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`.

    >>> redact_text("HTTPConnectionPool: Max retries exceeded with url: http://h:1/key123 (refused)")
    'HTTPConnectionPool: Max retries exceeded with url: http://h:1/*** (refused)'
    """
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def printable(text: str) -> str:
    r"""``text`` with every character that is not printable written as an escape.

    Control characters (C0, DEL, C1), format characters (bidi overrides and
    isolates, zero-width characters), line and paragraph separators and
    unassigned code points become Python escapes (``\x1b``, ``\r``,
    ``\u202e``, ``\U000e0001``);
    everything else, the ASCII space included, is kept.

    >>> printable("ipfs://m\x1b[2J\r\u202egpj.exe")
    'ipfs://m\\x1b[2J\\r\\u202egpj.exe'
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def one_line(text: str, limit: int | None = None) -> str:
    r"""``text`` for a log line or an error answer: on one line, URLs redacted, at most ``limit`` characters.

    >>> one_line("refused by\n  http://u:p@h:1/key", limit=20)
    'refused by http:/...'
    """
    shown = redact_text(" ".join(text.split()))
    if limit is None or len(shown) <= limit:
        return shown
    return shown[: limit - 3] + "..."
