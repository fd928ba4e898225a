"""The fast embedded chain: InProcessChain's EVM without web3.py, eth-tester or block building.

:class:`~bflc.chain.inprocess.InProcessChain` reaches py-evm through web3.py's
middleware and eth-tester, and eth-tester builds and imports a full block for
every transaction: it rebuilds the VM from the state root, hashes the state
trie and persists it. On a simulation that bookkeeping, not the contract,
takes most of the chain's time.

:class:`FastChain` starts from the very same genesis (an ``InProcessChain``'s
accounts, keys, balances, chain id, block gas limit and Prague VM) and keeps
one py-evm state. A transaction is the one eth-tester would make (dynamic
fee, 1 gwei fees, the sender's nonce, signed with the same key, hence the
same hash) and goes through py-evm's own ``VM.apply_transaction``: intrinsic
gas, warm addresses, refunds, the calldata floor and fees are py-evm's, and
the receipt's gas is the one eth-tester reports. Each transaction is executed
at the next block number, as in eth-tester's one block per transaction, and a
reverted transaction spends its block, nonce and gas there too. View calls run
at the latest block number on a snapshot, as eth-tester's ``eth_call`` does.

What it does not model: block hashes, timestamps, ``prevrandao`` and the base
fee's movement. The contract reads none of them (only ``block.number``); the
coinbase (the zero address) therefore collects other tips than on
eth-tester, while every other account's balance is the same.

A failed transaction reports the reason the contract gave when it ran. The
web3 ledger instead replays the call on the parent block; the two differ only
where a revert depends on the block number that the replay shifts by one.
"""

from __future__ import annotations

from typing import Any

from eth.abc import ComputationAPI, ReceiptAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert
from eth.vm.execution_context import ExecutionContext
from eth.vm.spoof import SpoofTransaction
from eth_abi.exceptions import DecodingError
from eth_typing import BlockNumber
from eth_utils.address import to_canonical_address, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from bflc.chain.abi import codec, decode_receipt
from bflc.chain.artifact import CONTRACT_NAME, COUNCIL_NAME, load_artifact
from bflc.chain.inprocess import InProcessChain
from bflc.chain.ledger import DEFAULT_GAS, Ledger, TxStats, gas_limit
from bflc.chain.types import DEFAULT_DECISION_LIFETIME, ChainEvent, ProtocolParams, TxResult, majority
from bflc.chain.web3_ledger import DEPLOY_GAS, create_address, revert_reason
from bflc.errors import ChainError, ContractRevert

# eth-tester's fees for a transaction that names none (web3.py names none for it).
FEE_PER_GAS = 10**9
# Selector of Solidity's and Vyper's Error(string) revert payload.
ERROR_SELECTOR = bytes.fromhex("08c379a0")


