"""Adversaries of the end-to-end tests, driven through bflc's Ledger API from
threads of the test process (not by `bflc node`).

* :class:`FrontRunner`, an admitted trainer that never trains. It watches
  the chain (every commitment and every reveal, with its calldata, as soon as
  it is mined) and the shared blob store, and tries to claim every update it
  sees: it copies another node's commitment with its own ``commit_update``,
  commits with its own salt to each blob that appears in the store and
  reveals it, and in a later round uploads a blob another node revealed
  again and commits to it and reveals it. It records every transaction it sends as
  an :class:`Attempt`, with its outcome and the one the contract must give.
* :class:`SelectiveVoter`, a committee member that scores only the first
  revealed update of its rounds (1.0) and never proposes a model.

Anvil auto-mines, so no transaction waits in a pool: the earliest the
front-runner sees a commitment or a reveal is the block that holds it, and the
earliest it sees a blob is its upload to the store, just before its reveal.
Each adversary passes over the chain every ``poll_seconds``; :meth:`Adversary.settle`
waits for one whole pass, so that a test moves the chain on only once the
adversaries have acted on everything there is to see.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bflc.chain import Phase
from bflc.chain.types import SCORE_ONE
from bflc.chain.web3_ledger import Web3Ledger
from bflc.errors import ContractRevert
from bflc.protocol import commitment
from bflc.storage import BlobStore, bytes32_to_hash, hash_to_bytes32

ACCEPTED = "accepted"
MISMATCH = "reveal does not match this node's commitment"
WRONG_PHASE = "not this phase of the round"
USED = "blob already used"

# What the front-runner sends, and what the contract must answer. The commits
# that prepare a claim are accepted; every claim of another node's update reverts.
PREPARATIONS = {"copy_commit": ACCEPTED, "replay_commit": ACCEPTED}
THEFTS = {
    "steal_reveal": MISMATCH,  # another node's revealed (blob, samples, salt), sent as its own reveal
    "claim_commit": WRONG_PHASE,  # its own commitment to a blob just uploaded: commitments are closed
    "claim_reveal": MISMATCH,  # that blob revealed with its own salt against the commitment it holds
    "replay_reveal": USED,  # a blob revealed in an earlier round, uploaded again and revealed
}
EXPECTED = {**PREPARATIONS, **THEFTS}
SETTLE_SECONDS = 30.0


@dataclass(frozen=True)
class Attempt:
    """One transaction of the front-runner: what it tried, on whose update, and what happened.

    ``target`` is the blob hash it went for (the copied commitment for a
    ``copy_commit``); ``victim`` the node whose commitment or reveal it used,
    if it saw one; ``outcome`` is ``ACCEPTED`` or the revert reason, and
    ``expected`` the one the contract must give.
    """

    kind: str
    round: int
    target: str
    victim: str | None
    outcome: str

    @property
    def expected(self) -> str:
        return EXPECTED[self.kind]


@dataclass(frozen=True)
class Opening:
    """What opens a commitment: the blob hash, the sample count and the salt."""

    blob: bytes
    n_samples: int
    salt: bytes


@dataclass(frozen=True)
class Reveal:
    """A reveal another node sent, read from its transaction's calldata."""

    round: int
    sender: str
    opening: Opening


