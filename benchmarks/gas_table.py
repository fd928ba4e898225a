"""Gas of the BFLC contract per function and per round, on the in-process chain.

Plays full rounds (K trainers commit, then reveal, their updates; every
committee member scores all K updates; a majority of the committee proposes
the same model hash) for (K=10, M=5) and (K=90, M=37), in each election mode,
and records the gas of every transaction. Committees are odd since decision
0006 (the table before it used M=4 and M=36). Then plays the failure paths
once per size (close_phase after each phase's deadline, reelect_committee,
replace_committee, failback) together with the admission and payment
functions, and reads the deployment gas.

A score batch that would not fit the client's per-transaction gas limit
(``bflc.chain.ledger.GAS_LIMITS["submit_scores"]``, under the 30M block limit) is
detected with a dry run (``eth_call`` under that gas limit) before it is
sent, and split in halves; the split is reported. Only the member whose votes complete the updates (the
last one) pays for the medians and the qualification, so only its batches
are checked.

Run: .venv/bin/python benchmarks/gas_table.py [--rounds N]
Writes benchmarks/results/gas.json and benchmarks/results/gas.md and prints
the markdown. The record names the checked-out commit and the contract
artifact's sha256 (what the gas depends on).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bflc.chain import ElectionMode, ProtocolParams, web3_ledger
from bflc.chain.inprocess import BLOCK_GAS_LIMIT, InProcessChain
from bflc.chain.ledger import GAS_LIMITS, close_batch_size
from bflc.chain.types import MAX_NODES_PER_DECISION, SCORE_ONE, TxResult
from bflc.machine import cpu_model
from bflc.protocol import commitment
from common import source_revision

RESULTS = Path(__file__).parent / "results"
SMALL, LARGE, PAPER = (10, 5), (90, 37), (270, 181)
MIN_COMMITTEE = 3
PHASE_DEADLINE_BLOCKS = 10
GENESIS = b"\x01" * 32
FEE = 10**15
ROUND_REWARD = 10**18
SCORE_CAP = min(GAS_LIMITS["submit_scores"], BLOCK_GAS_LIMIT)
# Events that mark the transaction doing a round's heavy work.
MILESTONES = {"AggregationTriggered": "triggers aggregation", "ModelAccepted": "accepts the model"}


@dataclass(frozen=True)
class Config:
    """One benchmarked network: K updates per round, committee of M."""

    k: int
    m: int
    election: ElectionMode = ElectionMode.SCORE
    chunk: int | None = None  # scores per submit_scores transaction; None = all K at once

    @property
    def name(self) -> str:
        batch = "one batch" if self.chunk is None else f"chunks of {self.chunk}"
        return f"K={self.k}, M={self.m}, {self.election.name.lower().replace('_', '-')} election, {batch}"

    def params(self) -> ProtocolParams:
        return ProtocolParams(
            committee_size=self.m,
            min_committee_size=MIN_COMMITTEE,
            updates_per_round=self.k,
            election=self.election,
            score_weight=0.5 if self.election == ElectionMode.MULTI_FACTOR else 1.0,
            factor_weight=0.5 if self.election == ElectionMode.MULTI_FACTOR else 0.0,
            commit_deadline_blocks=PHASE_DEADLINE_BLOCKS,
            reveal_deadline_blocks=PHASE_DEADLINE_BLOCKS,
            score_deadline_blocks=PHASE_DEADLINE_BLOCKS,
            round_deadline_blocks=3 * PHASE_DEADLINE_BLOCKS,
            permission_fee=FEE,
            round_reward=ROUND_REWARD,
            committee_share=0.1,
        )

    def score_txs_per_member(self) -> int:
        return 1 if self.chunk is None else -(-self.k // self.chunk)

    def closes(self) -> int:
        """Scoring-close transactions the client sends once every vote is in (sized by its gas model)."""
        left, count = self.k, 0
        while left:
            left -= close_batch_size(self.m, self.k, left)
            count += 1
        return count

    def expected_txs(self) -> int:
        """K commitments + K reveals + M score batches (or chunks) + the scoring closes + a majority of proposals."""
        return 2 * self.k + self.m * self.score_txs_per_member() + self.closes() + self.m // 2 + 1


@dataclass(frozen=True)
class Sealed:
    """A committed update: what its trainer reveals after the commitments close."""

    trainer: str
    blob_hash: bytes
    n_samples: int
    salt: bytes


@dataclass
class Tx:
    function: str
    gas: int
    round: int | None
    note: str = ""


@dataclass
class Network:
    """A deployed contract with its roles, and the log of every transaction."""

    chain: InProcessChain
    ledger: Any  # the Ledger, bound to the first manager
    config: Config
    managers: list[str]
    pool: list[str]  # nodes that train or serve: first committee + K trainers
    spares: list[str]  # never admitted; used by the admission functions
    deployment_gas: int
    txs: list[Tx] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def ledger_of(self, account: str):
        return self.ledger.as_account(account)

    def send(self, account: str, function: str, *args: Any, round: int | None = None, label: str | None = None, **kw: Any) -> Any:
        """Send ``Ledger.<function>(*args)`` from ``account`` and log its gas (as ``label``, default the function)."""
        stats = self.chain.stats
        gas0, n0 = stats.gas_used, stats.transactions
        result = getattr(self.ledger_of(account), function)(*args, **kw)
        if stats.transactions == n0 + 1:
            results = result if isinstance(result, list) else [result]
            notes = [MILESTONES[e.name] for r in results if isinstance(r, TxResult) for e in r.events if e.name in MILESTONES]
            self.txs.append(Tx(label or function, stats.gas_used - gas0, round, ", ".join(notes)))
            return result
        # Several transactions (a scoring close in parts, or the last vote and the close it starts): one row each.
        assert isinstance(result, list), f"{function} sent {stats.transactions - n0} transactions"
        assert len(result) == stats.transactions - n0, f"{function} sent {stats.transactions - n0} transactions"
        for r in result:
            name = function if r.events_named("ScoresSubmitted") else (label or "close_phase (scoring)")
            notes = [MILESTONES[e.name] for e in r.events if e.name in MILESTONES]
            self.txs.append(Tx(name, r.gas_used, round, ", ".join(notes)))
        return result

    def decide(self, function: str, *args: Any, round: int | None = None) -> None:
        """A council decision of the two managers (threshold 2): the proposal and the approval that runs it, one row each."""
        stats = self.chain.stats
        for account, step in ((self.managers[0], "proposed"), (self.managers[1], "approved, runs")):
            gas0 = stats.gas_used
            ledger = self.ledger_of(account)
            if step == "proposed":
                decision_id, result = ledger.propose(function, *args)
            else:
                result = ledger.approve(decision_id)
                assert result.events_named("DecisionExecuted"), f"{function} did not run"
            self.txs.append(Tx(f"{function} ({step})", stats.gas_used - gas0, round, ""))

    def mine_until(self, block: int) -> None:
        self.chain.mine(max(0, block - self.ledger.block_number()))


@contextlib.contextmanager
def deploy_gas_allowance(gas: int) -> Iterator[None]:
    """Let deployment use up to ``gas``: the client's fixed DEPLOY_GAS does not
    cover the constructor's writes for a large first committee."""
    stock = web3_ledger.DEPLOY_GAS
    web3_ledger.DEPLOY_GAS = max(stock, gas)
    try:
        yield
    finally:
        web3_ledger.DEPLOY_GAS = stock