class FastChain:
    """An embedded EVM with ``num_accounts`` funded accounts, one block per transaction.

    The same accounts, genesis and transaction semantics as
    :class:`~bflc.chain.inprocess.InProcessChain` (see the module docstring).

    Parameters
    ----------
    num_accounts:
        How many accounts to create (one per virtual node, plus spares).

    Raises
    ------
    ConfigError
        If ``num_accounts`` is below 1.
    """

    def __init__(self, num_accounts: int = 10) -> None:
        genesis = InProcessChain(num_accounts)
        self.accounts: list[str] = genesis.accounts
        self.stats = TxStats()
        self._keys = dict(zip(self.accounts, genesis.backend.account_keys, strict=True))
        # The VM of eth-tester's pending block 1, kept for every block: its
        # header only bounds a transaction's gas (no block is ever built).
        self._vm = genesis.backend.chain.get_vm()
        self._header = self._vm.get_header()
        self._state = self._vm.state
        self._base_context = self._state.execution_context
        self._head: int = self._header.block_number - 1
        # Events of the ledgers' transactions, by (contract address, event
        # name), and those with an indexed round also by round: what
        # eth_getLogs would find.
        self._events: dict[tuple[str, str], list[tuple[int, ChainEvent]]] = {}
        self._round_events: dict[tuple[str, str, int], list[tuple[int, ChainEvent]]] = {}

    @property
    def gas_limit(self) -> int:
        """The block gas limit."""
        return int(self._base_context.gas_limit)

    def block_number(self) -> int:
        """The latest block number."""
        return self._head

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (to pass a deadline)."""
        self._head += blocks

    def native_balance(self, account: str) -> int:
        """The account's balance in wei."""
        return int(self._state.get_balance(to_canonical_address(account)))

    def code(self, address: str) -> bytes:
        """The runtime bytecode at ``address`` (``eth_getCode``)."""
        return bytes(self._state.get_code(to_canonical_address(address)))

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
    ) -> FastLedger:
        """Deploy the committed Council and BFLC bytecode; return a ledger bound to the first manager.

        As :func:`~bflc.chain.web3_ledger.deploy`: the council first (the
        threshold is a majority by default), each deployment dry run first,
        so rejected arguments mine nothing. Every manager is an account of
        this chain, so the ledger's :attr:`~Ledger.co_managers` are all of
        them: its decisions run at once.

        Raises
        ------
        ContractRevert
            With the constructor's reason when the arguments are rejected.
        ChainError
            If a deployment is mined but fails.
        """
        params = params or ProtocolParams()
        sender = deployer or managers[0]
        target = create_address(sender, self._state.get_nonce(to_canonical_address(sender)) + 1)
        votes = majority(len(managers)) if threshold is None else threshold
        council = self._deploy_one(sender, COUNCIL_NAME, (target, managers, votes, decision_lifetime))
        address = self._deploy_one(
            sender, CONTRACT_NAME, (council, managers, first_committee, genesis_hash, genesis_uri, params.to_contract())
        )
        ledger = FastLedger(self, address, managers[0])
        ledger.co_managers = tuple(managers)
        return ledger

    def _deploy_one(self, sender: str, name: str, args: tuple[Any, ...]) -> str:
        artifact = load_artifact(name)
        factory = Web3().eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = bytes(HexBytes(factory.constructor(*args).data_in_transaction))
        gas = min(DEPLOY_GAS, self.gas_limit)
        dry_run = self.call(CREATE_CONTRACT_ADDRESS, data, sender, gas)
        if dry_run.is_error:
            raise ContractRevert(_failure_reason(dry_run), f"{name} constructor")
        _, _, computation = self.transact(sender, CREATE_CONTRACT_ADDRESS, data, gas=gas)
        if computation.is_error:
            raise ChainError(f"{name} contract deployment failed", "check the deployer's balance and the block gas limit")
        return to_checksum_address(computation.msg.storage_address)

    def transact(
        self, sender: str, to: bytes, data: bytes, value: int = 0, gas: int = DEFAULT_GAS
    ) -> tuple[SignedTransactionAPI, ReceiptAPI, ComputationAPI]:
        """Sign and execute a transaction from ``sender`` in the next block.

        Returns
        -------
        The signed transaction, its receipt and its computation, whether it
        succeeded or reverted (a reverted transaction is mined too).

        Raises
        ------
        ChainError
            If ``sender`` is not one of this chain's accounts.
        """
        key = self._keys.get(Web3.to_checksum_address(sender))
        if key is None:
            raise ChainError(f"{sender} is not an account of this chain", "send from one of chain.accounts")
        nonce = self._state.get_nonce(to_canonical_address(sender))
        unsigned = self._vm.get_transaction_builder().new_unsigned_dynamic_fee_transaction(
            self._base_context.chain_id, nonce, FEE_PER_GAS, FEE_PER_GAS, gas, to, value, data, ()
        )
        signed = unsigned.as_signed_transaction(key)
        self._at_block(self._head + 1)
        receipt, computation = self._vm.apply_transaction(self._header, signed)
        self._head += 1
        return signed, receipt, computation

    def call(self, to: bytes, data: bytes, sender: str | None = None, gas: int | None = None) -> ComputationAPI:
        """Execute a call at the latest block and discard its effects (``eth_call``).

        As through web3.py's eth-tester provider, ``sender`` defaults to the
        first account and ``gas`` to the block gas limit.
        """
        origin = to_canonical_address(sender or self.accounts[0])
        unsigned = self._vm.get_transaction_builder().new_unsigned_dynamic_fee_transaction(
            self._base_context.chain_id,
            self._state.get_nonce(origin),
            FEE_PER_GAS,
            FEE_PER_GAS,
            self.gas_limit if gas is None else gas,
            to,
            0,
            data,
            (),
        )
        self._at_block(self._head)
        self._state.lock_changes()
        snapshot = self._state.snapshot()
        try:
            computation: ComputationAPI = self._state.apply_transaction(SpoofTransaction(unsigned, from_=origin))
            return computation
        finally:
            self._state.revert(snapshot)

    def record_events(self, address: str, block: int, events: tuple[ChainEvent, ...]) -> None:
        """Keep the events of a transaction mined in ``block`` for :meth:`round_events`."""
        for event in events:
            self._events.setdefault((address, event.name), []).append((block, event))
            if "round" in event.args:
                self._round_events.setdefault((address, event.name, int(event.args["round"])), []).append((block, event))

    def round_events(self, address: str, name: str, round: int, from_block: int) -> list[ChainEvent]:
        """The events ``name`` of ``round`` that contract ``address`` emitted from ``from_block`` on, in chain order."""
        return [event for block, event in self._round_events.get((address, name, round), []) if block >= from_block]

    def events(self, address: str, name: str, filters: dict[str, Any], from_block: int, to_block: int | None) -> list[ChainEvent]:
        """The events ``name`` of contract ``address`` whose arguments match ``filters``, mined in ``from_block``..``to_block``."""
        last = self._head if to_block is None else to_block
        return [
            event
            for block, event in self._events.get((address, name), [])
            if from_block <= block <= last and all(event.args.get(k) == v for k, v in filters.items())
        ]

    def _at_block(self, number: int) -> None:
        """Make the state execute as in block ``number`` (only ``block.number`` changes)."""
        if self._state.execution_context.block_number == number:
            return
        base = self._base_context
        self._state.execution_context = ExecutionContext(
            coinbase=base.coinbase,
            timestamp=base.timestamp,
            block_number=BlockNumber(number),
            difficulty=base.difficulty,
            mix_hash=base.mix_hash,
            gas_limit=base.gas_limit,
            prev_hashes=base.prev_hashes,
            chain_id=base.chain_id,
            base_fee_per_gas=base.base_fee_per_gas,
            excess_blob_gas=base.excess_blob_gas,
        )


