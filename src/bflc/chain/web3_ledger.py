"""Ledger backend over web3.py: the in-process EVM and any JSON-RPC node.

Who signs a ledger's transactions is a :class:`TxSender`:

- :class:`NodeAccountSender`: the node signs for an unlocked account
  (``eth_sendTransaction``), as on the in-process chain and dev nodes;
- :class:`LocalSigner`: a private key held by this process signs locally and
  the node only relays the raw transaction (``eth_sendRawTransaction``), as
  real networks require;
- :class:`ReadOnlySender`: no key at all; every transaction is refused.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import requests
from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.types import BlockIdentifier, Wei

from bflc.chain.abi import event_signature
from bflc.chain.artifact import CONTRACT_NAME, COUNCIL_NAME, load_artifact
from bflc.chain.ledger import Ledger, TxStats, gas_limit
from bflc.chain.types import DEFAULT_DECISION_LIFETIME, ChainEvent, TxResult, majority
from bflc.errors import BflcError, ChainError, ConfigError, ContractRevert, EndpointError
from bflc.redact import one_line, redact_url

if TYPE_CHECKING:
    from eth_account.datastructures import SignedTransaction
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress
    from hexbytes import HexBytes
    from web3.contract import Contract
    from web3.types import TxParams

try:  # the in-process chain reports replayed reverts with its own exception
    from eth_tester.exceptions import TransactionFailed as _TesterFailure

    REVERT_ERRORS: tuple[type[Exception], ...] = (ContractLogicError, ContractPanicError, _TesterFailure)
except ImportError:  # pragma: no cover - eth-tester is a pinned dependency
    REVERT_ERRORS = (ContractLogicError, ContractPanicError)

# Explicit gas limits per function (estimation would double the round trips).
# The heavy ones cover the worst case of the contract's bounds; they are
# capped at the block gas limit when sent.
DEPLOY_GAS = 29_000_000
RECEIPT_TIMEOUT = 120.0
ZERO_ADDRESS = "0x" + "0" * 40

_REVERT_PREFIX = re.compile(r"^(execution reverted:?\s*)+", re.IGNORECASE)
# How nodes (geth, Besu, anvil, Nethermind) word the rejections a new signature
# with a fresh nonce cures: the nonce is used or held by a pending transaction,
# or identical bytes are pending (another sender signed the same call with the
# same nonce; sharing its transaction would turn two calls into one).
_NONCE_TAKEN = (
    "nonce too low",
    "replacement transaction underpriced",
    "replacement underpriced",
    "nonce has already been used",
    "already known",
    "already imported",
    "known transaction",
)
# Network hiccups while waiting for a receipt: keep polling until the deadline.
_TRANSIENT = (requests.ConnectionError, requests.Timeout)
# The endpoint is untrusted. What a request that got no usable answer raises
# (refused, timed out, an HTTP error status, a JSON-RPC error object) ...
_UNANSWERED: tuple[type[Exception], ...] = (OSError, ProviderConnectionError, Web3RPCError)
# ... and what decoding a malformed answer raises in web3.py, eth-abi, hexbytes
# and the ledger's own conversions (a body that is not JSON, bad hex, a missing
# field, a value of the wrong type, an enum value out of range).
_MALFORMED: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    DecodingError,
    Web3Exception,
)
_DETAIL_CHARS = 200


def revert_reason(exc: Exception) -> str:
    """The contract's revert string from a web3 exception."""
    message = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    return _REVERT_PREFIX.sub("", str(message)).strip() or "reverted without a reason"


# ---------------------------------------------------------------- senders


class TxSender(ABC):
    """Signs and sends one account's transactions and waits until they are mined."""

    address: ChecksumAddress

    @abstractmethod
    def send(self, w3: Web3, tx: dict[str, Any]) -> Any:
        """Send ``tx`` (``to``, ``data``, ``value``, ``gas``) from :attr:`address`.

        Returns
        -------
        AttributeDict
            The transaction's receipt, whatever its status.
        """

    @abstractmethod
    def for_account(self, account: str) -> TxSender:
        """A sender of the same kind for ``account``.

        Raises
        ------
        ConfigError
            If this sender cannot send as ``account``.
        """


