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

from functools import lru_cache
from typing import Any

from eth.abc import ComputationAPI, ReceiptAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert
from eth.vm.execution_context import ExecutionContext
from eth.vm.spoof import SpoofTransaction
from eth_abi.exceptions import DecodingError
from eth_typing import BlockNumber
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from eth_utils.address import to_canonical_address, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract
from web3.datastructures import AttributeDict

from bflc.chain.artifact import load_artifact
from bflc.chain.inprocess import InProcessChain
from bflc.chain.ledger import Ledger, TxStats
from bflc.chain.types import ChainEvent, ProtocolParams, TxResult
from bflc.chain.web3_ledger import DEFAULT_GAS, DEPLOY_GAS, GAS_LIMITS, _event_signature, revert_reason
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
        # Events of the ledgers' transactions with an indexed round, by
        # (contract address, event name, round): what eth_getLogs would find.
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
    ) -> FastLedger:
        """Deploy the committed BFLC bytecode and return a ledger bound to the first manager.

        As :func:`~bflc.chain.web3_ledger.deploy_contract`: a dry run first,
        so rejected arguments mine nothing.

        Raises
        ------
        ContractRevert
            With the constructor's reason when the arguments are rejected.
        ChainError
            If the deployment is mined but fails.
        """
        params = params or ProtocolParams()
        artifact = load_artifact()
        factory = Web3().eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        ctor = factory.constructor(managers, first_committee, genesis_hash, genesis_uri, params.to_contract())
        data = bytes(HexBytes(ctor.data_in_transaction))
        sender = deployer or managers[0]
        gas = min(DEPLOY_GAS, self.gas_limit)
        dry_run = self.call(CREATE_CONTRACT_ADDRESS, data, sender, gas)
        if dry_run.is_error:
            raise ContractRevert(_failure_reason(dry_run), "constructor")
        _, _, computation = self.transact(sender, CREATE_CONTRACT_ADDRESS, data, gas=gas)
        if computation.is_error:
            raise ChainError("contract deployment failed", "check the deployer's balance and the block gas limit")
        address = to_checksum_address(computation.msg.storage_address)
        return FastLedger(self, address, managers[0])

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
            if "round" in event.args:
                self._round_events.setdefault((address, event.name, int(event.args["round"])), []).append((block, event))

    def round_events(self, address: str, name: str, round: int, from_block: int) -> list[ChainEvent]:
        """The events ``name`` of ``round`` that contract ``address`` emitted from ``from_block`` on, in chain order."""
        return [event for block, event in self._round_events.get((address, name, round), []) if block >= from_block]

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
        self._to = to_canonical_address(self.address)

    def as_account(self, account: str) -> FastLedger:
        """The same contract and chain, sending from ``account``."""
        return FastLedger(self.chain, self.address, account)

    def block_number(self) -> int:
        """The latest block number."""
        return self.chain.block_number()

    def _call(self, function: str, *args: Any) -> Any:
        computation = self.chain.call(self._to, _codec().encode(function, args))
        if computation.is_error:
            raise ContractRevert(_failure_reason(computation), function)
        return _codec().decode_output(function, computation.output)

    def _transact(self, function: str, *args: Any, value: int = 0) -> TxResult:
        gas = min(GAS_LIMITS.get(function, DEFAULT_GAS), self.chain.gas_limit)
        data = _codec().encode(function, args)
        signed, receipt, computation = self.chain.transact(self.account, self._to, data, value, gas)
        if computation.is_error:
            raise ContractRevert(_failure_reason(computation), function)
        self.stats.record(function, receipt.gas_used)
        block = self.chain.block_number()
        events = tuple(_codec().decode_events(receipt, self.address, signed.hash, block))
        self.chain.record_events(self.address, block, events)
        return TxResult(tx_hash=signed.hash.hex(), gas_used=receipt.gas_used, block=block, events=events)

    def _round_events(self, name: str, round: int, from_block: int) -> list[ChainEvent]:
        return self.chain.round_events(self.address, name, round, from_block)


class _Codec:
    """The artifact's ABI, encoded and decoded as web3.py does, without a provider.

    Calldata is ``selector + eth_abi.encode(inputs, args)``, the bytes
    web3.py's ``encode_abi`` produces for the ledger's arguments (checksummed
    addresses, bytes, integers, strings and lists of them) without its
    per-call ABI lookup and validation.
    """

    def __init__(self) -> None:
        self.contract: type[Contract] = Web3().eth.contract(abi=load_artifact()["abi"])
        self.codec = self.contract.w3.codec
        functions = [e for e in self.contract.abi if e["type"] == "function"]
        self.selectors = {e["name"]: function_abi_to_4byte_selector(e) for e in functions}
        self.inputs = {e["name"]: get_abi_input_types(e) for e in functions}
        self.outputs = {e["name"]: get_abi_output_types(e) for e in functions}
        self.events_by_topic = {
            bytes(Web3.keccak(text=_event_signature(e))): e["name"] for e in self.contract.abi if e["type"] == "event"
        }

    def encode(self, function: str, args: tuple[Any, ...]) -> bytes:
        """Calldata of ``function`` called with ``args``: selector and ABI-encoded arguments."""
        return self.selectors[function] + self.codec.encode(self.inputs[function], args)

    def decode_output(self, function: str, output: bytes) -> Any:
        """Decode and normalize as web3.py's ``ContractFunction.call``."""
        types = self.outputs[function]
        decoded = self.codec.decode(types, output)
        normalized = map_abi_data(BASE_RETURN_NORMALIZERS, types, decoded)
        return normalized[0] if len(normalized) == 1 else normalized

    def decode_events(self, receipt: ReceiptAPI, address: str, tx_hash: bytes, block: int) -> list[ChainEvent]:
        """The contract's events in ``receipt``, decoded as web3.py decodes a receipt's logs."""
        contract_address = to_canonical_address(address)
        events = []
        for index, log in enumerate(receipt.logs):
            topics = [HexBytes(t.to_bytes(32, "big")) for t in log.topics]
            name = self.events_by_topic.get(bytes(topics[0])) if topics else None
            if name is None or log.address != contract_address:
                continue
            entry = AttributeDict(
                {
                    "address": address,
                    "topics": topics,
                    "data": HexBytes(log.data),
                    "logIndex": index,
                    "transactionIndex": 0,
                    "transactionHash": HexBytes(tx_hash),
                    "blockHash": HexBytes(b""),
                    "blockNumber": block,
                }
            )
            decoded = self.contract.events[name]().process_log(entry)
            events.append(ChainEvent(name=name, args=dict(decoded["args"])))
        return events


@lru_cache(maxsize=1)
def _codec() -> _Codec:
    return _Codec()


def _failure_reason(computation: ComputationAPI) -> str:
    """Why a computation failed, worded as through eth-tester and web3.py.

    The contract's revert string, else the EVM error.
    """
    error = computation.error
    payload = error.args[0] if isinstance(error, Revert) and error.args else b""
    if isinstance(payload, bytes) and payload[:4] == ERROR_SELECTOR:
        try:
            (message,) = _codec().codec.decode(["string"], payload[4:])
        except DecodingError:
            return revert_reason(error)
        return revert_reason(Exception(message))
    return revert_reason(error)
