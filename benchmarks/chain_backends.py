"""In-process EVM backends on the BFLC contract, timed in one run on one machine.

1. Protocol rounds (K commitments, K reveals, M members' score batches,
   majority proposals) and view calls through the ``Ledger`` on ``InProcessChain`` (eth-tester through
   web3.py) and ``FastChain`` (the same py-evm without web3.py, eth-tester or
   block building); titanoboa's own contract calls for reference. Titanoboa
   sends bare EVM messages: no intrinsic gas, refund cap or fees, so its gas
   is not a receipt's.
2. The same simulation (by default the issue's profile: FEMNIST CNN, every
   writer, 30% active, 4 rounds) on both ledger backends, alternating, the
   fastest run of each counting: total and chain seconds, and whether all
   results are identical apart from timings.

Run: .venv/bin/python benchmarks/chain_backends.py [--sim-rounds N] [--sim-nodes N] [--repeats N]
Writes benchmarks/results/chain_backends.json and chain_backends.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

from bflc.machine import cpu_model

K, M, ROUNDS, CALLS = 10, 5, 3, 200
SAMPLES = 10
RESULTS = Path(__file__).parent / "results"
PACKAGES = ("py-evm", "eth-tester", "web3", "titanoboa", "vyper", "torch")


def blob(i: int) -> bytes:
    return i.to_bytes(32, "big")


def sealed_updates(r: int, trainers: list[str]) -> list[tuple[str, bytes, bytes, bytes]]:
    """Per trainer of round ``r``: (trainer, blob hash, salt, commitment), every blob hash new."""
    from bflc.protocol import commitment

    out = []
    for i, t in enumerate(trainers):
        blob_hash, salt = blob(1000 * r + i + 2), blob(i + 1)
        out.append((t, blob_hash, salt, commitment(t, r, blob_hash, SAMPLES, salt)))
    return out


def bench_ledger(chain_factory: Callable[[int], Any], k: int = K, m: int = M, rounds: int = ROUNDS) -> dict[str, Any]:
    """``rounds`` protocol rounds (``k`` updates, ``m`` members) and CALLS view calls through the Ledger."""
    from bflc.chain import ProtocolParams

    chain = chain_factory(1 + m + k * rounds)
    acc = chain.accounts
    params = ProtocolParams(committee_size=m, updates_per_round=k)
    ledger = chain.deploy([acc[0]], acc[1 : m + 1], blob(1), "", params)
    nodes = acc[m + 1 :]
    for n in nodes:
        ledger.admit(n)
    start = time.perf_counter()
    tx0, gas0, by_function0 = chain.stats.transactions, chain.stats.gas_used, Counter(chain.stats.gas_by_function)
    for r in range(rounds):
        sealed = sealed_updates(r, [n for n in nodes if not ledger.is_committee_member(r, n)][:k])
        for t, _, _, c in sealed:
            ledger.as_account(t).commit_update(r, c)
        ids = [ledger.as_account(t).reveal_update(r, h, SAMPLES, salt) for t, h, salt, _ in sealed]
        committee = ledger.committee(r)
        for j, member in enumerate(committee):
            ledger.as_account(member).submit_scores(r, ids, [500_000 + 1000 * i + j for i in range(k)])
        for member in committee:
            if ledger.current_round() != r:
                break
            ledger.as_account(member).propose_model(r, blob(99_000 + r), "")
    seconds = time.perf_counter() - start
    txs = chain.stats.transactions - tx0
    t = time.perf_counter()
    for _ in range(CALLS):
        ledger.current_round()
    call_seconds = time.perf_counter() - t
    return {
        "round_seconds": seconds / rounds,
        "transactions_per_round": txs / rounds,
        "tx_per_second": txs / seconds,
        "calls_per_second": CALLS / call_seconds,
        "gas_reported": True,
        "gas_used": chain.stats.gas_used - gas0,
        "gas_by_function": dict(chain.stats.gas_by_function - by_function0),
    }


def bench_titanoboa() -> dict[str, Any]:
    import boa
    from eth_utils.address import to_canonical_address

    from bflc.chain import ProtocolParams
    from bflc.chain.artifact import COUNCIL_NAME, source_path
    from bflc.chain.types import MAX_NODES_PER_DECISION
    from bflc.chain.web3_ledger import create_address

    addrs = [boa.env.generate_address() for _ in range(1 + M + K * ROUNDS)]
    params = ProtocolParams(committee_size=M, updates_per_round=K).to_contract()
    deployer = str(boa.env.eoa)
    target = create_address(deployer, boa.env.evm.vm.state.get_nonce(to_canonical_address(deployer)) + 1)
    council = boa.loads(source_path(COUNCIL_NAME).read_text(), target, [addrs[0]], 1, 7_200)
    c = boa.loads(source_path().read_text(), council.address, [addrs[0]], addrs[1 : M + 1], blob(1), "", params)
    nodes = addrs[M + 1 :]
    with boa.env.prank(addrs[0]):
        for i in range(0, len(nodes), MAX_NODES_PER_DECISION):
            council.propose(c.address, c.admit.prepare_calldata(nodes[i : i + MAX_NODES_PER_DECISION]))
    start = time.perf_counter()
    txs = 0
    for r in range(ROUNDS):
        sealed = sealed_updates(r, [n for n in nodes if n not in c.get_committee(r)][:K])
        for t, _, _, commitment in sealed:
            with boa.env.prank(t):
                c.commit_update(r, commitment)
        ids = []
        for t, h, salt, _ in sealed:
            with boa.env.prank(t):
                ids.append(c.reveal_update(r, h, SAMPLES, salt))
        committee = c.get_committee(r)
        for j, m in enumerate(committee):
            with boa.env.prank(m):
                c.submit_scores(r, ids, [500_000 + 1000 * i + j for i in range(K)])
        for m in committee:
            if c.current_round() != r:
                break
            with boa.env.prank(m):
                c.propose_model(r, blob(99_000 + r), "")
            txs += 1
        txs += 2 * len(ids) + len(committee)
    seconds = time.perf_counter() - start
    t = time.perf_counter()
    for _ in range(CALLS):
        c.current_round()
    call_seconds = time.perf_counter() - t
    return {"round_seconds": seconds / ROUNDS, "tx_per_second": txs / seconds, "calls_per_second": CALLS / call_seconds, "gas_reported": False}


def bench_simulation(config: Any, dataset: Any, chain_factory: Callable[[int], Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``config`` with the simulator's chain replaced by ``chain_factory``;
    return the timings and the result without timings."""
    from bflc.sim import protocol_runner
    from bflc.sim.engine import simulate, without_timings

    load = os.getloadavg()[0]
    with mock.patch.object(protocol_runner, "FastChain", chain_factory):
        result = simulate(config, dataset=dataset, progress=False)
    seconds = result["seconds"]
    rounds = len(result["rounds"])
    timings = {
        "total_seconds": seconds["total"],
        "chain_seconds": seconds["chain"],
        "chain_seconds_per_round": seconds["chain"] / rounds,
        "chain_share": seconds["chain"] / seconds["total"],
        "phases": {k: v for k, v in seconds.items() if k != "total"},
        "transactions": sum(m["transactions"] for m in result["rounds"]),
        "load_average_before": load,
    }
    return timings, without_timings(result)