class NodeAccountSender(TxSender):
    """The node signs (``eth_sendTransaction``): unlocked dev accounts.

    Parameters
    ----------
    address:
        An account the node holds unlocked.
    receipt_timeout:
        Seconds to wait for the receipt.
    """

    def __init__(self, address: str, receipt_timeout: float = RECEIPT_TIMEOUT) -> None:
        self.address = Web3.to_checksum_address(address)
        self.receipt_timeout = receipt_timeout

    def send(self, w3: Web3, tx: dict[str, Any]) -> Any:
        """Send ``tx`` with ``eth_sendTransaction`` and wait for its receipt.

        Raises
        ------
        ChainError
            If it is not mined within ``receipt_timeout``.
        """
        tx_hash = w3.eth.send_transaction(cast("TxParams", {**tx, "from": self.address}))
        try:
            return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        except TimeExhausted:
            raise _not_mined(bytes(tx_hash), self.address, self.receipt_timeout) from None

    def for_account(self, account: str) -> NodeAccountSender:
        """A node-signed sender for the unlocked ``account``."""
        return NodeAccountSender(account, self.receipt_timeout)


class ReadOnlySender(TxSender):
    """No key: views work, every transaction raises ConfigError.

    Parameters
    ----------
    address:
        The default account of views such as ``Ledger.status()``.
    """

    def __init__(self, address: str = ZERO_ADDRESS) -> None:
        self.address = Web3.to_checksum_address(address)

    def send(self, w3: Web3, tx: dict[str, Any]) -> Any:
        """Refuse: a read-only connection sends nothing.

        Raises
        ------
        ConfigError
            Always.
        """
        raise ConfigError(
            "this connection is read-only: it has no key to sign transactions with",
            "connect with a key file (--key-file) to send transactions",
        )

    def for_account(self, account: str) -> ReadOnlySender:
        """A read-only sender whose views default to ``account``."""
        return ReadOnlySender(account)


class _NonceTakenError(Exception):
    """Another transaction holds (or took) the nonce this one was signed with."""


class LocalSigner(TxSender):
    """Signs with a private key held by this process; the node relays raw bytes.

    The nonce is the account's ``pending`` transaction count at the moment of
    signing: the chain is the source of truth, so a restarted process or a
    second process with the same key picks up where the chain stands. A send
    that loses its nonce to another transaction (or finds identical bytes from
    another sender pending) is signed again with a fresh one; a transaction that vanishes from the node's pool while waiting is
    sent again as the same signed bytes.

    Parameters
    ----------
    account:
        The local key (``eth_account`` ``LocalAccount``).
    receipt_timeout:
        Seconds to wait for each transaction to be mined.
    poll_interval:
        Seconds between receipt polls.
    max_attempts:
        Signatures tried when the nonce keeps being taken.
    """

    def __init__(
        self,
        account: LocalAccount,
        *,
        receipt_timeout: float = RECEIPT_TIMEOUT,
        poll_interval: float = 0.25,
        max_attempts: int = 5,
    ) -> None:
        self.key = account
        self.address = Web3.to_checksum_address(account.address)
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts

    def for_account(self, account: str) -> LocalSigner:
        """The signer itself, which can only send as its own address.

        Raises
        ------
        ConfigError
            If ``account`` is not the key's address.
        """
        if Web3.to_checksum_address(account) != self.address:
            raise ConfigError(
                f"this connection signs with the key of {self.address}; it cannot send as {account}",
                "connect again with that account's key file",
            )
        return self

    def send(self, w3: Web3, tx: dict[str, Any]) -> Any:
        """Sign ``tx``, broadcast it and wait for its receipt, signing again while its nonce is taken.

        Raises
        ------
        ChainError
            If the nonce is taken ``max_attempts`` times in a row, the node
            rejects the transaction, or it is not mined in time.
        """
        signed = None
        for attempt in range(self.max_attempts):
            signed = self.sign(w3, tx)
            try:
                self.broadcast(w3, signed)
                return self.wait(w3, signed)
            except _NonceTakenError:
                time.sleep(self.poll_interval * attempt)
        assert signed is not None, "max_attempts must be at least 1"
        raise ChainError(
            f"transaction 0x{bytes(signed.hash).hex()} from {self.address} lost its nonce to other "
            f"transactions {self.max_attempts} times in a row",
            "another process is sending with the same key; stop it or try again later",
        )

    def sign(self, w3: Web3, tx: dict[str, Any]) -> SignedTransaction:
        """Sign ``tx`` with the account's pending nonce, the chain id and current fees."""
        nonce = w3.eth.get_transaction_count(self.address, "pending")
        return self.key.sign_transaction({**tx, **_fees(w3), "chainId": w3.eth.chain_id, "nonce": nonce})

    def broadcast(self, w3: Web3, signed: SignedTransaction) -> None:
        """Hand the signed bytes to the node.

        Raises
        ------
        _NonceTakenError
            If another transaction holds the nonce, or the same bytes are
            already pending.
        ChainError
            If the node rejects the transaction for any other reason.
        """
        try:
            w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            message = _rpc_message(exc)
            if any(text in message for text in _NONCE_TAKEN):
                raise _NonceTakenError(message) from None
            raise ChainError(
                f"the node rejected transaction 0x{bytes(signed.hash).hex()} from {self.address}: {message}",
                "check the account's native balance and the chain's fee settings",
            ) from None

    def wait(self, w3: Web3, signed: SignedTransaction) -> Any:
        """Poll for the receipt of a broadcast transaction until ``receipt_timeout``.

        Raises
        ------
        _NonceTakenError
            If the transaction left the pool and another one took its nonce.
        ChainError
            If it is not mined in time (it may still be mined later).
        """
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            try:
                receipt = self._receipt_or_resend(w3, signed)
            except _TRANSIENT:
                receipt = None
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise _not_mined(bytes(signed.hash), self.address, self.receipt_timeout)
            time.sleep(self.poll_interval)

    def _receipt_or_resend(self, w3: Web3, signed: SignedTransaction) -> Any:
        receipt = _receipt_or_none(w3, signed.hash)
        if receipt is not None or _is_known(w3, signed.hash):
            return receipt
        try:  # dropped from the pool: the same signed bytes, so it can only run once
            self.broadcast(w3, signed)
        except _NonceTakenError:
            # Mined or back in the pool between the questions, or its nonce is gone.
            receipt = _receipt_or_none(w3, signed.hash)
            if receipt is None and not _is_known(w3, signed.hash):
                raise
        return receipt


