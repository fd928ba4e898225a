"""The chaos run: a real `bflc cluster` (anvil, six FEMNIST nodes and the
manager's watcher, blobs on an S3 server) keeps training for at least ten
rounds while node processes are killed with SIGKILL and restarted, the chain
node is restarted with its state, and the object store goes away or turns
flaky for a while (see :mod:`faults`). Then nothing may be lost or
inconsistent:

- the chain advanced the rounds, and the contract's invariants hold (value
  conservation, one model per round, well-formed committees, no update
  counted twice);
- every update on chain has its blob in the store under its hash; every
  round's model blob is there, hashes to the on-chain hash and decodes to
  the network's model;
- every node's state.json parses and agrees with the chain (its update of
  each round and the salt that opens its commitment, its votes, its
  proposals); no node committed or revealed twice in a round;
- every killed node came back and acted again; no node logged an error, a
  revert or a rejected update (every blob is honest), and every node stops
  cleanly on SIGTERM at the end.

Seeded: ``BFLC_CHAOS_SEED=N make chaos`` replays the same fault plan (the
rounds the faults hit depend on the machine's speed). The fault log is
printed as it happens (pytest shows it on a failure) and as a table at the
end (``-s`` shows it on success). Three to four and a half minutes on two
busy cores: not in the default run (pyproject's addopts has
``-m 'not chaos'``); ``make chaos`` runs it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bflc.cluster.launch import cluster_file, load_cluster, processes
from bflc.cluster.procs import is_running, stop
from bflc.errors import BflcError
from bflc.ml.models import build_model, get_parameters
from bflc.protocol import commitment, stored_commitment
from bflc.storage import BlobStore, S3BlobStore, bytes32_to_hash, decode_model, hash_to_bytes32, model_spec
from tests.chain.invariants import assert_contract_invariants
from tests.chaos.faults import ChainNode, ChaosRun, FaultRecord, TcpProxy, fault_table
from tests.node.node_cluster import LiveCluster, bflc
from tests.s3_server import moto_s3_server, set_fake_aws_env

NODES, COMMITTEE, WRITERS = 6, 3, 2
DEADLINES = {"commit": 10, "reveal": 10, "score": 20, "round": 40}  # blocks of a second
ROUNDS = 10  # faults go on until the chain reaches this round
SETTLE_ROUNDS = 2  # then rounds without faults (and until every killed node acted again)
FAULT_PHASE_SECONDS = 600
SETTLE_SECONDS = 240
DEFAULT_SEED = 2026
BUCKET = "bflc-chaos"
ACTIONS = ("update_committed", "update_submitted", "scores_submitted", "model_proposed")

pytestmark = pytest.mark.slow  # the chaos mark (on the test) keeps it out of the default run


@pytest.fixture
def chaos_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[tuple[LiveCluster, TcpProxy, S3BlobStore]]:
    """A cluster whose nodes keep blobs on a moto S3 server behind a :class:`TcpProxy`.

    Yields the cluster, the proxy and a store that reaches the server
    directly. Every process is stopped afterwards, also on failure.
    """
    set_fake_aws_env(monkeypatch, tmp_path)  # the node processes inherit the fake credentials
    caplog.set_level(logging.CRITICAL, logger="werkzeug")  # moto logs every request, and each one the proxy cuts
    directory = tmp_path / "cluster"
    with moto_s3_server() as endpoint:
        store = S3BlobStore(BUCKET, "blobs", endpoint_url=endpoint, region="us-east-1")
        store.ensure_bucket()
        proxy = TcpProxy(int(urlsplit(endpoint).port or 0))
        proxy.start()
        try:
            started = bflc(
                "cluster", "up", "--no-watch", "--dir", str(directory),
                "--nodes", str(NODES), "--committee", str(COMMITTEE), "--writers-per-node", str(WRITERS),
                "--min-score", "0.01", "--relative-min-score", "0",
                *(arg for phase, blocks in DEADLINES.items() for arg in (f"--{phase}-deadline", str(blocks))),
                "--store", f"s3://{BUCKET}/blobs?endpoint=http://127.0.0.1:{proxy.port}&region=us-east-1",
            )
            assert started.returncode == 0, started.stderr
            yield LiveCluster(directory), proxy, store
        finally:
            if cluster_file(directory).exists():
                bflc("cluster", "down", "--dir", str(directory))
                left = [name for name, record in processes(load_cluster(directory)).items() if is_running(record)]
                assert not left, f"still running after `cluster down`: {left}"
            proxy.stop()


@pytest.mark.chaos
def test_a_cluster_under_kills_chain_restarts_and_store_outages_loses_nothing(chaos_cluster, tmp_path):
    live, proxy, store = chaos_cluster
    seed = int(os.environ.get("BFLC_CHAOS_SEED", DEFAULT_SEED))
    run = ChaosRun(live, proxy, ChainNode(live, tmp_path), seed)
    print(f"chaos run, seed {seed}: faults until round {ROUNDS}, then {SETTLE_ROUNDS} quiet rounds", flush=True)
    problems: list[str] = []
    summary = ""
    try:
        run.run(until_round=ROUNDS, timeout=FAULT_PHASE_SECONDS)
        faulted = run.elapsed()
        live.wait_round(run.current_round() + SETTLE_ROUNDS, timeout=SETTLE_SECONDS)
        with contextlib.suppress(AssertionError):  # a node backing off after many failures may need longer; check_resumed names it
            live.wait(lambda: all(resumption(live, run, r)[0] for r in kills(run)), SETTLE_SECONDS, "the killed nodes to act", poll=1)
        settled = run.elapsed()
        nodes = {name: live.record(name) for name in live.info["nodes"]}
        outcome = stop(nodes)  # SIGTERM; anvil stays up for the checks
        problems += [f"{name} did not stop on SIGTERM ({result})" for name, result in outcome.items() if result != "stopped"]
        problems += check_chain(live)
        problems += check_blobs(live, store)
        problems += check_state_dirs(live)
        problems += check_journals(live)
        problems += check_resumed(live, run)
        problems += [f"no {kind} fault happened" for kind in ("kill", "chain", "store", "flaky") if all(r.fault.kind != kind for r in run.records)]
        describe_outages(live, run)
        summary = run_summary(live, run, faulted, settled)
    finally:
        print(f"\nseed {seed}\n{fault_table(run.records)}\n{summary}", flush=True)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- checks


def check_chain(live: LiveCluster) -> list[str]:
    """The rounds advanced and the contract's invariants hold."""
    ledger = live.manager
    problems = []
    if ledger.current_round() < ROUNDS + SETTLE_ROUNDS:
        problems.append(f"the chain is at round {ledger.current_round()}, expected at least {ROUNDS + SETTLE_ROUNDS}")
    accounts = [node["address"] for node in live.info["nodes"].values()] + ledger.w3.eth.accounts
    try:
        assert_contract_invariants(ledger, accounts, ledger.w3.eth.get_balance(ledger.address), COMMITTEE)
    except AssertionError as error:
        problems.append(f"contract invariant: {error}")
    return problems


