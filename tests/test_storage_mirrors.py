"""Mirrors in the network file and on the command line, and a daemon re-publishing a lost model."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bflc.errors import ConfigError
from bflc.net.network import load_network, write_network
from bflc.node.journal import read_journal
from bflc.storage import LocalBlobStore, bytes32_to_hash
from tests.net.test_network import DOCUMENT, NET, write_document
from tests.node.daemon_net import build_net


def test_mirrors_are_optional_and_round_trip(tmp_path: Path) -> None:
    assert load_network(write_document(tmp_path / "n.toml", DOCUMENT)).mirrors == ()
    document = copy.deepcopy(DOCUMENT)
    document["store"]["mirrors"] = ["file:///srv/mirror", "s3://backup/pilot"]
    net = load_network(write_document(tmp_path / "m.toml", document))
    assert net.mirrors == ("file:///srv/mirror", "s3://backup/pilot")
    assert load_network(write_network(tmp_path / "again.toml", net)) == net
    assert "mirrors" not in write_network(tmp_path / "plain.toml", NET).read_text()


@pytest.mark.parametrize(
    ("value", "message"),
    [("file:///srv/mirror", r"\[store\] mirrors = .* is not a list of strings"), ([3], "is not a list of strings"),
     (["/srv/mirror"], "mirror '/srv/mirror' is not a URL")],
)
def test_bad_mirrors_are_named(tmp_path: Path, value, message) -> None:
    document = copy.deepcopy(DOCUMENT)
    document["store"]["mirrors"] = value
    with pytest.raises(ConfigError, match=message):
        load_network(write_document(tmp_path / "n.toml", document))


def test_node_passes_the_network_and_command_line_mirrors_to_the_daemon(tmp_path, monkeypatch):
    import bflc.cli.net
    import bflc.net.connect
    import bflc.node.daemon
    from bflc.cli import build_parser
    from bflc.cli.node import _run_node

    network = NET.__class__(**{**NET.__dict__, "store": (tmp_path / "store").as_uri(), "mirrors": ((tmp_path / "m1").as_uri(),)})
    path = write_network(tmp_path / "n.toml", network)
    seen: dict = {}

    class FakeDaemon:
        def __init__(self, ledger, store, learner, state_dir, **options) -> None:
            seen.update(options, store=store)

        def run(self) -> int:
            return 0

    monkeypatch.setattr(bflc.cli.net, "signer_from_args", lambda args: None)
    monkeypatch.setattr(bflc.net.connect, "connect", lambda network, signer: None)
    monkeypatch.setattr(bflc.node.daemon, "NodeDaemon", FakeDaemon)
    args = build_parser().parse_args(
        ["node", "--network", str(path), "--key-file", str(tmp_path / "k.key"), "--state-dir", str(tmp_path / "state"), "--mirror", str(tmp_path / "m2")]
    )
    assert _run_node(args) == 0
    assert [m.root for m in seen["mirrors"]] == [tmp_path / "m1", tmp_path / "m2"]
    assert (seen["poll_seconds"], seen["max_backoff_seconds"]) == (1.0, 10.0)
    assert all(isinstance(m, LocalBlobStore) for m in seen["mirrors"])


def test_a_daemon_puts_back_the_global_model_the_store_lost_or_spoiled(tmp_path):
    net = build_net(tmp_path)
    member = net.daemon(net.members[0])
    member.step()  # fetches (and keeps) the genesis model
    genesis = bytes32_to_hash(net.ledger.round_state().model.blob_hash)
    path = net.store._path(genesis)
    good = path.read_bytes()
    path.write_bytes(b"junk")
    member.blobs._next_guard.clear()  # as after the guard's pause
    member.step()
    assert path.read_bytes() == good
    events = [e for e in read_journal(tmp_path / net.members[0] / "node.log") if e["event"] == "blob_republished"]
    assert [(e["blob"], e["round"]) for e in events] == [(genesis, 0)]