def make_sender(account: str | None, signer: LocalAccount | None, receipt_timeout: float = RECEIPT_TIMEOUT) -> TxSender:
    """The sender for a ledger.

    Local signing with ``signer``, else the node's unlocked ``account``, else
    read-only.

    Raises
    ------
    ConfigError
        If both are given and ``account`` is not the signer's address.
    """
    if signer is None:
        return NodeAccountSender(account, receipt_timeout) if account else ReadOnlySender()
    sender = LocalSigner(signer, receipt_timeout=receipt_timeout)
    return sender if account is None else sender.for_account(account)


def _fees(w3: Web3) -> dict[str, int]:
    """EIP-1559 fees where the chain has a base fee, else a legacy gas price."""
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": int(w3.eth.gas_price)}
    tip = int(w3.eth.max_priority_fee)
    return {"maxFeePerGas": 2 * int(base_fee) + tip, "maxPriorityFeePerGas": tip}


def _rpc_message(exc: Web3RPCError) -> str:
    error = (exc.rpc_response or {}).get("error") if isinstance(exc.rpc_response, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or exc).lower().replace("_", " ")


def _receipt_or_none(w3: Web3, tx_hash: HexBytes) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


def _is_known(w3: Web3, tx_hash: HexBytes) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)
    except TransactionNotFound:
        return False
    return True


