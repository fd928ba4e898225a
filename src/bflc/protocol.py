"""The contract's rules as pure Python functions.

These mirror ``contracts/BFLC.vy`` exactly (same integer arithmetic, same
tie-breaking) and serve two purposes: a readable statement of each rule, and
the reference the property tests compare the contract against. Scores are the
contract's fixed-point integers (``SCORE_ONE`` = 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

# Basis points: fractions on chain are integers out of this.
BPS = 10_000

# Version of the rules a BFLC result depends on; bumped when a rule changes
# what a round decides (not when only gas changes). Version 2: commit/reveal
# rounds, scoring of every update, odd committees (decision 0006). Version 3:
# members score against the global model's loss, and a median of 0 never
# qualifies (decision 0008). Experiment runs of BFLC are keyed by it, so
# results of older rules are never reused.
PROTOCOL_VERSION = 3


def lower_median(scores: Sequence[int]) -> int:
    """Median of committee scores; for an even count, the lower middle value.

    The lower middle value means that members who inflate scores (the paper's
    colluding attack) must hold a strict majority of the votes to move it up.

    >>> lower_median([3, 1, 2])
    2
    >>> lower_median([4, 1, 3, 2])
    2
    """
    if not scores:
        raise ValueError("median of no scores")
    ordered = sorted(scores)
    return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True)
class Candidate:
    """A final update as seen by qualification and election."""

    update_id: int
    provider: str
    median: int
    factor: int = 0


def rank_updates(updates: Sequence[Candidate]) -> list[Candidate]:
    """Best median first; equal medians keep ascending update id."""
    return sorted(updates, key=lambda c: (-c.median, c.update_id))


def qualify(updates: Sequence[Candidate], top_bps: int, min_score: int, relative_bps: int = 0) -> list[Candidate]:
    """The qualified updates: the top ``ceil(n * top_bps / 10000)`` of the ranking.

    Without those whose median is below ``min_score`` or below
    ``relative_bps / 10000`` of the best median.
    """
    ranked = rank_updates(updates)
    top = (len(ranked) * top_bps + BPS - 1) // BPS
    threshold = max(min_score, ranked[0].median * relative_bps // BPS) if ranked else min_score
    return [c for c in ranked[:top] if c.median >= threshold]


def commitment(sender: str, round: int, blob_hash: bytes, n_samples: int, salt: bytes) -> bytes:
    """A trainer's commitment to its update: ``keccak256(abi_encode(sender, round, blob_hash, n_samples, salt))``.

    Bound to the sender, so nobody else can reveal it, and hiding the blob
    hash until the reveal (the salt is 32 secret random bytes).
    """
    return keccak(encode(["address", "uint256", "bytes32", "uint256", "bytes32"], [sender, round, blob_hash, n_samples, salt]))


def stored_commitment(sealed: bytes) -> bytes:
    r"""What the contract keeps of a commitment: its upper 224 bits, the last 4 bytes zero.

    The contract packs a node's commitment with its commit and reveal marks
    in one storage word; a reveal must match those 224 bits.

    >>> stored_commitment(bytes(range(32)))[-5:]
    b'\x1b\x00\x00\x00\x00'
    """
    return sealed[:28] + bytes(4)


def mix_entropy(entropy: int, salt: bytes) -> int:
    """A round's shared randomness after one more revealed salt (XOR, so the order of reveals does not matter)."""
    return entropy ^ int.from_bytes(salt, "big")


def election_seed(entropy: int, round: int) -> bytes:
    """Seed of a random election in ``round``: ``keccak256(abi_encode(entropy, round))``.

    ``entropy`` is the XOR of the salts revealed in the round, so the seed
    depends neither on who calls nor on when.
    """
    return keccak(encode(["uint256", "uint256"], [entropy, round]))


def elected_size(num_candidates: int, committee_size: int, min_committee_size: int) -> int:
    """How many members an election seats: M, or the largest odd number of candidates; 0 below the minimum.

    >>> elected_size(10, 5, 3), elected_size(4, 5, 3), elected_size(2, 5, 3)
    (5, 3, 0)
    """
    size = min(committee_size, num_candidates)
    if size % 2 == 0 and size > 0:
        size -= 1
    return size if size >= min_committee_size else 0


def elect_by_score(candidates: Sequence[Candidate], size: int) -> list[str]:
    """Providers of the ``size`` best-ranked candidates (already ranked)."""
    return [c.provider for c in candidates[:size]]


def elect_random(candidates: Sequence[Candidate], size: int, seed: bytes) -> list[str]:
    """Partial Fisher-Yates shuffle driven by ``keccak256(seed, i)``."""
    order = list(candidates)
    n = len(order)
    for i in range(min(size, n)):
        j = i + int.from_bytes(keccak(encode(["bytes32", "uint256"], [seed, i])), "big") % (n - i)
        order[i], order[j] = order[j], order[i]
    return [c.provider for c in order[: min(size, n)]]


def elect_multi_factor(candidates: Sequence[Candidate], size: int, score_bps: int, factor_bps: int) -> list[str]:
    """Best ``score_bps * median + factor_bps * factor`` first.

    Ties keep the given (median) order.
    """
    ordered = sorted(
        enumerate(candidates),
        key=lambda ic: (-(score_bps * ic[1].median + factor_bps * ic[1].factor), ic[0]),
    )
    return [c.provider for _, c in ordered[:size]]


def share_fee(fee: int, num_managers: int) -> list[int]:
    """Each manager's part of a permission fee.

    The first ``fee % n`` get one extra wei so the parts add up to the fee.
    """
    each, rest = divmod(fee, num_managers)
    return [each + (1 if i < rest else 0) for i in range(num_managers)]


def share_reward(
    reward: int, committee_share_bps: int, medians: Sequence[int], num_agreeing_members: int
) -> tuple[list[int], int]:
    """Split a round reward.

    Returns the providers' shares (proportional to their medians, equal if all
    medians are zero) and each agreeing committee member's share. Shares are
    rounded down; what is not paid stays in the reward pool.
    """
    committee_part = reward * committee_share_bps // BPS
    provider_part = reward - committee_part
    total = sum(medians)
    if total == 0:
        providers = [provider_part // len(medians)] * len(medians) if medians else []
    else:
        providers = [provider_part * m // total for m in medians]
    member = committee_part // num_agreeing_members if num_agreeing_members else 0
    return providers, member


def is_quorum(votes: int, committee_size: int) -> bool:
    """More than half of the committee."""
    return 2 * votes > committee_size

