"""What the in-process EVM and a local dev node have in common.

Funded, unlocked accounts, deployment, and mining blocks on demand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from web3 import Web3

from bflc.chain.ledger import TxStats
from bflc.chain.types import DEFAULT_DECISION_LIFETIME, ProtocolParams
from bflc.chain.web3_ledger import NodeAccountSender, Web3Ledger, deploy

BLOCK_GAS_LIMIT = 30_000_000


class DevChain(ABC):
    """A development chain whose accounts the node signs for.

    Subclasses set ``w3`` and ``accounts`` and implement :meth:`mine`.
    """

    w3: Web3
    accounts: list[str]

    def __init__(self) -> None:
        self.stats = TxStats()

    @abstractmethod
    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (to pass a deadline)."""

    def deploy(
        self,
        managers: list[str],
        first_committee: list[str],
        genesis_hash: bytes,
        genesis_uri: str = "",
        params: ProtocolParams | None = None,
        deployer: str | None = None,
        threshold: int | None = None,
        decision_lifetime: int = DEFAULT_DECISION_LIFETIME,
    ) -> Web3Ledger:
        """Deploy the Council and BFLC; return a ledger bound to the first manager.

        The threshold is a majority of ``managers`` by default. The chain signs
        for every manager, so the ledger's ``co_managers`` are all of them:
        its decisions run at once.
        """
        params = params or ProtocolParams()
        sender = NodeAccountSender(deployer or managers[0])
        args = (managers, first_committee, genesis_hash, genesis_uri, params.to_contract(), threshold, decision_lifetime)
        address = deploy(self.w3, sender, *args).address
        ledger = Web3Ledger(self.w3, address, managers[0], self.stats)
        ledger.co_managers = tuple(managers)
        return ledger

    def native_balance(self, account: str) -> int:
        """The native balance of ``account`` in wei."""
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(account)))
