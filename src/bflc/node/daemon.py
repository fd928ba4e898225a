"""The node daemon: one long-running process per organisation or device.

Every pass (:meth:`NodeDaemon.step`) reads the round from the chain, works
out this node's role and does the next thing that role needs:

* **trainer** (admitted, not on the committee): once per round, train from
  the global model (fetched by its on-chain hash and checked) and commit to
  the update (its salt is journalled first); once commitments are closed,
  upload the blob and reveal it;
* **committee member**: score every update it has not voted on (a blob that
  is missing or fails its hash check scores 0), then, once the round is
  aggregating, propose the FedAvg of the qualified updates;
* **watcher** (admitted, no learner) and everyone with nothing else to do:
  the liveness duties: ``close_phase`` after a phase's deadline, and
  after the round deadline ``reelect_committee`` (any admitted node) or
  ``replace_committee`` (managers);
* **idle**: not admitted (``--apply`` pays the fee and applies), applied,
  blacklisted or left.

Each step checks the chain before acting (the commitment, ``has_submitted``,
the votes, the proposals), and waits while a transaction of its account is
still pending, so a restarted node sends nothing the chain holds or is about
to mine (docs/node.md says what holds when the pool drops a transaction).
"""

from __future__ import annotations

import enum
import os
import secrets
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from web3.exceptions import Web3Exception

from bflc.attacks import HONEST, Misbehaviour
from bflc.chain import Ledger, NodeStatus, Phase, RoundState
from bflc.errors import BlobError, ChainError, ConfigError, ContractRevert, LearnerError
from bflc.files import json_bytes, write_atomically
from bflc.ml.learner import Learner
from bflc.node.journal import Journal, redacted
from bflc.node.prune import prune_cache
from bflc.node.state import NodeState, StateDir
from bflc.redact import one_line
from bflc.roles import Aggregator, CommitteeMember, Duty, ModelBlobs, SealedUpdate, Trainer, Watcher
from bflc.seeds import NodeSeeds
from bflc.settings import TrainingSettings
from bflc.storage import BlobStore, bytes32_to_hash, decode_model, model_spec

# Failures worth retrying: the chain or the store did not answer (or answered
# garbage) this time, or the learner could not score now. Reverts are handled separately.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ChainError, BlobError, LearnerError, OSError, Web3Exception)

# Revert reasons that mean another node got there first (the round moved on,
# scoring closed, ...): expected in a network of independent daemons.
RACE_REASONS = frozenset(
    {
        "stale round",
        "future round",
        "not this phase of the round",
        "scoring is closing",
        "round is aggregating",
        "round is not aggregating yet",
        "phase deadline not reached",
        "round deadline not reached",
    }
)

_EMPTY_HASH = bytes(32)
# Decoded models a daemon keeps in memory: the global model and a round's updates.
_MEMO_MODELS = 8


class Role(enum.Enum):
    """What a node does in the current round."""

    COMMITTEE = "committee"
    TRAINER = "trainer"
    WATCHER = "watcher"
    IDLE = "idle"
    WAITING = "waiting"  # for this account's pending transactions; nothing else was read


class StopRequested(Exception):
    """Raised before a transaction once SIGTERM or SIGINT arrived."""


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _one_line(error: BaseException) -> str:
    return one_line(str(error)) or type(error).__name__


