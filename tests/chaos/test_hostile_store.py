"""A hostile writer of the shared blob store cannot stop a real cluster.

`bflc cluster up` keeps blobs in a directory every node reads and writes (the
layout of a shared file system). An attacker with write access to it, here a
thread of the test process, goes after every blob the network needs:

- **pre-planted model**: as soon as a round's updates are revealed it
  computes the FedAvg the committee will propose (the updates are public and
  the rule is deterministic) and puts junk under that hash before anyone
  uploads it;
- **accepted model**: when a round ends it replaces the new global model's
  file, in turn, with junk, a named pipe (a reader that opens it blocks
  forever), a blob whose header declares a million tensors, a 4 GiB sparse
  file, or nothing;
- **revealed update**: during scoring it does the same to one update.

A second cluster keeps its blobs on an S3 server behind a proxy that, every
other stretch of seconds, sends the server's answers a byte at a time: a
node's read is given up on at its deadline and tried again, and the rounds
go on.

In both, the nodes must keep reaching new rounds, no node process may die or hang
(each stops on SIGTERM at the end), no honest update may be scored 0 (members
wait for a verified copy, which a node that holds one puts back), and once
the attacker stops, the store again holds a verified copy of the latest model. About three minutes on two busy cores together; in the chaos run only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import cycle, permutations
from pathlib import Path

import pytest

from bflc.chain import Phase
from bflc.cluster.launch import cluster_file
from bflc.cluster.procs import stop
from bflc.roles.aggregator import aggregate_qualified
from bflc.storage import LocalBlobStore, S3BlobStore, blob_hash, bytes32_to_hash, decode_model, encode_model
from tests.chaos.faults import TcpProxy
from tests.node.node_cluster import LiveCluster, bflc
from tests.s3_server import moto_s3_server, set_fake_aws_env

pytestmark = pytest.mark.slow

ROUNDS = 6
ROUND_SECONDS = 60
SETTLE_SECONDS = 60
KINDS = ("junk", "fifo", "header", "huge", "delete")


class StoreAttacker(threading.Thread):
    """Corrupts the blobs of the cluster's file store as described in the module docstring."""

    def __init__(self, live: LiveCluster) -> None:
        super().__init__(daemon=True)
        self.live = live
        assert isinstance(live.store, LocalBlobStore)
        self.root = live.store.root
        self.stopped = threading.Event()
        self.kinds = cycle(KINDS)
        self.done: Counter[str] = Counter()
        self.planted: dict[int, set[str]] = {}  # round -> the hashes planted for its next model
        self.failures: list[str] = []

    def run(self) -> None:
        ledger = self.live.manager
        seen_model = ""
        attacked_update: set[int] = set()
        while not self.stopped.wait(0.2):
            try:
                state = ledger.round_state()
                model = bytes32_to_hash(state.model.blob_hash)
                if seen_model and model != seen_model:
                    self.corrupt(model, "model")
                seen_model = model
                if state.phase is Phase.SCORING and state.round not in self.planted:
                    self.plant(state.round)
                if state.phase is Phase.SCORING and state.round not in attacked_update:
                    attacked_update.add(state.round)
                    updates = ledger.round_updates(state.round, with_votes=False)
                    if updates:
                        self.corrupt(bytes32_to_hash(updates[0].blob_hash), "update")
            except Exception as error:  # the chain may be busy; the attack goes on
                self.failures.append(f"{type(error).__name__}: {error}")

    def plant(self, round: int) -> None:
        """Junk under the hash of the FedAvg of every revealed update (all qualify in an honest round)."""
        ledger = self.live.manager
        records = {u.update_id: u for u in ledger.round_updates(round, with_votes=False)}
        updates = {}
        for uid, record in records.items():
            data = self.live.store.get(bytes32_to_hash(record.blob_hash))
            updates[uid] = decode_model(data)
        cap = self.live.network.learning.training.sample_cap
        # The contract's order of the qualified ids decides the float sums: plant under each.
        predicted = {blob_hash(encode_model(aggregate_qualified(list(order), records, updates, cap))) for order in permutations(records)}
        for key in predicted:
            self.replace(key, write_junk)
        self.planted[round] = predicted
        self.done["planted"] += 1

    def corrupt(self, key: str, what: str) -> None:
        kind = next(self.kinds)
        writers: dict[str, Callable[[Path], object] | None] = {
            "junk": write_junk,
            "fifo": os.mkfifo,
            "header": lambda path: path.write_bytes(million_tensor_header()),
            "huge": write_sparse_4gib,
            "delete": None,
        }
        self.replace(key, writers[kind])
        self.done[f"{what}:{kind}"] += 1

    def replace(self, key: str, write: Callable[[Path], object] | None) -> None:
        """Atomically put what ``write`` makes (or nothing) where the blob ``key`` lives."""
        path = self.root / key[:2] / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if write is None:
            path.unlink(missing_ok=True)
            return
        temporary = path.with_name(f".attack-{key}")
        temporary.unlink(missing_ok=True)
        write(temporary)
        os.replace(temporary, path)


