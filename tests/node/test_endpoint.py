"""The daemon and an untrusted chain endpoint: malformed answers and
unexpected failures are retried (never fatal), the endpoint's health is in
status.json, no URL secret reaches node.log or status.json, and a pending
transaction is never sent again."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from web3 import Web3
from web3.types import RPCEndpoint

from bflc.chain import ProtocolParams
from bflc.chain.anvil import AnvilChain
from bflc.chain.web3_ledger import Web3Ledger
from bflc.cluster.watch import report_endpoints, watch
from bflc.errors import BlobUnavailable, ConfigError, EndpointError
from bflc.net.connect import open_web3
from bflc.node.daemon import NodeDaemon, Role
from bflc.node.journal import Journal, read_journal
from bflc.storage import LocalBlobStore
from tests.chaos.faults import HostileRpcProxy
from tests.node.daemon_net import Net, build_net
from tests.node.node_cluster import LiveCluster, bflc

MALFORMED = "the chain endpoint answered malformed data: ValueError: 99 is not a valid Phase (to round_state at http://127.0.0.1:1)"


@pytest.fixture
def net(tmp_path) -> Net:
    net = build_net(tmp_path)
    for node in net.nodes:
        net.daemon(node, poll_seconds=0.01, max_backoff_seconds=0.04)
    return net


def events(directory: Path, name: str) -> list[dict]:
    return [r for r in read_journal(directory / "node.log") if r["event"] == name]


def scripted_round_state(daemon: NodeDaemon, failures: list[Exception], passes: int, seen: list[dict]):
    """``round_state`` that raises ``failures`` first, then answers; stops the daemon at pass ``passes``.

    Each call records the endpoint health status.json shows at that moment in ``seen``."""
    real = daemon.ledger.round_state

    def round_state():
        seen.append(json.loads(daemon.dir.status_file.read_text())["endpoint"])
        if failures:
            raise failures.pop(0)
        if len(seen) == passes:
            daemon.request_stop()
        return real()

    return round_state


def test_another_kind_of_failure_starts_its_own_backoff(tmp_path):
    """A store outage that pushed the pause up must not keep a node away as long
    once the chain is what fails: the chaos run saw a node miss rounds that way."""
    net = build_net(tmp_path)
    daemon = net.daemon(net.trainers[0], poll_seconds=1.0, max_backoff_seconds=30.0)
    delay = daemon.poll_seconds
    delays = []
    for error in [BlobUnavailable("store down")] * 5 + [EndpointError("chain down")] * 2 + [BlobUnavailable("store down")]:
        delay = daemon._retry(error, delay)
        delays.append(delay)
    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0, 2.0, 4.0, 2.0]


def test_malformed_answers_are_retried_and_the_endpoint_shows_unhealthy_until_it_recovers(net, monkeypatch):
    trainer = net.trainers[0]
    daemon = net.daemons[trainer]
    seen: list[dict] = []
    monkeypatch.setattr(daemon.ledger, "round_state", scripted_round_state(daemon, [EndpointError(MALFORMED)] * 3, 6, seen))
    assert daemon.run() == 0
    assert [s["healthy"] for s in seen] == [True, False, False, False, True, True]
    assert [s["error"] for s in seen[1:4]] == [MALFORMED] * 3
    assert seen[1]["since"] == seen[3]["since"] and seen[4]["since"] > seen[1]["since"]
    directory = net.root / trainer
    [unhealthy] = events(directory, "endpoint_unhealthy")
    assert unhealthy["level"] == "warning" and unhealthy["error"] == MALFORMED
    assert len(events(directory, "endpoint_recovered")) == 1
    assert [r["message"].split("; retrying in ")[1] for r in events(directory, "retry")] == ["0.0 s", "0.0 s", "0.0 s"]
    assert net.ledger.commitment(0, trainer) != bytes(32)  # then it did its work
    assert json.loads(daemon.dir.status_file.read_text())["endpoint"]["healthy"] is True


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("phase"), ValueError("99 is not a valid Phase")])
def test_an_unexpected_exception_in_a_pass_is_logged_with_its_traceback_and_retried(net, monkeypatch, error):
    trainer = net.trainers[0]
    daemon = net.daemons[trainer]
    seen: list[dict] = []
    monkeypatch.setattr(daemon.ledger, "round_state", scripted_round_state(daemon, [error, error], 4, seen))
    assert daemon.run() == 0
    failed = events(net.root / trainer, "step_failed")
    assert len(failed) == 2 and all(r["level"] == "error" for r in failed)
    assert failed[0]["message"].startswith(f"unexpected {type(error).__name__} in a pass: ")
    assert "\n" not in failed[0]["message"]
    assert f"{type(error).__name__}: " in failed[0]["traceback"] and "round_state" in failed[0]["traceback"]
    assert net.ledger.commitment(0, trainer) != bytes(32)


def test_a_config_error_in_a_pass_still_ends_the_daemon(net, monkeypatch):
    daemon = net.daemons[net.trainers[0]]
    monkeypatch.setattr(daemon.ledger, "round_state", lambda: (_ for _ in ()).throw(ConfigError("read-only")))
    with pytest.raises(ConfigError, match="read-only"):
        daemon.run()
    assert events(net.root / net.trainers[0], "stopped")


def test_a_pass_waits_while_a_transaction_of_the_account_is_pending(net, monkeypatch):
    trainer = net.trainers[0]
    daemon = net.daemons[trainer]
    pending = [1, 1, 0, 2, 0]
    monkeypatch.setattr(daemon.ledger, "pending_transactions", lambda: pending.pop(0))
    assert [daemon.step(), daemon.step()] == [Role.WAITING, Role.WAITING]
    assert net.ledger.commitment(0, trainer) == bytes(32) and net.chain.stats.by_function["commit_update"] == 0
    assert daemon.step() is Role.TRAINER
    assert net.ledger.commitment(0, trainer) != bytes(32)
    assert daemon.step() is Role.WAITING and daemon.step() is Role.TRAINER
    waits = events(net.root / trainer, "waiting_for_pending")
    assert [w["pending"] for w in waits] == [1, 2]  # once per wait


def test_the_journal_redacts_every_url_in_messages_and_fields(tmp_path):
    Journal(tmp_path / "node.log", echo=None).event(
        "retry", "failed: url: http://user:s3cret@rpc.example.org:8545/key123", "warning",
        error="https://rpc.example.org/v3/key123?apikey=s3cret", nested={"urls": ["http://a:s3cret@h:1/"]},
    )
    text = (tmp_path / "node.log").read_text()
    assert "s3cret" not in text and "key123" not in text
    [record] = read_journal(tmp_path / "node.log")
    assert record["message"] == "failed: url: http://***@rpc.example.org:8545/***"
    assert record["error"] == "https://rpc.example.org/***" and record["nested"] == {"urls": ["http://***@h:1/"]}


def test_a_daemon_whose_endpoint_goes_away_logs_retries_without_the_urls_secrets(tmp_path):
    with AnvilChain(3) as chain, HostileRpcProxy(chain.url) as proxy:
        manager = chain.accounts[0]
        params = ProtocolParams(committee_size=1, min_committee_size=1, updates_per_round=1)
        contract = chain.deploy([manager], chain.accounts[1:2], b"\x01" * 32, "file:///genesis", params).address
        w3 = open_web3(f"http://user:s3cret@127.0.0.1:{proxy.port}/key123", timeout=5)
        daemon = NodeDaemon(Web3Ledger(w3, contract, manager), LocalBlobStore(tmp_path / "store"), None, tmp_path / "node",
                            poll_seconds=0.05, max_backoff_seconds=0.2, echo=None)
        proxy.stop()  # nothing listens on that port any more
        thread = threading.Thread(target=daemon.run)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while len(events(tmp_path / "node", "retry")) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            daemon.request_stop()
            thread.join(60)
    assert not thread.is_alive()
    log, status = (tmp_path / "node" / "node.log").read_text(), (tmp_path / "node" / "status.json").read_text()
    assert len(events(tmp_path / "node", "retry")) >= 3
    endpoint = json.loads(status)["endpoint"]
    assert endpoint["healthy"] is False
    assert endpoint["error"].startswith(f"the chain endpoint did not answer: ConnectionError (to pending_transactions at http://***@127.0.0.1:{proxy.port}/***)")
    for text in (log, status):
        assert "s3cret" not in text and "key123" not in text


@pytest.mark.slow
def test_a_node_killed_with_its_commit_pending_does_not_send_it_again_after_a_restart(tmp_path):
    """Real processes: anvil stops mining, the trainer broadcasts its commitment
    and is killed before it is mined; restarted, it waits for it instead of
    sending another, and goes on once a block is mined."""
    directory = tmp_path / "cluster"
    started = bflc("cluster", "up", "--no-watch", "--dir", str(directory), "--nodes", "2", "--committee", "1", "--writers-per-node", "1")
    assert started.returncode == 0, started.stderr
    try:
        live = LiveCluster(directory)
        rpc = live.manager.w3.provider
        rpc.make_request(RPCEndpoint("evm_setIntervalMining"), [0])
        rpc.make_request(RPCEndpoint("evm_setAutomine"), [False])
        trainer = Web3.to_checksum_address(live.address("node1"))
        eth = live.manager.w3.eth

        def unmined() -> int:
            return int(eth.get_transaction_count(trainer, "pending")) - int(eth.get_transaction_count(trainer, "latest"))

        live.wait(lambda: unmined() > 0, 180, "node1 to broadcast its commitment", poll=0.1)
        live.kill9("node1")
        assert live.journal("node1", "trained") and not live.journal("node1", "update_committed")
        live.restart("node1")
        live.wait(lambda: live.journal("node1", "waiting_for_pending"), 120, "node1 to wait for its pending transaction")
        time.sleep(2)  # several more passes (--poll 0.5)
        assert unmined() == 1 and int(eth.get_transaction_count(trainer, "latest")) == 0
        assert [r["pending"] for r in live.journal("node1", "waiting_for_pending")] == [1]
        rpc.make_request(RPCEndpoint("anvil_mine"), ["0x1"])
        rpc.make_request(RPCEndpoint("evm_setIntervalMining"), [1])
        live.wait(lambda: live.journal("node1", "update_submitted"), 120, "node1 to reveal its update")
        assert live.manager.commitment(0, trainer) != bytes(32)
        assert not live.journal("node1", "revert") and not live.journal("node1", "update_committed")
        assert not live.journal("node1", "update_reused")  # the chain had its commitment: nothing sent twice
        [update] = live.manager.round_updates(0, with_votes=False)
        assert update.provider == trainer
    finally:
        bflc("cluster", "down", "--dir", str(directory))


def test_the_round_table_says_when_a_nodes_endpoint_fails_and_recovers(tmp_path):
    dirs = {name: tmp_path / name for name in ("node0", "node1")}
    for directory in dirs.values():
        directory.mkdir()
    (dirs["node0"] / "status.json").write_text(json.dumps({"endpoint": {"healthy": False, "since": 1.0, "error": MALFORMED}}))
    (dirs["node1"] / "status.json").write_text(json.dumps({"endpoint": {"healthy": True, "since": 1.0, "error": None}}))
    out = io.StringIO()
    failing = report_endpoints(dirs, set(), out)
    failing = report_endpoints(dirs, failing, out)  # still failing: said once
    (dirs["node0"] / "status.json").write_text(json.dumps({"endpoint": {"healthy": True, "since": 2.0, "error": None}}))
    assert report_endpoints(dirs, failing, out) == set()
    assert out.getvalue().splitlines() == [f"  node0    chain endpoint unhealthy: {MALFORMED}", "  node0    chain endpoint recovered"]


class FailingReads:
    """A ledger whose ``current_round`` fails ``failures`` times, then says round 0."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def current_round(self) -> int:
        if self.failures:
            self.failures -= 1
            raise EndpointError("the chain endpoint answered malformed data: JSONDecodeError (to current_round at http://h:1/***)")
        return 0


def test_the_round_table_retries_its_own_chain_reads_and_says_so_once(tmp_path):
    out = io.StringIO()
    watch(FailingReads(3), {}, {}, out, until_round=0, poll_seconds=0)
    lines = out.getvalue().splitlines()[1:]  # after the header
    assert lines == [
        "the table cannot read the chain: the chain endpoint answered malformed data: JSONDecodeError (to current_round at http://h:1/***); retrying",
        "the table reads the chain again",
    ]
