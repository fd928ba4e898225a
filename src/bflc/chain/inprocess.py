"""The embedded chain: an in-process EVM (py-evm through eth-tester).

No service to start: the simulator, the demo and the tests run the real
contract bytecode inside the Python process. Every transaction is mined in
its own block, as on a dev node with automine.
"""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from bflc.chain.devchain import BLOCK_GAS_LIMIT, DevChain
from bflc.errors import ConfigError

STARTING_BALANCE = 10**24


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
        self.backend = PyEVMBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
        self.tester = EthereumTester(backend=self.backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts = [Web3.to_checksum_address(a) for a in self.tester.get_accounts()]

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks."""
        self.tester.mine_blocks(blocks)
