"""The committee member's scoring when the learner fails: the update at fault scores 0, a broken learner votes nothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bflc.chain import ModelOrigin, ModelRecord, UpdateRecord
from bflc.defence import corroborated
from bflc.errors import LearnerError
from bflc.ml.models import Params, Score
from bflc.roles import CommitteeMember, SuspectMemory
from bflc.roles import member as member_module
from bflc.roles.member import reference_score
from bflc.seeds import NodeSeeds
from tests.node.daemon_net import TinyLearner
from tests.roles.test_trainer import Setup, sealed_updates, setup
from tests.test_defence import round_of_changes


class Fragile(TinyLearner):
    """Raises on (or gives NaN for) any model whose ``b[0]`` is above ``limit``, and in a batch holding one."""

    def __init__(self, limit: float, failure: str = "raise") -> None:
        super().__init__()
        self.limit = limit
        self.failure = failure

    def score(self, candidates: Sequence[Params]) -> list[Score]:
        scores = super().score(candidates)
        bad = [float(c["b"][0]) > self.limit for c in candidates]
        if self.failure == "raise" and any(bad):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return [Score(float("nan"), float("nan")) if b else s for s, b in zip(scores, bad, strict=True)]


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
    assert [judgement.scores[k] for k in healthy] == [a for a, _ in TinyLearner().score([params[k] for k in healthy])]
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
    assert not judgement.by_reference  # the learner failed on them; the rule said nothing


def test_a_learner_that_cannot_score_anything_votes_nothing():
    s = setup(num_trainers=2)
    updates = revealed_round(s)
    with pytest.raises(LearnerError, match="the learner cannot score the global model either: scoring failed"):
        judge_with(Fragile(limit=-1.0), s, updates)


# ---------------------------------------------------------------- the reference rule


class Lossy(TinyLearner):
    """Scores like TinyLearner, with a loss of ``spoiled`` for any model whose ``b[0]`` is above ``limit``."""

    def __init__(self, limit: float, spoiled: float) -> None:
        super().__init__()
        self.limit = limit
        self.spoiled = spoiled

    def score(self, candidates: Sequence[Params]) -> list[Score]:
        scores = super().score(candidates)
        return [Score(s.accuracy, self.spoiled) if float(c["b"][0]) > self.limit else s for s, c in zip(scores, candidates, strict=True)]


@pytest.mark.parametrize(("spoiled", "ratio", "zeroed"), [(1e3, 4.0, True), (float("inf"), 4.0, True), (1e3, 0.0, False), (0.5, 4.0, False)])
def test_an_update_far_worse_in_loss_than_the_global_model_scores_zero(spoiled: float, ratio: float, zeroed: bool):
    s = setup(num_trainers=3)
    updates = revealed_round(s)
    params = [s.trainers[0].blobs.fetch(u.blob_hash.hex()) for u in updates]
    firsts = [float(p["b"][0]) for p in params]
    worst = int(np.argmax(firsts))
    learner = Lossy(limit=sorted(firsts)[-2], spoiled=spoiled)
    member = CommitteeMember(s.ledger, s.trainers[0].blobs, learner, NodeSeeds((9,)), max_loss_ratio=ratio)
    judgement = member.judge(0, updates)
    accuracies = [a for a, _ in TinyLearner().score(params)]
    expected = [0.0 if zeroed and k == worst else accuracies[k] for k in range(3)]
    assert judgement.scores == expected
    reference = TinyLearner().score([s.trainers[0].blobs.fetch(s.ledger.model(0).blob_hash.hex())])[0]
    assert judgement.rejected == (
        {updates[worst].update_id: f"loss {spoiled:.3g} on this node's data, above 4x the global model's ({reference.loss:.3g})"} if zeroed else {}
    )
    assert judgement.by_reference == ({updates[worst].update_id} if zeroed else set())
    assert not judgement.unverified


def test_reference_score_known_answers():
    assert reference_score(Score(0.08, 3.9), Score(0.07, 4.1), 4.0) == 0.08
    assert reference_score(Score(0.08, 16.4), Score(0.07, 4.1), 4.0) == 0.08  # at the limit: kept
    assert reference_score(Score(0.08, 16.5), Score(0.07, 4.1), 4.0) == "loss 16.5 on this node's data, above 4x the global model's (4.1)"
    assert reference_score(Score(0.9, 0.04), Score(0.95, 0.0), 4.0) == 0.9  # a perfect global model: the limit is 4 x 0.01
    assert isinstance(reference_score(Score(0.9, 0.05), Score(0.95, 0.0), 4.0), str)
    assert reference_score(Score(0.08, float("nan")), None, 4.0) == 0.08  # no reference: accuracy alone
    assert reference_score(Score(0.08, 1e9), Score(0.07, float("inf")), 4.0) == 0.08  # a diverged reference says nothing
    assert isinstance(reference_score(Score(0.08, float("nan")), Score(0.07, 4.0), 4.0), str)


class _Models:
    """Blobs and a ledger that serve fixed models: the global one (hash 0) and updates 1..n."""

    def __init__(self, changes: np.ndarray) -> None:
        self.models = {bytes([0] * 32).hex(): {"w": np.zeros(changes.shape[1], np.float32)}}
        self.records = []
        for uid, change in enumerate(changes, start=1):
            blob = bytes([uid] * 32)
            self.models[blob.hex()] = {"w": change.astype(np.float32)}
            self.records.append(UpdateRecord(uid, 0, f"0x{uid:040x}", blob, 10, 0, 0, False, False))

    def fetch(self, blob: str) -> Params:
        return self.models[blob]

    def model(self, round: int) -> ModelRecord:
        return ModelRecord(round, bytes(32), "", 0, ModelOrigin.GENESIS)


class Flat(TinyLearner):
    def score(self, candidates: Sequence[Params]) -> list[Score]:
        return [Score(0.5, 1.0) for _ in candidates]


def screening_member(models: _Models, screen_similarity: float) -> CommitteeMember:
    return CommitteeMember(models, models, Flat(), NodeSeeds((9,)), screen_similarity=screen_similarity)  # type: ignore[arg-type]


def test_the_coalition_screen_scores_zero_the_updates_that_share_a_push_and_says_why():
    models = _Models(round_of_changes(num_honest=10, num_coalition=3, push=1.0))
    judgement = screening_member(models, 0.35).judge(0, models.records)
    assert judgement.scores == [0.5] * 10 + [0.0] * 3
    assert judgement.screened == frozenset({11, 12, 13}) and not judgement.by_reference
    assert all("(coalition screen)" in judgement.rejected[uid] and "cosine" in judgement.rejected[uid] for uid in (11, 12, 13))
    assert screening_member(models, 0.0).judge(0, models.records).scores == [0.5] * 13  # the screen off


def test_the_screen_runs_over_the_whole_round_when_a_member_scores_part_of_it():
    """A member that voted on the other updates already still screens against them (the daemon passes them as peers)."""
    models = _Models(round_of_changes(num_honest=10, num_coalition=3, push=1.0))
    member = screening_member(models, 0.35)
    last = models.records[-1:]
    assert member.judge(0, last, peers=models.records).scores == [0.0]
    assert member.judge(0, last).scores == [0.5]  # alone, nothing to compare it with


class _Rounds(_Models):
    """Round 0's updates, the coalition's (the last three) rejected by its committee (median 0), then round 1's."""

    def __init__(self, round1: np.ndarray, providers1: list[int] | None = None) -> None:
        super().__init__(round_of_changes(num_honest=10, num_coalition=3, push=1.0, push_seed=7))
        self.records = [UpdateRecord(r.update_id, 0, r.provider, r.blob_hash, 10, 3, 0 if r.update_id > 10 else 500_000, True, r.update_id <= 10)
                        for r in self.records]  # fmt: skip
        self.round1 = []
        for k, change in enumerate(round1):
            uid = 100 + k
            blob = bytes([uid] * 32)
            self.models[blob.hex()] = {"w": change.astype(np.float32)}
            provider = (providers1 or list(range(200, 200 + len(round1))))[k]
            self.round1.append(UpdateRecord(uid, 1, f"0x{provider:040x}", blob, 10, 0, 0, False, False))
        self.reads = 0

    def round_updates(self, round: int, with_votes: bool = True) -> list[UpdateRecord]:
        assert round == 0 and not with_votes
        self.reads += 1
        return self.records


