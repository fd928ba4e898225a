"""Compare in-process EVM backends on the BFLC contract: eth-tester (py-evm,
through web3.py) against titanoboa. Measures one full protocol round
(K submissions, M score batches, majority proposals) and view calls.

Run: .venv/bin/python benchmarks/chain_backends.py  (writes benchmarks/results/chain_backends.json)
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

K, M, ROUNDS, CALLS = 10, 4, 3, 200
RESULTS = Path(__file__).parent / "results" / "chain_backends.json"


def blob(i: int) -> bytes:
    return i.to_bytes(32, "big")


def bench_eth_tester() -> dict:
    from bflc.chain import ProtocolParams
    from bflc.chain.inprocess import InProcessChain

    chain = InProcessChain(1 + M + K * ROUNDS)
    acc = chain.accounts
    params = ProtocolParams(committee_size=M, updates_per_round=K)
    ledger = chain.deploy([acc[0]], acc[1 : M + 1], blob(1), "", params)
    nodes = acc[M + 1 :]
    for n in nodes:
        ledger.admit(n)
    start = time.perf_counter()
    tx0 = chain.stats.transactions
    for r in range(ROUNDS):
        trainers = [n for n in nodes if not ledger.is_committee_member(r, n)][:K]
        ids = [ledger.as_account(t).submit_update(r, blob(1000 * r + i + 2), 10) for i, t in enumerate(trainers)]
        committee = ledger.committee(r)
        for j, m in enumerate(committee):
            ledger.as_account(m).submit_scores(r, ids, [500_000 + 1000 * i + j for i in range(K)])
        for m in committee:
            if ledger.current_round() != r:
                break
            ledger.as_account(m).propose_model(r, blob(99_000 + r), "")
    seconds = time.perf_counter() - start
    txs = chain.stats.transactions - tx0
    t = time.perf_counter()
    for _ in range(CALLS):
        ledger.current_round()
    call_seconds = time.perf_counter() - t
    return {"round_seconds": seconds / ROUNDS, "tx_per_second": txs / seconds, "calls_per_second": CALLS / call_seconds, "gas_reported": True}


def bench_titanoboa() -> dict:
    import boa

    from bflc.chain import ProtocolParams
    from bflc.chain.artifact import source_path

    addrs = [boa.env.generate_address() for _ in range(1 + M + K * ROUNDS)]
    params = ProtocolParams(committee_size=M, updates_per_round=K).to_contract()
    c = boa.loads(source_path().read_text(), [addrs[0]], addrs[1 : M + 1], blob(1), "", params)
    nodes = addrs[M + 1 :]
    with boa.env.prank(addrs[0]):
        for n in nodes:
            c.admit(n)
    start = time.perf_counter()
    txs = 0
    for r in range(ROUNDS):
        trainers = [n for n in nodes if not c.is_committee_member(r, n)][:K]
        ids = []
        for i, t in enumerate(trainers):
            with boa.env.prank(t):
                ids.append(c.submit_update(r, blob(1000 * r + i + 2), 10))
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
        txs += len(ids) + len(committee)
    seconds = time.perf_counter() - start
    t = time.perf_counter()
    for _ in range(CALLS):
        c.current_round()
    call_seconds = time.perf_counter() - t
    return {"round_seconds": seconds / ROUNDS, "tx_per_second": txs / seconds, "calls_per_second": CALLS / call_seconds, "gas_reported": False}


def main() -> None:
    results = {
        "setup": {"K": K, "M": M, "rounds": ROUNDS},
        "machine": {"cpu": _cpu(), "python": platform.python_version()},
        "eth_tester": bench_eth_tester(),
        "titanoboa": bench_titanoboa(),
    }
    results["titanoboa_speedup"] = results["eth_tester"]["round_seconds"] / results["titanoboa"]["round_seconds"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
