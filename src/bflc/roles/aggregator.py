"""The aggregator's step: fetch the qualified updates, aggregate them, upload, propose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bflc.aggregate import capped_sample_weights, fedavg
from bflc.chain import UpdateRecord
from bflc.defence import clip_to_median_norm
from bflc.errors import ChainError
from bflc.ml.models import Params, flatten, unflatten
from bflc.roles.base import NodeRole
from bflc.storage import bytes32_to_hash, hash_to_bytes32


def aggregate_qualified(
    qualified: Sequence[int],
    records: Mapping[int, UpdateRecord],
    updates: Mapping[int, Params],
    sample_cap: float | None = None,
    norm_clip: float | None = None,
    base: Params | None = None,
) -> Params:
    """FedAvg of the qualified updates, weighted by their on-chain sample counts.

    Deterministic (float64 sums in qualified order, exact lengths, float32
    result), so every honest committee member proposes the same blob hash.

    Parameters
    ----------
    qualified:
        The round's qualified update ids, in the contract's order.
    records:
        Update id -> its on-chain record (for ``n_samples``).
    updates:
        Update id -> its parameters, fetched and checked against its hash.
    sample_cap:
        Clip each claimed count to this multiple of the median claimed count
        (:func:`bflc.aggregate.capped_sample_weights`; ``None``: the counts as claimed).
    norm_clip:
        Scale each update's change from ``base`` down to at most this
        multiple of the median change's length before averaging
        (:func:`bflc.defence.clip_to_median_norm`); ``None``: the updates as
        they are.
    base:
        The round's global model, which every update started from; needed
        with ``norm_clip``.

    Returns
    -------
    Params
        The aggregate, with the names and shapes of the updates.

    Raises
    ------
    ChainError
        If nothing qualified (the contract skips such rounds).
    """
    if not qualified:
        raise ChainError("no qualified update to aggregate", "the contract skips a round where nothing qualifies")
    weights = capped_sample_weights([records[u].n_samples for u in qualified], sample_cap)
    stacked = np.stack([flatten(updates[u]) for u in qualified])
    if norm_clip is None:
        return unflatten(fedavg(stacked, weights), updates[qualified[0]])
    if base is None:
        raise ValueError("norm clipping needs the round's global model as base")
    origin = flatten(base).astype(np.float64)
    changes = clip_to_median_norm(stacked.astype(np.float64) - origin, norm_clip)
    return unflatten(origin + fedavg(changes, weights), updates[qualified[0]])


@dataclass(frozen=True)
class Proposal:
    """A committee member's next global model: its blob hash and the updates it averages."""

    blob: str
    qualified: list[int]


@dataclass
class Aggregator(NodeRole):
    """A committee member's aggregation role, once the round's qualified set is final.

    Parameters
    ----------
    sample_cap, norm_clip:
        See :func:`aggregate_qualified` (the network's ``sample_cap`` and
        ``norm_clip``; ``None``: off).

    See :class:`~bflc.roles.base.NodeRole` for the others.
    """

    sample_cap: float | None = None
    norm_clip: float | None = None

    def build(self, round: int) -> Proposal:
        """Fetch the round's qualified updates, aggregate them and upload the result.

        Raises
        ------
        BlobError
            If a qualified update cannot be fetched.
        ChainError
            If nothing qualified.
        """
        qualified = self.ledger.qualified(round)
        records = {u.update_id: u for u in self.ledger.round_updates(round, with_votes=False)}
        updates = {uid: self.blobs.fetch(bytes32_to_hash(records[uid].blob_hash)) for uid in qualified}
        base = self.blobs.fetch(bytes32_to_hash(self.ledger.model(round).blob_hash)) if self.norm_clip else None
        with self.timer.phase("aggregate"):
            aggregate = aggregate_qualified(qualified, records, updates, self.sample_cap, self.norm_clip, base)
        return Proposal(self.blobs.put(aggregate), qualified)

    def propose(self, round: int, blob: str) -> None:
        """Propose ``blob`` as the round's global model (the majority's proposal is accepted)."""
        with self.timer.phase("chain"):
            self.ledger.propose_model(round, hash_to_bytes32(blob), self.blobs.uri(blob))
