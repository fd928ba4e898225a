"""The committee member's step: fetch and check the round's updates, score them in a batch, vote."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bflc.attacks import HONEST, Misbehaviour, collude
from bflc.chain import UpdateRecord, to_fixed
from bflc.errors import BlobError, BlobUnavailable, LearnerError, UnverifiedBlob
from bflc.ml.models import Params
from bflc.roles.base import LearningRole
from bflc.storage import bytes32_to_hash


@dataclass(frozen=True)
class Judgement:
    """A member's scores of some updates, in their order, and why any was rejected.

    ``rejected`` maps an update id to the reason its blob was unusable (it
    scores 0). ``unverified`` holds those of them whose blob the store had no
    verified copy of (missing or changed): not necessarily their trainer's
    fault, so a runner may wait for the copy before voting.
    """

    scores: list[float]
    rejected: dict[int, str] = field(default_factory=dict)
    unverified: frozenset[int] = frozenset()


@dataclass
class CommitteeMember(LearningRole):
    """A node's committee role: score every update of the round on its own data.

    Parameters
    ----------
    misbehaviour:
        Whom a malicious member favours (default: nobody).

    See :class:`~bflc.roles.base.LearningRole` for the others.
    """

    misbehaviour: Misbehaviour = HONEST

    def judge(self, round: int, updates: Sequence[UpdateRecord]) -> Judgement:
        """The member's score of each update: its accuracy here, 0 for an unusable blob.

        An update that the learner fails on (raises, or gives a score that is
        not a finite number) scores 0 too, with the reason, as long as the
        learner scores some other update of the batch: then the update, not
        this node, is at fault.

        Raises
        ------
        BlobUnavailable
            If the store did not answer: the update is not at fault, so the
            caller tries again instead of voting 0.
        LearnerError
            If the learner failed on every candidate: this node cannot score
            now, and nobody should get 0 for it.
        """
        scores = [0.0] * len(updates)
        rejected: dict[int, str] = {}
        unverified: set[int] = set()
        candidates: list[Params] = []
        positions: list[int] = []
        for k, update in enumerate(updates):
            blob = bytes32_to_hash(update.blob_hash)
            try:
                candidates.append(self.blobs.fetch(blob))
                positions.append(k)
            except BlobUnavailable:
                raise
            except BlobError as error:
                rejected[update.update_id] = self.blobs.why_rejected(error)
                if isinstance(error, UnverifiedBlob):
                    unverified.add(update.update_id)
        if candidates:
            with self.timer.phase("score"):
                for k, outcome in zip(positions, self._score_each(candidates), strict=True):
                    if isinstance(outcome, str):
                        rejected[updates[k].update_id] = outcome
                    else:
                        scores[k] = min(max(outcome, 0.0), 1.0)
        if self.misbehaviour.colluders:
            favoured = [self.misbehaviour.favours(update.provider) for update in updates]
            scores = collude(scores, favoured, self.seeds.collusion(round))
        return Judgement(scores, rejected, frozenset(unverified))

    def _score_each(self, candidates: list[Params]) -> list[float | str]:
        """Each candidate's score, or why the learner could not score it.

        One batch first; if the learner raises, each candidate alone, so one
        model that breaks it (a Flower client, a custom learner) costs only
        that model a 0. If it fails on every candidate, the current global
        model tells whose fault it is: a learner that cannot score that
        either is broken here (LearnerError).
        """
        try:
            return [_checked(score) for score in self.learner.score(candidates)]
        except Exception:  # the learner may be anyone's code
            pass
        outcomes = [self._score_alone(candidate) for candidate in candidates]
        if all(isinstance(outcome, str) for outcome in outcomes):
            model = self.blobs.fetch(bytes32_to_hash(self.ledger.round_state().model.blob_hash))
            if isinstance(self._score_alone(model), str):
                raise LearnerError(
                    f"the learner cannot score the global model either: {outcomes[0]}",
                    "check this node's data and model code; it votes once it can score",
                )
        return outcomes

    def _score_alone(self, candidate: Params) -> float | str:
        try:
            return _checked(self.learner.score([candidate])[0])
        except Exception as error:  # the learner may be anyone's code
            return f"scoring failed ({type(error).__name__}: {error})"

    def vote(self, round: int, update_ids: Sequence[int], scores: Sequence[float]) -> None:
        """Record the scores on chain (in batches; the last vote on an update computes its median)."""
        with self.timer.phase("chain"):
            self.ledger.submit_scores(round, list(update_ids), [to_fixed(float(s)) for s in scores])


def _checked(score: float) -> float | str:
    """``score`` as a float, or the reason it is not a usable one."""
    value = float(score)
    return value if math.isfinite(value) else f"the learner gave a non-finite score ({value})"