class FastLedger(Ledger):
    """A BFLC contract on a :class:`FastChain`.

    Calldata, return values and events go through web3.py's ABI codec and
    normalizers, so every value has the type :class:`Web3Ledger` gives it.

    Parameters
    ----------
    chain:
        The chain the contract is deployed on.
    address:
        The deployed contract's address.
    account:
        The account transactions are sent from.
    """

    def __init__(self, chain: FastChain, address: str, account: str) -> None:
        self.chain = chain
        self.address = Web3.to_checksum_address(address)
        self.account = Web3.to_checksum_address(account)
        self.stats = chain.stats
        self._addresses: dict[str, str] = {CONTRACT_NAME: self.address}

    def as_account(self, account: str) -> FastLedger:
        """The same contract and chain, sending from ``account``."""
        clone = FastLedger(self.chain, self.address, account)
        clone.co_managers = self.co_managers
        clone._addresses = self._addresses
        return clone

    def _address_of(self, contract: str) -> str:
        if contract not in self._addresses:
            self._addresses[contract] = Web3.to_checksum_address(self.contract_address(contract))
        return self._addresses[contract]

    def block_number(self) -> int:
        """The latest block number."""
        return self.chain.block_number()

    def _call(self, function: str, *args: Any, contract: str = CONTRACT_NAME) -> Any:
        computation = self.chain.call(to_canonical_address(self._address_of(contract)), codec(contract).encode(function, args))
        if computation.is_error:
            raise ContractRevert(_failure_reason(computation), function)
        return codec(contract).decode_output(function, computation.output)

    def _transact(self, function: str, *args: Any, value: int = 0, contract: str = CONTRACT_NAME, gas: int | None = None) -> TxResult:
        gas = min(gas or gas_limit(function), self.chain.gas_limit)
        data = codec(contract).encode(function, args)
        to = to_canonical_address(self._address_of(contract))
        signed, receipt, computation = self.chain.transact(self.account, to, data, value, gas)
        if computation.is_error:
            raise ContractRevert(_failure_reason(computation), function)
        self.stats.record(function, receipt.gas_used)
        block = self.chain.block_number()
        council = self._addresses.get(COUNCIL_NAME)
        contracts = {self.address: CONTRACT_NAME} | ({council: COUNCIL_NAME} if council else {})
        emitted = decode_receipt(receipt, contracts, signed.hash, block)
        for address in contracts:
            self.chain.record_events(address, block, tuple(e for a, e in emitted if a == address))
        return TxResult(tx_hash=signed.hash.hex(), gas_used=receipt.gas_used, block=block, events=tuple(e for _, e in emitted))

    def _round_events(self, name: str, round: int, from_block: int) -> list[ChainEvent]:
        return self.chain.round_events(self.address, name, round, from_block)

    def _events(self, contract: str, name: str, filters: dict[str, Any], from_block: int, to_block: int | None = None) -> list[ChainEvent]:
        return self.chain.events(self._address_of(contract), name, filters, from_block, to_block)


def _failure_reason(computation: ComputationAPI) -> str:
    """Why a computation failed, worded as through eth-tester and web3.py.

    The contract's revert string, else the EVM error.
    """
    error = computation.error
    payload = error.args[0] if isinstance(error, Revert) and error.args else b""
    if isinstance(payload, bytes) and payload[:4] == ERROR_SELECTOR:
        try:
            (message,) = codec(CONTRACT_NAME).codec.decode(["string"], payload[4:])
        except DecodingError:
            return revert_reason(error)
        return revert_reason(Exception(message))
    return revert_reason(error)
