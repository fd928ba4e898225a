"""The committee member's step: fetch and check the round's updates, score them in a batch, vote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bflc.attacks import HONEST, Misbehaviour, collude
from bflc.chain import Ledger, UpdateRecord, to_fixed
from bflc.errors import BlobError, BlobUnavailable
from bflc.ml.learner import Learner
from bflc.ml.models import Params
from bflc.roles.blobs import ModelBlobs
from bflc.seeds import NodeSeeds
from bflc.storage import bytes32_to_hash
from bflc.timing import PhaseTimer


@dataclass(frozen=True)
class Judgement:
    """A member's scores of some updates, in their order, and why any was rejected.

    ``rejected`` maps an update id to the reason its blob was unusable (it scores 0).
    """

    scores: list[float]
    rejected: dict[int, str] = field(default_factory=dict)


class CommitteeMember:
    """A node's committee role: score every update of the round on its own data.

    Parameters
    ----------
    ledger:
        The network, sending from this member's account.
    blobs:
        This node's access to the shared blob store.
    learner:
        Scoring on this node's private data.
    seeds:
        Where a colluding member's random scores come from.
    misbehaviour:
        Whom a malicious member favours (default: nobody).
    timer:
        Where scoring and chain time is counted.
    """

    def __init__(
        self,
        ledger: Ledger,
        blobs: ModelBlobs,
        learner: Learner,
        seeds: NodeSeeds,
        misbehaviour: Misbehaviour = HONEST,
        timer: PhaseTimer | None = None,
    ) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self.learner = learner
        self.seeds = seeds
        self.misbehaviour = misbehaviour
        self.timer = timer or PhaseTimer()

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