def main() -> None:
    from bflc.chain.fast import FastChain
    from bflc.chain.inprocess import InProcessChain
    from bflc.sim.config import SimConfig
    from bflc.sim.engine import load_nodes_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-rounds", type=int, default=4)
    parser.add_argument("--sim-nodes", type=int, default=0, help="0 = every writer")
    parser.add_argument("--repeats", type=int, default=2, help="simulations per backend, alternating; the fastest counts")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "protocol_rounds": {"setup": {"K": K, "M": M, "rounds": ROUNDS, "calls": CALLS}},
    }
    rounds = results["protocol_rounds"]
    rounds["eth_tester"] = bench_ledger(InProcessChain)
    rounds["fast"] = bench_ledger(FastChain)
    rounds["fast_speedup"] = rounds["eth_tester"]["round_seconds"] / rounds["fast"]["round_seconds"]
    rounds["same_gas"] = rounds["eth_tester"]["gas_used"] == rounds["fast"]["gas_used"]

    config = SimConfig.create(dataset="femnist", model="cnn", nodes=args.sim_nodes, active_fraction=0.3, rounds=args.sim_rounds, seed=0)
    dataset = load_nodes_dataset(config)
    bench_simulation(config.replace(rounds=1), dataset, FastChain)  # warm-up: torch's first calls are slow
    runs: dict[str, list[dict[str, Any]]] = {"eth_tester": [], "fast": []}
    outputs = []
    for _ in range(args.repeats):
        for key, factory in (("fast", FastChain), ("eth_tester", InProcessChain)):
            timings, output = bench_simulation(config, dataset, factory)
            runs[key].append(timings)
            outputs.append(json.dumps(output, sort_keys=True))
    best = {key: min(r, key=lambda t: t["total_seconds"]) for key, r in runs.items()}
    results["simulation"] = {
        "config": config.to_dict(),
        "repeats": args.repeats,
        "eth_tester": best["eth_tester"],
        "fast": best["fast"],
        "runs": runs,
        "chain_speedup": best["eth_tester"]["chain_seconds"] / best["fast"]["chain_seconds"],
        "total_speedup": best["eth_tester"]["total_seconds"] / best["fast"]["total_seconds"],
        "identical_results": len(set(outputs)) == 1,
    }
    # Last: importing titanoboa wraps py-evm's SHA3 and SSTORE opcodes for every VM in the process.
    rounds["titanoboa"] = bench_titanoboa()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chain_backends.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / "chain_backends.md").write_text(_markdown(results))
    print(_markdown(results))