class Adversary(threading.Thread):
    """A thread that runs :meth:`step` every ``poll_seconds`` until :meth:`halt`.

    An exception ends the thread; it is kept in :attr:`error` and raised again by :meth:`settle`.
    """

    def __init__(self, name: str, ledger: Web3Ledger, poll_seconds: float = 0.1) -> None:
        super().__init__(name=name, daemon=True)
        self.ledger = ledger
        self.address = ledger.account
        self.poll_seconds = poll_seconds
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self._passes = 0
        self._progress = threading.Condition()

    def step(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.step()
            except Exception as error:  # the test reports it
                self.error = error
            with self._progress:
                self._passes += 1
                self._progress.notify_all()
            if self.error is not None:
                return
            self._halt.wait(self.poll_seconds)

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until a whole pass that began after this call has ended."""
        with self._progress:
            target = self._passes + 2
            done = self._progress.wait_for(lambda: self._passes >= target or self.error is not None, timeout)
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        if not done:
            raise AssertionError(f"{self.name} did not finish a pass in {timeout:.0f} s")

    def halt(self) -> None:
        """Stop after the current pass."""
        self._halt.set()
        self.join(SETTLE_SECONDS)


class FrontRunner(Adversary):
    """An admitted trainer that tries to claim the updates of others (see the module docstring).

    Even rounds it copies the first commitment it sees; odd rounds it commits
    to a blob another node revealed in an earlier round. No reveal of its
    commitment can succeed, so it keeps the reveal phase open until the
    deadline, and meanwhile claims every new blob in the store and steals every
    reveal it sees. :attr:`held` maps each round it committed in to what opens
    its commitment (``None`` for a copy, which it cannot open).
    """

    def __init__(self, ledger: Web3Ledger, store: BlobStore, poll_seconds: float = 0.1) -> None:
        super().__init__("front-runner", ledger, poll_seconds)
        self.store = store
        self.attempts: list[Attempt] = []
        self.held: dict[int, Opening | None] = {}
        self.commitments: dict[int, list[tuple[str, bytes]]] = {}
        self.reveals: list[Reveal] = []
        self.uploads: set[str] = set(store.list())
        self._tried: set[tuple[str, int, str]] = set()
        self._next_block = ledger.block_number()

    def step(self) -> None:
        self._watch_chain(self.ledger.block_number())
        new_blobs = sorted(set(self.store.list()) - self.uploads)
        self.uploads.update(new_blobs)
        r, phase = self.ledger.current_round(), self.ledger.phase()  # read after what was watched
        if phase is Phase.COMMIT and r not in self.held:
            self._commit(r)
        elif phase is Phase.REVEAL and r in self.held:
            for blob in new_blobs:
                self._claim(r, blob)
            for reveal in self.reveals:
                if reveal.round == r:
                    self._steal(r, reveal)
            opening = self.held[r]
            if opening is not None:
                self._try("replay_reveal", r, bytes32_to_hash(opening.blob), None, lambda: self._reveal(r, opening))

    # ------------------------------------------------------------ watching

    def _watch_chain(self, head: int) -> None:
        """Read the calldata of every commitment and reveal of another node mined since the last pass."""
        if head < self._next_block:
            return
        for name in ("UpdateCommitted", "UpdateSubmitted"):
            for log in self.ledger.contract.events[name]().get_logs(from_block=self._next_block, to_block=head):
                tx = self.ledger.w3.eth.get_transaction(log["transactionHash"])
                if tx["from"] == self.address:
                    continue
                _, args = self.ledger.contract.decode_function_input(tx["input"])
                r = int(args["round"])
                if name == "UpdateCommitted":
                    self.commitments.setdefault(r, []).append((tx["from"], bytes(args["commitment"])))
                else:
                    opening = Opening(bytes(args["blob_hash"]), int(args["n_samples"]), bytes(args["salt"]))
                    self.reveals.append(Reveal(r, tx["from"], opening))
        self._next_block = head + 1

    # ------------------------------------------------------------ attempts

    def _commit(self, r: int) -> None:
        earlier = [v for v in self.reveals if v.round < r]
        if r % 2 == 1 and earlier:
            victim = earlier[-1]
            blob = bytes32_to_hash(victim.opening.blob)
            self.store.put(self.store.get(blob))  # upload the seen blob again
            opening = Opening(victim.opening.blob, victim.opening.n_samples, secrets.token_bytes(32))
            own = commitment(self.address, r, opening.blob, opening.n_samples, opening.salt)
            if self._try("replay_commit", r, blob, victim.sender, lambda: self.ledger.commit_update(r, own)):
                self.held[r] = opening
        elif self.commitments.get(r):
            sender, copied = self.commitments[r][0]
            if self._try("copy_commit", r, copied.hex(), sender, lambda: self.ledger.commit_update(r, copied)):
                self.held[r] = None

    def _claim(self, r: int, blob: str) -> None:
        """Commit to a blob just uploaded, with its own salt, then reveal it."""
        opening = Opening(hash_to_bytes32(blob), 1, secrets.token_bytes(32))
        own = commitment(self.address, r, opening.blob, opening.n_samples, opening.salt)
        self._try("claim_commit", r, blob, None, lambda: self.ledger.commit_update(r, own))
        self._try("claim_reveal", r, blob, None, lambda: self._reveal(r, opening))

    def _steal(self, r: int, reveal: Reveal) -> None:
        """Send another node's reveal as its own."""
        self._try("steal_reveal", r, bytes32_to_hash(reveal.opening.blob), reveal.sender, lambda: self._reveal(r, reveal.opening))

    def _reveal(self, r: int, opening: Opening) -> int:
        return self.ledger.reveal_update(r, opening.blob, opening.n_samples, opening.salt)

    def _try(self, kind: str, r: int, target: str, victim: str | None, send: Callable[[], Any]) -> bool:
        """Send one transaction once and record its outcome; whether it was accepted."""
        if (kind, r, target) in self._tried:
            return False
        self._tried.add((kind, r, target))
        try:
            send()
        except ContractRevert as revert:
            outcome = revert.reason
        else:
            outcome = ACCEPTED
        self.attempts.append(Attempt(kind, r, target, victim, outcome))
        return outcome == ACCEPTED


class SelectiveVoter(Adversary):
    """A committee member that scores only the first revealed update of each of its rounds, with 1.0, and never proposes.

    :attr:`votes` maps each round it voted in to the update it scored.
    """

    def __init__(self, ledger: Web3Ledger, poll_seconds: float = 0.1) -> None:
        super().__init__("selective voter", ledger, poll_seconds)
        self.votes: dict[int, int] = {}

    def step(self) -> None:
        state = self.ledger.round_state()
        r = state.round
        if r in self.votes or state.phase is not Phase.SCORING or self.address not in state.committee:
            return
        first = self.ledger.round_update_ids(r)[0]
        self.ledger.submit_scores(r, [first], [SCORE_ONE])
        self.votes[r] = first