def check_blobs(live: LiveCluster, store: BlobStore) -> list[str]:
    """Every update's and every round's model blob is in the store under its
    on-chain hash (``BlobStore.get`` checks the hash); every model decodes to
    the network's model."""
    ledger, learning = live.manager, live.network.learning
    spec = model_spec(get_parameters(build_model(learning.model, learning.input_shape, learning.num_classes, seed=learning.model_seed)))
    problems = []
    for model in ledger.model_history():
        try:
            decode_model(store.get(bytes32_to_hash(model.blob_hash)), expected=spec)
        except BflcError as error:
            problems.append(f"round {model.round}'s model: {error}")
    for r in range(ledger.current_round() + 1):
        for update in ledger.round_updates(r, with_votes=False):
            try:
                decode_model(store.get(bytes32_to_hash(update.blob_hash)), expected=spec)
            except BflcError as error:
                problems.append(f"round {r}, update {update.update_id} of {live.name_of(update.provider)}: {error}")
    return problems


def check_state_dirs(live: LiveCluster) -> list[str]:
    """Each node's state.json parses and agrees with the chain."""
    ledger = live.manager
    current = ledger.current_round()
    problems = []
    for name, node in live.info["nodes"].items():
        address = node["address"]
        path = Path(node["state_dir"]) / "state.json"
        if not path.exists() and not node["data"]:
            continue  # a watcher has nothing to record
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            problems.append(f"{name}: state.json unreadable: {error}")
            continue
        if state.get("account", "").lower() != address.lower() or state.get("contract", "").lower() != ledger.address.lower():
            problems.append(f"{name}: state.json belongs to {state.get('account')} on {state.get('contract')}")
        rounds = state.get("rounds", {})
        for r in range(current + 1):
            record = rounds.get(str(r), {})
            problems += [f"{name}, round {r}: {p}" for p in _state_round_problems(live, address, r, record)]
    return problems


