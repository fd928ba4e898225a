"""Plain-text tables for the terminal."""

from __future__ import annotations

from typing import Any, Sequence


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned text table with a header rule.

    >>> print(format_table([[1, "a"]], ["n", "name"]))
    n  name
    -  ----
    1  a
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def short_address(address: str) -> str:
    """``0x1234…abcd`` for tables."""
    return f"{address[:6]}…{address[-4:]}"


def short_hash(blob_hash: bytes | str) -> str:
    """First 10 hex characters of a hash."""
    text = blob_hash.hex() if isinstance(blob_hash, bytes) else blob_hash
    return text[:10]