def _describe(error: Exception) -> str:
    """One redacted line about ``error``; a transport error's text (which quotes the URL's path) is left out."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code}"
    if isinstance(error, OSError):
        return type(error).__name__
    text = one_line(str(error), _DETAIL_CHARS)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


F = TypeVar("F", bound=Callable[..., Any])


def _answered(method: F) -> F:
    """``method`` of a Web3Ledger, with every failure of the endpoint turned into a ChainError.

    bflc's own errors (reverts, ``ChainError`` from a sender) pass unchanged.
    """

    @functools.wraps(method)
    def guarded(self: Web3Ledger, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except BflcError:
            raise
        except _UNANSWERED as error:
            raise ChainError(
                f"the chain endpoint did not answer: {_describe(error)} (to {method.__name__} at {self.endpoint})",
                "check that the RPC node is running and reachable; the daemon retries",
            ) from error
        except _MALFORMED as error:
            raise EndpointError(
                f"the chain endpoint answered malformed data: {_describe(error)} (to {method.__name__} at {self.endpoint})",
                "check the RPC node and anything between it and this machine; the daemon retries",
            ) from error

    return cast("F", guarded)


L = TypeVar("L", bound=type[Ledger])


def _guard_endpoint(cls: L) -> L:
    """Route every public method of the Ledger interface through :func:`_answered`: the one place an answer is trusted.

    A failure is named after the outermost such method that saw it.
    """
    for name, member in vars(Ledger).items():
        if inspect.isfunction(member) and not name.startswith("_"):
            setattr(cls, name, _answered(getattr(cls, name)))
    return cls


def _not_mined(tx_hash: bytes, sender: str, timeout: float) -> ChainError:
    return ChainError(
        f"transaction 0x{tx_hash.hex()} from {sender} was not mined within {timeout:g} s",
        "it may still be mined: look it up before sending again, and check that the chain produces blocks",
    )


# ---------------------------------------------------------------- ledger


@_guard_endpoint
class Web3Ledger(Ledger):
    """A BFLC contract reached through a ``web3.Web3`` instance.

    The endpoint is not trusted: every method of the Ledger interface raises
    :class:`~bflc.errors.EndpointError` for an answer it cannot decode (and
    ``ChainError`` for none at all) instead of whatever web3.py or a decoder
    raised.

    Parameters
    ----------
    w3:
        Connected web3 instance.
    address:
        The deployed contract's address.
    account:
        The account transactions are sent from. Without ``signer`` it must be
        unlocked on the node (the in-process chain and dev nodes); with
        ``signer`` it may be omitted and must be the signer's address.
    stats:
        Shared transaction statistics (created when omitted).
    signer:
        A local private key that signs every transaction (real networks).
        With neither ``account`` nor ``signer`` the ledger is read-only.
    receipt_timeout:
        Seconds to wait for a transaction to be mined.
    dry_run_first:
        Try every transaction as a call first and send it only if it would
        succeed, so that one that would revert costs no gas (an operator's
        command; a node daemon skips the extra request).

    Raises
    ------
    ConfigError
        If ``account`` and ``signer`` disagree.
    """

    address: ChecksumAddress  # the contract's

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: str | None = None,
        stats: TxStats | None = None,
        *,
        signer: LocalAccount | None = None,
        receipt_timeout: float = RECEIPT_TIMEOUT,
        dry_run_first: bool = False,
    ) -> None:
        self.w3 = w3
        self.dry_run_first = dry_run_first
        uri = getattr(w3.provider, "endpoint_uri", None)
        self.endpoint = redact_url(str(uri)) if uri else type(w3.provider).__name__  # as messages name it
        self.address = Web3.to_checksum_address(address)
        self.sender = make_sender(account, signer, receipt_timeout)
        self.account = self.sender.address
        self.stats = stats or TxStats()
        self.contract = w3.eth.contract(address=self.address, abi=load_artifact()["abi"])
        self._council: Contract | None = None
        self._block_gas_limit = self._latest_gas_limit()
        self._events_by_topic = {
            (name, bytes(Web3.keccak(text=event_signature(abi)))): abi["name"]
            for name in (CONTRACT_NAME, COUNCIL_NAME)
            for abi in load_artifact(name)["abi"]
            if abi["type"] == "event"
        }

    @property
    def read_only(self) -> bool:
        """Whether this ledger has no way to sign transactions."""
        return isinstance(self.sender, ReadOnlySender)

    def as_account(self, account: str) -> Web3Ledger:
        """The same connection sending from ``account``.

        Another unlocked account, or the signer's own address (ConfigError for
        any other).
        """
        clone = object.__new__(Web3Ledger)
        clone.__dict__.update(self.__dict__)
        clone.sender = self.sender.for_account(account)
        clone.account = clone.sender.address
        return clone

    def block_number(self) -> int:
        """The latest block number."""
        return int(self.w3.eth.block_number)

    def pending_transactions(self) -> int:
        """Transactions of this account broadcast but not yet mined (``pending`` minus ``latest`` nonce)."""
        pending = int(self.w3.eth.get_transaction_count(self.sender.address, "pending"))
        mined = int(self.w3.eth.get_transaction_count(self.sender.address, "latest"))
        return max(0, pending - mined)

    @_answered
    def _latest_gas_limit(self) -> int:
        return int(self.w3.eth.get_block("latest")["gasLimit"])

    def _handle(self, contract: str) -> Contract:
        """The web3 contract object of ``contract`` (BFLC, or its council, looked up once)."""
        if contract == CONTRACT_NAME:
            return self.contract
        if self._council is None:
            self._council = self.w3.eth.contract(address=Web3.to_checksum_address(self.council()), abi=load_artifact(COUNCIL_NAME)["abi"])
        return self._council

    def _call(self, function: str, *args: Any, contract: str = CONTRACT_NAME) -> Any:
        try:
            # A named sender: without one eth-tester guesses one, checksumming
            # every account on each call (no view reads the sender).
            return self._handle(contract).functions[function](*args).call({"from": self.account})
        except REVERT_ERRORS as exc:
            raise ContractRevert(revert_reason(exc), function) from None

    def _transact(self, function: str, *args: Any, value: int = 0, contract: str = CONTRACT_NAME, gas: int | None = None) -> TxResult:
        gas = min(gas or gas_limit(function), self._block_gas_limit)
        handle = self._handle(contract)
        data = handle.encode_abi(function, args=list(args))
        if self.dry_run_first and (reason := self._revert_reason(handle, function, args, gas, value, "latest")) is not None:
            raise ContractRevert(reason, function)
        try:
            receipt = self.sender.send(self.w3, {"to": handle.address, "data": data, "gas": gas, "value": value})
        except REVERT_ERRORS as exc:
            raise ContractRevert(revert_reason(exc), function) from None
        if receipt["status"] != 1:
            raise ContractRevert(self._replay_reason(handle, function, args, gas, value, receipt), function)
        self.stats.record(function, int(receipt["gasUsed"]))
        return TxResult(
            tx_hash=bytes(receipt["transactionHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            block=int(receipt["blockNumber"]),
            events=tuple(self._decode_events(receipt)),
        )

    def _round_events(self, name: str, round: int, from_block: int) -> list[ChainEvent]:
        return self._events(CONTRACT_NAME, name, {"round": round}, from_block)

    def _events(self, contract: str, name: str, filters: dict[str, Any], from_block: int, to_block: int | None = None) -> list[ChainEvent]:
        event = self._handle(contract).events[name]()
        logs = event.get_logs(argument_filters=filters, from_block=from_block, to_block=to_block if to_block is not None else "latest")
        return [ChainEvent(name=name, args=dict(log["args"])) for log in logs]

    def _replay_reason(self, handle: Contract, function: str, args: tuple[Any, ...], gas: int, value: int, receipt: Any) -> str:
        # Nodes that mine failed transactions report no reason; replaying the
        # call on the parent block recovers it.
        reason = self._revert_reason(handle, function, args, gas, value, receipt["blockNumber"] - 1)
        if reason is not None:
            return reason
        if int(receipt["gasUsed"]) >= gas:
            return f"out of gas (limit {gas})"
        return "reverted without a reason"

    def _revert_reason(
        self, handle: Contract, function: str, args: tuple[Any, ...], gas: int, value: int, block: BlockIdentifier
    ) -> str | None:
        """Why the transaction would revert as a call on ``block``, or ``None`` if it would not."""
        tx: TxParams = {"from": self.account, "gas": gas, "value": Wei(value)}
        try:
            handle.functions[function](*args).call(tx, block_identifier=block)
        except REVERT_ERRORS as exc:
            return revert_reason(exc)
        return None

    def _decode_events(self, receipt: Any) -> list[ChainEvent]:
        """Both contracts' events in ``receipt``, in log order (a decision's call emits the BFLC contract's)."""
        events = []
        for log in receipt["logs"]:
            if not log["topics"]:
                continue
            address = Web3.to_checksum_address(log["address"])
            contract = CONTRACT_NAME if address == self.address else COUNCIL_NAME
            if contract == COUNCIL_NAME and address != self._handle(COUNCIL_NAME).address:
                continue
            name = self._events_by_topic.get((contract, bytes(log["topics"][0])))
            if name is None:
                continue
            decoded = self._handle(contract).events[name]().process_log(log)
            events.append(ChainEvent(name=name, args=dict(decoded["args"])))
        return events


