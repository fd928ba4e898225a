"""What the role steps of one node work with."""

from __future__ import annotations

from dataclasses import dataclass, field

from bflc.chain import Ledger
from bflc.ml.learner import Learner
from bflc.roles.blobs import ModelBlobs
from bflc.seeds import NodeSeeds
from bflc.timing import PhaseTimer


@dataclass
class ChainRole:
    """A role that acts on the chain.

    Parameters
    ----------
    ledger:
        The network, sending from this node's account.
    timer:
        Where the steps' time is counted, by phase (keyword only).
    """

    ledger: Ledger
    timer: PhaseTimer = field(default_factory=PhaseTimer, kw_only=True)


@dataclass
class NodeRole(ChainRole):
    """A role that also reads and writes models in the shared blob store.

    Parameters
    ----------
    blobs:
        This node's access to the shared blob store.
    """

    blobs: ModelBlobs


@dataclass
class LearningRole(NodeRole):
    """A role that also learns on the node's private data.

    Parameters
    ----------
    learner:
        Training and scoring on this node's private data.
    seeds:
        Where this node's training and collusion randomness comes from, per round.
    """

    learner: Learner
    seeds: NodeSeeds