def build(config: Config) -> Network:
    """Deploy, admit K trainers (apply + admit), fund the reward pool and, for
    multi-factor election, let the managers attest every node's factor; every
    manager action is a council decision of both managers (threshold 2)."""
    chain = InProcessChain(2 + config.m + config.k + 3)
    acc = chain.accounts
    managers, committee = acc[:2], acc[2 : 2 + config.m]
    trainers, spares = acc[2 + config.m : 2 + config.m + config.k], acc[2 + config.m + config.k :]
    with deploy_gas_allowance(BLOCK_GAS_LIMIT):
        ledger = chain.deploy(managers, committee, GENESIS, "file:///genesis", config.params())
    latest = chain.w3.eth.block_number  # the council's deployment, then the contract's
    deployment_gas = sum(
        int(chain.w3.eth.get_transaction_receipt(chain.w3.eth.get_block(b)["transactions"][0])["gasUsed"]) for b in (latest - 1, latest)
    )
    net = Network(chain, ledger, config, managers, committee + trainers, spares, deployment_gas)
    for node in trainers:
        net.send(node, "apply", FEE)
    for i in range(0, len(trainers), MAX_NODES_PER_DECISION):
        net.decide("admit", trainers[i : i + MAX_NODES_PER_DECISION])
    net.send(managers[1], "fund", ROUND_REWARD * 10)
    if config.election == ElectionMode.MULTI_FACTOR:
        for i in range(0, len(net.pool), MAX_NODES_PER_DECISION):
            nodes = net.pool[i : i + MAX_NODES_PER_DECISION]
            net.decide("attest_factors", nodes, [net.rng.randrange(SCORE_ONE + 1) for _ in nodes])
    return net


