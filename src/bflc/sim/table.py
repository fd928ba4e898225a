"""The round table printed while a simulation runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm import tqdm

Column = tuple[str, int, Callable[[dict[str, Any]], Any]]

COLUMNS: list[Column] = [
    ("round", 5, lambda m: m["round"]),
    ("acc %", 6, lambda m: f"{100 * m['accuracy']:.2f}"),
    # a diverged model's loss is not finite (recorded as None)
    ("loss", 8, lambda m: "diverged" if m["diverged"] else f"{m['loss']:.3f}"),
    ("committee", 9, lambda m: f"{len(m['committee'])} ({m['committee_malicious']} bad)" if "committee" in m else "-"),
    ("updates", 7, lambda m: m["updates"]),
    ("kept", 4, lambda m: m["accepted"]),
    ("bad in", 6, lambda m: f"{m['malicious_accepted']}/{m['malicious_submitted']}"),
    ("tx", 4, lambda m: m["transactions"]),
    ("gas", 10, lambda m: f"{m['gas']:,}"),
    ("secs", 5, lambda m: f"{sum(m['seconds'].values()):.1f}"),
]
# After the accuracy, in runs whose attack declares a trigger.
BACKDOOR_COLUMN: Column = ("backdoor %", 10, lambda m: f"{100 * m['backdoor_success']:.2f}")


def columns(metrics: dict[str, Any] | None) -> list[Column]:
    """The table's columns for rounds like ``metrics``: the backdoor's only when they record it."""
    if metrics is None or "backdoor_success" not in metrics:
        return COLUMNS
    return [*COLUMNS[:2], BACKDOOR_COLUMN, *COLUMNS[2:]]


class RoundTable:
    """Prints one aligned line per round (above any progress bar)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.printed_header = False

    def format_row(self, metrics: dict[str, Any]) -> str:
        """The round's line of the table: each column's value, right-aligned."""
        return "  ".join(str(get(metrics)).rjust(width) for _, width, get in columns(metrics))

    def header(self, metrics: dict[str, Any] | None = None) -> str:
        """The title and the names of the columns for rounds like ``metrics`` (``None``: without the backdoor's)."""
        names = "  ".join(name.rjust(width) for name, width, _ in columns(metrics))
        return f"{self.title}\n{names}"

    def print_row(self, metrics: dict[str, Any]) -> None:
        """Print the round's line, after the header the first time."""
        if not self.printed_header:
            tqdm.write(self.header(metrics))
            self.printed_header = True
        tqdm.write(self.format_row(metrics))
