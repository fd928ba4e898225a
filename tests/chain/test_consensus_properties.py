"""Property tests of scoring against a coalition below half of the committee,
on both chain backends.

Each example deploys a network with an odd committee of 3 to 7 members, a
drawn coalition strictly below half of it and drawn honest scores. Honest
members score every update; each coalition member abstains on an update,
votes the honest median, or votes any score. Every member's votes go in
drawn batches, all members' batches in a drawn interleaving; some coalition
batches come late, while or after the scoring closes at the deadline.
What the chain recorded is compared with the rules of ``bflc.protocol``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflc.chain import SCORE_ONE, Phase
from bflc.errors import ContractRevert
from bflc.protocol import BPS, lower_median
from tests.chain.attackers import events, honest_medians, reference_qualified, send

pytestmark = pytest.mark.slow

# Examples per backend: every example deploys a contract and plays a round.
EXAMPLES = {"in-process": 15, "anvil": 8}
MEDIAN = "median"  # a coalition vote equal to the honest lower median of the update
EDGE_SCORES = [0, 1, SCORE_ONE // 2, SCORE_ONE - 1, SCORE_ONE]
scores = st.sampled_from(EDGE_SCORES) | st.integers(0, SCORE_ONE)


@dataclass
class Batch:
    member: int  # index into the committee; honest members first
    updates: list[int]  # indices into the round's updates
    late: bool  # sent only once scoring began to close (coalition only)


@dataclass
class VotingCase:
    size: int
    coalition: int
    honest: list[list[int]]  # honest[member][update]
    actions: list[list[int | str | None]]  # actions[coalition member][update]: a score, MEDIAN, or None (abstain)
    batches: list[Batch]  # in the order they are sent
    close_batch: int  # updates a scoring close examines per transaction
    top_bps: int
    relative_bps: int

    @property
    def num_updates(self) -> int:
        return len(self.honest[0])

    @property
    def benign(self) -> bool:
        """The coalition only abstains or agrees with the honest median."""
        return all(a is None or a == MEDIAN for row in self.actions for a in row)


def split(draw, items: list[int]) -> list[list[int]]:
    """``items`` in a drawn order, cut into drawn non-empty batches."""
    order = draw(st.permutations(items))
    cuts = draw(st.sets(st.integers(1, len(order) - 1))) if len(order) > 1 else set()
    return [list(order[a:b]) for a, b in itertools.pairwise([0, *sorted(cuts), len(order)])]


@st.composite
def voting_cases(draw) -> VotingCase:
    size = draw(st.sampled_from([3, 5, 7]))
    coalition = draw(st.integers(1, (size - 1) // 2))  # at least one, strictly below half
    k = draw(st.integers(1, 4))
    honest = draw(st.lists(st.lists(scores, min_size=k, max_size=k), min_size=size - coalition, max_size=size - coalition))
    benign = draw(st.booleans())
    action = st.sampled_from([None, MEDIAN]) if benign else st.none() | st.just(MEDIAN) | scores
    actions = draw(st.lists(st.lists(action, min_size=k, max_size=k), min_size=coalition, max_size=coalition))
    batches = [Batch(m, b, False) for m in range(size - coalition) for b in split(draw, list(range(k)))]
    for c, row in enumerate(actions):
        voted = [j for j, a in enumerate(row) if a is not None]
        batches += [Batch(size - coalition + c, b, draw(st.booleans())) for b in split(draw, voted)] if voted else []
    order = draw(st.permutations(range(len(batches))))
    return VotingCase(
        size=size,
        coalition=coalition,
        honest=honest,
        actions=actions,
        batches=[batches[i] for i in order],
        close_batch=draw(st.integers(1, k)),
        top_bps=draw(st.sampled_from([BPS // 3, BPS // 2, BPS]) | st.integers(1, BPS)),
        relative_bps=draw(st.sampled_from([0, BPS // 2, 9 * BPS // 10]) | st.integers(0, BPS)),
    )


def play(make_network, case: VotingCase) -> None:
    k, honest_count = case.num_updates, case.size - case.coalition
    net = make_network(
        num_managers=1,
        num_committee=case.size,
        num_trainers=k,
        updates_per_round=k,
        qualify_top_fraction=case.top_bps / BPS,
        relative_min_score=case.relative_bps / BPS,
    )
    ids = net.submit(net.trainers)
    assert net.ledger.phase() == Phase.SCORING
    columns = [[row[j] for row in case.honest] for j in range(k)]
    honest = honest_medians({ids[j]: columns[j] for j in range(k)})

    def score(member: int, j: int) -> int:
        if member < honest_count:
            return case.honest[member][j]
        action = case.actions[member - honest_count][j]
        return honest[ids[j]] if action == MEDIAN else int(action)

    def vote(batch: Batch) -> None:
        net.at(net.committee[batch.member]).submit_scores(
            0, [ids[j] for j in batch.updates], [score(batch.member, j) for j in batch.updates]
        )

    counted = [list(col) for col in columns]  # every vote the chain must hold, by update
    for batch in (b for b in case.batches if not b.late):
        vote(batch)
        if batch.member >= honest_count:
            for j in batch.updates:
                counted[j].append(score(batch.member, j))

    late = [b for b in case.batches if b.late]
    if net.ledger.phase() == Phase.SCORING:  # a vote is missing: close at the deadline, with late votes in between
        state = net.ledger.round_state()
        net.chain.mine(max(0, state.phase_start_block + net.params.score_deadline_blocks - net.ledger.block_number()))
        while net.ledger.phase() == Phase.SCORING:
            cursor = int(net.ledger._call("close_cursor"))
            send(net.at(net.managers[0]), "close_phase", 0, net.ledger.scoring_claims(0)[cursor : cursor + case.close_batch])
            if net.ledger.phase() == Phase.SCORING and late:
                with pytest.raises(ContractRevert, match="scoring is closing"):
                    vote(late.pop())
    for batch in late:
        with pytest.raises(ContractRevert, match="not this phase of the round"):
            vote(batch)

    assert (net.ledger.current_round(), net.ledger.phase()) == (0, Phase.AGGREGATING)
    updates = net.ledger.round_updates(0)
    for j, u in enumerate(updates):
        assert u.final  # the honest majority voted on every update
        assert sorted(u.scores) == sorted(counted[j])
        assert u.median == lower_median(counted[j])
        assert min(columns[j]) <= u.median <= max(columns[j])
    finalized = [e["update_id"] for e in events(net.ledger, "UpdateFinalized")]
    assert sorted(finalized) == ids
    assert net.ledger.round_state().num_final == len(set(finalized)) == k
    assert net.ledger.qualified(0) == reference_qualified(net.ledger, 0, net.params)
    if case.benign:
        assert [u.median for u in updates] == [honest[uid] for uid in ids]
        assert net.ledger.qualified(0) == reference_qualified(net.ledger, 0, net.params, honest)


def test_a_minority_coalition_only_moves_medians_within_the_honest_range(make_network, examples):
    @settings(max_examples=examples, deadline=None)
    @given(case=voting_cases())
    def check(case: VotingCase) -> None:
        play(make_network, case)

    check()
