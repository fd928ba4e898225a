"""Plain data exchanged with the BFLC contract: parameters, records, results.

Scores and factors are fixed-point on chain: ``SCORE_ONE`` stands for 1.0.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bflc.errors import ConfigError, require
from bflc.protocol import BPS

SCORE_ONE = 1_000_000
MAX_MANAGERS = 16
# Nodes one council decision admits, or attests factors for (the contract's MAX_NODES_PER_DECISION).
MAX_NODES_PER_DECISION = 64
MAX_COMMITTEE = 255
MAX_UPDATES = 320
# How the contract stores a vote: score + 1 in a 20-bit field (0: no vote),
# eleven fields to a 256-bit word (docs/gas.md); a member sends its votes
# packed the same way.
VOTE_BITS = 20
VOTES_PER_WORD = 11
VOTE_MASK = (1 << VOTE_BITS) - 1


class ElectionMode(enum.IntEnum):
    """How the next committee is chosen (Vyper ``flag`` values)."""

    RANDOM = 1
    SCORE = 2
    MULTI_FACTOR = 4

    @classmethod
    def parse(cls, name: str) -> ElectionMode:
        """The election mode named ``name`` (``random``, ``score`` or ``multi-factor``).

        Raises
        ------
        ConfigError
            If ``name`` is not an election mode.
        """
        key = name.strip().lower().replace("_", "-")
        table = {"random": cls.RANDOM, "score": cls.SCORE, "multi-factor": cls.MULTI_FACTOR}
        if key not in table:
            raise ConfigError(f"unknown election mode {name!r}", "use one of: random, score, multi-factor")
        return table[key]


class NodeStatus(enum.IntEnum):
    """A node's admission state (0 = never seen)."""

    NONE = 0
    APPLIED = 1
    ADMITTED = 2
    LEFT = 4
    BLACKLISTED = 8


class Phase(enum.IntEnum):
    """Phase of the current round: commit, reveal, scoring, aggregating."""

    COMMIT = 1
    REVEAL = 2
    SCORING = 4
    AGGREGATING = 8


class ModelOrigin(enum.IntEnum):
    """How a round's global model came to be."""

    GENESIS = 1
    AGGREGATED = 2
    CARRIED_OVER = 4
    FAILBACK = 8


def to_fixed(score: float) -> int:
    """Convert a score in [0, 1] to the contract's fixed-point integer.

    Raises
    ------
    ConfigError
        If the score is not a finite number in [0, 1].
    """
    if not (0.0 <= float(score) <= 1.0):
        raise ConfigError(f"score {score!r} is outside [0, 1]", "scores are accuracies between 0 and 1")
    return round(float(score) * SCORE_ONE)


def from_fixed(value: int) -> float:
    """Convert a fixed-point score back to a float in [0, 1]."""
    return value / SCORE_ONE


