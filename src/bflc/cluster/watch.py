"""The live round table of ``bflc cluster up``.

One row per finished round, read from the chain and from the nodes' ``status.json`` files,
and a line whenever a node's chain endpoint starts failing or recovers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bflc.chain import ModelOrigin
from bflc.chain.ledger import Ledger
from bflc.errors import ChainError
from bflc.node.state import read_json
from bflc.storage import bytes32_to_hash

# Seconds a finished round's row waits for every node to report the new model's accuracy.
ACCURACY_WAIT = 10.0
HEADER = f"{'round':>5}  {'committee':<24} {'updates':>7} {'qualified':>9}  {'outcome':<22} {'accuracy':>8}"


@dataclass(frozen=True)
class RoundRow:
    """What one finished round did."""

    round: int
    committee: tuple[str, ...]
    updates: int
    qualified: int
    outcome: str
    model: str
    accuracy: float | None

    def format(self) -> str:
        """The row as a line of the round table, aligned with :data:`HEADER`."""
        accuracy = "-" if self.accuracy is None else f"{self.accuracy:.4f}"
        return f"{self.round:>5}  {','.join(self.committee):<24} {self.updates:>7} {self.qualified:>9}  {self.outcome:<22} {accuracy:>8}"


def node_accuracies(state_dirs: Mapping[str, Path], model: str) -> dict[str, float]:
    """Node name -> local test accuracy of the global model ``model``, for nodes that evaluated it."""
    result = {}
    for name, directory in state_dirs.items():
        status = read_json(directory / "status.json") or {}
        if status.get("model") == model and status.get("accuracy") is not None:
            result[name] = float(status["accuracy"])
    return result


def unhealthy_endpoints(state_dirs: Mapping[str, Path]) -> dict[str, str]:
    """Node name -> why its chain endpoint fails, for the nodes whose ``status.json`` says it does."""
    result = {}
    for name, directory in state_dirs.items():
        endpoint = (read_json(directory / "status.json") or {}).get("endpoint") or {}
        if endpoint.get("healthy") is False:
            result[name] = str(endpoint.get("error") or "no answer")
    return result


def report_endpoints(state_dirs: Mapping[str, Path], reported: set[str], out: TextIO) -> set[str]:
    """Print a line for each node whose endpoint started failing or recovered since ``reported``; return the failing ones."""
    failing = unhealthy_endpoints(state_dirs)
    for name, error in failing.items():
        if name not in reported:
            print(f"  {name:<8} chain endpoint unhealthy: {error}", file=out, flush=True)
    for name in sorted(reported - failing.keys()):
        print(f"  {name:<8} chain endpoint recovered", file=out, flush=True)
    return set(failing)


def round_row(ledger: Ledger, round: int, names: Mapping[str, str], state_dirs: Mapping[str, Path]) -> RoundRow:
    """The row of ``round`` (which must be finished: round + 1 has started).

    Parameters
    ----------
    names:
        Lower-case address -> node name, for the committee column.
    state_dirs:
        Node name -> state directory, for the accuracy column (mean over the
        nodes that evaluated the round's outcome model).
    """
    updates = ledger.round_updates(round, with_votes=False)
    qualified = ledger.qualified(round)
    record = ledger.model(round + 1)
    model = bytes32_to_hash(record.blob_hash)
    if record.origin is ModelOrigin.AGGREGATED:
        outcome = f"accepted {model[:12]}"
    elif record.origin is ModelOrigin.FAILBACK:
        outcome = f"failback {model[:12]}"
    elif any(u.final for u in updates) and not qualified:
        outcome = "skipped (none qualified)"
    else:
        outcome = "committee replaced"
    accuracies = node_accuracies(state_dirs, model)
    return RoundRow(
        round=round,
        committee=tuple(names.get(a.lower(), a[:8]) for a in ledger.committee(round)),
        updates=len(updates),
        qualified=len(qualified),
        outcome=outcome,
        model=model,
        accuracy=sum(accuracies.values()) / len(accuracies) if accuracies else None,
    )


def watch(
    ledger: Ledger,
    names: Mapping[str, str],
    state_dirs: Mapping[str, Path],
    out: TextIO,
    *,
    until_round: int | None = None,
    poll_seconds: float = 1.0,
) -> None:
    """Print a row per finished round until ``until_round`` has started (or forever).

    A row is printed once every node reported the new model's accuracy, or
    after :data:`ACCURACY_WAIT` seconds. A node whose chain endpoint fails
    gets a line when it starts failing and one when it recovers; so does the
    table's own reading of the chain, which is retried every poll.
    """
    print(HEADER, file=out, flush=True)
    next_row = 0
    waiting_since: float | None = None
    failing: set[str] = set()
    own_failure: str | None = None
    while True:
        failing = report_endpoints(state_dirs, failing, out)
        try:
            current = ledger.current_round()
            next_row, waiting_since = _print_finished(ledger, names, state_dirs, out, next_row, current, waiting_since)
        except ChainError as error:
            if own_failure is None:
                print(f"the table cannot read the chain: {error}; retrying", file=out, flush=True)
            own_failure = str(error)
        else:
            if own_failure is not None:
                print("the table reads the chain again", file=out, flush=True)
            own_failure = None
            if until_round is not None and next_row >= until_round:
                return
        time.sleep(poll_seconds)


def _print_finished(
    ledger: Ledger, names: Mapping[str, str], state_dirs: Mapping[str, Path], out: TextIO, next_row: int, current: int, waiting_since: float | None
) -> tuple[int, float | None]:
    """Print the rows of the rounds before ``current`` from ``next_row`` on; return the next row and its wait."""
    while next_row < current:
        row = round_row(ledger, next_row, names, state_dirs)
        waiting_since = waiting_since or time.monotonic()
        complete = len(node_accuracies(state_dirs, row.model)) == len(state_dirs)
        if not complete and time.monotonic() - waiting_since < ACCURACY_WAIT and next_row == current - 1:
            break
        print(row.format(), file=out, flush=True)
        next_row += 1
        waiting_since = None
    return next_row, waiting_since
