"""The embedded chain: an in-process EVM (py-evm through eth-tester).

No service to start: the simulator, the demo and the tests run the real
contract bytecode inside the Python process. Every transaction is mined in
its own block, as on a dev node with automine.
"""

from __future__ import annotations

from typing import Any

from eth.exceptions import TransactionNotFound as NotInChain
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.serializers import serialize_transaction, serialize_transaction_receipt
from eth_tester.exceptions import TransactionNotFound
from web3 import EthereumTesterProvider, Web3

from bflc.chain.devchain import BLOCK_GAS_LIMIT, DevChain
from bflc.errors import ConfigError

STARTING_BALANCE = 10**24


class _IndexedBackend(PyEVMBackend):  # type: ignore[misc]  # eth-tester is untyped
    """py-evm through eth-tester, finding a transaction by the chain's own hash index.

    eth-tester looks a transaction up by scanning every block back from the
    head, so each receipt (and each log, which carries its transaction's
    receipt) cost time in proportion to the chain's length: reading a long
    run's events was quadratic. py-evm indexes every canonical transaction
    by hash; the pending block is searched first, as eth-tester does.
    """

    def _locate(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
        pending = self.chain.get_block()
        for index, transaction in enumerate(pending.transactions):
            if transaction.hash == transaction_hash:
                return pending, transaction, index
        try:
            number, index = self.chain.chaindb.get_transaction_index(transaction_hash)
        except NotInChain:
            raise TransactionNotFound(f"No transaction found for transaction hash: 0x{bytes(transaction_hash).hex()}") from None
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        """The transaction ``transaction_hash``, serialized as eth-tester does."""
        block, transaction, index = self._locate(transaction_hash)
        return serialize_transaction(block, transaction, index, block.number == self.chain.get_block().number)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        """The receipt of ``transaction_hash``, serialized as eth-tester does."""
        block, transaction, index = self._locate(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(block, receipts, transaction, index, is_pending, self.chain.get_vm())


class InProcessChain(DevChain):
    """An embedded EVM with ``num_accounts`` funded, unlocked accounts.

    Parameters
    ----------
    num_accounts:
        How many accounts to create (one per virtual node, plus spares).
    """

    def __init__(self, num_accounts: int = 10) -> None:
        super().__init__()
        if num_accounts < 1:
            raise ConfigError("the in-process chain needs at least one account")
        genesis_params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": BLOCK_GAS_LIMIT})
        genesis_state = PyEVMBackend.generate_genesis_state(num_accounts=num_accounts)
        for account in genesis_state.values():
            account["balance"] = STARTING_BALANCE
        self.backend = _IndexedBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
        self.tester = EthereumTester(backend=self.backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts = [Web3.to_checksum_address(a) for a in self.tester.get_accounts()]

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks."""
        self.tester.mine_blocks(blocks)
