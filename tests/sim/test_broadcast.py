"""Decentralized broadcast (--aggregator broadcast): every node aggregates the updates it receives itself."""

import json

from bflc.cli import main
from bflc.sim.baselines import BroadcastRunner
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset, simulate, without_timings
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.sim.transfers import broadcast_round

SMALL = SimConfig.create(dataset="digits", model="mlp", nodes=10, active_fraction=0.6, rounds=2, lr=0.1, local_epochs=2, momentum=0.0, seed=3, aggregator="broadcast")


def test_simulate_broadcast_runs_and_reports_its_transfers(tmp_path, capsys):
    path = tmp_path / "broadcast.json"
    args = ["simulate", "--aggregator", "broadcast", "--dataset", "digits", "--model", "mlp", "--nodes", "10", "--active-fraction", "0.6",
            "--rounds", "2", "--malicious-fraction", "0.3", "--seed", "3", "--json", str(path)]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("broadcast\n")
    result = json.loads(path.read_text())
    assert result["config"]["aggregator"] == "broadcast" and len(result["rounds"]) == 2
    for m in result["rounds"]:
        active = len(m["trainers"])
        assert active == 6 and m["transactions"] == 0
        assert m["transfers"] == broadcast_round(active, m["updates"]) == {"update_sends": m["updates"] * (active - 1)}
        assert m["transmission_units"] == m["updates"] * 5 > 0
        assert m["accepted"] == m["updates"] and m["malicious_accepted"] == m["malicious_submitted"]
    assert result["totals"]["transfers"] == {"update_sends": result["totals"]["transmission_units"]}


def test_broadcast_is_deterministic():
    first, second = (without_timings(simulate(SMALL, progress=False)) for _ in range(2))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_offline_nodes_keep_their_model_and_the_active_ones_share_the_round_aggregate():
    dataset = load_nodes_dataset(SMALL)
    population = Population.create(SMALL, dataset.num_writers)
    nodes = VirtualNodes(dataset, SMALL, population)
    runner = BroadcastRunner(SMALL, nodes, population)
    initial = nodes.initial_parameters()
    metrics = runner.run_round(0)
    active = metrics.trainers
    assert all(runner.models[n] is initial for n in range(population.size) if n not in active)
    assert all(runner.models[n] is runner.current_parameters() is not initial for n in active)
    # no node is malicious: the reported model is the lowest-numbered active node's
    second = runner.run_round(1)
    assert runner.current_parameters() is runner.models[second.trainers[0]]


def test_with_every_node_active_broadcast_ends_each_round_with_fedavgs_model():
    """Every node then trains from the same model and averages the same updates as a FedAvg server."""
    everyone = SMALL.replace(active_fraction=1.0, committee_fraction=0.2)
    broadcast, fedavg = (simulate(everyone.replace(aggregator=a), progress=False)["rounds"] for a in ("broadcast", "fedavg"))
    assert [(m["accuracy"], m["loss"]) for m in broadcast] == [(m["accuracy"], m["loss"]) for m in fedavg]
    assert [m["transmission_units"] for m in broadcast] == [10 * 9, 10 * 9] != [m["transmission_units"] for m in fedavg]