# ---------------------------------------------------------------- deployment


@dataclass(frozen=True)
class Deployment:
    """A mined BFLC deployment: the contract's and its council's addresses, the block, and the contract's transaction hash.

    The hash is hex without ``0x``, as in :class:`~bflc.chain.types.TxResult`.
    """

    address: str
    council: str
    block: int
    tx_hash: str


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract that ``sender`` creates with transaction ``nonce`` (CREATE).

    >>> create_address("0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0", 0)
    '0xcd234A471b72ba2F1Ccf0A70FCABA648a5eeCD8d'
    """
    # keccak of the RLP list [sender, nonce]: a 20-byte string, then the
    # nonce as a minimal big-endian string (a single byte below 0x80 is itself).
    raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
    encoded_nonce = raw if len(raw) == 1 and raw[0] < 0x80 else bytes([0x80 + len(raw)]) + raw
    payload = bytes([0x80 + 20]) + bytes.fromhex(sender[2:]) + encoded_nonce
    return Web3.to_checksum_address(Web3.keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


def deploy(
    w3: Web3,
    sender: TxSender,
    managers: list[str],
    first_committee: list[str],
    genesis_hash: bytes,
    genesis_uri: str,
    params_tuple: tuple[Any, ...],
    threshold: int | None = None,
    decision_lifetime: int = DEFAULT_DECISION_LIFETIME,
) -> Deployment:
    """Deploy the committed Council and BFLC bytecode from ``sender``'s account, in two transactions.

    The council (``managers``, ``threshold``: by default a majority) comes
    first, naming the address the BFLC contract will have (the sender's next
    nonce); the BFLC contract checks that it does. Managers are its
    founders, admitted without a fee. Each deployment is dry run first
    (``eth_call``): deployment happens once, and a node that mines a failed
    deployment would not tell why.

    Raises
    ------
    ContractRevert
        With the constructor's reason when the arguments are rejected.
    ChainError
        If a deployment is mined but fails, or is not mined in time.
    """
    nonce = int(w3.eth.get_transaction_count(Web3.to_checksum_address(sender.address), "pending"))
    target = create_address(sender.address, nonce + 1)
    council_args = (target, managers, majority(len(managers)) if threshold is None else threshold, decision_lifetime)
    council, _ = _deploy_one(w3, sender, COUNCIL_NAME, council_args)
    address, receipt = _deploy_one(w3, sender, CONTRACT_NAME, (council, managers, first_committee, genesis_hash, genesis_uri, params_tuple))
    if address != target:
        raise ChainError(
            f"the contract was deployed at {address}, not at {target} where its council expects it",
            "deploy again, sending nothing else from the deployer meanwhile",
        )
    return Deployment(address=address, council=council, block=int(receipt["blockNumber"]), tx_hash=bytes(receipt["transactionHash"]).hex())


def _deploy_one(w3: Web3, sender: TxSender, name: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """Deploy contract ``name`` with constructor ``args``; its address and receipt."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    ctor = factory.constructor(*args)
    gas = min(DEPLOY_GAS, int(w3.eth.get_block("latest")["gasLimit"]))
    tx = {"data": ctor.build_transaction({"from": sender.address, "gas": gas})["data"], "gas": gas, "value": 0}
    try:
        w3.eth.call(cast("TxParams", {**tx, "from": sender.address}))
        receipt = sender.send(w3, tx)
    except REVERT_ERRORS as exc:
        raise ContractRevert(revert_reason(exc), f"{name} constructor") from None
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainError(f"{name} contract deployment failed", "check the deployer's balance and the block gas limit")
    return Web3.to_checksum_address(receipt["contractAddress"]), receipt


def deploy_contract(
    w3: Web3,
    deployer: str,
    managers: list[str],
    first_committee: list[str],
    genesis_hash: bytes,
    genesis_uri: str,
    params_tuple: tuple[Any, ...],
    threshold: int | None = None,
) -> str:
    """Deploy from the node's unlocked account ``deployer``; return the BFLC contract's address (see :func:`deploy`)."""
    sender = NodeAccountSender(deployer)
    return deploy(w3, sender, managers, first_committee, genesis_hash, genesis_uri, params_tuple, threshold).address
