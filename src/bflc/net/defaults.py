"""Safe defaults of a new network, shared by ``bflc chain deploy`` and ``bflc cluster up``.

:class:`~bflc.chain.types.ProtocolParams` on its own qualifies every final
update (top fraction 1, minimum score 0, relative score 0), so a noisy or
poisoned update that the committee scored near zero is still aggregated. A
network deployed from the command line filters as the simulator does
(:data:`SAFE_FILTER`): an update needs half of the round's best median.
Turning the filter off takes ``--no-filter``, which warns; values that filter
nothing without it are refused.

Only argparse and the parameter types are imported here, so that the
commands register without loading web3.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from bflc.chain.types import ProtocolParams
from bflc.errors import ConfigError

NO_FILTER_WARNING = "warning: --no-filter: no score threshold; every scored update will be aggregated, noise included"
"""The line ``--no-filter`` prints on stderr."""


@dataclass(frozen=True)
class Qualification:
    """Which final updates of a round qualify for aggregation (see :class:`ProtocolParams`).

    Parameters
    ----------
    qualify_top_fraction:
        Fraction of the final updates, best median first, that may qualify.
    min_score:
        Lowest median score that qualifies.
    relative_min_score:
        Fraction of the round's best median an update needs.

    Raises
    ------
    ConfigError
        If a value is out of the range :class:`ProtocolParams` accepts.
    """

    qualify_top_fraction: float = 1.0
    min_score: float = 0.001
    relative_min_score: float = 0.5

    def __post_init__(self) -> None:
        ProtocolParams(**self.params())  # the protocol's own range checks

    @property
    def filters(self) -> bool:
        """Whether any update can be left out for its score."""
        return self.qualify_top_fraction < 1.0 or self.min_score > 0.0 or self.relative_min_score > 0.0

    def params(self) -> dict[str, Any]:
        """The values as :class:`ProtocolParams` keyword arguments."""
        return dataclasses.asdict(self)


SAFE_FILTER = Qualification()
"""The simulator's qualification (``SimConfig``): top fraction 1, minimum 0.001 (a 0 never qualifies), half of the best median."""

NO_FILTER = Qualification(min_score=0.0, relative_min_score=0.0)
"""Every final update qualifies."""

FILTER_FLAGS = {
    "qualify_top_fraction": "--qualify-top-fraction",
    "min_score": "--min-score",
    "relative_min_score": "--relative-min-score",
}
"""Each :class:`Qualification` field's flag."""


def choose_qualification(given: dict[str, float | None], no_filter: bool) -> Qualification:
    """The qualification of a new network: :data:`SAFE_FILTER` with the values ``given``.

    Parameters
    ----------
    given:
        Field of :class:`Qualification` -> the value passed, ``None`` when not passed.
    no_filter:
        Whether the user asked for no filtering (``--no-filter``).

    Raises
    ------
    ConfigError
        If ``no_filter`` comes with a value, or the values filter nothing
        without ``no_filter``.
    """
    passed = {name: value for name, value in given.items() if value is not None}
    if no_filter:
        if passed:
            flag = FILTER_FLAGS[next(iter(passed))]
            raise ConfigError(f"--no-filter and {flag} both given", f"drop {flag} to aggregate every scored update, or drop --no-filter")
        return NO_FILTER
    chosen = dataclasses.replace(SAFE_FILTER, **passed)
    if not chosen.filters:
        raise ConfigError(
            "--qualify-top-fraction 1, --min-score 0 and --relative-min-score 0 filter nothing: "
            "every scored update would be aggregated, noise included",
            "pass --no-filter if that is what you want",
        )
    return chosen


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--qualify-top-fraction``, ``--min-score``, ``--relative-min-score`` and ``--no-filter``."""
    group = parser.add_argument_group(
        "qualification (which scored updates are aggregated)",
        "By default an update needs half of the round's best median, as in the simulator. "
        "Values that filter nothing need --no-filter.",
    )
    add = group.add_argument
    add(
        "--qualify-top-fraction", type=float, metavar="X",
        help=f"only this top fraction of the final updates, best median first, may qualify (default: {SAFE_FILTER.qualify_top_fraction})",
    )
    add("--min-score", type=float, metavar="X", help=f"lowest median score that qualifies (default: {SAFE_FILTER.min_score})")
    add(
        "--relative-min-score", type=float, metavar="X",
        help=f"an update needs this fraction of the round's best median (default: {SAFE_FILTER.relative_min_score})",
    )
    add("--no-filter", action="store_true", help="qualify every scored update, noise included (prints a warning)")


def filter_from_args(args: argparse.Namespace) -> Qualification:
    """The qualification the flags of :func:`add_filter_arguments` ask for; warns on stderr for ``--no-filter``.

    Raises
    ------
    ConfigError
        As :func:`choose_qualification`, or for a value out of range.
    """
    chosen = choose_qualification({name: getattr(args, name) for name in FILTER_FLAGS}, args.no_filter)
    if args.no_filter:
        print(NO_FILTER_WARNING, file=sys.stderr)
    return chosen


ROUNDS_HELP = (
    "A round runs in phases: commit (each trainer commits to a hidden update; K commitments end the phase), "
    "reveal (the trainers publish their updates), scoring (the committee scores every revealed update; "
    "aggregation starts when every update has all votes), then aggregation. Each phase's deadline, in blocks "
    "from the phase's start, lets any node close it without waiting further."
)
"""What the deadline flags of both commands are about (an argument group's description)."""

DEADLINE_HELP = {
    "commit": "commit phase: blocks after the round starts when commitments may be closed with fewer than K",
    "reveal": "reveal phase: blocks after it starts when reveals may be closed; unrevealed commitments drop",
    "score": "scoring phase: blocks after it starts when voting ends and scoring may be closed; "
    "updates with votes from more than half of the committee become final",
    "round": "blocks after the round starts when an unfinished committee may be replaced; "
    "at least the three phase deadlines together",
}
"""Help of each deadline flag, by phase (``round`` for the round deadline)."""


MIN_COMMITTEE_HELP = (
    f"elections and replacements never seat fewer members, odd (default: {ProtocolParams().min_committee_size}, "
    "or the committee size if smaller)"
)
"""Help of the minimum committee size flag."""


def default_min_committee_size(committee_size: int) -> int:
    """:class:`ProtocolParams`' minimum committee size, or ``committee_size`` when that is smaller."""
    return min(ProtocolParams().min_committee_size, committee_size)