def _state_round_problems(live: LiveCluster, address: str, r: int, record: dict) -> list[str]:
    """How one round's record of a node's state.json disagrees with the chain."""
    ledger = live.manager
    problems = []
    update = record.get("update")
    mine = [u for u in ledger.round_updates(r, with_votes=False) if u.provider == address]
    # The contract keeps a node's latest commitment only: earlier rounds read as none.
    latest = ledger.commitment(r, address) != bytes(32)
    if latest and ledger.has_submitted(r, address) != bool(mine):
        problems.append("has_submitted disagrees with the round's updates")
    if mine:
        expected = {"blob": bytes32_to_hash(mine[0].blob_hash), "n_samples": mine[0].n_samples, "id": mine[0].update_id}
        if update is None or {k: update[k] for k in expected} != expected:
            problems.append(f"state has update {update}, the chain {expected}")
        elif latest and stored_commitment(commitment(address, r, mine[0].blob_hash, mine[0].n_samples, bytes.fromhex(update["salt"]))) != ledger.commitment(r, address):
            problems.append(f"the salt in state does not open the commitment of update {mine[0].update_id}")
    elif update is not None and update["id"] is not None:
        problems.append(f"state has update {update['id']}, the chain none")
    for uid, blob in record.get("scored", {}).items():
        voted = ledger.update(int(uid))
        if voted.round != r or address not in voted.voters or bytes32_to_hash(voted.blob_hash) != blob:
            problems.append(f"state says it voted on update {uid} ({blob[:12]}), the chain disagrees")
    proposed = record.get("proposed")
    if proposed is not None and ledger.proposal(r, address) != hash_to_bytes32(proposed):
        problems.append(f"state says it proposed {proposed[:12]}, the chain has {ledger.proposal(r, address).hex()[:12]}")
    return problems


def check_journals(live: LiveCluster) -> list[str]:
    """No error, no revert, no rejected update (every blob is honest and
    stored), no lost update (no state directory is lost), no traceback, at
    most one commitment and one reveal per round, and a clean stop at the end."""
    problems = []
    for name, node in live.info["nodes"].items():
        journal = live.journal(name)
        bad = ("revert", "update_rejected", "update_lost")
        problems += [f"{name}: {e['level']} {e['event']}: {e['message']}" for e in journal if e["level"] == "error" or e["event"] in bad]
        for event in ("update_committed", "update_submitted"):
            sent = Counter(e["round"] for e in journal if e["event"] == event)
            problems += [f"{name}: {event} {n} times in round {r}" for r, n in sent.items() if n > 1]
        if journal and journal[-1]["event"] != "stopped":
            problems.append(f"{name}: its log ends with {journal[-1]['event']}, not stopped")
        if "Traceback" in Path(node["process"]["log"]).read_text(errors="replace"):
            problems.append(f"{name}: a traceback in {node['process']['log']}")
    return problems