@dataclass(frozen=True)
class ProtocolParams:
    """Protocol parameters fixed at deployment.

    Parameters
    ----------
    committee_size:
        M, the number of committee members elected each round (odd, so that
        half of a committee never holds an update's median).
    min_committee_size:
        Election and replacement never seat fewer members (odd; with fewer
        eligible candidates the committee serves again).
    updates_per_round:
        K: commitments close when K updates are committed; every revealed
        update is then scored and aggregation triggers when all are final.
    qualify_top_fraction:
        Fraction of the final updates, best median first, that qualify (0, 1].
    min_score:
        Minimum median score in [0, 1] an update needs to qualify.
    relative_min_score:
        An update also needs at least this fraction of the best median of the
        round to qualify (0 disables the rule). Robust to the score scale:
        poisoned updates score near chance while honest ones cluster.
    election:
        How the next committee is elected.
    score_weight, factor_weight:
        Weights of the median score and the declared factor in multi-factor
        election; they must add up to 1.
    commit_deadline_blocks:
        Blocks after a round starts when commitments may be closed (with
        fewer than K).
    reveal_deadline_blocks:
        Blocks after the reveal phase starts when reveals may be closed (the
        unrevealed commitments are dropped).
    score_deadline_blocks:
        Blocks after scoring starts when votes stop and scoring may be closed
        with a quorum.
    round_deadline_blocks:
        Blocks after a round starts when an unfinished committee may be
        replaced; at least the three phase deadlines together.
    permission_fee:
        Wei a new node pays to join, shared among the managers.
    round_reward:
        Wei paid from the reward pool per accepted model.
    committee_share:
        Fraction of the round reward paid to the committee members who proposed
        the accepted model; the rest goes to qualified providers by score.
    """

    committee_size: int = 5
    min_committee_size: int = 3
    updates_per_round: int = 10
    qualify_top_fraction: float = 1.0
    min_score: float = 0.0
    relative_min_score: float = 0.0
    election: ElectionMode = ElectionMode.SCORE
    score_weight: float = 1.0
    factor_weight: float = 0.0
    commit_deadline_blocks: int = 20
    reveal_deadline_blocks: int = 20
    score_deadline_blocks: int = 50
    round_deadline_blocks: int = 120
    permission_fee: int = 0
    round_reward: int = 0
    committee_share: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.committee_size <= MAX_COMMITTEE, f"committee_size must be in 1..{MAX_COMMITTEE}"),
            (self.committee_size % 2 == 1, f"committee_size must be odd (got {self.committee_size}): half of an even committee could veto any update"),
            (1 <= self.min_committee_size <= self.committee_size, f"min_committee_size must be in 1..committee_size ({self.committee_size})"),
            (self.min_committee_size % 2 == 1, "min_committee_size must be odd"),
            (1 <= self.updates_per_round <= MAX_UPDATES, f"updates_per_round must be in 1..{MAX_UPDATES}"),
            (0.0 < self.qualify_top_fraction <= 1.0, "qualify_top_fraction must be in (0, 1]"),
            (0.0 <= self.min_score <= 1.0, "min_score must be in [0, 1]"),
            (0.0 <= self.relative_min_score <= 1.0, "relative_min_score must be in [0, 1]"),
            (self.score_weight >= 0 and self.factor_weight >= 0, "election weights must be non-negative"),
            (_bps(self.score_weight) + _bps(self.factor_weight) == BPS, "score_weight + factor_weight must be 1"),
            (min(self.commit_deadline_blocks, self.reveal_deadline_blocks, self.score_deadline_blocks) >= 1, "phase deadlines must be at least 1 block"),
            (self.round_deadline_blocks >= self.phase_blocks, f"round_deadline_blocks must be at least the phase deadlines together ({self.phase_blocks})"),
            (self.permission_fee >= 0 and self.round_reward >= 0, "fees and rewards must be non-negative"),
            (0.0 <= self.committee_share <= 1.0, "committee_share must be in [0, 1]"),
        ]
        require(checks, "protocol parameter")

    def deadline_blocks(self, phase: Phase) -> int:
        """Blocks after ``phase`` starts when it may be closed (0 for aggregating, which has none)."""
        return {
            Phase.COMMIT: self.commit_deadline_blocks,
            Phase.REVEAL: self.reveal_deadline_blocks,
            Phase.SCORING: self.score_deadline_blocks,
        }.get(phase, 0)

    @property
    def phase_blocks(self) -> int:
        """The commit, reveal and scoring deadlines together."""
        return self.commit_deadline_blocks + self.reveal_deadline_blocks + self.score_deadline_blocks

    def to_contract(self) -> tuple[Any, ...]:
        """The ``Params`` struct as the contract's constructor expects it."""
        return (
            self.committee_size,
            self.min_committee_size,
            self.updates_per_round,
            _bps(self.qualify_top_fraction),
            to_fixed(self.min_score),
            _bps(self.relative_min_score),
            int(self.election),
            _bps(self.score_weight),
            _bps(self.factor_weight),
            self.commit_deadline_blocks,
            self.reveal_deadline_blocks,
            self.score_deadline_blocks,
            self.round_deadline_blocks,
            self.permission_fee,
            self.round_reward,
            _bps(self.committee_share),
        )

    @classmethod
    def from_contract(cls, raw: tuple[Any, ...]) -> ProtocolParams:
        """Rebuild parameters from the contract's ``params()`` view."""
        return cls(
            committee_size=raw[0],
            min_committee_size=raw[1],
            updates_per_round=raw[2],
            qualify_top_fraction=raw[3] / BPS,
            min_score=from_fixed(raw[4]),
            relative_min_score=raw[5] / BPS,
            election=ElectionMode(raw[6]),
            score_weight=raw[7] / BPS,
            factor_weight=raw[8] / BPS,
            commit_deadline_blocks=raw[9],
            reveal_deadline_blocks=raw[10],
            score_deadline_blocks=raw[11],
            round_deadline_blocks=raw[12],
            permission_fee=raw[13],
            round_reward=raw[14],
            committee_share=raw[15] / BPS,
        )


