"""The embedded chain: an in-process EVM (py-evm through eth-tester).

No service to start: the simulator, the demo and the tests run the real
contract bytecode inside the Python process. Every transaction is mined in
its own block, as on a dev node with automine.
"""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from bflc.chain.ledger import TxStats
from bflc.chain.types import ProtocolParams
from bflc.chain.web3_ledger import Web3Ledger, deploy_contract
from bflc.errors import ConfigError

BLOCK_GAS_LIMIT = 30_000_000
STARTING_BALANCE = 10**24


class InProcessChain:
    """An embedded EVM with ``num_accounts`` funded, unlocked accounts.

    Parameters
    ----------
    num_accounts:
        How many accounts to create (one per virtual node, plus spares).
    """

    def __init__(self, num_accounts: int = 10) -> None:
        if num_accounts < 1:
            raise ConfigError("the in-process chain needs at least one account")
        genesis_params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": BLOCK_GAS_LIMIT})
        genesis_state = PyEVMBackend.generate_genesis_state(num_accounts=num_accounts)
        for account in genesis_state.values():
            account["balance"] = STARTING_BALANCE
        self.backend = PyEVMBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
        self.tester = EthereumTester(backend=self.backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts: list[str] = [Web3.to_checksum_address(a) for a in self.tester.get_accounts()]
        self.stats = TxStats()

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (to pass a deadline)."""
        self.tester.mine_blocks(blocks)

    def deploy(
        self,
        managers: list[str],
        first_committee: list[str],
        genesis_hash: bytes,
        genesis_uri: str = "",
        params: ProtocolParams | None = None,
        deployer: str | None = None,
    ) -> Web3Ledger:
        """Deploy BFLC and return a ledger bound to the first manager."""
        params = params or ProtocolParams()
        address = deploy_contract(
            self.w3,
            deployer or managers[0],
            managers,
            first_committee,
            genesis_hash,
            genesis_uri,
            params.to_contract(),
        )
        return Web3Ledger(self.w3, address, managers[0], self.stats)

    def native_balance(self, account: str) -> int:
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(account)))
