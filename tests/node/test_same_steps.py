"""The simulator and real `bflc node` processes run the same role steps.

Five nodes, each with one bundled FEMNIST writer, the same founding committee
(three), training settings and seeds: the simulator's round 0 and a round 0
of real node daemons on anvil accept the same model, byte for byte. Update
ids (which break ties between equal medians) follow the order of the reveals,
so the test makes the trainers reveal in the simulator's order: every trainer
but the first commits and is stopped, the first commits last (closing the
commitments) and reveals, then the others are restarted one at a time and
reveal the update they committed to before their restart.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bflc.chain import ProtocolParams
from bflc.chain.anvil import AnvilChain
from bflc.net.connect import connect
from bflc.net.deploy import deploy_network
from bflc.net.network import LearningSettings, write_network
from bflc.node.journal import read_journal
from bflc.settings import TrainingSettings
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.sim.protocol_runner import ProtocolRunner
from tests.net.conftest import make_key

pytestmark = pytest.mark.slow

SEED = 7
TRAINING = TrainingSettings(local_epochs=1, batch_size=10, lr=0.05, momentum=0.9, max_validation_samples=100, sample_cap=4.0)
CONFIG = SimConfig(dataset="femnist", model="mlp", nodes=5, active_fraction=1.0, committee_fraction=0.6, rounds=1, training=TRAINING, seed=SEED)


def simulated_round_0() -> tuple[ProtocolRunner, list[int], list[int]]:
    """The simulator's round 0: its runner, founders and trainers (node indices)."""
    dataset = load_nodes_dataset(CONFIG)
    population = Population.create(CONFIG, dataset.num_writers)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `bflc node` trains: results are bit-identical for the same thread count
    try:
        runner = ProtocolRunner(CONFIG, VirtualNodes(dataset, CONFIG, population), population)
        metrics = runner.run_round(0)
    finally:
        torch.set_num_threads(threads)
    assert metrics.committee is not None and metrics.committee.model_accepted
    return runner, population.first_committee(SEED), metrics.trainers


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every node, then wait for it (kill what does not stop)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop(started)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def test_simulator_and_node_processes_accept_the_same_round_0_model(tmp_path: Path, processes: list) -> None:
    runner, founders, trainers = simulated_round_0()
    with AnvilChain(2) as chain:
        keys = [make_key(chain, tmp_path, f"node{i}") for i in range(CONFIG.nodes)]
        manager = make_key(chain, tmp_path, "manager")
        params: ProtocolParams = runner.protocol_params
        network = deploy_network(
            chain.url,
            manager.account,
            name="same-steps",
            store=str(tmp_path / "store"),
            committee=[keys[i].address for i in founders],
            params=params,
            learning=LearningSettings(model=CONFIG.model, input_shape=(1, 28, 28), num_classes=62, model_seed=SEED, training=TRAINING),
        )
        path = write_network(tmp_path / "network.toml", network)
        admin = connect(network, manager.account)
        for i in trainers:
            admin.admit(keys[i].address)
        assert admin.model(0).blob_hash == runner.ledger.model(0).blob_hash  # the same genesis model

        def start(i: int) -> subprocess.Popen[bytes]:
            command = [sys.executable, "-m", "bflc.cli", "node", "--network", str(path), "--key-file", str(keys[i].path),
                       "--state-dir", str(tmp_path / f"state{i}"), "--data", f"femnist:{i}", "--seed", f"{SEED},{i}", "--poll", "0.2"]
            log = (tmp_path / f"node{i}.log").open("ab")
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
            return processes[-1]

        first, *others = trainers
        for i in others:  # commit, then stop before the commitments close
            node = start(i)
            wait_for(lambda i=i: admin.commitment(0, keys[i].address) != bytes(32), 120, f"trainer node{i}'s commitment")
            stop([node])
        start(first)  # its commitment is the K-th: it reveals first
        wait_for(lambda: len(admin.round_update_ids(0)) == 1, 120, f"trainer node{first}'s update")
        for count, i in enumerate(others, start=2):  # restarted, each reveals the update it committed to
            start(i)
            wait_for(lambda count=count: len(admin.round_update_ids(0)) >= count, 120, f"trainer node{i}'s update")
        for i in founders:
            start(i)
        wait_for(lambda: admin.current_round() >= 1, 180, "round 0 to end")
        stop(processes)  # before the chain goes away

        simulated = {u.update_id: (u.provider, u.blob_hash) for u in runner.ledger.round_updates(0, with_votes=False)}
        real = {u.update_id: (u.provider, u.blob_hash) for u in admin.round_updates(0, with_votes=False)}
        sim_nodes = {uid: runner.node_of[p] for uid, (p, _) in simulated.items()}
        real_nodes = {uid: next(i for i, k in enumerate(keys) if k.address == p) for uid, (p, _) in real.items()}
        assert real_nodes == sim_nodes
        assert {uid: h for uid, (_, h) in real.items()} == {uid: h for uid, (_, h) in simulated.items()}  # the same updates
        assert admin.qualified(0) == runner.ledger.qualified(0)
        assert admin.model(1).blob_hash == runner.ledger.model(1).blob_hash  # the same accepted model
        for i in others:  # a restart between commit and reveal: trained and committed once, revealed once
            # round 0 only: a node may train for round 1 before it is stopped
            journal = [e["event"] for e in read_journal(tmp_path / f"state{i}" / "node.log") if e["event"] == "started" or e.get("round") == 0]
            assert [e for e in journal if e in ("started", "trained", "update_committed", "update_submitted")] == [
                "started", "trained", "update_committed", "started", "update_submitted"
            ]
