"""Ledger backend over web3.py: the in-process EVM and any JSON-RPC node."""

from __future__ import annotations

import re
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError, ContractPanicError

from bflc.chain.artifact import load_artifact
from bflc.chain.ledger import Ledger, TxStats
from bflc.chain.types import ChainEvent, TxResult
from bflc.errors import ChainError, ContractRevert

try:  # the in-process chain reports replayed reverts with its own exception
    from eth_tester.exceptions import TransactionFailed as _TesterFailure

    REVERT_ERRORS: tuple[type[Exception], ...] = (ContractLogicError, ContractPanicError, _TesterFailure)
except ImportError:  # pragma: no cover - eth-tester is a pinned dependency
    REVERT_ERRORS = (ContractLogicError, ContractPanicError)

# Explicit gas limits per function (estimation would double the round trips).
# The heavy ones cover the worst case of the contract's bounds; they are
# capped at the block gas limit when sent.
GAS_LIMITS = {
    "submit_scores": 25_000_000,
    "close_scoring": 25_000_000,
    "propose_model": 20_000_000,
    "replace_committee": 8_000_000,
    "reelect_committee": 10_000_000,
    "failback": 8_000_000,
}
DEFAULT_GAS = 500_000
DEPLOY_GAS = 15_000_000

_REVERT_PREFIX = re.compile(r"^(execution reverted:?\s*)+", re.IGNORECASE)


def revert_reason(exc: Exception) -> str:
    """The contract's revert string from a web3 exception."""
    message = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    return _REVERT_PREFIX.sub("", str(message)).strip() or "reverted without a reason"


class Web3Ledger(Ledger):
    """A BFLC contract reached through a ``web3.Web3`` instance.

    Parameters
    ----------
    w3:
        Connected web3 instance. Accounts must be unlocked on the node (the
        in-process chain and dev nodes) or signed by a web3 middleware.
    address:
        The deployed contract's address.
    account:
        The account transactions are sent from.
    stats:
        Shared transaction statistics (created when omitted).
    """

    def __init__(self, w3: Web3, address: str, account: str, stats: TxStats | None = None) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.account = Web3.to_checksum_address(account)
        self.stats = stats or TxStats()
        self.contract = w3.eth.contract(address=self.address, abi=load_artifact()["abi"])
        self._block_gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
        self._events_by_topic = {
            bytes(Web3.keccak(text=_event_signature(abi))): abi["name"]
            for abi in self.contract.abi
            if abi["type"] == "event"
        }

    def as_account(self, account: str) -> "Web3Ledger":
        clone = object.__new__(Web3Ledger)
        clone.__dict__.update(self.__dict__)
        clone.account = Web3.to_checksum_address(account)
        return clone

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def _call(self, function: str, *args: Any) -> Any:
        try:
            return self.contract.functions[function](*args).call()
        except REVERT_ERRORS as exc:
            raise ContractRevert(revert_reason(exc), function) from None

    def _transact(self, function: str, *args: Any, value: int = 0) -> TxResult:
        gas = min(GAS_LIMITS.get(function, DEFAULT_GAS), self._block_gas_limit)
        tx = {"from": self.account, "gas": gas, "value": value}
        try:
            tx_hash = self.contract.functions[function](*args).transact(tx)
        except REVERT_ERRORS as exc:
            raise ContractRevert(revert_reason(exc), function) from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise ContractRevert(self._replay_reason(function, args, tx, receipt), function)
        self.stats.record(function, int(receipt["gasUsed"]))
        return TxResult(
            tx_hash=tx_hash.hex(),
            gas_used=int(receipt["gasUsed"]),
            block=int(receipt["blockNumber"]),
            events=tuple(self._decode_events(receipt)),
        )

    def _replay_reason(self, function: str, args: tuple, tx: dict, receipt: Any) -> str:
        # Nodes that mine failed transactions report no reason; replaying the
        # call on the parent block recovers it.
        try:
            self.contract.functions[function](*args).call(tx, block_identifier=receipt["blockNumber"] - 1)
        except REVERT_ERRORS as exc:
            return revert_reason(exc)
        if int(receipt["gasUsed"]) >= int(tx["gas"]):
            return f"out of gas (limit {tx['gas']})"
        return "reverted without a reason"

    def _decode_events(self, receipt: Any) -> list[ChainEvent]:
        events = []
        for log in receipt["logs"]:
            if not log["topics"] or Web3.to_checksum_address(log["address"]) != self.address:
                continue
            name = self._events_by_topic.get(bytes(log["topics"][0]))
            if name is None:
                continue
            decoded = self.contract.events[name]().process_log(log)
            events.append(ChainEvent(name=name, args=dict(decoded["args"])))
        return events


def _event_signature(abi: dict[str, Any]) -> str:
    def canonical(param: dict[str, Any]) -> str:
        if param["type"].startswith("tuple"):
            inner = ",".join(canonical(c) for c in param["components"])
            return f"({inner}){param['type'][5:]}"
        return param["type"]

    return f"{abi['name']}({','.join(canonical(p) for p in abi['inputs'])})"


def deploy_contract(
    w3: Web3,
    deployer: str,
    managers: list[str],
    first_committee: list[str],
    genesis_hash: bytes,
    genesis_uri: str,
    params_tuple: tuple,
) -> str:
    """Deploy the committed BFLC bytecode and return the contract address.

    Raises
    ------
    ContractRevert
        With the constructor's reason when the arguments are rejected.
    """
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    ctor = factory.constructor(managers, first_committee, genesis_hash, genesis_uri, params_tuple)
    gas = min(DEPLOY_GAS, int(w3.eth.get_block("latest")["gasLimit"]))
    tx = {"from": Web3.to_checksum_address(deployer), "gas": gas}
    # A dry run first: deployment happens once, and a node that mines a failed
    # deployment would not tell why.
    try:
        w3.eth.call({**tx, "data": ctor.build_transaction(tx)["data"]})
        tx_hash = ctor.transact(tx)
    except REVERT_ERRORS as exc:
        raise ContractRevert(revert_reason(exc), "constructor") from None
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainError("contract deployment failed", "check the deployer's balance and the block gas limit")
    return str(receipt["contractAddress"])
