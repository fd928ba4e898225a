"""The node daemon: one long-running process per organisation or device.

Every pass (:meth:`NodeDaemon.step`) reads the round from the chain, works
out this node's role and does the next thing that role needs:

* **trainer** (admitted, not on the committee): once per round, train from
  the global model (fetched by its on-chain hash and checked) and submit the
  update;
* **committee member**: score every update it has not voted on (a blob that
  is missing or fails its hash check scores 0), then, once the round is
  aggregating, propose the FedAvg of the qualified updates;
* **watcher** (admitted, no learner) and everyone with nothing else to do:
  the liveness duties: ``close_scoring`` after the scoring deadline, and
  after the round deadline ``reelect_committee`` (any admitted node) or
  ``replace_committee`` (managers);
* **idle**: not admitted (``--apply`` pays the fee and applies), applied,
  blacklisted or left.

Each step checks the chain before acting (``has_submitted``, the votes, the
proposals), so a restarted node never sends a transaction twice.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from web3.exceptions import Web3Exception

from bflc.chain import NodeStatus, Phase, RoundState, UpdateRecord, to_fixed
from bflc.chain.web3_ledger import Web3Ledger
from bflc.errors import BlobError, BlobUnavailable, ChainError, ContractRevert
from bflc.ml.models import all_finite, flatten, unflatten
from bflc.node.journal import Journal
from bflc.node.learner import NodeLearner, Params
from bflc.node.misbehaviour import Misbehaviour
from bflc.node.prune import prune_cache
from bflc.node.rounds import aggregate_qualified, collude
from bflc.node.state import NodeState, StateDir, write_json_atomic
from bflc.sim.attacks import poison_update
from bflc.sim.learner import derive_seed
from bflc.storage import BlobStore, bytes32_to_hash, decode_model, encode_model, hash_to_bytes32, model_spec

# Failures worth retrying: the chain or the store did not answer (or answered
# garbage) this time. Reverts are handled separately.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ChainError, BlobError, OSError, Web3Exception)

# Revert reasons that mean another node got there first (the round moved on,
# scoring closed, ...): expected in a network of independent daemons.
RACE_REASONS = frozenset(
    {
        "stale round",
        "future round",
        "round is aggregating",
        "round is not aggregating yet",
        "scoring is closed for this round",
        "scoring deadline not reached",
        "round deadline not reached",
    }
)

_EMPTY_HASH = bytes(32)


class Role(enum.Enum):
    """What a node does in the current round."""

    COMMITTEE = "committee"
    TRAINER = "trainer"
    WATCHER = "watcher"
    IDLE = "idle"


class StopRequested(Exception):
    """Raised before a transaction once SIGTERM or SIGINT arrived."""


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _rejection(store: BlobStore, blob_hash: str, error: BlobError) -> str:
    """Why a committee member rejects an update's blob, in a few words."""
    if not store.has(blob_hash):
        return "blob missing"
    if "hash check" in error.message:
        return "hash mismatch"
    return f"malformed blob ({error.message})"


