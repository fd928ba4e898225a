"""Full-model transfers of one round, by kind, as a deployment of each method makes them.

One transfer moves one full model (a global model, an update or an
aggregate) from one party to another: an upload to the blob store and each
download from it count separately. Hashes and transactions on the chain are
not counted, nor the store's time-based integrity re-checks
(:meth:`bflc.roles.ModelBlobs.guard`). A round's transmission units are the
sum over the kinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def bflc_round(trainers: int, committee: int, updates: int, proposals: int) -> dict[str, int]:
    """The transfers of one BFLC round, as a network of ``bflc node`` daemons makes them.

    Each active node (trainer or committee member) downloads the round's
    global model from the store at the start of the round (a node that still
    holds a copy, having built it or used it in an earlier round, would skip
    that download). Each trainer with a usable update uploads it; each member
    downloads every update it scores (all of them) and later aggregates the
    qualified ones from those copies. Each proposing member builds the
    aggregate and puts it in the store, which reads a copy already stored back
    to check it before writing: the first proposer uploads the aggregate, each
    later one downloads the stored copy.

    Parameters
    ----------
    trainers:
        Active nodes outside the committee.
    committee:
        Committee members.
    updates:
        Updates revealed (uploaded) in the round.
    proposals:
        Members who proposed the aggregate (0 when no model was proposed).

    Returns
    -------
    dict[str, int]
        ``model_downloads`` (trainers + committee), ``update_uploads``
        (updates), ``update_downloads`` (updates x committee),
        ``aggregate_uploads`` (1 if anyone proposed) and ``aggregate_checks``
        (proposals - 1).
    """
    return {
        "model_downloads": trainers + committee,
        "update_uploads": updates,
        "update_downloads": updates * committee,
        "aggregate_uploads": min(proposals, 1),
        "aggregate_checks": max(proposals - 1, 0),
    }


def server_round(active: int, updates: int) -> dict[str, int]:
    """The transfers of one round of a central-server baseline (FedAvg, CwMed, trimmed mean, Krum).

    The server sends its model to each active node and receives each usable
    update (a node whose training diverged sends none).

    Returns
    -------
    dict[str, int]
        ``model_downloads`` (active) and ``update_uploads`` (updates).
    """
    return {"model_downloads": active, "update_uploads": updates}


def broadcast_round(active: int, senders: int) -> dict[str, int]:
    """The transfers of one round of decentralized broadcast.

    Each active node with a usable update sends it to every other active
    node; nobody sends a model, each node aggregates on its own.

    Returns
    -------
    dict[str, int]
        ``update_sends`` (senders x (active - 1)).
    """
    return {"update_sends": senders * (active - 1)}


def summed(rounds: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The transfers of several rounds by kind: each kind's sum, kinds in the order first met."""
    total: dict[str, int] = {}
    for transfers in rounds:
        for kind, count in transfers.items():
            total[kind] = total.get(kind, 0) + count
    return total