def check_resumed(live: LiveCluster, run: ChaosRun) -> list[str]:
    """Every killed node came back and acted; fills in each kill's outcome."""
    problems = []
    for record in kills(run):
        resumed, record.outcome = resumption(live, run, record)
        if not resumed:
            problems.append(f"fault {record.number}: {record.fault.target} {record.outcome}")
    return problems


def kills(run: ChaosRun) -> list[FaultRecord]:
    return [r for r in run.records if r.fault.kind == "kill"]


def resumption(live: LiveCluster, run: ChaosRun, record: FaultRecord) -> tuple[bool, str]:
    """Whether the node killed by ``record`` started again and acted (a
    commitment, a reveal, a vote or a proposal; the manager's watcher: started) before
    it was killed again, or until now; and what it did."""
    name = record.fault.target
    assert record.back is not None
    later = [k for k in kills(run) if k.fault.target == name and k.at > record.at]
    since, until = run.wall(record.back) - 1, run.wall(later[0].at) if later else time.time()
    window = [e for e in live.journal(name) if since <= _unix(e["time"]) < until]
    if not any(e["event"] == "started" for e in window):
        return False, "did not start again"
    if not live.info["nodes"][name]["data"]:
        return True, "resumed (watcher)"
    acted = [e for e in window if e["event"] in ACTIONS]
    if not acted and later and _held_back(run, record, later[0], window):
        # Its next restart is judged on its own; this one had no fair chance.
        return True, "retried through an outage until killed again"
    if not acted:
        return False, "restarted but did not act"
    delay = _unix(acted[0]["time"]) - run.wall(record.back)
    return True, f"resumed: {acted[0]['event']} in round {acted[0]['round']}, {delay:.0f} s after restart"


def _held_back(run: ChaosRun, record: FaultRecord, next_kill: FaultRecord, window: list[dict]) -> bool:
    """Whether a chain or store outage overlapped the time between ``record``'s
    restart and ``next_kill`` while the node kept retrying (``retry`` events):
    a node that waits out an outage and is killed before it ends, or before its
    backoff lets it act, did what it should."""
    assert record.back is not None
    outage = any(
        r.fault.kind != "kill" and r.at < next_kill.at and (r.back is None or r.back > record.back) for r in run.records
    )
    return outage and any(e["event"] == "retry" for e in window)


def describe_outages(live: LiveCluster, run: ChaosRun) -> None:
    """Fill in the outcome of each chain and store fault: the retries the nodes logged meanwhile."""
    retries = [(_unix(e["time"]), e["message"]) for name in live.info["nodes"] for e in live.journal(name, "retry")]
    for record in run.records:
        if record.fault.kind == "kill":
            continue
        assert record.back is not None
        since, until = run.wall(record.at), run.wall(record.back) + 2
        felt = [message.split(":")[0] for t, message in retries if since <= t <= until]
        absorbed = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(felt).items())) or "none"
        record.outcome = "; ".join(filter(None, [record.outcome, f"retries meanwhile: {absorbed}"]))


def _unix(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def run_summary(live: LiveCluster, run: ChaosRun, faulted: float, settled: float) -> str:
    """Rounds, durations and how the nodes absorbed the faults (counts of journal events)."""
    ledger = live.manager
    origins = Counter(m.origin.name.lower() for m in ledger.model_history()[1:])
    events = Counter(e["event"] for name in live.info["nodes"] for e in live.journal(name))
    shown = ("retry", "race", "update_reused", "update_found", "phase_closed", "committee_replaced", "committee_reelected", "update_rejected", "reference_rule")
    kinds = Counter(r.fault.kind for r in run.records)
    return (
        f"faults: {len(run.records)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); "
        f"faults until round {ROUNDS} took {faulted:.0f} s, all {ledger.current_round()} rounds {settled:.0f} s\n"
        f"new models: {', '.join(f'{n} {o}' for o, n in sorted(origins.items()))}\n"
        f"node log events: {', '.join(f'{e} {events[e]}' for e in shown)}"
    )
