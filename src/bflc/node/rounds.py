"""What a node computes in a round, shared by the node daemon and the simulator.

Both play the same protocol, so the committee's aggregate and a colluding
member's scores are computed here once: honest members of a real network
and the simulator's virtual members produce the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bflc.aggregate import capped_sample_weights, fedavg
from bflc.chain import UpdateRecord
from bflc.errors import ChainError
from bflc.ml.models import flatten, unflatten

Params = dict[str, np.ndarray]

# Colluding committee members give malicious updates a random score in this range.
COLLUSION_SCORES = (0.85, 0.95)


def aggregate_qualified(
    qualified: Sequence[int],
    records: Mapping[int, UpdateRecord],
    updates: Mapping[int, Params],
    sample_cap: float | None = None,
) -> Params:
    """FedAvg of the qualified updates, weighted by their on-chain sample counts
    (clipped by :func:`bflc.aggregate.capped_sample_weights` when ``sample_cap`` is given).

    Deterministic (float64 sums in qualified order, float32 result), so every
    honest committee member proposes the same blob hash.

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
        (``None``: the counts as claimed).

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
    return unflatten(fedavg(stacked, weights), updates[qualified[0]])


def collude(scores: Sequence[float], favoured: Sequence[bool], rng: np.random.Generator) -> list[float]:
    """A colluding member's scores: favoured updates get a random high score.

    Parameters
    ----------
    scores:
        The member's honest scores, one per update.
    favoured:
        Whether each update comes from a fellow malicious node.
    rng:
        Source of the high scores (drawn in update order, favoured ones only).
    """
    return [float(rng.uniform(*COLLUSION_SCORES)) if fav else float(s) for s, fav in zip(scores, favoured)]
