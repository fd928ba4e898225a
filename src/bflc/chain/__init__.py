"""Chain access: the ``Ledger`` interface, its backends and the contract types."""

from bflc.chain.ledger import Ledger, TxStats
from bflc.chain.types import (
    SCORE_ONE,
    ChainEvent,
    ElectionMode,
    ModelOrigin,
    ModelRecord,
    NodeStatus,
    Phase,
    ProtocolParams,
    RoundState,
    TxResult,
    UpdateRecord,
    from_fixed,
    to_fixed,
)

__all__ = [
    "SCORE_ONE",
    "ChainEvent",
    "ElectionMode",
    "Ledger",
    "ModelOrigin",
    "ModelRecord",
    "NodeStatus",
    "Phase",
    "ProtocolParams",
    "RoundState",
    "TxResult",
    "TxStats",
    "UpdateRecord",
    "from_fixed",
    "to_fixed",
]
