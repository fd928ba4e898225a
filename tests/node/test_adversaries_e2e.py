"""End to end on anvil: five honest `bflc node` processes, a front-runner that
tries to claim their updates and a committee member that votes selectively
(both :mod:`tests.node.adversary`). Rounds go on, the front-runner owns and
earns nothing, no honest update is dropped, and the selective voter only
makes its rounds wait for the scoring deadline.

The first committee is two honest nodes and the selective voter; three honest
trainers and the front-runner make K = 4, so round 0's commitments close only
with the front-runner's copy, and no honest update can be crowded out.
anvil auto-mines (a block per transaction) and the test mines the rest of a
phase's deadline on demand, once every honest node has done its part of the
phase and both adversaries have acted on all there is to see: no step waits
on a clock. The tests share one run and read the chain it left.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bflc.chain import ModelOrigin, Phase, ProtocolParams, RoundState
from bflc.chain.anvil import AnvilChain
from bflc.chain.types import SCORE_ONE
from bflc.chain.web3_ledger import Web3Ledger
from bflc.cluster.procs import ProcessRecord, is_running, spawn, stop
from bflc.ml.digits import DIGITS_CLASSES, DIGITS_SHAPE
from bflc.net.connect import connect
from bflc.net.deploy import deploy_network
from bflc.net.network import LearningSettings, write_network
from bflc.node.journal import read_journal
from bflc.protocol import lower_median
from bflc.settings import TrainingSettings
from bflc.storage import bytes32_to_hash, open_store
from tests.chain.attackers import honest_medians, reference_qualified
from tests.net.conftest import make_key
from tests.node.adversary import EXPECTED, THEFTS, FrontRunner, SelectiveVoter

pytestmark = pytest.mark.slow  # anvil and five node processes

SEED = 7
ROUNDS = 2  # accepted models the run waits for
MEMBERS = ("member0", "member1")  # honest, on the first committee with the selective voter
TRAINERS = ("trainer0", "trainer1", "trainer2")
HONEST = (*MEMBERS, *TRAINERS)
PARAMS = ProtocolParams(
    committee_size=3,
    min_committee_size=3,
    updates_per_round=4,  # never more than three honest trainers: K needs the front-runner's copy
    min_score=0.01,  # every honest update qualifies, as the honest members' own medians say
    commit_deadline_blocks=30,  # more blocks than the transactions of a phase mine
    reveal_deadline_blocks=30,
    score_deadline_blocks=30,
    round_deadline_blocks=150,  # never reached: a committee is never replaced
    round_reward=10**15,
    committee_share=0.2,
)
LEARNING = LearningSettings(
    model="mlp",
    input_shape=DIGITS_SHAPE,
    num_classes=DIGITS_CLASSES,
    model_seed=SEED,
    training=TrainingSettings(local_epochs=1, batch_size=10, max_validation_samples=100),
)
POLL_SECONDS = 0.3
TIMEOUT_SECONDS = 240
EMPTY = bytes(32)


@dataclass
class Run:
    """The network, its processes and adversaries, and the mining on demand."""

    chain: AnvilChain
    admin: Web3Ledger
    honest: dict[str, str]  # name -> address
    root: Path
    processes: dict[str, ProcessRecord]
    front_runner: FrontRunner
    voter: SelectiveVoter

    def play(self, rounds: int, timeout: float) -> None:
        """Mine on demand until ``rounds`` models are accepted; fail with each node's last journal lines."""
        deadline = time.monotonic() + timeout
        while self.admin.current_round() < rounds:
            dead = [name for name, record in self.processes.items() if not is_running(record)]
            if dead or time.monotonic() > deadline:
                raise AssertionError(
                    self.diagnosis(f"processes {dead} exited" if dead else f"no {rounds} accepted models after {timeout} s")
                )
            self.advance()
            time.sleep(0.2)

    def advance(self) -> None:
        """Mine the rest of the phase's deadline if only the adversaries keep it open."""
        state = self.admin.round_state()
        if state.phase is Phase.AGGREGATING or not self.honest_done(state):
            return
        self.front_runner.settle()
        self.voter.settle()
        now = self.admin.round_state()
        if (now.round, now.phase, now.phase_start_block) != (state.round, state.phase, state.phase_start_block):
            return
        missing = state.phase_start_block + PARAMS.deadline_blocks(state.phase) - self.admin.block_number()
        if missing > 0:
            self.chain.mine(missing)

    def honest_done(self, state: RoundState) -> bool:
        """Whether every honest node did its part of the phase: committed, revealed, or scored every update."""
        r, committee = state.round, set(state.committee)
        trainers = [a for a in self.honest.values() if a not in committee]
        if state.phase is Phase.COMMIT:
            return all(self.admin.commitment(r, a) != EMPTY for a in trainers)
        if state.phase is Phase.REVEAL:
            return all(self.admin.has_submitted(r, a) for a in trainers if self.admin.commitment(r, a) != EMPTY)
        members = {a for a in self.honest.values() if a in committee}
        return all(members <= set(u.voters) for u in self.admin.round_updates(r))

    def diagnosis(self, what: str) -> str:
        state = self.admin.round_state()
        lines = [
            what,
            f"chain: round {state.round}, {state.phase.name}, block {self.admin.block_number()}, "
            f"phase from block {state.phase_start_block}, {state.num_commits} commitments",
        ]
        for name in self.processes:
            for record in read_journal(self.root / name / "node.log")[-4:]:
                lines.append(f"  {name}: {record['event']}: {record['message']}")
        lines += [f"  front-runner: {a}" for a in self.front_runner.attempts[-6:]]
        lines += [f"  {t.name} failed: {t.error!r}" for t in (self.front_runner, self.voter) if t.error is not None]
        return "\n".join(lines)


