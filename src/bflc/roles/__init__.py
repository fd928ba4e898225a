"""The protocol's role steps, written once for the node daemon and the simulator.

A runner decides *when* a step runs and what happens when it fails; a role
decides *what* the protocol does:

* :class:`Trainer`: fetch the global model, train, attack if malicious, commit; then upload and reveal;
* :class:`CommitteeMember`: fetch and check the round's updates, score them in a batch, vote;
* :class:`Aggregator`: fetch the qualified updates, aggregate, upload, propose;
* :class:`Watcher`: the deadline duties (close a phase, replace or re-elect a committee).
"""

from bflc.roles.aggregator import Aggregator, Proposal, aggregate_qualified
from bflc.roles.blobs import ModelBlobs
from bflc.roles.member import CommitteeMember, Judgement, SuspectMemory
from bflc.roles.trainer import SealedUpdate, TrainedUpdate, Trainer, local_update, poison
from bflc.roles.watcher import Duty, Watcher

__all__ = [
    "Aggregator",
    "CommitteeMember",
    "Duty",
    "Judgement",
    "ModelBlobs",
    "Proposal",
    "SealedUpdate",
    "SuspectMemory",
    "TrainedUpdate",
    "Trainer",
    "Watcher",
    "aggregate_qualified",
    "local_update",
    "poison",
]