def _bps(fraction: float) -> int:
    return round(fraction * BPS)


def vote_words(num_updates: int) -> int:
    """How many vote words a member needs for a round of ``num_updates`` updates.

    >>> vote_words(0), vote_words(11), vote_words(12)
    (0, 1, 2)
    """
    return -(-num_updates // VOTES_PER_WORD)


def encode_votes(positions: Sequence[int], scores: Sequence[int]) -> tuple[int, list[int]]:
    """Pack one member's votes as ``submit_scores`` takes them.

    Parameters
    ----------
    positions:
        The positions of the voted updates in their round (update id minus
        the round's first id), each at most once.
    scores:
        The scores, fixed-point (``SCORE_ONE`` = 1.0), one per position.

    Returns
    -------
    tuple of int and list of int
        The first word's index and the words from it to the last voted one:
        field ``p % 11`` of word ``p // 11`` holds score + 1 (0: no vote).

    Raises
    ------
    ConfigError
        If the lengths differ, a position repeats or is negative, or a score
        does not fit a field. The contract checks the rest (positions of
        the round, scores of at most ``SCORE_ONE``).

    >>> first, words = encode_votes([12, 11], [4, 0])
    >>> first, words == [(5 << 20) | 1]
    (1, True)
    """
    problem = ""
    if len(positions) != len(scores):
        problem = f"{len(positions)} update positions but {len(scores)} scores"
    elif not positions:
        problem = "no votes to send"
    elif len(set(positions)) != len(positions):
        problem = "an update appears twice among the scores"
    elif min(positions) < 0:
        problem = "an update of an earlier round among the scores"
    elif not all(0 <= s < VOTE_MASK for s in scores):
        problem = "a score is outside 0..2**20-2"
    if problem:
        raise ConfigError(problem, f"give each of this round's updates at most one score, fixed-point with 1.0 = {SCORE_ONE}")
    first = min(positions) // VOTES_PER_WORD
    words = [0] * (max(positions) // VOTES_PER_WORD - first + 1)
    for position, score in zip(positions, scores, strict=True):
        word, field_index = divmod(position, VOTES_PER_WORD)
        words[word - first] |= (score + 1) << (field_index * VOTE_BITS)
    return first, words


def decode_votes(words: list[int], committee_size: int, num_updates: int) -> list[list[int | None]]:
    """Every vote of a round from the contract's ``get_vote_words``.

    Parameters
    ----------
    words:
        For each committee member in committee order, the same number of
        words, at least ``ceil(num_updates / 11)`` (more when updates were
        revealed after ``num_updates`` was read), of eleven 20-bit fields
        (score + 1; 0 where the member has not voted).
    committee_size, num_updates:
        The round's committee size and number of revealed updates.

    Returns
    -------
    list of list of int or None
        ``votes[u][j]``: member ``j``'s score of the round's ``u``-th update,
        ``None`` where it has not voted.

    Raises
    ------
    ValueError
        If ``words`` does not hold ``committee_size`` members' words.

    >>> decode_votes([(500_001 << 20) | 1, 0], 2, 2)
    [[0, None], [500000, None]]
    >>> decode_votes([1, 0, 0, 0], 2, 1)  # two words a member: a 12th update came meanwhile
    [[0, None]]
    """
    per_member = len(words) // committee_size if committee_size else vote_words(num_updates)
    if len(words) != committee_size * per_member or per_member < vote_words(num_updates):
        raise ValueError(f"{len(words)} vote words for {committee_size} members and {num_updates} updates")
    votes: list[list[int | None]] = []
    for u in range(num_updates):
        word, offset = divmod(u, VOTES_PER_WORD)
        fields = [(words[j * per_member + word] >> (offset * VOTE_BITS)) & VOTE_MASK for j in range(committee_size)]
        votes.append([f - 1 if f else None for f in fields])
    return votes


@dataclass(frozen=True)
class UpdateRecord:
    """One submitted update as the chain records it."""

    update_id: int
    round: int
    provider: str
    blob_hash: bytes
    n_samples: int
    num_votes: int
    median: int
    final: bool
    qualified: bool
    voters: tuple[str, ...] = ()
    scores: tuple[int, ...] = ()

    @property
    def median_score(self) -> float:
        """The median of the committee's scores as a float in [0, 1]."""
        return from_fixed(self.median)


@dataclass(frozen=True)
class ModelRecord:
    """The global model of one round."""

    round: int
    blob_hash: bytes
    uri: str
    block: int
    origin: ModelOrigin


@dataclass(frozen=True)
class RoundState:
    """What a node needs to know to act in the current round."""

    round: int
    phase: Phase
    start_block: int
    phase_start_block: int
    num_commits: int
    num_final: int
    committee: tuple[str, ...]
    model: ModelRecord


@dataclass(frozen=True)
class ChainEvent:
    """A decoded contract event."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class TxResult:
    """Outcome of a mined transaction."""

    tx_hash: str
    gas_used: int
    block: int
    events: tuple[ChainEvent, ...] = field(default_factory=tuple)

    def events_named(self, name: str) -> list[ChainEvent]:
        """The events of this transaction called ``name``, in log order."""
        return [e for e in self.events if e.name == name]


# A decision stays open this many blocks unless the deployment says otherwise
# (about a day at 12-second blocks).
DEFAULT_DECISION_LIFETIME = 7_200


def majority(num_managers: int) -> int:
    """The default threshold of a council of ``num_managers``: a strict majority.

    >>> [majority(n) for n in (1, 2, 3, 4, 5)]
    [1, 2, 2, 3, 3]
    """
    return num_managers // 2 + 1


@dataclass(frozen=True)
class Decision:
    """A council decision: one call to the BFLC contract or the council, its approvals and state.

    ``target`` is ``"BFLC"`` or ``"Council"``; ``function`` and ``args``
    decode ``calldata``. ``approvals`` are the current managers who approve it.
    """

    id: int
    proposer: str
    target: str
    function: str
    args: dict[str, Any]
    calldata: bytes
    proposed_block: int
    expiry_block: int
    approvals: tuple[str, ...]
    threshold: int
    executed: bool
    expired: bool

    @property
    def status(self) -> str:
        """``executed``, ``expired``, ``ready`` (enough approvals, not run yet) or ``pending``."""
        if self.executed:
            return "executed"
        if self.expired:
            return "expired"
        return "ready" if len(self.approvals) >= self.threshold else "pending"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (addresses and hex strings)."""
        return {
            "id": self.id,
            "status": self.status,
            "proposer": self.proposer,
            "target": self.target,
            "function": self.function,
            "args": {k: _jsonable(v) for k, v in self.args.items()},
            "calldata": "0x" + self.calldata.hex(),
            "proposed_block": self.proposed_block,
            "expiry_block": self.expiry_block,
            "approvals": list(self.approvals),
            "threshold": self.threshold,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
