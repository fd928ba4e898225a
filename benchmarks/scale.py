"""Scale: registering 3,550 nodes (FEMNIST's writer count) on FastChain, and
BFLC rounds with 900 simulated nodes at 10% active, with peak memory.

FEMNIST's bundled subset has 167 writers, so the 900 nodes hold repeated
shards: node i holds writer (i mod 167)'s data (the arrays are shared, not
copied). Registration deploys the contract with the founding committee
(M = 37, odd as decision 0006 requires) and admits every other node, one ``admit`` transaction each.

Run: .venv/bin/python benchmarks/scale.py [--quick]
Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bflc.chain import ProtocolParams
from bflc.chain.fast import FastChain
from bflc.ml.data import load_dataset
from bflc.ml.dataset import FederatedDataset
from bflc.sim.config import SimConfig
from bflc.sim.engine import simulate
from common import peak_rss_bytes, write_result

REGISTERED, SIMULATED, COMMITTEE = 3550, 900, 37


def repeated_writers(dataset: FederatedDataset, count: int) -> FederatedDataset:
    """``count`` writers, writer i holding ``dataset``'s writer (i mod its writer count) shards."""
    source = [i % dataset.num_writers for i in range(count)]
    return FederatedDataset(
        name=f"{dataset.name} x{count} (repeated shards)",
        num_classes=dataset.num_classes,
        input_shape=dataset.input_shape,
        writers=[f"{dataset.writers[j]}#{i}" for i, j in enumerate(source)],
        train=[dataset.train[j] for j in source],
        test=[dataset.test[j] for j in source],
    )


def register(nodes: int) -> dict[str, Any]:
    """Deploy with COMMITTEE founders and admit the remaining ``nodes - COMMITTEE`` nodes."""
    started = time.perf_counter()
    chain = FastChain(nodes + 1)
    manager, nodes_ = chain.accounts[0], chain.accounts[1:]
    params = ProtocolParams(committee_size=COMMITTEE, updates_per_round=90)
    ledger = chain.deploy([manager], nodes_[:COMMITTEE], (1).to_bytes(32, "big"), "", params)
    setup = time.perf_counter() - started
    start = time.perf_counter()
    for address in nodes_[COMMITTEE:]:
        ledger.admit(address)
    seconds = time.perf_counter() - start
    admits = nodes - COMMITTEE
    return {
        "registered": nodes,
        "admit_transactions": admits,
        "admit_seconds": seconds,
        "admits_per_second": admits / seconds,
        "chain_setup_seconds": setup,
        "gas_per_admit": chain.stats.gas_by_function["admit"] / admits,
        "peak_rss_bytes_after": peak_rss_bytes(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one simulated round")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else 2
    registration = register(REGISTERED)
    print(registration, flush=True)
    config = SimConfig.create(dataset="femnist", model="cnn", nodes=SIMULATED, active_fraction=0.1, rounds=rounds, seed=0)
    dataset = repeated_writers(load_dataset("femnist"), SIMULATED)
    stamps = [time.perf_counter()]
    result = simulate(config, dataset=dataset, progress=False, on_round=lambda _: stamps.append(time.perf_counter()))
    round_seconds = [m["seconds"] for m in result["rounds"]]
    report = {
        "registration": registration,
        "simulation": {
            "config": config.to_dict(),
            "dataset": result["dataset"],
            "population": {k: v for k, v in result["population"].items() if k != "malicious"},
            "total_seconds": result["seconds"]["total"],
            "round_phase_seconds": round_seconds,
            "seconds_per_round": sum(sum(s.values()) for s in round_seconds) / rounds,
            "transactions_per_round": sum(m["transactions"] for m in result["rounds"]) / rounds,
            "gas_per_round": sum(m["gas"] for m in result["rounds"]) / rounds,
        },
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_target_bytes": 4 * 2**30,
    }
    write_result("scale", report)
    print(report["simulation"]["seconds_per_round"], report["peak_rss_bytes"] / 2**30, "GiB")
    return report


if __name__ == "__main__":
    main()
