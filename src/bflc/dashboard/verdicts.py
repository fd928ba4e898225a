"""Why each update of a round is qualified, rejected or still pending.

The chain records only the outcome (``qualified``); the reasons are derived
with the contract's own rules from :mod:`bflc.protocol`, so they cannot
disagree with the chain about who qualified.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bflc.chain.types import ProtocolParams, UpdateRecord, from_fixed, to_fixed
from bflc.protocol import BPS, Candidate, is_quorum, qualify


@dataclass(frozen=True)
class Verdict:
    """An update's verdict.

    Attributes
    ----------
    verdict:
        ``qualified``, ``rejected`` or ``pending``.
    reason:
        A stable code, ``None`` when qualified: ``not_final``,
        ``awaiting_aggregation``, ``below_min_score``, ``below_relative_score``,
        ``outside_top_fraction``, ``provider_blacklisted`` or ``round_abandoned``.
    detail:
        The reason in one sentence.
    """

    verdict: str
    reason: str | None
    detail: str


def judge_round(
    updates: Sequence[UpdateRecord],
    committee_size: int,
    params: ProtocolParams,
    *,
    closed: bool,
    current: bool,
    blacklisted: Collection[str] = (),
) -> dict[int, Verdict]:
    """The verdict of every update of one round, by update id.

    Parameters
    ----------
    updates:
        The round's updates as the chain records them.
    committee_size:
        Members of the round's committee (votes needed for finality).
    params:
        The protocol parameters.
    closed:
        Whether scoring closed and the qualified set was fixed.
    current:
        Whether this is the chain's current round (an unclosed past round was
        abandoned: committee replaced or failback).
    blacklisted:
        Providers blacklisted when scoring closed; their updates could not qualify.
    """
    min_score, relative_bps = to_fixed(params.min_score), round(params.relative_min_score * BPS)  # as on chain
    eligible = [
        Candidate(u.update_id, u.provider, u.median) for u in updates if u.final and u.provider not in blacklisted
    ]
    above_min = _ids(qualify(eligible, BPS, min_score))
    above_relative = _ids(qualify(eligible, BPS, min_score, relative_bps))
    best = max((c.median for c in eligible), default=0)

    def verdict(u: UpdateRecord) -> Verdict:
        if u.qualified:
            return Verdict("qualified", None, f"qualified with median {from_fixed(u.median):.4f}")
        if not closed:
            return _open_verdict(u, committee_size, current)
        if not u.final:
            return Verdict("rejected", "not_final", f"scoring closed with {u.num_votes} of {committee_size} votes, no quorum")
        if u.provider in blacklisted:
            return Verdict("rejected", "provider_blacklisted", "its provider is blacklisted")
        if u.update_id not in above_min:
            return Verdict("rejected", "below_min_score", f"median {from_fixed(u.median):.4f} is below the minimum score {params.min_score:.4f}")
        if u.update_id not in above_relative:
            return Verdict(
                "rejected",
                "below_relative_score",
                f"median {from_fixed(u.median):.4f} is below {params.relative_min_score:.0%} of the best median {from_fixed(best):.4f}",
            )
        return Verdict("rejected", "outside_top_fraction", f"ranked outside the top {params.qualify_top_fraction:.0%} of final updates")

    return {u.update_id: verdict(u) for u in updates}


def _open_verdict(u: UpdateRecord, committee_size: int, current: bool) -> Verdict:
    if current and not u.final and u.num_votes < committee_size:
        return Verdict("pending", "not_final", f"{u.num_votes} of {committee_size} votes so far")
    if current and not u.final:
        return Verdict("pending", "awaiting_aggregation", "scored by every member; waiting for the round's other updates")
    if current:
        return Verdict("pending", "awaiting_aggregation", f"final with median {from_fixed(u.median):.4f}; waiting for the round's other updates")
    if not u.final and not is_quorum(u.num_votes, committee_size):
        return Verdict("rejected", "not_final", f"the round ended with {u.num_votes} of {committee_size} votes")
    return Verdict("rejected", "round_abandoned", "the round ended before aggregation (committee replaced or failback)")


def _ids(candidates: Sequence[Candidate]) -> set[int]:
    return {c.update_id for c in candidates}
