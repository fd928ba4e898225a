"""`bflc node`, `bflc prune` and `bflc cluster` as a user meets them: data
specs, clear errors, pruning a light node's cache."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from bflc.cli import main
from bflc.cli.node import _colluders
from bflc.cluster.procs import ProcessRecord, is_running, spawn, stop
from bflc.errors import ConfigError
from bflc.ml.shards import load_node_data
from bflc.storage import bytes32_to_hash, encode_model
from tests.node.daemon_net import build_net

pytestmark = pytest.mark.slow


def test_femnist_and_digits_specs_pick_writers():
    two = load_node_data("femnist:3,17")
    assert two.num_writers == 2 and two.input_shape == (1, 28, 28) and two.num_classes == 62
    one = load_node_data("digits:2/10")
    assert one.num_writers == 1 and one.writers == ["digits-002"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("femnist", "names no writers"),
        ("femnist:", "names no writers"),
        ("femnist:a", "indices like 3 or 3,17"),
        ("femnist:999", "writer 999 does not exist"),
        ("femnist:3,3", "names a writer twice"),
        ("digits:3", "write digits as N/OF"),
        ("digits:10/10", "writer 10 does not exist"),
        ("leaf:/nowhere", "leaf:DIR#WRITER_ID"),
        ("mnist:1", "unknown dataset 'mnist'"),
    ],
)
def test_bad_data_specs_are_explained(spec, message):
    with pytest.raises(ConfigError, match=message):
        load_node_data(spec)


def test_node_rejects_data_and_flower_client_together(capsys):
    with pytest.raises(SystemExit):
        main(["node", "--network", "n.toml", "--key-file", "k", "--state-dir", "s", "--data", "femnist:1", "--flower-client", "m:f"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_node_with_a_missing_network_file_fails_clearly(tmp_path, capsys):
    code = main(["node", "--network", str(tmp_path / "none.toml"), "--key-file", "k", "--state-dir", str(tmp_path / "s")])
    assert code == 2 and "none.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "x"], "--seed 'x' is not S or S,I"),
        (["--seed", "1,2,3"], "--seed '1,2,3' is not S or S,I"),
        (["--attack", "nosuch"], "unknown attack 'nosuch'"),
        (["--attack", "tests.node.no_such_module:f"], "cannot import tests.node.no_such_module"),
        (["--attack", "gaussian", "--attack-scale", "0"], "--attack-scale must be positive"),
    ],
)
def test_bad_seed_or_attack_is_one_line_before_any_connection(tmp_path, capsys, extra, message):
    from bflc.net.network import NetworkFile, write_network

    network = NetworkFile(name="n", rpc="http://127.0.0.1:1", chain_id=1, contract="0x" + "1" * 40, deployed_block=0, store=f"file://{tmp_path}")
    path = write_network(tmp_path / "n.toml", network)
    code = main(["node", "--network", str(path), "--key-file", "k", "--state-dir", str(tmp_path / "s"), "--data", "femnist:1", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_colluders_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    listing = tmp_path / "bad.txt"
    listing.write_text(f"# malicious nodes\n{a}\n\n{b}  # the other one\n")
    assert _colluders(str(listing)) == [a, b]
    monkeypatch.setenv("BFLC_COLLUDERS", f"{a}, {b}")
    assert _colluders("") == [a, b]
    listing.write_text("nonsense\n")
    with pytest.raises(ConfigError, match="not an address"):
        _colluders(str(listing))


def test_cluster_down_without_a_cluster_says_so(tmp_path, capsys):
    assert main(["cluster", "down", "--dir", str(tmp_path)]) == 2
    assert "no cluster in" in capsys.readouterr().err


def test_cluster_up_rejects_rounds_without_the_table(tmp_path, capsys):
    assert main(["cluster", "up", "--dir", str(tmp_path), "--rounds", "3", "--no-watch"]) == 2
    assert "--rounds" in capsys.readouterr().err


def test_prune_keeps_the_current_model_and_round(tmp_path, capsys):
    net = build_net(tmp_path)
    for node in net.nodes:
        net.daemon(node)
    assert net.play_round() == 1
    net.step_all()
    member = net.members[0]  # scored round 0, trains in round 1
    blobs = net.root / member / "blobs"
    before = {p.name for p in blobs.glob("??/*")}
    own = json.loads((net.root / member / "state.json").read_text())["rounds"]["1"]["update"]["blob"]
    keep = {bytes32_to_hash(net.ledger.model(1).blob_hash), own}
    assert keep < before
    assert main(["prune", "--state-dir", str(net.root / member)]) == 0
    assert f"pruned {len(before) - 2} of {len(before)} cached blobs" in capsys.readouterr().out
    assert {p.name for p in blobs.glob("??/*")} == keep


def test_a_light_node_prunes_its_cache_every_round(tmp_path):
    net = build_net(tmp_path)
    for node in net.nodes:
        net.daemon(node, light=True)
    for _ in range(3):
        net.play_round()
    net.step_all()
    for node in net.nodes:
        cached = {p.name for p in (net.root / node / "blobs").glob("??/*")}
        round_blobs = {bytes32_to_hash(u.blob_hash) for u in net.ledger.round_updates(3)}
        own = json.loads((net.root / node / "state.json").read_text())["rounds"].get("3", {}).get("update")
        # a trainer keeps its own update, revealed or not yet
        assert (own is not None) == (node not in net.ledger.committee(3)) and (own is None or own["blob"] in cached)
        assert cached <= round_blobs | {bytes32_to_hash(net.ledger.model(3).blob_hash)} | ({own["blob"]} if own else set())


def test_prune_refuses_while_the_node_runs(tmp_path, capsys):
    from bflc.node.state import StateDir

    state_dir = StateDir(tmp_path)
    state_dir.blobs.put(encode_model({"w": np.zeros(2, np.float32)}))
    with state_dir.lock():
        assert main(["prune", "--state-dir", str(tmp_path)]) == 2
    assert "another bflc node" in capsys.readouterr().err
    assert main(["prune", "--state-dir", str(tmp_path)]) == 0
    assert state_dir.blobs.list() == []


def test_stop_terminates_then_kills_by_pid(tmp_path):
    polite = spawn(["sleep", "30"], tmp_path / "sleep.log")
    stubborn = spawn(["bash", "-c", "trap '' TERM; echo ready; exec sleep 30"], tmp_path / "stubborn.log")
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "stubborn.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = ProcessRecord(polite.pid, (polite.start_time or 0) + 1, ("sleep",), "x")  # same PID, other start: not ours
    assert is_running(polite) and not is_running(gone)
    outcome = stop({"polite": polite, "stubborn": stubborn}, grace_seconds=1)
    assert outcome == {"polite": "stopped", "stubborn": "killed"}
    assert not is_running(polite) and not is_running(stubborn)
    assert stop({"polite": polite}) == {"polite": "not running"}
    assert json.loads(json.dumps(polite.to_json())) == polite.to_json()


def test_flower_client_option_builds_a_flower_learner():
    import argparse

    from bflc.cli.node import _learner
    from bflc.ml.flower import FlowerLearner

    args = argparse.Namespace(flower_client="tests.node.flower_clients:make_client", data=None)
    assert isinstance(_learner(args, network=None, attack=None), FlowerLearner)
    assert _learner(argparse.Namespace(flower_client=None, data=None), network=None, attack=None) is None  # a watcher