def remembering_member(models: _Rounds, memory: SuspectMemory | None = None, screen_push: float = 0.2) -> CommitteeMember:
    return CommitteeMember(models, models, Flat(), NodeSeeds((9,)), screen_similarity=0.35, screen_push=screen_push,  # type: ignore[arg-type]
                           memory=memory or SuspectMemory())  # fmt: skip


def test_the_screens_memory_scores_zero_a_lone_attacker_that_goes_where_rejected_updates_went():
    models = _Rounds(round_of_changes(num_honest=13, num_coalition=1, push=1.0, seed=1, push_seed=7))
    judgement = remembering_member(models).judge(1, models.round1)
    assert judgement.scores == [0.5] * 13 + [0.0]
    assert judgement.screened == frozenset({113})
    reason = judgement.rejected[113]
    assert "(screen memory)" in reason and "rejected" in reason and "above 0.2" in reason
    assert int(reason.split("direction of update ")[1].split(",")[0]) in (11, 12, 13)  # one of round 0's coalition
    assert remembering_member(models, screen_push=0.0).judge(1, models.round1).scores == [0.5] * 14  # without memory it passes


def test_memory_turns_a_round_the_coalition_holds_the_most_of_against_the_coalition():
    """Nine of fourteen own the round's median; memory takes them out first, and the screen then sees the honest five alone."""
    models = _Rounds(round_of_changes(num_honest=5, num_coalition=9, push=1.0, seed=1, push_seed=7))
    judgement = remembering_member(models).judge(1, models.round1)
    assert judgement.scores == [0.5] * 5 + [0.0] * 9


def test_an_update_is_not_held_against_its_own_providers_rejected_updates():
    """Round 0's coalition were providers 11-13; the same three providers again are compared only with each other's."""
    changes = round_of_changes(num_honest=13, num_coalition=1, push=1.0, seed=1, push_seed=7)
    alone = _Rounds(changes, providers1=[*range(200, 213), 11])
    assert remembering_member(alone).judge(1, alone.round1).scores[-1] == 0.0  # 12's and 13's directions still count
    models = _Rounds(changes, providers1=[*range(200, 213), 11])
    models.records = [r if r.update_id in (11,) or r.update_id <= 10 else UpdateRecord(r.update_id, 0, r.provider, r.blob_hash, 10, 3, 500_000, True, True)
                      for r in models.records]  # fmt: skip
    assert remembering_member(models).judge(1, models.round1).scores[-1] == 0.5  # only its own rejected update remembered


def test_a_shared_memory_reads_an_earlier_round_once_and_corroborates_once_a_round(monkeypatch):
    models = _Rounds(round_of_changes(num_honest=13, num_coalition=1, push=1.0, seed=1, push_seed=7))
    memory = SuspectMemory()
    calls = []
    monkeypatch.setattr(member_module, "corroborated", lambda *args: calls.append(1) or corroborated(*args))
    verdicts = {remembering_member(models, memory).judge(1, models.round1).scores[-1] for _ in range(3)}
    assert (models.reads, len(calls), verdicts) == (1, 1, {0.0})