def random_hash(net: Network) -> bytes:
    return net.rng.getrandbits(256).to_bytes(32, "big")


def chunks(items: list[int], size: int | None) -> list[list[int]]:
    size = size or len(items)
    return [items[i : i + size] for i in range(0, len(items), size)]


def send_scores(net: Network, member: str, r: int, ids: list[int], scores: dict[int, int]) -> None:
    """One submit_scores (a batch always fits: votes cost a few thousand gas
    each); the one that completes the votes is followed by the member's
    scoring close, logged as ``close_phase (scoring)``."""
    net.send(member, "submit_scores", r, ids, [scores[u] for u in ids], round=r, batch_size=len(ids))


def trainers_of(net: Network, r: int) -> list[str]:
    """The first K nodes of the pool outside round ``r``'s committee."""
    committee = set(net.ledger.committee(r))
    return [n for n in net.pool if n not in committee][: net.config.k]


def commit_updates(net: Network, r: int, trainers: list[str]) -> list[Sealed]:
    """Each trainer commits to a fresh blob hash with its own salt."""
    sealed = [Sealed(t, random_hash(net), 100 + i, random_hash(net)) for i, t in enumerate(trainers)]
    for s in sealed:
        net.send(s.trainer, "commit_update", r, commitment(s.trainer, r, s.blob_hash, s.n_samples, s.salt), round=r)
    return sealed


def reveal_updates(net: Network, r: int, sealed: list[Sealed]) -> list[int]:
    return [net.send(s.trainer, "reveal_update", r, s.blob_hash, s.n_samples, s.salt, round=r) for s in sealed]


def close_phase(net: Network, r: int) -> None:
    """Mine to the current phase's deadline, then close the phase (a scoring
    close in as many transactions as the client's gas model sizes); logged as
    ``close_phase (<phase>)``."""
    state = net.ledger.round_state()
    net.mine_until(state.phase_start_block + net.config.params().deadline_blocks(state.phase))
    net.send(net.managers[0], "close_phase", r, round=r, label=f"close_phase ({state.phase.name.lower()})")