def write_junk(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def write_sparse_4gib(path: Path) -> None:
    with path.open("wb") as file:
        file.truncate(4 << 30)  # no disk blocks: a reader that trusts the size reads 4 GiB of zeros


def million_tensor_header() -> bytes:
    """A safetensors prefix whose JSON header declares 10**6 empty tensors (and nothing after it)."""
    entries = ",".join(f'"t{k}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}' for k in range(10**6))
    header = ("{" + entries + "}").encode()
    return struct.pack("<Q", len(header)) + header


CLUSTER_ARGS = (
    "--nodes", "5", "--committee", "3",
    "--commit-deadline", "10", "--reveal-deadline", "10", "--score-deadline", "30", "--round-deadline", "50",
)


@contextlib.contextmanager
def cluster(directory: Path, *args: str) -> Iterator[LiveCluster]:
    started = bflc("cluster", "up", "--no-watch", "--dir", str(directory), *CLUSTER_ARGS, *args)
    assert started.returncode == 0, started.stderr
    try:
        yield LiveCluster(directory)
    finally:
        if cluster_file(directory).exists():
            bflc("cluster", "down", "--dir", str(directory))


@pytest.fixture
def file_store_cluster(tmp_path: Path) -> Iterator[LiveCluster]:
    with cluster(tmp_path / "cluster") as live:
        yield live


@pytest.mark.chaos
def test_a_hostile_store_writer_cannot_stop_the_rounds(file_store_cluster):
    live = file_store_cluster
    attacker = StoreAttacker(live)
    start = live.manager.current_round()
    attacker.start()
    try:
        live.wait_round(start + ROUNDS, timeout=ROUNDS * ROUND_SECONDS)
    finally:
        attacker.stopped.set()
        attacker.join(timeout=30)
    summary = json.dumps(dict(attacker.done), sort_keys=True)
    print(f"attacks: {summary}; attacker errors: {len(attacker.failures)}", flush=True)
    nodes = {name: live.record(name) for name in live.info["nodes"]}
    assert all(live.running(name) for name in nodes), f"a node died: {[n for n in nodes if not live.running(n)]}"
    # The pre-planted hash was right at least once: the committee then had to overwrite junk.
    accepted = {r: bytes32_to_hash(live.manager.model(r + 1).blob_hash) for r in attacker.planted if r + 1 <= live.manager.current_round()}
    assert any(accepted[r] in attacker.planted[r] for r in accepted), (attacker.planted, accepted)
    assert all(attacker.done[f"model:{kind}"] >= 1 for kind in KINDS), summary
    # Members waited for a verified copy of each attacked update (its trainer or another member put it
    # back) instead of scoring it 0; nothing failed inside a node.
    for name in nodes:
        assert not live.journal(name, "update_rejected") and not live.journal(name, "step_failed"), name
    # (a copy may also come back through a committee's upload, or the round may end first: not one repair per attack)
    assert any(live.journal(name, "blob_republished") for name in nodes)
    # A node that kept the latest model re-publishes it: the store serves it verified again.
    latest = bytes32_to_hash(live.manager.round_state().model.blob_hash)
    live.wait(lambda: _verified(live.store, latest), SETTLE_SECONDS, "the latest model to be re-published", poll=1)
    outcome = stop(nodes)
    assert all(result == "stopped" for result in outcome.values()), outcome


def _verified(store: LocalBlobStore, key: str) -> bool:
    path = store.root / key[:2] / key
    return path.is_file() and not path.is_symlink() and path.stat().st_size < (64 << 20) and blob_hash(path.read_bytes()) == key


SLOW_ROUNDS = 4
SLOW_SECONDS = 8.0  # slow, then as long fast, in turn
READ_DEADLINE = 3


@pytest.mark.chaos
def test_a_store_that_sends_a_byte_at_a_time_holds_no_node(tmp_path, monkeypatch, caplog):
    set_fake_aws_env(monkeypatch, tmp_path)  # the node processes inherit the fake credentials
    caplog.set_level(logging.CRITICAL, logger="werkzeug")
    with moto_s3_server() as endpoint:
        S3BlobStore("bflc-slow", "blobs", endpoint_url=endpoint, region="us-east-1").ensure_bucket()
        proxy = TcpProxy(int(endpoint.rsplit(":", 1)[1]))
        proxy.start()
        try:
            url = f"s3://bflc-slow/blobs?endpoint=http://127.0.0.1:{proxy.port}&region=us-east-1&read_deadline={READ_DEADLINE}"
            with cluster(tmp_path / "cluster", "--store", url) as live:
                start = live.manager.current_round()
                slow_stretches = 0
                deadline = time.monotonic() + SLOW_ROUNDS * 2 * ROUND_SECONDS
                while live.manager.current_round() < start + SLOW_ROUNDS:
                    assert time.monotonic() < deadline, f"round {start + SLOW_ROUNDS} not reached"
                    proxy.make_slow(0.02)
                    slow_stretches += 1
                    time.sleep(SLOW_SECONDS)
                    proxy.make_slow(None)
                    time.sleep(SLOW_SECONDS)
                nodes = {name: live.record(name) for name in live.info["nodes"]}
                assert all(live.running(name) for name in nodes)
                given_up = [r for name in nodes for r in live.journal(name, "retry") if "read deadline" in r["message"]]
                print(f"{slow_stretches} slow stretches; {len(given_up)} reads given up at the deadline", flush=True)
                assert given_up, "no read hit the deadline: the store was never slow when it mattered"
                for name in nodes:
                    assert not live.journal(name, "update_rejected") and not live.journal(name, "step_failed"), name
                outcome = stop(nodes)
                assert all(result == "stopped" for result in outcome.values()), outcome
        finally:
            proxy.stop()
