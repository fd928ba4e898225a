"""Shared helpers of the `make bench` suite: machine facts, interleaved timing, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bflc.chain.artifact import artifact_sha256
from bflc.machine import cpu_model, head_commit, package_versions

RESULTS = Path(__file__).parent / "results"
PACKAGES = ("torch", "numpy", "py-evm", "eth-tester", "web3", "vyper", "flwr", "ray")


def source_revision() -> dict[str, str | None]:
    """The checked-out commit and the sha256 of the contract artifact (ABI and bytecode) in use."""
    return {"commit": head_commit(), "contract_artifact_sha256": artifact_sha256()}


def machine() -> dict[str, Any]:
    """CPU model, core count, Python and library versions (``None``: not installed), load, date."""
    versions = package_versions(PACKAGES)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **source_revision(),
    }


def interleaved(methods: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, Any]]:
    """Time each method ``repeats`` times, the methods taking turns in every repeat.

    A busy neighbour slows every method alike within a repeat; the best time
    is the least disturbed. Returns per method ``best_s``, all ``times_s`` and
    the 1-minute load average seen before each repeat.
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    loads = []
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: {"best_s": min(t), "times_s": t, "load_before": loads} for name, t in times.items()}


def op_profile(run: Callable[[], object], top: int = 6) -> dict[str, Any]:
    """torch.profiler over one call of ``run``: its operator calls and the
    ``top`` operators by own CPU time (the profiler adds a little time to
    every operator call, so many small calls look somewhat slower)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as recorded:
        run()
    events = sorted(recorded.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return {
        "total_ms": sum(e.self_cpu_time_total for e in events) / 1e3,
        "operator_calls": sum(e.count for e in events),
        "top": [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "calls": e.count} for e in events[:top]],
    }


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine's facts added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=1) + "\n")
    return path


def bflc_config_with_trainers(config: Any, trainers: int) -> Any:
    """``config`` (a FedAvg-style ``SimConfig``) as BFLC with exactly ``trainers`` trainers a round.

    BFLC's active nodes are its committee plus its trainers, so the active
    fraction grows until ``active - round(committee_fraction * active)`` equals
    ``trainers``: both aggregators then train the same number of clients.
    """

    from bflc.sim.population import Population

    nodes = config.nodes
    for active in range(trainers + 1, nodes + 1):
        candidate = config.replace(aggregator="bflc", active_fraction=active / nodes)
        population = Population.create(candidate, nodes)
        if population.num_active - population.committee_size == trainers:
            return candidate
    raise ValueError(f"no active fraction of {nodes} nodes leaves {trainers} trainers beside the committee")
