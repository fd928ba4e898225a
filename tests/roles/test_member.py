"""The committee member's scoring when the learner fails: the update at fault scores 0, a broken learner votes nothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bflc.errors import LearnerError
from bflc.ml.models import Params
from bflc.roles import CommitteeMember
from bflc.seeds import NodeSeeds
from tests.node.daemon_net import TinyLearner
from tests.roles.test_trainer import Setup, sealed_updates, setup


class Fragile(TinyLearner):
    """Raises on (or gives NaN for) any model whose ``b[0]`` is above ``limit``, and in a batch holding one."""

    def __init__(self, limit: float, failure: str = "raise") -> None:
        super().__init__()
        self.limit = limit
        self.failure = failure

    def score(self, candidates: Sequence[Params]) -> list[float]:
        scores = super().score(candidates)
        bad = [float(c["b"][0]) > self.limit for c in candidates]
        if self.failure == "raise" and any(bad):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return [float("nan") if b else s for s, b in zip(scores, bad, strict=True)]


def revealed_round(s: Setup) -> list:
    sealed = sealed_updates(s)
    for trainer, update in zip(s.trainers, sealed, strict=True):
        trainer.commit(0, update)
    for trainer, update in zip(s.trainers, sealed, strict=True):
        trainer.reveal(0, update)
    return s.ledger.round_updates(0)


def judge_with(learner: TinyLearner, s: Setup, updates: list):
    member = CommitteeMember(s.ledger, s.trainers[0].blobs, learner, NodeSeeds((9,)))
    return member.judge(0, updates)


@pytest.mark.parametrize("failure", ["raise", "nan"])
def test_an_update_the_learner_fails_on_scores_zero_and_the_others_are_scored(failure):
    s = setup(num_trainers=3)
    updates = revealed_round(s)
    params = [s.trainers[0].blobs.fetch(u.blob_hash.hex()) for u in updates]
    firsts = [float(p["b"][0]) for p in params]
    fragile = int(np.argmax(firsts))
    limit = (firsts[fragile] + max(f for k, f in enumerate(firsts) if k != fragile)) / 2
    judgement = judge_with(Fragile(limit, failure), s, updates)
    healthy = [k for k in range(3) if k != fragile]
    assert judgement.scores[fragile] == 0.0
    assert [judgement.scores[k] for k in healthy] == TinyLearner().score([params[k] for k in healthy])
    assert judgement.rejected == {
        updates[fragile].update_id: "scoring failed (RuntimeError: CUDA error: an illegal memory access was encountered)"
        if failure == "raise"
        else "the learner gave a non-finite score (nan)"
    }


def test_when_every_update_breaks_the_learner_but_the_global_model_does_not_all_score_zero():
    s = setup(num_trainers=2)
    updates = revealed_round(s)
    judgement = judge_with(Fragile(limit=0.0), s, updates)  # the genesis model (zeros) still scores
    assert judgement.scores == [0.0, 0.0]
    assert set(judgement.rejected) == {u.update_id for u in updates}


def test_a_learner_that_cannot_score_anything_votes_nothing():
    s = setup(num_trainers=2)
    updates = revealed_round(s)
    with pytest.raises(LearnerError, match="the learner cannot score the global model either: scoring failed"):
        judge_with(Fragile(limit=-1.0), s, updates)
