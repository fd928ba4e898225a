"""The committee member's step: fetch and check the round's updates, score them in a batch, vote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bflc.attacks import HONEST, Misbehaviour, collude
from bflc.chain import UpdateRecord, to_fixed
from bflc.errors import BlobError, BlobUnavailable
from bflc.ml.models import Params
from bflc.roles.base import LearningRole
from bflc.storage import bytes32_to_hash


@dataclass(frozen=True)
class Judgement:
    """A member's scores of some updates, in their order, and why any was rejected.

    ``rejected`` maps an update id to the reason its blob was unusable (it scores 0).
    """

    scores: list[float]
    rejected: dict[int, str] = field(default_factory=dict)


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

        Raises
        ------
        BlobUnavailable
            If the store did not answer: the update is not at fault, so the
            caller tries again instead of voting 0.
        """
        scores = [0.0] * len(updates)
        rejected: dict[int, str] = {}
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
                rejected[update.update_id] = self.blobs.why_rejected(blob, error)
        if candidates:
            with self.timer.phase("score"):
                for k, score in zip(positions, self.learner.score(candidates), strict=True):
                    scores[k] = min(max(float(score), 0.0), 1.0)
        if self.misbehaviour.colluders:
            favoured = [self.misbehaviour.favours(update.provider) for update in updates]
            scores = collude(scores, favoured, self.seeds.collusion(round))
        return Judgement(scores, rejected)

    def vote(self, round: int, update_ids: Sequence[int], scores: Sequence[float]) -> None:
        """Record the scores on chain (in batches; the last vote on an update computes its median)."""
        with self.timer.phase("chain"):
            self.ledger.submit_scores(round, list(update_ids), [to_fixed(float(s)) for s in scores])
