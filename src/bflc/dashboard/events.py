"""The event history of the contract and its managers' council, read with ``eth_getLogs`` and kept incrementally.

The logs are read in bounded block ranges from the deployment block on; each
sync asks only for the blocks it has not seen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from bflc.chain.abi import codec
from bflc.chain.artifact import COUNCIL_NAME
from bflc.chain.types import ModelOrigin, Phase
from bflc.chain.web3_ledger import Web3Ledger

# What the dashboard needs: its event list, who the nodes are and what they
# committed and revealed, the rounds' phases, rewards, and how each round
# ended. Scores and proposals are read from contract state. The council's
# events (the DecisionX and ManagerX ones, ThresholdChanged) are in the list:
# they say which managers proposed and approved what.
NOTABLE = (
    "NodeApplied",
    "NodeAdmitted",
    "NodeBlacklisted",
    "NodeLeft",
    "NodeRejoined",
    "CommitteeReplaced",
    "Failback",
    "RoundSkipped",
    "DecisionProposed",
    "DecisionApproved",
    "DecisionRevoked",
    "DecisionExecuted",
    "DecisionExpired",
    "ManagerAdded",
    "ManagerRemoved",
    "ThresholdChanged",
)
WATCHED = (
    *NOTABLE,
    "PhaseStarted",
    "UpdateCommitted",
    "UpdateSubmitted",
    "RewardPaid",
    "CommitteeElected",
    "AggregationTriggered",
    "ModelAccepted",
)
# Enum-valued event arguments, sent by name.
ENUM_ARGS: dict[str, type[enum.IntEnum]] = {"origin": ModelOrigin, "phase": Phase}
# Event arguments in wei, sent as decimal strings (JavaScript numbers lose precision past 2**53).
WEI_ARGS = frozenset({"fee", "refund", "amount"})
LOG_CHUNK_BLOCKS = 2_000


@dataclass(frozen=True)
class LoggedEvent:
    """A decoded contract event and where it was logged."""

    name: str
    block: int
    log_index: int
    tx_hash: str
    args: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The event with JSON-ready arguments: hashes as hex, wei as strings, origins and phases by name."""
        return {
            "name": self.name,
            "block": self.block,
            "log_index": self.log_index,
            "tx_hash": self.tx_hash,
            "args": {key: _json_arg(key, value) for key, value in self.args.items()},
        }


def label(value: enum.Enum) -> str:
    """How the API names an enum value: ``ModelOrigin.CARRIED_OVER`` is ``carried-over``."""
    return value.name.lower().replace("_", "-")


def _json_arg(key: str, value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_json_arg(key, v) for v in value]
    if key in WEI_ARGS:
        return str(value)
    if key in ENUM_ARGS:
        return label(ENUM_ARGS[key](value))
    return value


class EventLog:
    """The watched events of one contract and its council, oldest first.

    Parameters
    ----------
    ledger:
        A connection to the contract.
    from_block:
        The block the contract was deployed in: nothing before it is read.
    chunk_blocks:
        Blocks per ``eth_getLogs`` request (nodes limit the range of one query).
    """

    def __init__(self, ledger: Web3Ledger, from_block: int, chunk_blocks: int = LOG_CHUNK_BLOCKS) -> None:
        self.ledger = ledger
        self.next_block = from_block
        self.chunk_blocks = chunk_blocks
        self.events: list[LoggedEvent] = []
        self._addresses = [Web3.to_checksum_address(a) for a in (ledger.address, ledger.council())]
        self._topics = [
            contract.events[abi["name"]].topic
            for contract in (ledger.contract, codec(COUNCIL_NAME).contract)
            for abi in contract.abi
            if abi["type"] == "event" and abi["name"] in WATCHED
        ]

    def sync(self, head: int) -> None:
        """Read the logs of every block up to ``head`` not read yet."""
        while self.next_block <= head:
            last = min(head, self.next_block + self.chunk_blocks - 1)
            logs = self.ledger.w3.eth.get_logs(
                {"address": self._addresses, "fromBlock": self.next_block, "toBlock": last, "topics": [self._topics]}
            )
            for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
                self.events.extend(self._decode(log))
            self.next_block = last + 1

    def named(self, *names: str) -> list[LoggedEvent]:
        """The events with one of ``names``, oldest first."""
        return [event for event in self.events if event.name in names]

    def _decode(self, log: Any) -> list[LoggedEvent]:
        return [
            LoggedEvent(
                name=event.name,
                block=int(log["blockNumber"]),
                log_index=int(log["logIndex"]),
                tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                args=event.args,
            )
            for event in self.ledger._decode_events({"logs": [log]})
        ]