class NodeDaemon:
    """A node that plays its role in every round, as the chain assigns it.

    Parameters
    ----------
    ledger:
        The network, sending from this node's account.
    store:
        The shared blob store (where other nodes fetch this node's blobs).
    learner:
        Training and scoring on this node's private data; ``None`` makes a
        watcher that only does the liveness duties (e.g. a manager).
    state_dir:
        The node's state directory (see :mod:`bflc.node.state`).
    poll_seconds:
        Pause between two passes.
    apply:
        If the node is not admitted, pay the permission fee and apply.
    misbehaviour:
        Malicious behaviour for demos and tests.
    light:
        Prune the blob cache to the current round at every new round.
    echo:
        Where readable log lines go (``None``: only ``node.log``).
    max_backoff_seconds:
        Longest pause after repeated failures.
    sample_cap:
        As a committee member, clip each qualified update's claimed sample
        count to this multiple of the round's median claim (the network
        file's ``learning.sample_cap``; ``None``: no clipping).
    """

    def __init__(
        self,
        ledger: Web3Ledger,
        store: BlobStore,
        learner: NodeLearner | None,
        state_dir: Path | str | StateDir,
        *,
        poll_seconds: float = 1.0,
        apply: bool = False,
        misbehaviour: Misbehaviour = Misbehaviour(),
        light: bool = False,
        echo: TextIO | None = sys.stderr,
        max_backoff_seconds: float = 30.0,
        sample_cap: float | None = None,
    ) -> None:
        self.ledger = ledger
        self.account = ledger.account
        self.store = store
        self.learner = learner
        self.dir = state_dir if isinstance(state_dir, StateDir) else StateDir(state_dir)
        self.state = NodeState(self.dir.state_file, ledger.address, ledger.account)
        self.journal = Journal(self.dir.log_file, echo)
        self.poll_seconds = poll_seconds
        self.apply = apply
        self.misbehaviour = misbehaviour
        self.light = light
        self.max_backoff_seconds = max_backoff_seconds
        self.sample_cap = sample_cap
        self.params = ledger.params()
        self.is_manager = any(_same(m, self.account) for m in ledger.managers())
        self.spec = model_spec(learner.initial_parameters()) if learner is not None else None
        self.status: dict[str, Any] = {"account": self.account, "pid": os.getpid()}
        self._stop = threading.Event()
        self._said: set[str] = set()
        self._last_revert: tuple[str | None, str] | None = None
        self._seen: tuple[int, Phase] | None = None
        self._reconciled = False
        self._diverged: set[int] = set()

    # ------------------------------------------------------------ running

    def request_stop(self) -> None:
        """Ask the daemon to stop: no new transaction is sent after this."""
        self._stop.set()

    def run(self) -> int:
        """Loop until SIGTERM/SIGINT (or :meth:`request_stop`); return the exit code 0.

        Holds the state directory's lock throughout; transient chain and
        store failures are retried with exponential backoff; contract reverts
        are logged and the loop goes on.

        Raises
        ------
        ConfigError
            If another daemon holds the state directory.
        """
        with self.dir.lock():
            restore = self._install_signal_handlers()
            self._log("started", f"node {self.account} started (state in {self.dir.root})", pid=os.getpid())
            delay = self.poll_seconds
            try:
                while not self._stop.is_set():
                    try:
                        self.step()
                        delay = self.poll_seconds
                        self._last_revert = None
                    except StopRequested:
                        break
                    except ContractRevert as error:
                        delay = self._on_revert(error, delay)
                    except TRANSIENT_ERRORS as error:
                        delay = min(max(2 * delay, self.poll_seconds), self.max_backoff_seconds)
                        self._log("retry", f"{type(error).__name__}: {error}; retrying in {delay:.1f} s", level="warning")
                    self._stop.wait(delay)
            finally:
                restore()
                self._log("stopped", "node stopped; state saved")
        return 0

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum: int, frame: Any) -> None:
            self._log("stopping", f"{signal.Signals(signum).name} received: finishing the current step")
            self.request_stop()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore

    def _on_revert(self, error: ContractRevert, delay: float) -> float:
        key = (error.function, error.reason)
        if error.reason in RACE_REASONS or self._round_moved():
            self._log("race", f"{error.function} reverted: {error.reason} (another node moved first)", function=error.function, reason=error.reason)
            return self.poll_seconds
        if key != self._last_revert:
            self._log("revert", f"{error.function} reverted: {error.reason}", level="warning", function=error.function, reason=error.reason)
        self._last_revert = key
        # The same revert again means nothing changed: back off instead of resending.
        return min(max(2 * delay, self.poll_seconds), self.max_backoff_seconds)

    def _round_moved(self) -> bool:
        """Whether the round or phase changed since the last step read it: a
        transaction mined in the same block after another node's can revert
        for that reason, and a replay on the parent block cannot tell why."""
        try:
            return (self.ledger.current_round(), self.ledger.phase()) != self._seen
        except TRANSIENT_ERRORS:
            return False

    # ------------------------------------------------------------ one pass

    def step(self) -> Role:
        """One pass: read the round, then do what this node's role needs next.

        Returns
        -------
        Role
            The role this node had in the round it read.

        Raises
        ------
        ContractRevert
            When a transaction reverts (e.g. another node moved the round).
        ChainError, BlobError
            When the chain or the store fails; the caller retries.
        StopRequested
            When a stop was requested before a transaction.
        """
        if not self._reconciled:
            self._reconcile()
        state = self.ledger.round_state()
        self._seen = (state.round, state.phase)
        status = self.ledger.status()
        role = self._role(state, status)
        self._observe(state, role)
        if role is Role.IDLE:
            self._idle(status)
            return role
        acted = False
        if role is Role.COMMITTEE:
            acted = self._score(state) if state.phase is Phase.SCORING else self._propose(state)
        elif role is Role.TRAINER and state.phase is Phase.SCORING:
            acted = self._train(state)
        if not acted:
            self._deadlines(state)
        return role

    def _reconcile(self) -> None:
        """Once per start: adopt updates sent just before a crash in rounds that are over now."""
        for key, record in sorted(self.state.rounds.items(), key=lambda item: int(item[0])):
            update = record.get("update")
            if update is not None and update["id"] is None and self.ledger.has_submitted(int(key)):
                self._adopt_update(int(key))
        self._reconciled = True

    def _role(self, state: RoundState, status: NodeStatus) -> Role:
        if status is not NodeStatus.ADMITTED:
            return Role.IDLE
        on_committee = any(_same(m, self.account) for m in state.committee)
        if self.learner is None:
            if on_committee:
                self._say_once(f"cannot-serve:{state.round}", "cannot_serve", f"round {state.round}: on the committee but without data; cannot score", level="warning")
            return Role.WATCHER
        return Role.COMMITTEE if on_committee else Role.TRAINER

    def _observe(self, state: RoundState, role: Role) -> None:
        """Keep status.json current; evaluate each new global model once; prune if light."""
        model = bytes32_to_hash(state.model.blob_hash)
        new_round = self.status.get("round") != state.round
        if self.learner is not None and self.status.get("model") != model:
            loss, accuracy = self.learner.evaluate(self._fetch(model))
            self._set_status(accuracy=accuracy, loss=loss, model_round=state.round)
            self._log("model_evaluated", f"round {state.round}: global model {model[:12]} has local test accuracy {accuracy:.4f}", round=state.round, blob=model, accuracy=accuracy, loss=loss)
        self._set_status(round=state.round, phase=state.phase.name.lower(), role=role.value, model=model)
        if new_round and self.light:
            removed = prune_cache(self.dir, self.ledger)
            if removed:
                self._log("pruned", f"round {state.round}: pruned {len(removed)} blobs from the cache", round=state.round, removed=len(removed))

    def _idle(self, status: NodeStatus) -> None:
        if status is NodeStatus.NONE and self.apply:
            fee = self.params.permission_fee
            self._before_tx()
            self.ledger.apply(fee)
            self._log("applied", f"applied to join, paying the permission fee of {fee} wei; waiting to be admitted", fee=fee)
            return
        messages = {
            NodeStatus.NONE: ("info", "not admitted; waiting (pass --apply to apply)"),
            NodeStatus.APPLIED: ("info", "applied; waiting for a manager to admit this node"),
            NodeStatus.BLACKLISTED: ("warning", "blacklisted by a manager: this node stays idle"),
            NodeStatus.LEFT: ("info", "this node left the network: idle until it rejoins"),
        }
        level, message = messages[status]
        self._say_once(f"idle:{status.name}", "idle", message, level=level, status=status.name.lower())

    # ------------------------------------------------------------ trainer

    def _train(self, state: RoundState) -> bool:
        r = state.round
        record = self.state.round(r).get("update")
        if self.ledger.has_submitted(r):
            if record is None or record["id"] is None:
                self._adopt_update(r)
            return False
        if r in self._diverged:
            return False
        if record is not None and self.dir.blobs.has(record["blob"]):
            blob, n_samples = record["blob"], record["n_samples"]
            self._publish(blob)
            self._log("update_reused", f"round {r}: reusing the update trained before a restart ({blob[:12]})", round=r, blob=blob)
        else:
            global_params = self._fetch(bytes32_to_hash(state.model.blob_hash))
            seed = derive_seed(int(self.account, 16), r)
            started = time.monotonic()
            assert self.learner is not None
            params, n_samples = self.learner.fit(global_params, seed)
            if self.misbehaviour.attack is not None:
                params = self._poison(global_params, params, seed)
            if not all_finite(params):
                # no blob can carry NaN or infinity: sit this round out instead of retrying
                self._diverged.add(r)
                self._log("training_diverged", f"round {r}: training gave NaN or infinite parameters; no update this round", level="warning", round=r, seed=seed)
                return False
            blob = self._put(params)
            self.state.record_update(r, blob, int(n_samples))
            self._log("trained", f"round {r}: trained on {n_samples} samples in {time.monotonic() - started:.1f} s", round=r, blob=blob, n_samples=int(n_samples), seed=seed)
        self._before_tx()
        update_id = self.ledger.submit_update(r, hash_to_bytes32(blob), int(n_samples))
        self.state.record_update(r, blob, int(n_samples), update_id)
        self._log("update_submitted", f"round {r}: submitted update {update_id} (blob {blob[:12]})", round=r, update_id=update_id, blob=blob)
        return True

    def _adopt_update(self, round: int) -> None:
        """Record the update the chain holds from this node (sent before a crash)."""
        for update in self.ledger.round_updates(round, with_votes=False):
            if _same(update.provider, self.account):
                blob = bytes32_to_hash(update.blob_hash)
                self.state.record_update(round, blob, update.n_samples, update.update_id)
                self._log("update_found", f"round {round}: update {update.update_id} was already on chain; recorded it", round=round, update_id=update.update_id, blob=blob)

    def _poison(self, global_params: Params, local: Params, seed: int) -> Params:
        names = sorted(local)
        poisoned = poison_update(
            str(self.misbehaviour.attack),
            flatten({n: global_params[n] for n in names}),
            flatten({n: local[n] for n in names}),
            self.misbehaviour.strength,
            np.random.default_rng(seed),
        )
        return unflatten(poisoned, {n: local[n] for n in names})

    # ------------------------------------------------------------ committee

    def _score(self, state: RoundState) -> bool:
        r = state.round
        updates = self.ledger.round_updates(r)
        voted = {u.update_id: bytes32_to_hash(u.blob_hash) for u in updates if any(_same(v, self.account) for v in u.voters)}
        recorded = self.state.round(r).get("scored", {})
        if any(str(uid) not in recorded for uid in voted):
            self.state.record_scores(r, voted)
        pending = [u for u in updates if u.update_id not in voted]
        if not pending:
            return False
        half_window = state.start_block + self.params.score_deadline_blocks // 2
        if len(updates) < self.params.updates_per_round and self.ledger.block_number() < half_window:
            return False  # wait for more updates: one batch per member is cheaper
        scores = self._judge(r, pending)
        ids = [u.update_id for u in pending]
        self._before_tx()
        self.ledger.submit_scores(r, ids, [to_fixed(s) for s in scores])
        self.state.record_scores(r, {u.update_id: bytes32_to_hash(u.blob_hash) for u in pending})
        shown = ", ".join(f"{uid}: {s:.3f}" for uid, s in zip(ids, scores))
        self._log("scores_submitted", f"round {r}: scored {len(ids)} updates ({shown})", round=r, update_ids=ids, scores=scores)
        return True

    def _judge(self, round: int, pending: Sequence[UpdateRecord]) -> list[float]:
        """This member's score of each update: its accuracy here, 0 for a bad blob."""
        scores = [0.0] * len(pending)
        candidates: list[Params] = []
        positions: list[int] = []
        for k, update in enumerate(pending):
            blob = bytes32_to_hash(update.blob_hash)
            try:
                candidates.append(self._fetch(blob))
                positions.append(k)
            except BlobUnavailable:
                raise  # the store failed, not the update: the step is tried again
            except BlobError as error:
                reason = _rejection(self.store, blob, error)
                self._log("update_rejected", f"rejected update {update.update_id}: {reason}", level="warning", round=round, update_id=update.update_id, blob=blob, reason=reason)
        if candidates:
            assert self.learner is not None
            for k, score in zip(positions, self.learner.score(candidates)):
                scores[k] = min(max(float(score), 0.0), 1.0)
        if self.misbehaviour.colluders:
            favoured = [update.provider.lower() in self.misbehaviour.colluders for update in pending]
            rng = np.random.default_rng(derive_seed(int(self.account, 16), round, 4))
            scores = collude(scores, favoured, rng)
        return scores

    def _propose(self, state: RoundState) -> bool:
        r = state.round
        proposed = self.ledger.proposal(r)
        if proposed != _EMPTY_HASH:
            if self.state.round(r).get("proposed") is None:
                self.state.record_proposal(r, bytes32_to_hash(proposed))
            return False
        qualified = self.ledger.qualified(r)
        records = {u.update_id: u for u in self.ledger.round_updates(r, with_votes=False)}
        updates = {uid: self._fetch(bytes32_to_hash(records[uid].blob_hash)) for uid in qualified}
        blob = self._put(aggregate_qualified(qualified, records, updates, self.sample_cap))
        self._before_tx()
        self.ledger.propose_model(r, hash_to_bytes32(blob), self.store.uri(blob))
        self.state.record_proposal(r, blob)
        self._log("model_proposed", f"round {r}: proposed the FedAvg of updates {qualified} ({blob[:12]})", round=r, blob=blob, qualified=qualified)
        return True

    # ------------------------------------------------------------ liveness

    def _deadlines(self, state: RoundState) -> None:
        """Close scoring after its deadline; replace a committee that missed the round deadline."""
        r, block = state.round, self.ledger.block_number()
        if state.phase is Phase.SCORING and block >= state.start_block + self.params.score_deadline_blocks:
            size = len(state.committee)
            updates = self.ledger.round_updates(r, with_votes=False)
            if any(2 * u.num_votes > size for u in updates):
                self._before_tx()
                self.ledger.close_scoring(r)
                self._log("scoring_closed", f"round {r}: closed scoring after the deadline", round=r)
                return
        if block >= state.start_block + self.params.round_deadline_blocks:
            self._recover(state)

    def _recover(self, state: RoundState) -> None:
        r = state.round
        if self.is_manager:
            members = self._live_members(state)
            if members:
                self._before_tx()
                self.ledger.replace_committee(r, members)
                self._log("committee_replaced", f"round {r}: replaced the committee that missed the deadline with {members}", round=r, members=members)
                return
        if r > 0 and self._eligible(self.ledger.qualified(r - 1), state):
            self._before_tx()
            self.ledger.reelect_committee(r)
            self._log("committee_reelected", f"round {r}: re-elected the committee that missed the deadline", round=r)
            return
        self._say_once(f"stuck:{r}", "round_stuck", f"round {r} is past its deadline and this node cannot replace the committee (a manager must)", level="warning", round=r)

    def _eligible(self, update_ids: Collection[int], state: RoundState) -> list[str]:
        """Providers of ``update_ids`` who may sit on the next committee, distinct, in order."""
        members: list[str] = []
        for uid in update_ids:
            provider = self.ledger.update(uid, with_votes=False).provider
            if (
                not any(_same(provider, m) for m in [*state.committee, *members])
                and self.ledger.status(provider) is NodeStatus.ADMITTED
            ):
                members.append(provider)
        return members

    def _live_members(self, state: RoundState) -> list[str]:
        """A new committee for a manager: this round's trainers (they are alive), then last round's qualified."""
        ids = self.ledger.round_update_ids(state.round)
        if state.round > 0:
            ids += self.ledger.qualified(state.round - 1)
        return self._eligible(ids, state)[: self.params.committee_size]

    # ------------------------------------------------------------ blobs

    def _fetch(self, blob: str) -> Params:
        """A model by hash: from the cache, else from the store (checked, then cached)."""
        try:
            return decode_model(self.dir.blobs.get(blob), expected=self.spec)
        except BlobError:
            self.dir.blobs.delete(blob)
        data = self.store.get(blob)
        params = decode_model(data, expected=self.spec)
        self.dir.blobs.put(data)
        return params

    def _put(self, params: Params) -> str:
        data = encode_model(params)
        self.dir.blobs.put(data)
        return self.store.put(data)

    def _publish(self, blob: str) -> None:
        if not self.store.has(blob):
            self.store.put(self.dir.blobs.get(blob))

    # ------------------------------------------------------------ bookkeeping

    def _before_tx(self) -> None:
        if self._stop.is_set():
            raise StopRequested()

    def _log(self, event: str, message: str, level: str = "info", **fields: Any) -> None:
        self.journal.event(event, message, level, **fields)
        if event not in ("race", "retry", "model_evaluated"):
            self._set_status(last_action=message)

    def _say_once(self, key: str, event: str, message: str, level: str = "info", **fields: Any) -> None:
        if key not in self._said:
            self._said.add(key)
            self._log(event, message, level, **fields)

    def _set_status(self, **fields: Any) -> None:
        if all(self.status.get(k) == v for k, v in fields.items()):
            return
        self.status.update(fields)
        self.status["updated"] = time.time()
        write_json_atomic(self.dir.status_file, self.status)
