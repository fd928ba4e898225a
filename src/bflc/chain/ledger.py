"""The ``Ledger`` interface: everything above the chain talks to this class.

A backend implements four primitives (``_call``, ``_transact``,
``block_number`` and ``as_account``), and ``pending_transactions`` where
transactions can wait in a pool; every protocol operation is written
once here on top of them, so the in-process chain and a JSON-RPC node behave
the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bflc.chain.artifact import CONTRACT_NAME, COUNCIL_NAME
from bflc.chain.types import (
    MAX_NODES_PER_DECISION,
    VOTES_PER_WORD,
    ChainEvent,
    Decision,
    ModelOrigin,
    ModelRecord,
    NodeStatus,
    Phase,
    ProtocolParams,
    RoundState,
    TxResult,
    UpdateRecord,
    decode_votes,
    encode_votes,
    vote_words,
)
from bflc.errors import ChainError, ConfigError, ContractRevert
from bflc.protocol import is_quorum, lower_median

# Gas limits the client sends with: the heavy functions' worst cases, inside
# a 30M block; everything else fits the default.
GAS_LIMITS = {
    "submit_scores": 25_000_000,
    "close_phase": 25_000_000,
    # The accepting proposal pays up to K + M, elects and seats the next committee.
    "propose_model": 29_000_000,
    "replace_committee": 20_000_000,
    "reelect_committee": 20_000_000,
    "failback": 20_000_000,
    "admit": 5_000_000,
    "attest_factors": 5_000_000,
}
DEFAULT_GAS = 500_000
# What a council decision adds to its call: the proposal (its calldata in an
# event, a stored hash) and the approvals counted over at most 16 managers.
DECISION_GAS = 800_000


def gas_limit(function: str) -> int:
    """The gas limit the client sends ``function`` with (before capping it at the block's)."""
    return GAS_LIMITS.get(function, DEFAULT_GAS)


# Gas the client plans for per transaction of a scoring close: inside the
# 25M it sends with and a 30M block.
TX_GAS_BUDGET = 24_000_000
# Worst-case gas, measured by tests/chain/test_gas_model.py: a vote word
# (eleven votes) written to a fresh storage slot, with its calldata; a
# scoring close: per update examined (its verdict, event and claim) and per
# vote counted against the claim, and each member's vote word read cold once
# per eleven updates; ranking and qualifying K final updates (a heapsort, and
# each provider's record and status). A member's votes on a whole round (at
# most 30 words) take under 1M gas, so they go in one transaction.
VOTE_WORD_GAS = 30_000
CLOSE_GAS_PER_UPDATE = 30_000
CLOSE_GAS_PER_VOTE = 450
CLOSE_GAS_PER_WORD = 2_300
QUALIFY_GAS = 100_000
QUALIFY_GAS_PER_UPDATE = 20_000


def close_gas(committee_size: int, num_examined: int) -> int:
    """Upper bound on the gas of a scoring close that examines ``num_examined`` updates (checking their claimed medians)."""
    groups = num_examined // VOTES_PER_WORD + 2  # vote words a run of updates can touch, per member
    return num_examined * (CLOSE_GAS_PER_UPDATE + CLOSE_GAS_PER_VOTE * committee_size) + groups * committee_size * CLOSE_GAS_PER_WORD


def qualify_gas(num_updates: int) -> int:
    """Upper bound on the gas of ranking and qualifying ``num_updates`` final updates."""
    return QUALIFY_GAS + QUALIFY_GAS_PER_UPDATE * num_updates


def close_batch_size(committee_size: int, num_updates: int, num_left: int, budget: int = TX_GAS_BUDGET) -> int:
    """How many of the ``num_left`` updates still to examine the next scoring close examines.

    Each close fits ``budget`` in the worst case; the one that examines the
    last updates also ranks and qualifies all ``num_updates``, so it is left
    with fewer.

    Raises
    ------
    ChainError
        If the last close cannot fit even one update next to the ranking.
    """

    def most(room: int) -> int:
        return max((n for n in range(1, num_left + 1) if close_gas(committee_size, n) <= room), default=0)

    last = most(budget - qualify_gas(num_updates))
    if last < 1:
        raise ChainError(f"closing a round of {num_updates} updates and a committee of {committee_size} may exceed {budget} gas", "use a smaller committee or round")
    if num_left <= last:
        return num_left
    return min(max(1, most(budget)), num_left - last)


def _check_batch(count: int, what: str) -> None:
    if not 1 <= count <= MAX_NODES_PER_DECISION:
        raise ConfigError(f"{count} {what} in one decision", f"give between 1 and {MAX_NODES_PER_DECISION}; split a longer list into several decisions")


def claimed_medians(votes: list[list[int | None]], committee_size: int) -> list[int]:
    """What a scoring close claims for each update: its lower median, or 0 without a quorum.

    >>> claimed_medians([[5, 1, 3], [7, None, None]], 3)
    [3, 0]
    """
    claims = []
    for scores in votes:
        cast = [s for s in scores if s is not None]
        claims.append(lower_median(cast) if is_quorum(len(cast), committee_size) else 0)
    return claims


@dataclass
class TxStats:
    """Transactions and gas spent through one connection, by function."""

    transactions: int = 0
    gas_used: int = 0
    by_function: Counter[str] = field(default_factory=Counter)
    gas_by_function: Counter[str] = field(default_factory=Counter)

    def record(self, function: str, gas_used: int) -> None:
        """Count one mined transaction of ``function`` and the gas it used."""
        self.transactions += 1
        self.gas_used += gas_used
        self.by_function[function] += 1
        self.gas_by_function[function] += gas_used


class Ledger(ABC):
    """One account's view of a deployed BFLC contract.

    Transactions are sent from ``self.account``; use :meth:`as_account` for
    another account on the same connection.
    """

    address: str  # the contract's
    account: str
    stats: TxStats
    # Managers on this connection who approve every decision this ledger
    # proposes (:meth:`decide`): set where one process holds every manager's
    # key (the simulator, tests, a local cluster); empty on a real network.
    co_managers: tuple[str, ...] = ()

    # ------------------------------------------------------------ primitives

    @abstractmethod
    def _call(self, function: str, *args: Any, contract: str = CONTRACT_NAME) -> Any:
        """Run a view function of ``contract`` (BFLC or its Council) and return its decoded result."""

    @abstractmethod
    def _transact(self, function: str, *args: Any, value: int = 0, contract: str = CONTRACT_NAME, gas: int | None = None) -> TxResult:
        """Send a transaction to ``contract`` (``gas``: else the function's limit), wait for it, raise ContractRevert on revert.

        The result's events are both contracts' events in the receipt.
        """

    @abstractmethod
    def _events(self, contract: str, name: str, filters: dict[str, Any], from_block: int, to_block: int | None = None) -> list[ChainEvent]:
        """The events ``name`` of ``contract`` whose indexed arguments match ``filters``, in chain order."""

    @abstractmethod
    def _round_events(self, name: str, round: int, from_block: int) -> list[ChainEvent]:
        """The contract's ``name`` events of ``round`` (their indexed ``round``), mined from ``from_block`` on, in chain order."""

    @abstractmethod
    def block_number(self) -> int:
        """The latest block number."""

    @abstractmethod
    def as_account(self, account: str) -> Ledger:
        """The same contract and connection, sending from ``account``."""

    def pending_transactions(self) -> int:
        """How many transactions of this account were broadcast but are not mined yet.

        A node daemon sends nothing while one is pending: resending could
        only revert or double-spend. Backends that mine every transaction as
        it is sent (the in-process chains) have none.
        """
        return 0

    # ------------------------------------------------------------ views

    def params(self) -> ProtocolParams:
        """The protocol parameters fixed at deployment."""
        return ProtocolParams.from_contract(tuple(self._call("params")))

    def council(self) -> str:
        """The address of the managers' council, the only governance caller of the contract."""
        return str(self._call("council"))

    def contract_address(self, contract: str) -> str:
        """The address of ``contract``: ``BFLC`` (this ledger's) or ``Council``."""
        if contract == CONTRACT_NAME:
            return self.address
        if contract == COUNCIL_NAME:
            return self.council()
        raise ConfigError(f"no contract called {contract!r}", f"use {CONTRACT_NAME} or {COUNCIL_NAME}")

    def managers(self) -> list[str]:
        """The managers' addresses (the council's members)."""
        return list(self._call("get_managers", contract=COUNCIL_NAME))

    def threshold(self) -> int:
        """How many managers must approve a decision."""
        return int(self._call("threshold", contract=COUNCIL_NAME))

    def decision_lifetime(self) -> int:
        """Blocks a decision stays open after it is proposed."""
        return int(self._call("lifetime_blocks", contract=COUNCIL_NAME))

    def current_round(self) -> int:
        """The number of the current round."""
        return int(self._call("current_round"))

    def phase(self) -> Phase:
        """The phase of the current round."""
        return Phase(self._call("phase"))

    def status(self, node: str | None = None) -> NodeStatus:
        """The admission state of ``node`` (default: this account)."""
        return NodeStatus(self._call("status", node or self.account))

    def balance(self, node: str | None = None) -> int:
        """The withdrawable balance of ``node`` in wei (default: this account)."""
        return int(self._call("balances", node or self.account))

    def escrow(self, node: str | None = None) -> int:
        """The application fee ``node`` holds in escrow, in wei (default: this account)."""
        return int(self._call("escrow", node or self.account))

    def factor(self, node: str | None = None) -> int:
        """The factor ``node`` declared for multi-factor election, fixed point like scores (default: this account)."""
        return int(self._call("factor", node or self.account))

    def reward_pool(self) -> int:
        """The wei left in the reward pool."""
        return int(self._call("reward_pool"))

    def committee(self, round: int) -> list[str]:
        """The committee of ``round``."""
        return list(self._call("get_committee", round))

    def is_committee_member(self, round: int, node: str | None = None) -> bool:
        """Whether ``node`` (default: this account) is on the committee of ``round``."""
        wanted = (node or self.account).lower()
        return any(member.lower() == wanted for member in self.committee(round))

    def has_submitted(self, round: int, node: str | None = None) -> bool:
        """Whether ``node`` (default: this account) has revealed an update in ``round``."""
        return bool(self._call("has_submitted", round, node or self.account))

    def commitment(self, round: int, node: str | None = None) -> bytes:
        """The commitment ``node`` (default: this account) made in ``round``; zero bytes if none."""
        return bytes(self._call("commitment", round, node or self.account))

    def blob_used(self, blob_hash: bytes) -> bool:
        """Whether ``blob_hash`` was already revealed as an update or accepted as a model (it cannot be used again)."""
        return bool(self._call("blob_used", blob_hash))

    def entropy(self, round: int) -> int:
        """The shared randomness of ``round``: the XOR of its revealed salts."""
        return int(self._call("entropy", round))

    def model(self, round: int) -> ModelRecord:
        """The global model of ``round``."""
        blob_hash, uri, block, origin = self._call("get_model", round)
        return ModelRecord(round=round, blob_hash=bytes(blob_hash), uri=uri, block=block, origin=ModelOrigin(origin))

    def model_history(self) -> list[ModelRecord]:
        """The global model of every round from genesis to the current one."""
        return [self.model(r) for r in range(self.current_round() + 1)]

    def round_state(self) -> RoundState:
        """The current round: its phase, start block, final updates, committee and model."""
        r = self.current_round()
        return RoundState(
            round=r,
            phase=self.phase(),
            start_block=int(self._call("round_start_block")),
            phase_start_block=int(self._call("phase_start_block")),
            num_commits=int(self._call("num_commits")),
            num_final=int(self._call("num_final")),
            committee=tuple(self.committee(r)),
            model=self.model(r),
        )

    def update(self, update_id: int, with_votes: bool = True) -> UpdateRecord:
        """One update with its median and verdict, and with ``with_votes`` its votes.

        Without votes (one call instead of three) ``num_votes`` is the count
        the scoring close recorded: 0 before scoring closes.
        """
        raw = self._call("get_update", update_id)
        if not with_votes:
            return self._update_record(update_id, raw, None, ())
        ids, committee = self.round_update_ids(raw[0]), self.committee(raw[0])
        return self._update_record(update_id, raw, self._votes(raw[0], len(ids), committee)[update_id - ids[0]], committee)

    def round_update_ids(self, round: int) -> list[int]:
        """The ids of the updates of ``round`` in submission order (consecutive)."""
        first, count = self._call("round_updates", round)
        return list(range(first, first + count))

    def votes(self, round: int) -> list[list[int | None]]:
        """Every vote of ``round``: ``votes[u][j]`` is member ``j``'s score of the round's ``u``-th update (``None``: no vote)."""
        return self._votes(round, len(self.round_update_ids(round)), self.committee(round))

    def _votes(self, round: int, num_updates: int, committee: Sequence[str]) -> list[list[int | None]]:
        """The contract keeps the current round's votes; earlier rounds' are read from their ScoresSubmitted events."""
        try:
            words = [int(w) for w in self._call("get_vote_words", round)]
        except ContractRevert:
            words = self._past_vote_words(round, num_updates, committee)
        return decode_votes(words, len(committee), num_updates)

    def _past_vote_words(self, round: int, num_updates: int, committee: Sequence[str]) -> list[int]:
        """A past round's vote words, as get_vote_words gave them, rebuilt from the votes its members sent."""
        seats = {member.lower(): j for j, member in enumerate(committee)}
        per_member = vote_words(num_updates)
        words = [0] * (len(committee) * per_member)
        for event in self._round_events("ScoresSubmitted", round, self.model(round).block):
            seat = seats.get(str(event.args["member"]).lower())
            if seat is None:
                continue
            for i, word in enumerate(event.args["words"]):
                words[seat * per_member + int(event.args["first_word"]) + i] |= int(word)
        return words

    def round_updates(self, round: int, with_votes: bool = True) -> list[UpdateRecord]:
        """Every update of ``round`` in submission order, with live vote counts (four calls)."""
        ids = self.round_update_ids(round)
        if not ids:
            return []
        raws = self._call("get_round_update_records", round)
        committee = self.committee(round)
        votes = self._votes(round, len(ids), committee)
        voters = committee if with_votes else ()
        # Not strict: an update submitted between the calls only lengthens ``raws``.
        return [self._update_record(uid, raw, scores, voters) for uid, raw, scores in zip(ids, raws, votes, strict=False)]

    def _update_record(self, update_id: int, raw: Any, votes: list[int | None] | None, committee: Sequence[str]) -> UpdateRecord:
        """``votes`` in committee order (``None``: the recorded count stands); voters named only when ``committee`` is given."""
        cast = [(j, s) for j, s in enumerate(votes or []) if s is not None]
        voters: tuple[str, ...] = ()
        scores: tuple[int, ...] = ()
        if committee and cast:
            voters, scores = tuple(committee[j] for j, _ in cast), tuple(s for _, s in cast)
        return UpdateRecord(
            update_id=update_id,
            round=raw[0],
            provider=raw[1],
            blob_hash=bytes(raw[2]),
            n_samples=raw[3],
            num_votes=raw[4] if votes is None else len(cast),
            median=raw[5],
            final=raw[6],
            qualified=raw[7],
            voters=voters,
            scores=scores,
        )

    def qualified(self, round: int) -> list[int]:
        """The ids of the qualified updates of ``round``, best median first."""
        return list(self._call("get_qualified", round))

    def proposals(self, round: int) -> dict[str, bytes]:
        """The model hash each member who proposed in ``round`` proposed, by checksummed address (from the ModelProposed events)."""
        return {str(e.args["member"]): bytes(e.args["blob_hash"]) for e in self._round_events("ModelProposed", round, self.model(round).block)}

    def proposal(self, round: int, member: str | None = None) -> bytes:
        """The model hash ``member`` (default: this account) proposed in ``round``; zero bytes if none."""
        wanted = (member or self.account).lower()
        return next((h for a, h in self.proposals(round).items() if a.lower() == wanted), bytes(32))

    def proposal_count(self, round: int, blob_hash: bytes) -> int:
        """How many committee members proposed ``blob_hash`` in ``round``."""
        return int(self._call("proposal_count", round, blob_hash))

    # ------------------------------------------------------------ admission

    def apply(self, fee: int) -> TxResult:
        """Ask to join, paying the permission ``fee`` into escrow."""
        return self._transact("apply", value=fee)

    def withdraw_application(self) -> TxResult:
        """Take back an application not yet admitted; the fee is credited to the balance."""
        return self._transact("withdraw_application")

    def admit(self, *nodes: str) -> TxResult:
        """Decide to admit ``nodes``, at most 64 (:meth:`decide`); each fee is shared among the managers."""
        _check_batch(len(nodes), "nodes to admit")
        return self.decide("admit", list(nodes))

    def blacklist(self, node: str) -> TxResult:
        """Decide to blacklist ``node`` (:meth:`decide`): it can no longer submit, vote or be elected."""
        return self.decide("blacklist", node)

    def leave(self) -> TxResult:
        """Leave the network; the node can rejoin without paying the fee again."""
        return self._transact("leave")

    def rejoin(self) -> TxResult:
        """Come back after leaving."""
        return self._transact("rejoin")

    def attest_factors(self, factors: dict[str, int]) -> TxResult:
        """Decide the extra factor of multi-factor election of each node, at most 64 (:meth:`decide`; fixed-point like scores)."""
        _check_batch(len(factors), "factors to attest")
        return self.decide("attest_factors", list(factors), list(factors.values()))

    def fund(self, amount: int) -> TxResult:
        """Add ``amount`` wei to the reward pool."""
        return self._transact("fund", value=amount)

    def withdraw(self, recipient: str | None = None) -> TxResult:
        """Withdraw this account's whole balance (fees, rewards, refunds) to ``recipient``, by default the account itself."""
        return self._transact("withdraw", recipient or self.account)

    # ------------------------------------------------------------ rounds

    def commit_update(self, round: int, commitment: bytes) -> TxResult:
        """Commit to an update without showing it (see :func:`bflc.protocol.commitment`)."""
        return self._transact("commit_update", round, commitment)

    def reveal_update(self, round: int, blob_hash: bytes, n_samples: int, salt: bytes) -> int:
        """Reveal the committed update (its blob must be in the store now); returns its id."""
        result = self._transact("reveal_update", round, blob_hash, n_samples, salt)
        events = result.events_named("UpdateSubmitted")
        if not events:
            raise ChainError("reveal_update was mined without an UpdateSubmitted event", "check the contract address")
        return int(events[0].args["update_id"])

    def submit_scores(self, round: int, update_ids: Sequence[int], scores: Sequence[int], batch_size: int | None = None) -> list[TxResult]:
        """Record this member's scores, in batches that fit a block in the worst case.

        When a batch completes the committee's votes (``ScoringComplete``),
        this member closes scoring at once (:meth:`close_phase`); its
        transactions are returned after the votes. Another member closing
        first is not an error.
        """
        if len(update_ids) != len(scores):
            raise ConfigError(f"{len(update_ids)} update ids but {len(scores)} scores", "give one score per update")
        if not update_ids:
            raise ConfigError("no scores to submit", "give at least one score")
        round_ids = self.round_update_ids(round)
        first = round_ids[0] if round_ids else 0
        positions, values = [uid - first for uid in update_ids], list(scores)
        size = len(positions) if batch_size is None else batch_size
        results = [
            self._transact("submit_scores", round, *encode_votes(positions[i : i + size], values[i : i + size]))
            for i in range(0, len(positions), size)
        ]
        if any(r.events_named("ScoringComplete") for r in results):
            try:
                results += self.close_phase(round)
            except ContractRevert:
                if self._scoring(round):
                    raise
        return results

    def close_phase(self, round: int, batch_size: int | None = None) -> list[TxResult]:
        """Close the current phase after its deadline (scoring also once every vote is in).

        A scoring close claims the lower median of ``batch_size`` updates per
        transaction (sized to fit a block by default), computed from the
        votes on chain; the contract checks every claim.
        """
        if not self._scoring(round):
            return [self._transact("close_phase", round, [])]
        claims = self.scoring_claims(round)
        committee_size = len(self.committee(round))
        results: list[TxResult] = []
        while self._scoring(round):
            start = int(self._call("close_cursor"))
            size = close_batch_size(committee_size, len(claims), len(claims) - start) if batch_size is None else batch_size
            results.append(self._transact("close_phase", round, claims[start : start + size]))
        return results

    def scoring_claims(self, round: int) -> list[int]:
        """What a scoring close of ``round`` claims for each of its updates: the lower median of its votes, 0 without a quorum."""
        return claimed_medians(self.votes(round), len(self.committee(round)))

    def _scoring(self, round: int) -> bool:
        return self.current_round() == round and self.phase() == Phase.SCORING

    def propose_model(self, round: int, blob_hash: bytes, uri: str) -> TxResult:
        """Propose the hash of the aggregate of the qualified updates as the next global model."""
        return self._transact("propose_model", round, blob_hash, uri)

    def replace_committee(self, round: int, members: Sequence[str]) -> TxResult:
        """Decide to replace an unfinished committee with ``members`` after the round deadline (:meth:`decide`)."""
        return self.decide("replace_committee", round, list(members))

    def reelect_committee(self, round: int) -> TxResult:
        """Replace an unfinished committee after the round deadline with one elected from the previous round's qualified providers."""
        return self._transact("reelect_committee", round)

    def failback(self, target_round: int, members: Sequence[str] | None = None) -> TxResult:
        """Decide to roll the global model back to that of ``target_round`` (:meth:`decide`).

        The next round starts with ``members`` as its committee, by default
        the current one.
        """
        committee = list(members) if members is not None else self.committee(self.current_round())
        return self.decide("failback", target_round, committee)

    # ------------------------------------------------------------ council decisions

    def propose(self, function: str, *args: Any, target: str = CONTRACT_NAME) -> tuple[int, TxResult]:
        """Propose the call ``function(*args)`` of ``target`` (``BFLC`` or ``Council``) as a decision; return its id.

        Proposing counts as this manager's approval: with a threshold of 1
        the call runs in the same transaction.

        Raises
        ------
        ContractRevert
            If the caller is not a manager, or the call ran and reverted
            (named after the call, with its reason).
        """
        from bflc.chain.abi import codec  # web3's codec: imported only by governance

        data = codec(target).encode(function, args)
        result = self._decision_tx(function, "propose", self.contract_address(target), data)
        proposed = result.events_named("DecisionProposed")
        if not proposed:
            raise ChainError("propose was mined without a DecisionProposed event", "check the council's address")
        return int(proposed[0].args["id"]), result

    def approve(self, decision_id: int) -> TxResult:
        """Approve decision ``decision_id``, sending its call again; the approval that reaches the threshold runs it."""
        decision = self.decision(decision_id)
        return self._decision_tx(decision.function, "approve", decision_id, decision.calldata)

    def execute(self, decision_id: int) -> TxResult:
        """Run decision ``decision_id``, which has the threshold's approvals but has not run (anyone may)."""
        decision = self.decision(decision_id)
        return self._decision_tx(decision.function, "execute", decision_id, decision.calldata)

    def revoke(self, decision_id: int) -> TxResult:
        """Take back this manager's approval of a decision that has not run."""
        self._check_decision(decision_id)
        return self._transact("revoke", decision_id, contract=COUNCIL_NAME)

    def expire(self, decision_id: int) -> TxResult:
        """Mark a decision past its expiry as expired (anyone may; emits ``DecisionExpired``)."""
        self._check_decision(decision_id)
        return self._transact("expire", decision_id, contract=COUNCIL_NAME)

    def decide(self, function: str, *args: Any, target: str = CONTRACT_NAME) -> TxResult:
        """Propose ``function(*args)`` of ``target`` and have :attr:`co_managers` approve it until it runs.

        Without co-managers (a real network) this is :meth:`propose`: the
        other managers approve with ``bflc admin approve``. Returns the last
        transaction, which ran the call if the threshold was reached (it
        then holds the call's events).
        """
        decision_id, result = self.propose(function, *args, target=target)
        for manager in self.co_managers:
            if result.events_named("DecisionExecuted"):
                break
            if manager.lower() != self.account.lower():
                result = self.as_account(manager).approve(decision_id)
        return result

    def decision_count(self) -> int:
        """How many decisions were ever proposed (ids run from 0)."""
        return int(self._call("decision_count", contract=COUNCIL_NAME))

    def decision(self, decision_id: int) -> Decision:
        """Decision ``decision_id``: its call (decoded), approvals and state.

        Raises
        ------
        ConfigError
            If there is no such decision.
        """
        self._check_decision(decision_id)
        target, proposer, _, expiry, executed, expired = self._call("decisions", decision_id, contract=COUNCIL_NAME)
        proposed_block = int(expiry) - self.decision_lifetime()
        logs = self._events(COUNCIL_NAME, "DecisionProposed", {"id": decision_id}, proposed_block, proposed_block)
        if not logs:
            raise ChainError(
                f"the proposal of decision {decision_id} is not in the logs of block {proposed_block}",
                "check that the endpoint keeps logs that old",
            )
        data = bytes(logs[0].args["data"])
        name = CONTRACT_NAME if str(target).lower() == self.address.lower() else COUNCIL_NAME
        from bflc.chain.abi import codec

        function, call_args = codec(name).decode_call(data)
        return Decision(
            id=decision_id,
            proposer=str(proposer),
            target=name,
            function=function,
            args=call_args,
            calldata=data,
            proposed_block=proposed_block,
            expiry_block=int(expiry),
            approvals=tuple(self._call("approvals", decision_id, contract=COUNCIL_NAME)),
            threshold=self.threshold(),
            executed=bool(executed),
            expired=bool(expired) or (not executed and self.block_number() >= int(expiry)),
        )

    def decisions(self, open_only: bool = False) -> list[Decision]:
        """Every decision, oldest first; with ``open_only`` those neither executed nor expired.

        Open decisions are found from the newest back to the first one
        proposed more than a lifetime ago, so the cost does not grow with
        the network's age.
        """
        if not open_only:
            return [self.decision(i) for i in range(self.decision_count())]
        block, lifetime, found = self.block_number(), self.decision_lifetime(), []
        for i in reversed(range(self.decision_count())):
            _, _, _, expiry, executed, expired = self._call("decisions", i, contract=COUNCIL_NAME)
            if block >= int(expiry) + lifetime:
                break  # this one and every older one closed before now
            if not (executed or expired or block >= int(expiry)):
                found.append(self.decision(i))
        return found[::-1]

    def _check_decision(self, decision_id: int) -> None:
        """Refuse an id the council never gave, before anything is sent (ConfigError)."""
        count = self.decision_count()
        if not 0 <= decision_id < count:
            known = f"its decisions are 0 to {count - 1}" if count else "it has none yet"
            raise ConfigError(f"the council has no decision {decision_id}: {known}", "list the open ones with `bflc admin decisions`")

    def _decision_tx(self, function: str, action: str, *args: Any) -> TxResult:
        # A council transaction that may run ``function``: its gas, and a
        # revert named after the call.
        try:
            return self._transact(action, *args, contract=COUNCIL_NAME, gas=gas_limit(function) + DECISION_GAS)
        except ContractRevert as exc:
            raise ContractRevert(exc.reason, f"{action} ({function})") from None