def _markdown(results: dict[str, Any]) -> str:
    m, p, s = results["machine"], results["protocol_rounds"], results["simulation"]
    c = s["config"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        "# In-process chain backends",
        "",
        f"{m['cpu']}, {m['cores']} cores (shared with other work: load {s['fast']['load_average_before']:.1f}), "
        f"Python {m['python']}; {versions}; {results['date']}. Both backends in the same run.",
        "",
        f"Protocol rounds (K={p['setup']['K']}, M={p['setup']['M']}): eth-tester {p['eth_tester']['round_seconds']:.3f} s/round, "
        f"FastChain {p['fast']['round_seconds']:.3f} s/round ({p['fast_speedup']:.1f}x, same gas: {p['same_gas']}), "
        f"titanoboa message calls {p['titanoboa']['round_seconds']:.3f} s/round (gas not a receipt's).",
        "",
        f"Simulation ({c['dataset']} {c['model']}, nodes={c['nodes'] or 'all'}, {c['active_fraction']:.0%} active, "
        f"{c['rounds']} rounds; fastest of {s['repeats']} alternating runs per backend):",
        "",
        "| backend | total s | chain s | chain s/round | chain share |",
        "|---|---|---|---|---|",
    ]
    for name, key in (("InProcessChain (eth-tester)", "eth_tester"), ("FastChain", "fast")):
        t = s[key]
        lines.append(
            f"| {name} | {t['total_seconds']:.1f} | {t['chain_seconds']:.1f} | {t['chain_seconds_per_round']:.2f} | {t['chain_share']:.0%} |"
        )
    lines += [
        "",
        f"Chain {s['chain_speedup']:.1f}x faster, whole run {s['total_speedup']:.2f}x; "
        f"results identical apart from timings: {s['identical_results']}.",
        "",
    ]
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {name: metadata.version(name) for name in PACKAGES},
    }


if __name__ == "__main__":
    main()
