"""Light nodes: keep only the latest global model and the current round's updates in a node's blob cache.

Full nodes keep every model they saw (for failback); a light node drops the
rest. What to keep comes from the chain when it can be reached, else from
the state directory's own records.
"""

from __future__ import annotations

from typing import Any

from bflc.chain.ledger import Ledger
from bflc.node.state import StateDir, read_json
from bflc.storage import bytes32_to_hash, prune


def keep_from_chain(ledger: Ledger) -> set[str]:
    """The current round's global model and every update submitted in it."""
    state = ledger.round_state()
    keep = {bytes32_to_hash(state.model.blob_hash)}
    keep.update(bytes32_to_hash(u.blob_hash) for u in ledger.round_updates(state.round, with_votes=False))
    return keep


def keep_from_state(state_dir: StateDir) -> set[str]:
    """The last global model the node saw and the blobs of its record of that round."""
    status = read_json(state_dir.status_file) or {}
    if not status.get("model"):
        return set()
    document = read_json(state_dir.state_file) or {}
    record = document.get("rounds", {}).get(str(status.get("round")), {})
    return {status["model"], *_record_blobs(record)}


def _record_blobs(record: dict[str, Any]) -> set[str]:
    blobs = set(record.get("scored", {}).values())
    if record.get("update"):
        blobs.add(record["update"]["blob"])
    if record.get("proposed"):
        blobs.add(record["proposed"])
    return blobs


def prune_cache(state_dir: StateDir, ledger: Ledger | None = None) -> list[str]:
    """Delete every cached blob of ``state_dir`` that a light node does not need.

    Parameters
    ----------
    state_dir:
        The node's state directory.
    ledger:
        The network: also keep the current round's model and updates on chain.

    Returns
    -------
    list[str]
        The hashes deleted, sorted.
    """
    keep = keep_from_state(state_dir)
    if ledger is not None:
        keep |= keep_from_chain(ledger)
    return prune(state_dir.blobs, keep)