class NodeDaemon:
    """A node that plays its role in every round, as the chain assigns it.

    The protocol's steps are the roles of :mod:`bflc.roles`, the same ones
    the simulator drives; the daemon decides when each runs, retries what
    failed, and journals what it did in its state directory.

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
        Malicious behaviour for demos and tests (default: honest).
    seeds:
        Where the node's training and collusion randomness comes from
        (default: its account as an integer).
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
    max_loss_ratio:
        As a committee member, score 0 an update whose loss is above this
        multiple of the global model's (the network file's
        ``learning.max_loss_ratio``; 0: accuracy alone).
    screen_similarity, screen_push, norm_clip:
        As a committee member, the coalition screen's bar, its memory's bar
        and the aggregate's clipping multiple (the network file's
        ``learning.screen_similarity``, ``learning.screen_push`` and
        ``learning.norm_clip``; 0 and ``None``: off).
    mirrors:
        Other blob stores to fetch from when the shared store lacks a blob or
        serves a bad copy (the network file's ``store.mirrors``, ``--mirror``).
    """

    def __init__(
        self,
        ledger: Ledger,
        store: BlobStore,
        learner: Learner | None,
        state_dir: Path | str | StateDir,
        *,
        poll_seconds: float = 1.0,
        apply: bool = False,
        misbehaviour: Misbehaviour = HONEST,
        seeds: NodeSeeds | None = None,
        light: bool = False,
        echo: TextIO | None = sys.stderr,
        max_backoff_seconds: float = 10.0,
        sample_cap: float | None = None,
        max_loss_ratio: float = TrainingSettings.max_loss_ratio,
        screen_similarity: float = TrainingSettings.screen_similarity,
        screen_push: float = TrainingSettings.screen_push,
        norm_clip: float | None = None,
        mirrors: tuple[BlobStore, ...] = (),
    ) -> None:
        self.ledger = ledger
        self.account = ledger.account
        self.learner = learner
        self.dir = state_dir if isinstance(state_dir, StateDir) else StateDir(state_dir)
        self.state = NodeState(self.dir.state_file, ledger.address, ledger.account)
        self.journal = Journal(self.dir.log_file, echo)
        self.poll_seconds = poll_seconds
        self.apply = apply
        self.light = light
        self.max_backoff_seconds = max_backoff_seconds
        self.params = ledger.params()
        self.is_manager = any(_same(m, self.account) for m in ledger.managers())
        spec = model_spec(learner.initial_parameters()) if learner is not None else None
        self.blobs = ModelBlobs(store, spec, cache=self.dir.blobs, mirrors=mirrors, memo=_MEMO_MODELS)
        seeds = seeds or NodeSeeds((int(self.account, 16),))
        self.trainer = Trainer(ledger, self.blobs, learner, seeds, misbehaviour.attack) if learner is not None else None
        self.member = (
            CommitteeMember(ledger, self.blobs, learner, seeds, misbehaviour, max_loss_ratio, screen_similarity, screen_push)
            if learner is not None
            else None
        )
        self.aggregator = Aggregator(ledger, self.blobs, sample_cap, norm_clip)
        self.watcher = Watcher(ledger, self.params, is_manager=self.is_manager)
        self.status: dict[str, Any] = {"account": self.account, "pid": os.getpid()}
        self._stop = threading.Event()
        self._said: set[str] = set()
        self._last_revert: tuple[str | None, str] | None = None
        self._last_failure: type[Exception] | None = None
        self._seen: tuple[int, Phase] | None = None
        self._reconciled = False
        self._model_checked = False
        self._sat_out: set[int] = set()  # rounds without a usable update: training diverged, or a used blob

    # ------------------------------------------------------------ running

    def request_stop(self) -> None:
        """Ask the daemon to stop: no new transaction is sent after this."""
        self._stop.set()

    def run(self) -> int:
        """Loop until SIGTERM/SIGINT (or :meth:`request_stop`); return the exit code 0.

        Holds the state directory's lock throughout; transient chain and
        store failures (every ``ChainError``, whatever the endpoint answered)
        are retried with exponential backoff; contract reverts are logged and
        the loop goes on. Any other exception in a pass is a bug or an answer
        nobody foresaw: it is logged (``step_failed``, with its traceback) and
        retried the same way, so the daemon never dies of it.

        Raises
        ------
        ConfigError
            If another daemon holds the state directory, or a pass finds the
            configuration unusable (retrying would not help).
        """
        with self.dir.lock():
            restore = self._install_signal_handlers()
            self._log("started", f"node {self.account} started (state in {self.dir.root})", pid=os.getpid())
            self._set_status(endpoint={"healthy": True, "since": time.time(), "error": None})
            delay = self.poll_seconds
            try:
                while not self._stop.is_set():
                    try:
                        self.step()
                        self._endpoint_answered(None)
                        delay = self.poll_seconds
                        self._last_revert = None
                        self._last_failure = None
                    except StopRequested:
                        break
                    except ContractRevert as error:
                        self._endpoint_answered(None)
                        delay = self._on_revert(error, delay)
                    except ChainError as error:
                        self._endpoint_answered(error)
                        delay = self._retry(error, delay)
                    except TRANSIENT_ERRORS as error:
                        delay = self._retry(error, delay)
                    except ConfigError:
                        raise
                    except Exception as error:  # the last line of defence: log, back off, go on
                        delay = self._backoff(delay)
                        self._log(
                            "step_failed",
                            f"unexpected {type(error).__name__} in a pass: {_one_line(error)}; retrying in {delay:.1f} s",
                            level="error",
                            traceback=traceback.format_exc(),
                        )
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
        return self._backoff(delay)

    def _backoff(self, delay: float) -> float:
        """The pause after another failure: twice the last one, from ``poll_seconds`` up to ``max_backoff_seconds``."""
        return min(max(2 * delay, self.poll_seconds), self.max_backoff_seconds)

    def _retry(self, error: Exception, delay: float) -> float:
        # Another kind of failure starts its own backoff: a store outage that
        # pushed the pause to its maximum must not keep the node away for as
        # long once the chain is what fails (and comes back).
        if type(error) is not self._last_failure:
            delay = self.poll_seconds
        self._last_failure = type(error)
        delay = self._backoff(delay)
        self._log("retry", f"{type(error).__name__}: {_one_line(error)}; retrying in {delay:.1f} s", level="warning")
        return delay

    def _endpoint_answered(self, error: ChainError | None) -> None:
        """Record in status.json whether the chain endpoint answered this pass (``error``: why not).

        Logs ``endpoint_unhealthy`` when reads start failing and
        ``endpoint_recovered`` when they work again, once each.
        """
        was_healthy = self.status.get("endpoint", {}).get("healthy", True)
        if error is None:
            if not was_healthy:
                self._log("endpoint_recovered", "the chain endpoint answers again")
                self._set_status(endpoint={"healthy": True, "since": time.time(), "error": None})
            return
        message = _one_line(error)
        if was_healthy:
            self._log("endpoint_unhealthy", f"the chain endpoint fails: {message}", level="warning", error=message)
            self._set_status(endpoint={"healthy": False, "since": time.time(), "error": message})
        else:
            self._set_status(endpoint={**self.status["endpoint"], "error": message})

    def _pending(self) -> bool:
        """Whether this account has transactions broadcast but not mined (then the pass waits for them).

        A daemon killed after broadcasting finds its transaction still
        pending after a restart; acting on the chain's state before it is
        mined would send the same step again.
        """
        pending = self.ledger.pending_transactions()
        if pending:
            self._say_once("pending", "waiting_for_pending", f"{pending} transaction(s) of this account are pending: waiting until they are mined", pending=pending)
            return True
        self._said.discard("pending")
        return False

    def _round_moved(self) -> bool:
        """Whether the round or phase changed since the last step read it.

        A transaction mined in the same block after another node's can revert
        for that reason, and a replay on the parent block cannot tell why.
        """
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
            The role this node had in the round it read; ``WAITING`` (and
            nothing read or done) while a transaction of this account is
            pending.

        Raises
        ------
        ContractRevert
            When a transaction reverts (e.g. another node moved the round).
        ChainError, BlobError
            When the chain or the store fails; the caller retries.
        StopRequested
            When a stop was requested before a transaction.
        """
        if self._pending():
            return Role.WAITING
        if not self._model_checked:
            self._check_model()
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
        if role is Role.COMMITTEE and state.phase is Phase.SCORING:
            acted = self._score(state)
        elif role is Role.COMMITTEE and state.phase is Phase.AGGREGATING:
            acted = self._propose(state)
        elif role is Role.TRAINER and state.phase is Phase.COMMIT:
            acted = self._commit(state)
        elif role is Role.TRAINER and state.phase is Phase.REVEAL:
            acted = self._reveal(state)
        if not acted:
            self._deadlines(state)
        return role

    def _check_model(self) -> None:
        """Once per start: this node's model must be the network's, as the genesis model (its hash on chain) has it.

        Raises
        ------
        ConfigError
            If the verified genesis blob's tensor names, shapes or dtypes
            differ from this node's learner's: no update of this node could
            be used, nor could it use anyone's.
        BlobUnavailable, UnverifiedBlob
            If the store has no verified copy (retried: that says nothing
            about this node's model).
        """
        if self.learner is not None:
            genesis = bytes32_to_hash(self.ledger.model(0).blob_hash)
            data = self.blobs.fetch_bytes(genesis)
            try:
                decode_model(data, expected=self.blobs.spec)
            except BlobError as error:
                raise ConfigError(
                    f"this node's model does not fit the network's genesis model {genesis[:12]}: {error.message}",
                    "run the model the network was deployed with (its --flower-client, or --data of the network's task)",
                ) from None
        self._model_checked = True

    def _reconcile(self) -> None:
        """Once per start: adopt updates revealed just before a crash, or whose record was lost.

        The rounds with a sealed update not recorded as revealed, and the
        current round if the state file has no update for it (the file may be
        gone while the round is already past its reveals).
        """
        unconfirmed = {int(key) for key, record in self.state.rounds.items() if record.get("update") is not None and record["update"]["id"] is None}
        current = self.ledger.current_round()
        if "update" not in self.state.rounds.get(str(current), {}):
            unconfirmed.add(current)
        for round in sorted(unconfirmed):
            if self.ledger.has_submitted(round):
                self._adopt_update(round)
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
            loss, accuracy = self.learner.evaluate(self.blobs.fetch(model))
            self._set_status(accuracy=accuracy, loss=loss, model_round=state.round)
            self._log("model_evaluated", f"round {state.round}: global model {model[:12]} has local test accuracy {accuracy:.4f}", round=state.round, blob=model, accuracy=accuracy, loss=loss)
        self._set_status(round=state.round, phase=state.phase.name.lower(), role=role.value, model=model)
        if new_round and self.light:
            removed = prune_cache(self.dir, self.ledger)
            if removed:
                self._log("pruned", f"round {state.round}: pruned {len(removed)} blobs from the cache", round=state.round, removed=len(removed))
        self._guard_blobs(state)

    def _guard_blobs(self, state: RoundState) -> None:
        """Put this node's verified copy back where the shared store lost or spoiled a blob the network needs.

        The global model and the blobs this node made in the round (its
        revealed update, its proposal); a committee member also the round's
        updates it scored (recorded in its state), so that the other members
        find them while they score.
        """
        record = self.state.round(state.round)
        update = record.get("update")
        blobs = [bytes32_to_hash(state.model.blob_hash), record.get("proposed"), update["blob"] if update is not None and update["id"] is not None else None]
        blobs += record.get("scored", {}).values()
        for blob in dict.fromkeys(b for b in blobs if b is not None):
            if self.blobs.guard(blob):
                self._log("blob_republished", f"round {state.round}: the shared store's copy of blob {blob[:12]} was missing or bad; put this node's back", level="warning", round=state.round, blob=blob)

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

    def _commit(self, state: RoundState) -> bool:
        """Train (or take the update sealed before a restart), journal it with its salt, commit."""
        r = state.round
        assert self.trainer is not None
        if self.ledger.commitment(r) != _EMPTY_HASH or r in self._sat_out:
            return False
        sealed = self._sealed(r)
        if sealed is not None:
            self._log("update_reused", f"round {r}: committing the update trained before a restart ({sealed.blob_hash[:12]})", round=r, blob=sealed.blob_hash)
        else:
            started = time.monotonic()
            update = self.trainer.train(r, bytes32_to_hash(state.model.blob_hash))
            if update is None:
                # no blob can carry NaN or infinity: sit this round out instead of retrying
                self._sat_out.add(r)
                self._log("training_diverged", f"round {r}: training gave NaN or infinite parameters; no update this round", level="warning", round=r)
                return False
            sealed = self.trainer.seal(update, secrets.token_bytes(32))
            if not self.trainer.is_fresh(sealed):
                self._sat_out.add(r)
                self._say_used(r, sealed)
                return False
            self.state.record_update(r, sealed.blob_hash, sealed.n_samples, sealed.salt.hex())
            self._log("trained", f"round {r}: trained on {sealed.n_samples} samples in {time.monotonic() - started:.1f} s", round=r, blob=sealed.blob_hash, n_samples=sealed.n_samples, seed=update.seed)
        self._before_tx()
        self.trainer.commit(r, sealed)
        self._log("update_committed", f"round {r}: committed to update {sealed.blob_hash[:12]} (kept private until commitments close)", round=r, blob=sealed.blob_hash)
        return True

    def _reveal(self, state: RoundState) -> bool:
        """Once commitments are closed: upload the committed update and reveal it."""
        r = state.round
        assert self.trainer is not None
        record = self.state.round(r).get("update")
        if self.ledger.has_submitted(r):
            if record is None or record["id"] is None:
                self._adopt_update(r)
            return False
        if self.ledger.commitment(r) == _EMPTY_HASH:
            return False
        sealed = self._sealed(r)
        if sealed is None:
            self._say_once(f"lost:{r}", "update_lost", f"round {r}: committed, but the update or its salt is gone from the state directory; it cannot be revealed", level="warning", round=r)
            return False
        if not self.trainer.is_fresh(sealed):  # another trainer revealed the same blob first
            self._say_used(r, sealed)
            return False
        self._before_tx()
        update_id = self.trainer.reveal(r, sealed)
        # The journal first, then the state file: after a crash in between, the
        # restarted node finds the transaction on chain again (here update_found),
        # and the journal has not missed it.
        self._log("update_submitted", f"round {r}: revealed update {update_id} (blob {sealed.blob_hash[:12]})", round=r, update_id=update_id, blob=sealed.blob_hash)
        self.state.record_update(r, sealed.blob_hash, sealed.n_samples, sealed.salt.hex(), update_id)
        return True

    def _say_used(self, round: int, sealed: SealedUpdate) -> None:
        self._say_once(f"used:{round}", "update_unusable", f"round {round}: update {sealed.blob_hash[:12]} is a blob already used on chain (the unchanged global model?); the chain would refuse it", level="warning", round=round, blob=sealed.blob_hash)

    def _sealed(self, round: int) -> SealedUpdate | None:
        """The update this node sealed in ``round`` (journalled with its salt and kept locally), if any."""
        record = self.state.round(round).get("update")
        if record is None or not record.get("salt") or not self.blobs.has_local(record["blob"]):
            return None
        return SealedUpdate(record["blob"], int(record["n_samples"]), bytes.fromhex(record["salt"]))

    def _adopt_update(self, round: int) -> None:
        """Record the update the chain holds from this node (sent before a crash)."""
        for update in self.ledger.round_updates(round, with_votes=False):
            if _same(update.provider, self.account):
                blob = bytes32_to_hash(update.blob_hash)
                salt = (self.state.round(round).get("update") or {}).get("salt", "")
                self.state.record_update(round, blob, update.n_samples, salt, update.update_id)
                self._log("update_found", f"round {round}: update {update.update_id} was already on chain; recorded it", round=round, update_id=update.update_id, blob=blob)

    # ------------------------------------------------------------ committee

    def _score(self, state: RoundState) -> bool:
        r = state.round
        assert self.member is not None
        updates = self.ledger.round_updates(r)
        voted = {u.update_id: bytes32_to_hash(u.blob_hash) for u in updates if any(_same(v, self.account) for v in u.voters)}
        recorded = self.state.round(r).get("scored", {})
        if any(str(uid) not in recorded for uid in voted):
            self.state.record_scores(r, voted)
        pending = [u for u in updates if u.update_id not in voted]
        if not pending:
            return False
        judgement = self.member.judge(r, pending, peers=updates)
        awaited = judgement.unverified if self.ledger.block_number() < self._blob_grace_end(state) else frozenset()
        for update_id, reason in judgement.rejected.items():
            blob = next(bytes32_to_hash(u.blob_hash) for u in pending if u.update_id == update_id)
            if update_id in awaited:
                message = f"round {r}: no verified copy of update {update_id}'s blob ({reason}); waiting until block {self._blob_grace_end(state)} before scoring it 0"
                self._say_once(f"awaited:{r}:{update_id}", "blob_awaited", message, round=r, update_id=update_id, blob=blob, reason=reason)
            elif update_id in judgement.by_reference:  # a judgement of this member, not a fault: the median decides
                self._log("reference_rule", f"round {r}: update {update_id} scores 0 here by the reference rule: {reason}", round=r, update_id=update_id, blob=blob, reason=reason)
            elif update_id in judgement.screened:  # a judgement too
                self._log("coalition_screen", f"round {r}: update {update_id} scores 0 here by the coalition screen: {reason}", round=r, update_id=update_id, blob=blob, reason=reason)
            else:
                self._log("update_rejected", f"rejected update {update_id}: {reason}", level="warning", round=r, update_id=update_id, blob=blob, reason=reason)
        chosen = [(u, score) for u, score in zip(pending, judgement.scores, strict=True) if u.update_id not in awaited]
        if not chosen:
            return False
        ids = [u.update_id for u, _ in chosen]
        scores = [score for _, score in chosen]
        self._before_tx()
        self.member.vote(r, ids, scores)
        shown = ", ".join(f"{uid}: {score:.3f}" for uid, score in zip(ids, scores, strict=True))
        self._log("scores_submitted", f"round {r}: scored {len(ids)} updates ({shown})", round=r, update_ids=ids, scores=scores)
        self.state.record_scores(r, {u.update_id: bytes32_to_hash(u.blob_hash) for u, _ in chosen})
        return True

    def _blob_grace_end(self, state: RoundState) -> int:
        """The block until which a member waits for a verified copy of an update's blob: half the scoring window.

        Anyone who can write to the store can remove or change a copy; the
        update's trainer (or a mirror) puts it back meanwhile.
        """
        return state.phase_start_block + self.params.deadline_blocks(Phase.SCORING) // 2

    def _propose(self, state: RoundState) -> bool:
        r = state.round
        proposed = self.ledger.proposal(r)
        if proposed != _EMPTY_HASH:
            if self.state.round(r).get("proposed") is None:
                self.state.record_proposal(r, bytes32_to_hash(proposed))
            return False
        proposal = self.aggregator.build(r)
        self._before_tx()
        self.aggregator.propose(r, proposal.blob)
        self._log("model_proposed", f"round {r}: proposed the FedAvg of updates {proposal.qualified} ({proposal.blob[:12]})", round=r, blob=proposal.blob, qualified=proposal.qualified)
        self.state.record_proposal(r, proposal.blob)
        return True

    # ------------------------------------------------------------ liveness

    def _deadlines(self, state: RoundState) -> None:
        """Close a phase after its deadline; replace or re-elect a committee that missed the round deadline."""
        r = state.round
        duty, members = self.watcher.next_duty(state)
        if duty is Duty.NOTHING:
            return
        if duty is Duty.STUCK:
            self._say_once(f"stuck:{r}", "round_stuck", f"round {r} is past its deadline and this node cannot replace the committee (a manager must)", level="warning", round=r)
            return
        self._before_tx()
        self.watcher.perform(r, duty, members)
        messages = {
            Duty.CLOSED_PHASE: ("phase_closed", f"round {r}: closed the {state.phase.name.lower()} phase after its deadline"),
            Duty.REPLACED_COMMITTEE: ("committee_replaced", f"round {r}: replaced the committee that missed the deadline with {members}"),
            Duty.REELECTED_COMMITTEE: ("committee_reelected", f"round {r}: re-elected the committee that missed the deadline"),
        }
        event, message = messages[duty]
        extra: dict[str, Any] = {"members": members} if members else {}
        self._log(event, message, round=r, **extra)

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
        fields = redacted(fields)
        if all(self.status.get(k) == v for k, v in fields.items()):
            return
        self.status.update(fields)
        self.status["updated"] = time.time()
        write_atomically(self.dir.status_file, json_bytes(self.status))
