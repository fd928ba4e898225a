"""Chain throughput: transactions per second and gas per round on every backend,
and the most rounds per minute the contract allows at K = 90, M = 37.

Backends: ``FastChain`` (py-evm without web3.py), ``InProcessChain``
(eth-tester through web3.py) and anvil (``AnvilChain``, JSON-RPC). Each plays
protocol rounds through the Ledger (K trainers commit, then reveal; every
member sends its scores in one transaction, packed as the contract stores
them; a majority proposes) with
:func:`chain_backends.bench_ledger`: small rounds (K = 10, M = 5) on all
three, and full rounds (K = 90, M = 37; committees are odd since decision
0006) where a round takes seconds (FastChain, anvil; eth-tester's is
estimated from its gas rate).

Rounds per minute at K = 90, M = 37 have two bounds:

* execution: 60 / (measured seconds per round) on one node executing every
  transaction in turn;
* block gas: the four phases (commit, reveal, score, propose) depend on each
  other, so a round needs at least ceil(gas of each phase / block gas limit)
  blocks per phase; at a block time of T seconds, rounds/min <= 60 / (blocks * T).

Run: .venv/bin/python benchmarks/chain_throughput.py [--quick]
Writes benchmarks/results/chain_throughput.json.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bflc.chain.devchain import BLOCK_GAS_LIMIT
from bflc.chain.fast import FastChain
from bflc.chain.inprocess import InProcessChain
from chain_backends import bench_ledger
from common import write_result

SMALL, FULL = (10, 5), (90, 37)  # (K, M)
PHASES = {"commit": ("commit_update",), "reveal": ("reveal_update",), "score": ("submit_scores",), "propose": ("propose_model",)}
BLOCK_TIMES_S = (12.0, 2.0, 1.0)


def shape(k: int, m: int) -> str:
    return f"K={k}, M={m}"


@contextmanager
def anvil_factory() -> Iterator[Callable[[int], Any]]:
    """A chain factory that starts anvil nodes and stops them on exit."""
    from bflc.chain.anvil import AnvilChain

    started: list[AnvilChain] = []

    def make(accounts: int) -> AnvilChain:
        started.append(AnvilChain(accounts))
        return started[-1]

    try:
        yield make
    finally:
        for chain in started:
            chain.close()


def rounds_per_minute_bounds(full: dict[str, Any]) -> dict[str, Any]:
    """Block-gas bound of a full round from its gas per phase, at several block times."""
    rounds = full["rounds"]
    gas = {phase: sum(full["gas_by_function"].get(f, 0) for f in functions) / rounds for phase, functions in PHASES.items()}
    blocks = sum(max(1, math.ceil(g / BLOCK_GAS_LIMIT)) for g in gas.values())
    return {
        "gas_per_phase": gas,
        "min_blocks_per_round": blocks,
        "rounds_per_minute_by_block_time_s": {str(t): 60 / (blocks * t) for t in BLOCK_TIMES_S},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small round per backend, one full round")
    args = parser.parse_args(argv)
    small_rounds, full_rounds = (1, 1) if args.quick else (3, 2)
    small: dict[str, Any] = {}
    full: dict[str, Any] = {}
    with anvil_factory() as anvil:
        backends = {"fast": FastChain, "eth_tester": InProcessChain, "anvil": anvil}
        for name, factory in backends.items():
            small[name] = bench_ledger(factory, *SMALL, small_rounds) | {"rounds": small_rounds}
            print(shape(*SMALL), name, f"{small[name]['tx_per_second']:.1f} tx/s", flush=True)
        for name in ("fast", "anvil"):
            full[name] = bench_ledger(backends[name], *FULL, full_rounds) | {"rounds": full_rounds}
            print(shape(*FULL), name, f"{full[name]['round_seconds']:.2f} s/round", flush=True)
    gas_rate = small["eth_tester"]["gas_used"] / (small["eth_tester"]["round_seconds"] * small_rounds)
    full["eth_tester_estimated"] = {"round_seconds": full["fast"]["gas_used"] / full_rounds / gas_rate, "estimated_from_gas_per_second": gas_rate}
    bounds = rounds_per_minute_bounds(full["fast"])
    execution = {name: 60 / r["round_seconds"] for name, r in full.items()}
    result = {
        "block_gas_limit": BLOCK_GAS_LIMIT,
        "shapes": {"small": dict(zip("KM", SMALL, strict=True)), "full": dict(zip("KM", FULL, strict=True))},
        "small_rounds": small,
        "full_rounds": full,
        "gas_per_full_round": full["fast"]["gas_used"] / full_rounds,
        "transactions_per_full_round": full["fast"]["transactions_per_round"],
        "execution_bound_rounds_per_minute": execution,
        "block_gas_bound": bounds,
    }
    write_result("chain_throughput", result)
    print(execution, bounds)
    return result


if __name__ == "__main__":
    main()