def node_command(network: Path, key: Path, state_dir: Path, index: int) -> list[str]:
    return [
        sys.executable, "-m", "bflc.cli", "node", "--network", str(network), "--key-file", str(key), "--state-dir", str(state_dir),
        "--data", f"digits:{index}/{len(HONEST)}", "--seed", f"{SEED},{index}", "--poll", str(POLL_SECONDS),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("adversaries")
    with AnvilChain(2) as chain:
        keys = {name: make_key(chain, root, name) for name in (*HONEST, "voter", "front-runner", "manager")}
        network = deploy_network(
            chain.url,
            keys["manager"].account,
            name="adversaries",
            store=str(root / "store"),
            committee=[keys["member0"].address, keys["member1"].address, keys["voter"].address],
            params=PARAMS,
            learning=LEARNING,
        )
        path = write_network(root / "network.toml", network)
        admin = connect(network, keys["manager"].account)
        for name in (*TRAINERS, "front-runner"):
            admin.admit(keys[name].address)
        admin.fund(100 * PARAMS.round_reward)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        processes = {
            name: spawn(node_command(path, keys[name].path, root / name, i), root / name / "stdout.log", env)
            for i, name in enumerate(HONEST)
        }
        played = Run(
            chain,
            admin,
            {name: keys[name].address for name in HONEST},
            root,
            processes,
            FrontRunner(connect(network, keys["front-runner"].account), open_store(network.store)),
            SelectiveVoter(connect(network, keys["voter"].account)),
        )
        played.front_runner.start()
        played.voter.start()
        try:
            played.play(ROUNDS, TIMEOUT_SECONDS)
        finally:
            stop(processes)
            played.front_runner.halt()
            played.voter.halt()
        yield played


def round_logs(ledger: Web3Ledger, event: str, round: int) -> list[Any]:
    """The ``event`` logs of ``round``, oldest first."""
    return [log for log in ledger.contract.events[event]().get_logs(from_block=0) if log["args"]["round"] == round]


def test_rounds_keep_completing(run):
    assert [run.admin.model(r).origin for r in range(1, ROUNDS + 1)] == [ModelOrigin.AGGREGATED] * ROUNDS
    assert run.front_runner.error is None and run.voter.error is None


def test_the_front_runner_owns_and_earns_nothing_and_every_claim_reverts(run):
    front_runner, admin = run.front_runner, run.admin
    attempts = front_runner.attempts
    assert [a for a in attempts if a.outcome != a.expected] == []
    assert {a.kind for a in attempts} == set(EXPECTED), "every way of claiming an update was tried"
    assert set(range(ROUNDS)) <= set(front_runner.held), "it held a commitment in every round"
    updates = [u for r in range(admin.current_round() + 1) for u in admin.round_updates(r, with_votes=False)]
    assert all(u.provider != front_runner.address for u in updates)
    owners = {bytes32_to_hash(u.blob_hash): u.provider for u in updates}
    stolen = [a for a in attempts if a.kind in THEFTS and a.victim is not None]
    assert stolen and all(owners[a.target] == a.victim for a in stolen), "a stolen update stays its trainer's"
    assert admin.balance(front_runner.address) == 0
    paid = {admin.update(q, with_votes=False).provider for r in range(ROUNDS) for q in admin.qualified(r)}
    assert paid and all(admin.balance(p) > 0 for p in paid), "the reward pool did pay the qualified trainers"


def test_every_honest_commitment_is_revealed_and_scored(run):
    admin = run.admin
    for r in range(ROUNDS):
        # Every honest node off the committee committed (the contract keeps only a
        # node's latest commitment, so a past round shows it through the reveal).
        trainers = {a for a in run.honest.values() if a not in admin.committee(r)}
        updates = {u.provider: u for u in admin.round_updates(r, with_votes=False)}
        assert all(a in updates and updates[a].final for a in trainers), f"round {r}: an honest update was dropped"


def test_qualified_sets_follow_the_medians_of_the_recorded_votes(run):
    admin = run.admin
    for r in range(ROUNDS):
        updates = admin.round_updates(r)
        final = [u for u in updates if u.final]
        assert all(u.median == lower_median(u.scores) and 2 * u.num_votes > PARAMS.committee_size for u in final)
        medians = {u.update_id: lower_median(u.scores) for u in final}
        assert admin.qualified(r) == reference_qualified(admin, r, PARAMS, medians)


def test_the_selective_voter_only_makes_its_rounds_wait_for_the_deadline(run):
    admin, voter = run.admin, run.voter.address
    rounds = [r for r in range(ROUNDS) if voter in admin.committee(r)]
    assert rounds and rounds[0] == 0 and set(run.voter.votes) == set(rounds)
    for r in rounds:
        updates = admin.round_updates(r)
        first = admin.round_update_ids(r)[0]
        assert len(updates) > 1 and run.voter.votes[r] == first
        assert [(u.update_id, u.scores[u.voters.index(voter)]) for u in updates if voter in u.voters] == [(first, SCORE_ONE)]
        assert admin.proposal(r, voter) == EMPTY
        assert all(u.final for u in updates), "every update was final without its votes"
        # aggregation came from a scoring close after the deadline, not from its vote
        (trigger,) = round_logs(admin, "AggregationTriggered", r)
        closer = admin.contract.decode_function_input(admin.w3.eth.get_transaction(trigger["transactionHash"])["input"])[0]
        scoring = next(log for log in round_logs(admin, "PhaseStarted", r) if log["args"]["phase"] == Phase.SCORING)
        assert closer.fn_name == "close_phase" and trigger["blockNumber"] >= scoring["blockNumber"] + PARAMS.score_deadline_blocks
        honest = honest_medians({u.update_id: [s for v, s in zip(u.voters, u.scores, strict=True) if v != voter] for u in updates})
        assert set(admin.qualified(r)) == set(reference_qualified(admin, r, PARAMS, honest))
    assert admin.balance(voter) == 0
