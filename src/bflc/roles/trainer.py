"""The trainer's steps: fetch the global model, train, attack if malicious, commit; later upload and reveal.

An update is committed before anyone can see it (only its commitment goes on
chain) and uploaded only once commitments are closed, so that a node that
watches pending transactions or the shared store cannot claim it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflc.attacks import Attack
from bflc.ml.learner import Learner
from bflc.ml.models import Params, all_finite, flatten, unflatten
from bflc.protocol import commitment
from bflc.roles.base import LearningRole
from bflc.storage import hash_to_bytes32
from bflc.timing import PhaseTimer


@dataclass(frozen=True)
class TrainedUpdate:
    """A trainer's update before it is uploaded: its parameters, claimed sample count and training seed."""

    params: Params
    n_samples: int
    seed: int


@dataclass(frozen=True)
class SealedUpdate:
    """An update a trainer has committed to (or is about to): its blob, sample count and secret salt.

    Keep it until the reveal: without the salt the commitment cannot be opened.
    """

    blob_hash: str
    n_samples: int
    salt: bytes

    def commitment(self, sender: str, round: int) -> bytes:
        """The commitment ``sender`` sends for this update in ``round``."""
        return commitment(sender, round, hash_to_bytes32(self.blob_hash), self.n_samples, self.salt)


def poison(attack: Attack, global_params: Params, local: Params, seed: int) -> Params:
    """``local`` after ``attack``, flattened in ``local``'s order; the noise draws from ``seed``.

    Parameters
    ----------
    attack:
        The malicious trainer's attack.
    global_params:
        The round's global model (at least ``local``'s names).
    local:
        The honestly trained parameters.
    seed:
        The round's training seed of this node.
    """
    vector = attack.poison_update(flatten({n: global_params[n] for n in local}), flatten(local), np.random.default_rng(seed))
    return unflatten(np.asarray(vector, dtype=np.float32), local)


def local_update(learner: Learner, global_params: Params, seed: int, attack: Attack | None, timer: PhaseTimer) -> TrainedUpdate | None:
    """Train from ``global_params`` with ``seed``, then apply ``attack`` if any.

    Returns
    -------
    TrainedUpdate or None
        ``None`` when the parameters are not finite (training diverged or the
        attack overflowed float32): no blob can carry them, so the node sits
        the round out.
    """
    with timer.phase("train"):
        params, n_samples = learner.fit(global_params, seed)
        if attack is not None and all_finite(params):
            params = poison(attack, global_params, params, seed)
    if not all_finite(params):
        return None
    return TrainedUpdate(params, int(n_samples), seed)


@dataclass
class Trainer(LearningRole):
    """A node's trainer role: one update per round, trained from the round's global model.

    Parameters
    ----------
    attack:
        A malicious trainer's attack on its update (``None``: honest). An
        attack on the data is applied to the learner's data when it is made.

    See :class:`~bflc.roles.base.LearningRole` for the others.
    """

    attack: Attack | None = None

    def train(self, round: int, global_model: str) -> TrainedUpdate | None:
        """Train from the global model ``global_model`` (a blob hash) for ``round``.

        Returns
        -------
        TrainedUpdate or None
            As :func:`local_update`.

        Raises
        ------
        BlobError
            If the global model cannot be fetched or fails its checks.
        """
        global_params = self.blobs.fetch(global_model)
        return local_update(self.learner, global_params, self.seeds.training(round), self.attack, self.timer)

    def seal(self, update: TrainedUpdate, salt: bytes) -> SealedUpdate:
        """Encode the update and keep its blob here, not uploaded yet; ``salt`` is 32 secret random bytes."""
        if len(salt) != 32:
            raise ValueError(f"a salt is 32 bytes, got {len(salt)}")
        return SealedUpdate(self.blobs.keep(update.params), update.n_samples, bytes(salt))

    def is_fresh(self, sealed: SealedUpdate) -> bool:
        """Whether the chain would take the sealed blob: no update or global model used it before.

        A blob is used once ever, so a reveal of the unchanged global model (a
        free rider's) or of an earlier update is refused: such an update is
        not worth committing to.
        """
        with self.timer.phase("chain"):
            return not self.ledger.blob_used(hash_to_bytes32(sealed.blob_hash))

    def commit(self, round: int, sealed: SealedUpdate) -> None:
        """Commit to the sealed update on chain (commit phase)."""
        with self.timer.phase("chain"):
            self.ledger.commit_update(round, sealed.commitment(self.ledger.account, round))

    def reveal(self, round: int, sealed: SealedUpdate) -> int:
        """Upload the sealed update's blob and reveal it (reveal phase); return its update id."""
        self.blobs.publish(sealed.blob_hash)
        with self.timer.phase("chain"):
            return self.ledger.reveal_update(round, hash_to_bytes32(sealed.blob_hash), sealed.n_samples, sealed.salt)
