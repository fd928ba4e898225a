"""A read-only, cached view of one BFLC deployment.

Every request reads the contract's state at one block, the head when the
request began, so each document is a consistent snapshot. What the contract
can no longer change is read once: the parameters, the council's address,
every round's model and committee, and the updates, votes, qualified set and
proposals of finished rounds. What can change (the current round, balances,
statuses, the managers, the council's threshold and open decisions) is read
again only when a new block arrives.

Any failure to read drops the connection and every cache; the next request
connects again, checks that the contract is there and starts afresh, so the
dashboard recovers by itself when the chain comes back (even a restarted
chain with a new history).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_abi.exceptions import DecodingError
from web3.exceptions import Web3Exception

from bflc.chain.types import Decision, ModelRecord, NodeStatus, ProtocolParams, RoundState, UpdateRecord
from bflc.chain.web3_ledger import Web3Ledger
from bflc.dashboard.events import LOG_CHUNK_BLOCKS, EventLog
from bflc.errors import ChainError
from bflc.redact import one_line, redact_text, redact_url

T = TypeVar("T")
# What reading the chain may raise when the chain, not the dashboard, is at fault.
# web3 turns an answer into Python values with json.loads, int(), bytes(), key
# and attribute lookups, so an endpoint answering garbage raises ValueError,
# TypeError, LookupError, AttributeError or ArithmeticError; the app checks its
# own inputs before it reads.
CHAIN_FAILURES = (
    requests.RequestException,
    OSError,
    Web3Exception,
    DecodingError,
    ChainError,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
)
# The most characters of an endpoint's own words quoted in an error message.
QUOTED_CHARS = 200


class Unavailable(ChainError):
    """The network cannot be read right now.

    Parameters
    ----------
    code:
        ``chain_unreachable``, ``contract_not_found`` or ``chain_error``.
    message, hint:
        What is wrong and what to do about it.
    """

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        self.code = code
        super().__init__(message, hint)


@dataclass(frozen=True)
class RoundData:
    """One round's committee and updates (with votes) and its qualified set."""

    round: int
    committee: tuple[str, ...]
    updates: tuple[UpdateRecord, ...]
    qualified: tuple[int, ...]


@dataclass(frozen=True)
class NodeAccount:
    """A node's standing in the contract."""

    status: NodeStatus
    balance: int
    escrow: int