def score_round(net: Network, r: int, ids: list[int], voters: list[str]) -> None:
    """Each voter scores every update (accuracies in [0.5, 1)), in the configured batches."""
    for member in voters:
        scores = {u: net.rng.randrange(SCORE_ONE // 2, SCORE_ONE) for u in ids}
        for batch in chunks(ids, net.config.chunk):
            send_scores(net, member, r, batch, scores)


def play_round(net: Network) -> int:
    """One full round; returns its number."""
    r = net.ledger.current_round()
    committee = net.ledger.committee(r)
    ids = reveal_updates(net, r, commit_updates(net, r, trainers_of(net, r)))
    score_round(net, r, ids, committee)
    model = random_hash(net)
    for member in committee[: len(committee) // 2 + 1]:
        net.send(member, "propose_model", r, model, f"file:///models/{r}", round=r)
    assert net.ledger.current_round() == r + 1, "the round did not end"
    return r


def play_failure_paths(net: Network) -> None:
    """Admission and payments once each, then a round whose every phase is
    closed at its deadline (K-1 commitments, one of them never revealed, votes
    from a bare majority of the committee) and whose committee never agrees
    (reelected), one whose committee does nothing (replaced by the managers), and
    a failback with a new committee."""
    mgr, spare = net.managers[0], net.spares
    net.send(spare[0], "apply", FEE)
    net.send(spare[0], "withdraw_application")
    net.send(spare[1], "apply", FEE)
    net.decide("blacklist", spare[1])
    net.send(spare[2], "apply", FEE)
    net.decide("admit", [spare[2]])
    net.send(spare[2], "leave")
    net.send(spare[2], "rejoin")
    net.decide("attest_factors", [spare[2]], [SCORE_ONE // 2])
    net.send(net.managers[1], "fund", ROUND_REWARD)
    net.send(mgr, "withdraw")

    play_round(net)
    r = net.ledger.current_round()
    committee = net.ledger.committee(r)
    sealed = commit_updates(net, r, trainers_of(net, r)[:-1])
    close_phase(net, r)
    ids = reveal_updates(net, r, sealed[:-1])
    close_phase(net, r)
    score_round(net, r, ids, committee[: len(committee) // 2 + 1])
    close_phase(net, r)
    mine_past_round_deadline(net)
    net.send(mgr, "reelect_committee", r, round=r)

    r = net.ledger.current_round()
    mine_past_round_deadline(net)
    failed = set(net.ledger.committee(r))
    fresh = [n for n in net.pool if n not in failed][: net.config.m]
    net.decide("replace_committee", r, fresh, round=r)
    net.decide("failback", 1, fresh, round=net.ledger.current_round())


def mine_past_round_deadline(net: Network) -> None:
    net.mine_until(net.ledger.round_state().start_block + net.config.params().round_deadline_blocks)


# ---------------------------------------------------------------- summaries


def gas_stats(values: list[int]) -> dict[str, Any]:
    return {"calls": len(values), "min": min(values), "mean": round(statistics.fmean(values)), "max": max(values)}


def by_function(txs: list[Tx]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for tx in txs:
        groups[tx.function].append(tx.gas)
    return {name: gas_stats(values) for name, values in groups.items()}


def summarize_rounds(net: Network, rounds: list[int]) -> dict[str, Any]:
    played = [tx for tx in net.txs if tx.round in rounds]
    per_round = []
    for r in rounds:
        txs = [tx for tx in played if tx.round == r]
        heaviest = max(txs, key=lambda tx: tx.gas)
        per_round.append(
            {
                "round": r,
                "transactions": len(txs),
                "gas": sum(tx.gas for tx in txs),
                "heaviest": asdict(heaviest),
                "milestones": {tx.note: tx.gas for tx in txs if tx.note},
            }
        )
    heaviest = max(played, key=lambda tx: tx.gas)
    return {
        "config": asdict(net.config) | {"election": net.config.election.name, "name": net.config.name},
        "deployment_gas": net.deployment_gas,
        "expected_transactions_per_round": net.config.expected_txs(),
        "rounds": per_round,
        "functions": by_function(played),
        "setup_functions": by_function([tx for tx in net.txs if tx.round is None]),
        "heaviest": asdict(heaviest),
        "fits_block": heaviest.gas <= BLOCK_GAS_LIMIT,
    }


def run_rounds(config: Config, rounds: int) -> dict[str, Any]:
    start = time.perf_counter()
    net = build(config)
    played = [play_round(net) for _ in range(rounds)]
    summary = summarize_rounds(net, played)
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    print(f"  {config.name}: {summary['wall_s']} s", flush=True)
    return summary


def run_failure_paths(config: Config) -> dict[str, Any]:
    net = build(config)
    play_failure_paths(net)
    once = [tx for tx in net.txs if tx.function not in ("commit_update", "reveal_update", "submit_scores", "propose_model")]
    tail = {tx.function: asdict(tx) for tx in once}  # the last call of each (setup ones are repeated)
    return {
        "config": {"k": config.k, "m": config.m, "name": config.name},
        "deployment_gas": net.deployment_gas,
        "functions": {name: tx["gas"] for name, tx in sorted(tail.items())},
    }


def machine_info() -> dict[str, Any]:
    cpu = cpu_model()
    versions = {pkg: metadata.version(pkg) for pkg in ("vyper", "web3", "py-evm", "eth-tester")}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **source_revision(),
    }


# ---------------------------------------------------------------- markdown


def fmt(gas: int | float | None) -> str:
    return "n/a" if gas is None else f"{int(gas):,}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def config_section(s: dict[str, Any]) -> list[str]:
    rounds = s["rounds"]
    lines = [f"### {s['config']['name']}", ""]
    lines += table(
        ["function", "calls", "min gas", "mean gas", "max gas"],
        [[name, f["calls"], fmt(f["min"]), fmt(f["mean"]), fmt(f["max"])] for name, f in s["functions"].items()],
    )
    lines.append("")
    lines += table(
        ["round", "transactions", "gas", "heaviest transaction", "aggregation trigger", "accepting propose_model"],
        [
            [
                r["round"],
                r["transactions"],
                fmt(r["gas"]),
                f"{r['heaviest']['function']} {fmt(r['heaviest']['gas'])}",
                fmt(r["milestones"].get("triggers aggregation")),
                fmt(r["milestones"].get("accepts the model")),
            ]
            for r in rounds
        ],
    )
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [
        "# BFLC gas per function and per round",
        "",
        f"In-process EVM (py-evm {m['py-evm']}, eth-tester {m['eth-tester']}, web3 {m['web3']}), contract compiled with "
        f"Vyper {m['vyper']} for EVM `paris`; Python {m['python']} on {m['cpu']} ({m['cores']} cores), {m['date']}.",
        "Gas is deterministic: it depends on the contract and the inputs, not on the machine. "
        f"Block gas limit {fmt(BLOCK_GAS_LIMIT)}; the client sends submit_scores with a {fmt(SCORE_CAP)} gas limit.",
        f"Contract artifact sha256 `{m['contract_artifact_sha256']}`, checked out at commit `{m['commit']}` "
        "(uncommitted changes in the working tree are not detected; the artifact's hash says which bytecode was measured).",
        "Rounds (decision 0006): K trainers commit (commit_update; the K-th commitment starts the reveals), then reveal "
        "(reveal_update; the last reveal starts scoring), every member scores the K updates, floor(M/2)+1 members propose "
        f"the same hash; round reward {ROUND_REWARD} wei (10% to the agreeing members), permission fee {FEE} wei. "
        "Round 0's committee is the deployed one; later committees come from the election. "
        f"Committees are odd since 0006: M={SMALL[1]} and M={LARGE[1]} here (the table before it used M=4 and M=36); "
        f"minimum committee size {MIN_COMMITTEE}; commit, reveal and score deadlines {PHASE_DEADLINE_BLOCKS} blocks each, "
        f"round deadline {3 * PHASE_DEADLINE_BLOCKS}.",
        "",
        "## Summary",
        "",
    ]
    rows = []
    for s in report["rounds"]:
        measured = sorted({r["transactions"] for r in s["rounds"]})
        gas = [r["gas"] for r in s["rounds"]]
        rows.append(
            [
                s["config"]["name"],
                "/".join(map(str, measured)),
                s["expected_transactions_per_round"],
                fmt(statistics.fmean(gas)),
                f"{s['heaviest']['function']} {fmt(s['heaviest']['gas'])}",
                "yes" if s["fits_block"] else "NO",
                fmt(s["deployment_gas"]),
            ]
        )
    out += table(
        ["configuration", "tx/round measured", "tx/round formula", "mean gas/round", "heaviest tx", "< 30M", "deployment gas"],
        rows,
    )
    out += ["", report["conclusions"], "", "## Election modes: gas of the accepting propose_model", ""]
    out += [
        "The accepting proposal pays the rewards, elects the next committee and starts the next round; "
        "the difference between modes is the election's own cost (mean over the rounds played).",
        "",
    ]
    out += table(["network", "score", "random", "multi-factor", "random - score", "multi-factor - score"], election_rows(report["rounds"]))
    out += ["", "## Failure paths, admission and payments (one call each)", ""]
    out += [
        "One network per size: admission and payments, then round 0 played normally; in round 1, K-1 trainers "
        "commit (close_phase (commit) after the commit deadline), all but one of them reveal (close_phase (reveal) "
        "after the reveal deadline), floor(M/2)+1 members vote (close_phase (scoring) after the score deadline, "
        "one transaction examining every update and triggering aggregation), nobody proposes and the committee is "
        "reelected after the round deadline; round 2's committee replaced by a decision of the two managers (threshold 2: a proposal, then the approval that runs it), then a failback to round 1 with that committee.",
        "",
    ]
    names = sorted({n for f in report["failure_paths"] for n in f["functions"]})
    out += table(
        ["function"] + [f"K={f['config']['k']}, M={f['config']['m']}" for f in report["failure_paths"]],
        [[n] + [fmt(f["functions"].get(n)) for f in report["failure_paths"]] for n in names],
    )
    out += ["", "## Per configuration", ""]
    for s in report["rounds"]:
        out += config_section(s)
    return "\n".join(out) + "\n"


def election_rows(summaries: list[dict[str, Any]]) -> list[list[str]]:
    """Mean accepting-proposal gas per election mode, for each network shape."""
    accepting: dict[tuple, dict[str, float]] = defaultdict(dict)
    for s in summaries:
        c = s["config"]
        gas = [r["milestones"]["accepts the model"] for r in s["rounds"]]
        accepting[(c["k"], c["m"], c["chunk"])][c["election"]] = statistics.fmean(gas)
    rows = []
    for (k, m, chunk), modes in accepting.items():
        if len(modes) < len(ElectionMode):
            continue
        score, rand, multi = modes["SCORE"], modes["RANDOM"], modes["MULTI_FACTOR"]
        batch = "one batch" if chunk is None else f"chunks of {chunk}"
        rows.append([f"K={k}, M={m}, {batch}", fmt(score), fmt(rand), fmt(multi), f"{rand - score:+,.0f}", f"{multi - score:+,.0f}"])
    return rows


def conclusions(summaries: list[dict[str, Any]], client_deploy_gas: int) -> str:
    """One line per configuration: the transaction count against its formula,
    the heaviest transaction against the block gas limit; then deployment."""
    notes = []
    for s in summaries:
        c = s["config"]
        expected = s["expected_transactions_per_round"]
        measured = [r["transactions"] for r in s["rounds"]]
        formula = "2K + M + C + floor(M/2)+1" if c["chunk"] is None else f"2K + M*ceil(K/{c['chunk']}) + C + floor(M/2)+1"
        verdict = "matches" if set(measured) == {expected} else "DIFFERS"
        notes.append(
            f"- {c['name']}: {formula} = {expected} transactions; measured {'/'.join(map(str, sorted(set(measured))))}: "
            f"{verdict}. Heaviest transaction sent: {s['heaviest']['function']} {fmt(s['heaviest']['gas'])} gas, "
            f"{'under' if s['fits_block'] else 'OVER'} the 30M block gas limit."
        )
    for s in summaries:
        if s["deployment_gas"] > client_deploy_gas:
            notes.append(
                f"- Deployment with a first committee of {s['config']['m']} needs {fmt(s['deployment_gas'])} gas, more than "
                f"the client's DEPLOY_GAS of {fmt(client_deploy_gas)}; this script raises the allowance while deploying."
            )
            break
    return "\n".join(notes)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="consecutive rounds per configuration (>= 2)")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (round 2's committee comes from the election)")

    configs = [Config(*SMALL, election=e) for e in ElectionMode] + [Config(*LARGE)] + [
        Config(*LARGE, election=e, chunk=30) for e in ElectionMode
    ] + [Config(*PAPER)]
    print("playing rounds:", flush=True)
    summaries = [run_rounds(c, args.rounds) for c in configs]
    print("playing failure paths:", flush=True)
    failures = [run_failure_paths(Config(*size)) for size in (SMALL, LARGE)]
    report = {
        "machine": machine_info(),
        "block_gas_limit": BLOCK_GAS_LIMIT,
        "client_gas_limits": GAS_LIMITS,
        "client_deploy_gas": web3_ledger.DEPLOY_GAS,
        "rounds": summaries,
        "failure_paths": failures,
        "conclusions": conclusions(summaries, web3_ledger.DEPLOY_GAS),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gas.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    (RESULTS / "gas.md").write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
