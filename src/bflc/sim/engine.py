"""Run a simulation: set up nodes, play the rounds, evaluate, report."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bflc.ml.data import load_dataset
from bflc.ml.dataset import FederatedDataset, subset_writers
from bflc.sim.baselines import BaselineRunner, BroadcastRunner
from bflc.sim.config import SimConfig
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.sim.protocol_runner import ProtocolRunner
from bflc.sim.runner import Runner
from bflc.sim.transfers import summed

RoundCallback = Callable[[dict[str, Any]], None]
# The aggregators that are not a central server's rule (:data:`bflc.sim.baselines.RULES`).
RUNNERS: dict[str, Callable[[SimConfig, VirtualNodes, Population], Runner]] = {"bflc": ProtocolRunner, "broadcast": BroadcastRunner}


def load_nodes_dataset(config: SimConfig) -> FederatedDataset:
    """The dataset cut to the first ``config.nodes`` writers."""
    kwargs: dict[str, Any] = {}
    if config.dataset == "digits":
        kwargs = {"num_writers": config.nodes or 10, "seed": config.seed}
    dataset = load_dataset(config.dataset, **kwargs)
    if config.nodes and config.nodes < dataset.num_writers:
        dataset = subset_writers(dataset, config.nodes)
    return dataset


def simulate(
    config: SimConfig,
    *,
    dataset: FederatedDataset | None = None,
    json_path: Path | None = None,
    progress: bool = True,
    on_round: RoundCallback | None = None,
) -> dict[str, Any]:
    """Run ``config`` and return its result (also written to ``json_path``).

    The result holds the configuration, one metrics dict per round (accuracy,
    loss, whether the model diverged, accepted/rejected updates, malicious
    updates let in, committee, transactions, gas, full-model transfers by
    kind and their total, seconds per phase, and backdoor success when the
    attack declares a trigger), the final and best accuracy, the final
    backdoor success (when measured) and totals.
    Everything but the ``seconds`` entries is identical for the same config.
    """
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _simulate(config, dataset, json_path, progress, on_round)
    finally:
        torch.set_num_threads(threads_before)


def _simulate(
    config: SimConfig,
    dataset: FederatedDataset | None,
    json_path: Path | None,
    progress: bool,
    on_round: RoundCallback | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    dataset = dataset or load_nodes_dataset(config)
    population = Population.create(config, dataset.num_writers)
    nodes = VirtualNodes(dataset, config, population)
    runner = RUNNERS.get(config.aggregator, BaselineRunner)(config, nodes, population)
    rounds = []
    bar = tqdm(range(config.rounds), desc=config.aggregator, unit="round", disable=None if progress else True, leave=False)
    for r in bar:
        before = dict(runner.timer.seconds)
        metrics = runner.run_round(r)
        with runner.timer.phase("evaluate"):
            params = runner.current_parameters()
            loss, accuracy = nodes.evaluate(params)
            backdoor = nodes.backdoor_success(params)
        metrics.record_test(loss, accuracy, backdoor)  # a model blown up by an attack is marked diverged
        metrics.seconds = {k: round(v - before.get(k, 0.0), 4) for k, v in runner.timer.seconds.items()}
        rounds.append(metrics.to_dict())
        bar.set_postfix(acc=f"{accuracy:.3f}")
        if on_round:
            on_round(rounds[-1])
    setup = runner.setup_cost()
    result = {
        "config": config.to_dict(),
        "dataset": {
            "name": dataset.name,
            "writers": dataset.num_writers,
            "train_samples": dataset.num_train_samples,
            "test_samples": dataset.num_test_samples,
        },
        "population": {
            "nodes": population.size,
            "active_per_round": population.num_active,
            "committee_size": population.committee_size,
            "malicious": sorted(population.malicious),
        },
        "rounds": rounds,
        "final_accuracy": rounds[-1]["accuracy"],
        "best_accuracy": max(m["accuracy"] for m in rounds),
        **({"final_backdoor_success": rounds[-1]["backdoor_success"]} if "backdoor_success" in rounds[-1] else {}),
        "totals": {
            "setup_transactions": setup["transactions"],
            "setup_gas": setup["gas"],
            "transactions": sum(m["transactions"] for m in rounds),
            "gas": sum(m["gas"] for m in rounds),
            "transmission_units": sum(m["transmission_units"] for m in rounds),
            "transfers": summed(m["transfers"] for m in rounds),
            "diverged_rounds": sum(m["diverged"] for m in rounds),
            "malicious_accepted": sum(m["malicious_accepted"] for m in rounds),
        },
        "seconds": {"total": round(time.perf_counter() - started, 3), **runner.timer.snapshot()},
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def without_timings(result: dict[str, Any]) -> dict[str, Any]:
    """The result minus wall-clock entries: equal for equal configs and seeds."""
    out = {k: v for k, v in result.items() if k != "seconds"}
    out["rounds"] = [{k: v for k, v in m.items() if k != "seconds"} for m in result["rounds"]]
    return out