class ChainView:
    """The dashboard's only way to the chain; see the module docstring.

    Parameters
    ----------
    connect:
        Returns a read-only ledger on the contract. It may raise (ChainError
        or a transport error) while the chain is down; it is called again on
        the next request.
    rpc:
        The node's URL. Only :func:`~bflc.redact.redact_url` of it is kept
        (as ``rpc``), for messages and the API: the URL may hold a password
        or an API key.
    address:
        The contract's address, for messages.
    deployed_block:
        The block the contract was deployed in; events are read from there.
    log_chunk_blocks:
        Blocks per ``eth_getLogs`` request.
    """

    head: int  # the block the current request reads at (-1: none read yet)

    def __init__(
        self,
        connect: Callable[[], Web3Ledger],
        *,
        rpc: str,
        address: str,
        deployed_block: int,
        log_chunk_blocks: int = LOG_CHUNK_BLOCKS,
    ) -> None:
        self.rpc = redact_url(rpc)
        self.address = address
        self.deployed_block = deployed_block
        self._connect = connect
        self._log_chunk_blocks = log_chunk_blocks
        self._lock = threading.RLock()
        self._ledger: Web3Ledger | None = None
        self._drop()

    # ------------------------------------------------------------ access

    def read(self, build: Callable[[ChainView], T]) -> T:
        """Run ``build(self)`` on a fresh head, one request at a time.

        Raises
        ------
        Unavailable
            If the chain cannot be reached, the contract is not at the address,
            or the chain answers unexpectedly.
        """
        with self._lock:
            try:
                self._refresh()
                return build(self)
            except CHAIN_FAILURES as exc:
                self._drop()
                raise self._unavailable(exc) from exc

    @property
    def ledger(self) -> Web3Ledger:
        """The read-only ledger, connected by the current :meth:`read`."""
        assert self._ledger is not None, "use ChainView.read()"
        return self._ledger

    def _refresh(self) -> None:
        if self._ledger is None:
            try:
                ledger = self._connect()
            except ChainError as exc:  # the connector says why: no answer, or another chain
                raise Unavailable("chain_unreachable", redact_text(exc.message), exc.hint and redact_text(exc.hint)) from exc
            if not ledger.w3.eth.get_code(ledger.address):
                raise Unavailable(
                    "contract_not_found",
                    f"no contract at {self.address} on {self.rpc}",
                    "check the network file's address, or whether the chain was restarted without its state",
                )
            self._ledger = ledger
            self._events = EventLog(ledger, self.deployed_block, self._log_chunk_blocks)
        head = self.ledger.block_number()
        if head < self.head:  # a new chain behind the same URL: nothing cached holds
            self._drop()
            self._refresh()
        elif head != self.head:
            self.head = head
            self._per_block.clear()
        self.ledger.w3.eth.default_block = self.head  # every read of a request sees one block

    def _drop(self) -> None:
        self._ledger = None
        self.head = -1
        self._fixed: dict[Hashable, Any] = {}
        self._per_block: dict[Hashable, Any] = {}

    def _unavailable(self, exc: Exception) -> Unavailable:
        if isinstance(exc, Unavailable):
            return exc
        # The ledger reports a transport failure as a ChainError caused by it.
        cause = exc.__cause__ if isinstance(exc, ChainError) and isinstance(exc.__cause__, Exception) else exc
        if isinstance(cause, (requests.RequestException, OSError)):
            return Unavailable(
                "chain_unreachable",
                f"cannot reach the chain at {self.rpc} ({type(cause).__name__})",
                "start the chain node, or check the rpc URL in the network file",
            )
        return Unavailable(
            "chain_error",
            f"the chain at {self.rpc} answered unexpectedly ({type(exc).__name__}: {_quoted(exc)})",
            "check the network file's rpc URL and the node",
        )

    def _cached(self, key: Hashable, fixed: bool, load: Callable[[], T]) -> T:
        cache = self._fixed if fixed else self._per_block
        if key not in cache:
            cache[key] = load()
        value: T = cache[key]
        return value

    # ------------------------------------------------------------ reads

    def params(self) -> ProtocolParams:
        """The protocol parameters, fixed at deployment."""
        return self._cached("params", True, self.ledger.params)

    def managers(self) -> list[str]:
        """The managers' addresses (the council's members; decisions change them)."""
        return self._cached("managers", False, self.ledger.managers)

    def council(self) -> str:
        """The address of the managers' council, fixed at deployment."""
        return self._cached("council", True, self.ledger.council)

    def threshold(self) -> int:
        """How many managers must approve a decision."""
        return self._cached("threshold", False, self.ledger.threshold)

    def open_decisions(self) -> list[Decision]:
        """The council's decisions neither executed nor expired, oldest first."""
        return self._cached("open_decisions", False, lambda: self.ledger.decisions(open_only=True))

    def chain_id(self) -> int:
        """The id of the chain the node is on."""
        return self._cached("chain_id", True, lambda: int(self.ledger.w3.eth.chain_id))

    def state(self) -> RoundState:
        """The current round's number, phase, start block, committee and model."""
        return self._cached("state", False, self.ledger.round_state)

    def reward_pool(self) -> int:
        """The wei left in the reward pool."""
        return self._cached("reward_pool", False, self.ledger.reward_pool)

    def events(self) -> EventLog:
        """The event log, read up to the current head."""
        self._events.sync(self.head)
        return self._events

    def model(self, round: int) -> ModelRecord:
        """G_round: set when the round starts, never changed after."""
        return self._cached(("model", round), True, lambda: self.ledger.model(round))

    def committee(self, round: int) -> tuple[str, ...]:
        """C_round: set when the round starts, never changed after."""
        return self._cached(("committee", round), True, lambda: tuple(self.ledger.committee(round)))

    def round(self, round: int) -> RoundData:
        """The round's updates, votes and qualified set (final once the round is over)."""
        return self._cached(("round", round), self._finished(round), lambda: self._load_round(round))

    def proposal(self, round: int, member: str) -> bytes:
        """The hash ``member`` proposed in ``round`` (32 zero bytes if none)."""
        by_member = self._cached(("proposals", round), self._finished(round), lambda: {a.lower(): h for a, h in self.ledger.proposals(round).items()})
        return by_member.get(member.lower(), bytes(32))

    def account(self, node: str) -> NodeAccount:
        """``node``'s admission state, balance and escrow."""
        def load() -> NodeAccount:
            return NodeAccount(self.ledger.status(node), self.ledger.balance(node), self.ledger.escrow(node))

        return self._cached(("account", node), False, load)

    def _finished(self, round: int) -> bool:
        return round < self.state().round

    def _load_round(self, round: int) -> RoundData:
        return RoundData(
            round=round,
            committee=self.committee(round),
            updates=tuple(self.ledger.round_updates(round)),
            qualified=tuple(self.ledger.qualified(round)),
        )


def _quoted(exc: Exception) -> str:
    """``exc``'s message on one line, URLs redacted, at most ``QUOTED_CHARS`` characters."""
    return one_line(str(exc), QUOTED_CHARS)
