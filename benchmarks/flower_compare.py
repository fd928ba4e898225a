"""Our FedAvg (and BFLC) round against Flower's simulation of the same workload.

Workload: FEMNIST's first ``--nodes`` writers, LEAF-style CNN (``cnn``), FedAvg
with ``--clients`` clients a round, 1 local epoch of plain SGD (batch 10,
lr 0.05), global evaluation on the writers' pooled test data after every
round. Flower (``flwr[simulation]``, Ray backend, 2 CPUs, 1 CPU per client)
runs clients that train with the same ``bflc.ml.train.train_local``, so the
comparison is of the frameworks, not of the training code. Time per round is
the steady state: (time after the last round - time after the first) /
(rounds - 1), on both sides.

Run: .venv/bin/python benchmarks/flower_compare.py [--quick]
Writes benchmarks/results/flower.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from bflc.ml.dataset import FederatedDataset
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset, simulate
from common import bflc_config_with_trainers, interleaved, peak_rss_bytes, write_result


def steady_round_seconds(stamps: list[float]) -> float:
    """Seconds per round between the first and the last round's end."""
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def run_ours(config: SimConfig, dataset: FederatedDataset) -> float:
    """Steady-state seconds per round of ``simulate`` (FedAvg or BFLC)."""
    stamps: list[float] = []
    simulate(config, dataset=dataset, progress=False, on_round=lambda _: stamps.append(time.perf_counter()))
    return steady_round_seconds(stamps)


def run_flower(config: SimConfig, dataset: FederatedDataset) -> float:
    """Steady-state seconds per round of Flower's ``run_simulation`` on the same workload."""
    # Ray's workers unpickle the client app by reference to flower_app: put this folder on their path.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from flwr.simulation import run_simulation

        from flower_app import client_app, server_app

    stamps: list[float] = []
    logging.getLogger("flwr").setLevel(logging.WARNING)
    run_simulation(
        server_app=server_app(config, dataset, stamps),
        client_app=client_app(config),
        num_supernodes=config.nodes,
        backend_config={"client_resources": {"num_cpus": 1}, "init_args": {"num_cpus": 2, "include_dashboard": False}},
    )
    if len(stamps) != config.rounds:
        raise RuntimeError(f"Flower finished {len(stamps)} of {config.rounds} rounds")
    return steady_round_seconds(stamps)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repeats")
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10, help="clients per round")
    args = parser.parse_args(argv)
    rounds, repeats = (3, 1) if args.quick else (4, 2)
    fedavg = SimConfig.create(
        dataset="femnist", model="cnn", nodes=args.nodes, active_fraction=args.clients / args.nodes,
        aggregator="fedavg", rounds=rounds, seed=0,
    )
    bflc = bflc_config_with_trainers(fedavg, args.clients)
    dataset = load_nodes_dataset(fedavg)
    run_ours(fedavg.replace(rounds=2), dataset)  # warm-up: torch's first calls are slow
    per_round: dict[str, list[float]] = {"ours_fedavg": [], "ours_bflc": [], "flower": []}
    flower_error: str | None = None

    def flower() -> None:
        nonlocal flower_error
        if flower_error is None:
            try:
                per_round["flower"].append(run_flower(fedavg, dataset))
            except Exception as error:  # the report says why Flower could not run
                traceback.print_exc()
                flower_error = "".join(traceback.format_exception_only(error)).strip()

    interleaved(
        {
            "ours_fedavg": lambda: per_round["ours_fedavg"].append(run_ours(fedavg, dataset)),
            "ours_bflc": lambda: per_round["ours_bflc"].append(run_ours(bflc, dataset)),
            "flower": flower,
        },
        repeats,
    )
    best = {name: min(values) for name, values in per_round.items() if values}
    result = {
        "workload": {"fedavg": fedavg.to_dict(), "bflc": bflc.to_dict(), "clients_per_round": args.clients},
        "repeats": repeats,
        "seconds_per_round": best,
        "all_seconds_per_round": per_round,
        "flower_error": flower_error,
        "ratio_fedavg_over_flower": best["ours_fedavg"] / best["flower"] if "flower" in best else None,
        "ratio_bflc_over_flower": best["ours_bflc"] / best["flower"] if "flower" in best else None,
        "peak_rss_bytes_this_process": peak_rss_bytes(),
    }
    write_result("flower", result)
    print({k: result[k] for k in ("seconds_per_round", "ratio_fedavg_over_flower", "ratio_bflc_over_flower", "flower_error")})
    return result


if __name__ == "__main__":
    main()
