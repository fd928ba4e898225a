"""Protocol overhead: a BFLC round against a plain FedAvg round on the same clients, model and data.

FedAvg trains ``--trainers`` clients a round; BFLC's active share is chosen
so that its trainers are as many (its committee comes on top). Both run
through :func:`bflc.sim.engine.simulate` on FEMNIST's writers with the
simulator's CNN, alternating, the faster run of each counting. A FedAvg
round's time is its training plus aggregation (evaluation, the same for
both, is left out); BFLC's overhead is its chain, storage (hashing and
blob encoding) and scoring seconds, from ``simulate``'s per-phase timings.

A cProfile of one BFLC round then shows where the overhead goes, and the
work the committee does is set against the trainers' in forward-pass
sample counts: M members score K updates on up to ``max_validation_samples``
samples each (one forward pass per sample), while K trainers train on
their samples (about three forward passes' worth per sample: forward,
backward for inputs, backward for weights).

Run: .venv/bin/python benchmarks/overhead.py [--quick]
Writes benchmarks/results/overhead.json.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from typing import Any

from bflc.ml.dataset import FederatedDataset
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset, simulate
from bflc.sim.population import Population
from common import bflc_config_with_trainers, interleaved, write_result

OVERHEAD_PHASES = ("chain", "storage", "score")
PROFILED = ("submit_scores", "commit_update", "reveal_update", "propose_model", "score_candidates", "train_local", "put_model", "get_model")


def mean_phase_seconds(result: dict[str, Any]) -> dict[str, float]:
    """Mean seconds per round of each phase."""
    rounds = result["rounds"]
    phases = {phase for m in rounds for phase in m["seconds"]}
    return {phase: sum(m["seconds"].get(phase, 0.0) for m in rounds) / len(rounds) for phase in sorted(phases)}


def profile_round(config: SimConfig, dataset: FederatedDataset, top: int = 15) -> dict[str, Any]:
    """cProfile of a one-round BFLC run: the heaviest functions by own time, and key functions' cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(simulate, config.replace(rounds=1), dataset=dataset, progress=False)
    stats = pstats.Stats(profiler)
    rows = [
        {"function": f"{file.rsplit('/site-packages/', 1)[-1]}:{line}({name})", "calls": calls, "tottime": tt, "cumtime": ct}
        for (file, line, name), (_, calls, tt, ct, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    heaviest = sorted(rows, key=lambda r: -r["tottime"])[:top]
    key = {
        name: max((r["cumtime"] for r in rows if r["function"].endswith(f"({name})")), default=0.0) for name in PROFILED
    }
    return {"total_seconds": stats.total_tt, "by_own_time": heaviest, "cumulative": key}  # type: ignore[attr-defined]


def work_ratio(config: SimConfig, dataset: FederatedDataset) -> dict[str, float]:
    """Committee scoring against local training, in forward-pass samples, for the mean member and trainer."""
    population = Population.create(config, dataset.num_writers)
    sizes = [len(dataset.train_of(i)[1]) for i in range(dataset.num_writers)]
    mean_train = sum(sizes) / len(sizes)
    mean_validation = sum(min(n, config.training.max_validation_samples) for n in sizes) / len(sizes)
    k, m = population.updates_per_round, population.committee_size
    scoring = m * k * mean_validation
    training = 3 * k * mean_train * config.training.local_epochs
    return {"committee": m, "trainers": k, "scoring_samples": scoring, "training_sample_equivalents": training, "ratio": scoring / training}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and one repeat")
    parser.add_argument("--trainers", type=int, default=30)
    args = parser.parse_args(argv)
    rounds, repeats = (2, 1) if args.quick else (3, 2)
    base = SimConfig.create(dataset="femnist", model="cnn", nodes=0, rounds=rounds, seed=0)
    dataset = load_nodes_dataset(base)
    base = base.replace(nodes=dataset.num_writers)
    fedavg = base.replace(aggregator="fedavg", active_fraction=args.trainers / base.nodes)
    bflc = bflc_config_with_trainers(fedavg, args.trainers)
    simulate(fedavg.replace(rounds=1), dataset=dataset, progress=False)  # warm-up
    runs: dict[str, list[dict[str, Any]]] = {"fedavg": [], "bflc": []}
    interleaved(
        {name: (lambda name=name, cfg=cfg: runs[name].append(simulate(cfg, dataset=dataset, progress=False)))
         for name, cfg in (("fedavg", fedavg), ("bflc", bflc))},
        repeats,
    )
    best = {name: min(results, key=lambda r: r["seconds"]["total"]) for name, results in runs.items()}
    phases = {name: mean_phase_seconds(result) for name, result in best.items()}
    fedavg_round = phases["fedavg"]["train"] + phases["fedavg"]["aggregate"]
    overhead = sum(phases["bflc"].get(p, 0.0) for p in OVERHEAD_PHASES)
    result = {
        "configs": {"fedavg": fedavg.to_dict(), "bflc": bflc.to_dict()},
        "repeats": repeats,
        "phase_seconds_per_round": phases,
        "fedavg_round_seconds": fedavg_round,
        "bflc_overhead_seconds": overhead,
        "overhead_share_of_fedavg_round": overhead / fedavg_round,
        "chain_share_of_fedavg_round": phases["bflc"].get("chain", 0.0) / fedavg_round,
        "share_by_phase": {p: phases["bflc"].get(p, 0.0) / fedavg_round for p in OVERHEAD_PHASES},
        "work": work_ratio(bflc, dataset),
        "transactions_per_round": sum(m["transactions"] for m in best["bflc"]["rounds"]) / rounds,
        "gas_per_round": sum(m["gas"] for m in best["bflc"]["rounds"]) / rounds,
        "profile": profile_round(bflc, dataset),
    }
    write_result("overhead", result)
    print({k: result[k] for k in ("fedavg_round_seconds", "overhead_share_of_fedavg_round", "chain_share_of_fedavg_round", "share_by_phase")})
    return result


if __name__ == "__main__":
    main()
