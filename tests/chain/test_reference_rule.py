"""Property test of the reference rule (decision 0008) against a coalition
below half of the committee, on both chain backends.

Each example deploys a network with an odd committee of 3 to 7 members and a
drawn coalition strictly below half of it. Every update has a drawn accuracy
and a drawn loss on each honest member's data, relative to the global
model's loss there; honest members score with
:func:`bflc.roles.member.reference_score`, the coalition votes anything
(its own favourites 1.0, say). Whatever the coalition does, an update whose
loss is beyond the bound for every honest member is never qualified, so
never aggregated and never elected; and in a round where nothing else
scored, nothing qualifies.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflc.chain import SCORE_ONE, Phase, to_fixed
from bflc.ml.models import Score
from bflc.protocol import BPS
from bflc.roles.member import reference_score

pytestmark = pytest.mark.slow

EXAMPLES = {"in-process": 12, "anvil": 6}
RATIO = 4.0
REFERENCE = Score(0.07, 4.1)  # a weak global model: its accuracy near chance on 62 classes
MIN_SCORE = 0.001


@dataclass
class Case:
    size: int
    coalition: int
    # per update: the honest members' (accuracy, loss / the global model's loss)
    honest: list[list[tuple[float, float]]]  # honest[update][member]
    coalition_votes: list[list[int]]  # coalition_votes[update][member], any fixed-point score
    relative_bps: int

    def honest_score(self, update: int, member: int) -> int:
        accuracy, ratio = self.honest[update][member]
        judged = reference_score(Score(accuracy, ratio * REFERENCE.loss), REFERENCE, RATIO)
        return 0 if isinstance(judged, str) else to_fixed(judged)

    def rejected_by_every_honest_member(self, update: int) -> bool:
        return all(self.honest_score(update, m) == 0 for m in range(self.size - self.coalition))


accuracies = st.sampled_from([0.0, 0.007, 0.07, 0.08, 0.9]) | st.floats(0.0, 1.0)
# below, at and beyond the bound; a poisoned update's loss is often far beyond it
ratios = st.sampled_from([0.5, 1.0, RATIO, RATIO * 1.001, 50.0, 4_000.0, float("inf")]) | st.floats(0.1, 100.0)


@st.composite
def cases(draw) -> Case:
    size = draw(st.sampled_from([3, 5, 7]))
    coalition = draw(st.integers(0, (size - 1) // 2))
    k = draw(st.integers(1, 4))
    honest = [draw(st.lists(st.tuples(accuracies, ratios), min_size=size - coalition, max_size=size - coalition)) for _ in range(k)]
    coalition_votes = [draw(st.lists(st.sampled_from([0, SCORE_ONE]) | st.integers(0, SCORE_ONE), min_size=coalition, max_size=coalition)) for _ in range(k)]
    return Case(size, coalition, honest, coalition_votes, draw(st.sampled_from([0, BPS // 2])))


def play(make_network, case: Case) -> None:
    k = len(case.honest)
    net = make_network(
        num_managers=1, num_committee=case.size, num_trainers=k, updates_per_round=k,
        min_score=MIN_SCORE, relative_min_score=case.relative_bps / BPS,
    )
    ids = net.submit(net.trainers)
    honest_count = case.size - case.coalition
    for m, member in enumerate(net.committee):
        votes = [case.honest_score(j, m) if m < honest_count else case.coalition_votes[j][m - honest_count] for j in range(k)]
        net.at(member).submit_scores(0, ids, votes)
    if net.ledger.phase() == Phase.SCORING:
        net.ledger.close_phase(0)
    qualified = set(net.ledger.qualified(0))
    for j, uid in enumerate(ids):
        if case.rejected_by_every_honest_member(j):
            assert uid not in qualified
    if all(case.rejected_by_every_honest_member(j) for j in range(k)):
        assert not qualified  # nothing else scored: nothing is aggregated, nobody elected
        assert net.ledger.current_round() == 1  # the round was skipped, the committee carried over
        assert sorted(net.ledger.committee(1)) == sorted(net.committee)


def test_an_update_every_honest_member_rejects_for_its_loss_is_never_qualified(make_network, examples):
    @settings(max_examples=examples, deadline=None)
    @given(case=cases())
    def check(case: Case) -> None:
        play(make_network, case)

    check()
