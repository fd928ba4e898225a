"""Operator commands given bad input: each answers with one line saying what
is wrong and what to do, exits 2, prints no traceback, and changes nothing.
(More cases beside the commands they belong to in ``test_net_cli.py``.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bflc.chain.anvil import free_port
from bflc.net.network import write_network

from .conftest import Deployed
from .test_net_cli import bflc, one_line_error


def _variant(deployed: Deployed, tmp_path: Path, **changes: Any) -> Path:
    """The deployed network's file with ``changes``, written beside it."""
    return write_network(tmp_path / f"variant-{len(list(tmp_path.glob('variant-*')))}.toml", replace(deployed.net, **changes))


CASES = [
    # (what, network-file changes, expected words in the message)
    ("wrong chain id", {"chain_id": 4242}, "says chain 4242"),
    ("no contract at the address", {"contract": "0x000000000000000000000000000000000000dEaD"}, "no contract"),
    ("unreachable RPC", {"rpc": "http://127.0.0.1:{closed}"}, "cannot reach the chain"),
]


@pytest.mark.parametrize(("what", "changes", "words"), CASES, ids=[c[0] for c in CASES])
def test_status_with_a_broken_network_file(deployed, tmp_path, capsys, what, changes, words):
    changes = {k: v.format(closed=free_port()) if isinstance(v, str) else v for k, v in changes.items()}
    code, _, err = bflc(capsys, "status", "--network", _variant(deployed, tmp_path, **changes))
    assert words in one_line_error(code, err).lower()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "network"),
        ("[chain]\nrpc = 'http://127.0.0.1:1'\n", "no [network] table"),
        ("not toml = = =", "toml"),
    ],
    ids=["empty", "missing tables", "not toml"],
)
def test_malformed_network_files(tmp_path, capsys, text, words):
    path = tmp_path / "network.toml"
    path.write_text(text)
    code, _, err = bflc(capsys, "status", "--network", path)
    assert words in one_line_error(code, err).lower()


def test_missing_network_file(tmp_path, capsys):
    code, _, err = bflc(capsys, "status", "--network", tmp_path / "nope.toml")
    assert "nope.toml" in one_line_error(code, err)


def test_model_get_with_the_store_unavailable(deployed, tmp_path, capsys):
    closed = f"s3://models/net?endpoint=http://127.0.0.1:{free_port()}"
    path = _variant(deployed, tmp_path, store=closed)
    code, _, err = bflc(capsys, "model", "get", "--network", path, "--round", 0, "--out", tmp_path / "m.safetensors")
    one_line_error(code, err)
    assert not (tmp_path / "m.safetensors").exists()


def test_a_malformed_store_url_is_refused(deployed, tmp_path, capsys):
    path = tmp_path / "network.toml"
    path.write_text(deployed.path.read_text().replace(deployed.net.store, "ftp://example/models"))
    code, _, err = bflc(capsys, "model", "get", "--network", path, "--round", 0, "--out", tmp_path / "m.safetensors")
    assert "ftp" in one_line_error(code, err)


@pytest.mark.parametrize("content", [b"", b"0x1234", b"not a key at all", b'{"version": 3}'], ids=["empty", "short", "text", "bad keystore"])
def test_a_wrong_key_file_is_refused_before_any_transaction(deployed, tmp_path, capsys, content):
    key = tmp_path / "bad.key"
    key.write_bytes(content)
    key.chmod(0o600)
    outsider = deployed.trainers[0].address
    code, _, err = bflc(capsys, "admin", "blacklist", outsider, "--network", deployed.path, "--key-file", key)
    assert "bad.key" in one_line_error(code, err)
    assert deployed.ledger().status(outsider).name == "ADMITTED"


def test_simulate_and_experiment_refuse_bad_settings(tmp_path, capsys):
    code, _, err = bflc(capsys, "simulate", "--nodes", "-1", "--quiet")
    assert "--nodes" in one_line_error(code, err)
    code, _, err = bflc(capsys, "simulate", "--dataset", f"leaf:{tmp_path / 'missing'}", "--quiet")
    assert "missing" in one_line_error(code, err)


DIGITS = ["--dataset", "digits", "--model", "mlp", "--nodes", "20", "--active-fraction", "0.5", "--malicious-fraction", "0.3", "--quiet"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--attack", "backdoor", "--poisoned-share", "0"], "--poisoned-share must be in (0, 1]"),
        (["--attack", "backdoor", "--trigger-position", "middle"], "--trigger-position must be one of"),
        (["--attack", "backdoor", "--trigger-size", "0"], "--trigger-size must be at least 1"),
        (["--attack", "backdoor", "--target-class", "-1"], "--target-class must be at least 0"),
        (["--target-class", "3"], "apply to attack backdoor only"),
        ([*DIGITS, "--attack", "backdoor", "--trigger-size", "9"], "a 9x9 trigger at bottom-right does not fit in the 8x8 images"),
        ([*DIGITS, "--attack", "backdoor", "--trigger-position", "7,0", "--trigger-size", "2"], "a 2x2 trigger at 7,0 does not fit"),
        ([*DIGITS, "--attack", "backdoor", "--target-class", "10"], "target class 10 is not a class of the data (choose one of 0 to 9)"),
    ],
)
def test_simulate_refuses_a_bad_backdoor(capsys, argv, words):
    code, _, err = bflc(capsys, "simulate", "--rounds", "1", *argv)
    assert words in one_line_error(code, err)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--target-class", "3"], "--trigger-*, --target-class and --poisoned-share apply to --attack backdoor only"),
        (["--attack", "backdoor", "--poisoned-share", "1.5"], "--poisoned-share must be in (0, 1]"),
        (["--poll", "2", "--max-backoff", "1"], "--max-backoff (1.0) must be at least --poll (2.0)"),
    ],
)
def test_node_refuses_a_bad_backdoor_before_it_connects(tmp_path, capsys, argv, words):
    paths = ["--network", tmp_path / "missing.toml", "--key-file", tmp_path / "missing.key", "--state-dir", tmp_path / "state"]
    code, _, err = bflc(capsys, "node", *paths, *argv)
    assert words in one_line_error(code, err)
    assert not (tmp_path / "state").exists()


def test_bad_decisions_are_one_line_and_send_nothing(deployed, capsys):
    """A council of two managers with a threshold of two, one decision open; every bad request is refused before it is sent."""
    manager, second, node = deployed.manager, deployed.committee[0], deployed.trainers[0]
    first = deployed.ledger().decision_count()  # the fixture's admissions came first
    for argv in (("add-manager", second.address), ("set-threshold", 2), ("blacklist", deployed.trainers[1].address)):
        code, _, err = bflc(capsys, "admin", *argv, "--network", deployed.path, "--key-file", manager.path)
        assert code == 0, err
    ledger = deployed.ledger()
    open_id, last = first + 2, first + 3  # the blacklisting waits for a second approval
    assert (ledger.threshold(), ledger.decision_count(), ledger.decision(open_id).status) == (2, last, "pending")
    x = node.address
    cases = [
        (
            manager,
            ("approve", 99),
            f"the council has no decision 99: its decisions are 0 to {open_id} (list the open ones with `bflc admin decisions`)",
        ),
        (manager, ("revoke", -1), "the council has no decision -1"),
        (node, ("execute", last), f"the council has no decision {last}"),
        (node, ("expire", last), f"the council has no decision {last}"),
        (manager, ("approve", open_id), "contract reverted in approve (blacklist): already approved"),
        (node, ("approve", open_id), "contract reverted in approve (blacklist): caller is not a manager"),
        (node, ("blacklist", x), "contract reverted in propose (blacklist): caller is not a manager"),
        (node, ("execute", open_id), "contract reverted in execute (blacklist): not enough approvals"),
        (node, ("expire", open_id), "contract reverted in expire: decision has not expired"),
        (node, ("revoke", open_id), "contract reverted in revoke: not approved by the caller"),
        (manager, ("approve", open_id - 1), "contract reverted in approve (set_threshold): decision already executed"),
        (manager, ("set-threshold", 3), "threshold 3 with 2 managers (give a threshold from 1 to 2)"),
        (manager, ("set-threshold", 0), "threshold 0 with 2 managers"),
        (manager, ("add-manager", second.address), f"{second.address} is already a manager"),
        (manager, ("remove-manager", x), f"{x} is not a manager"),
        (manager, ("attest-factor", f"{x}=1.5"), f"factor '{x}=1.5' is not ADDRESS=X with X from 0 to 1"),
        (manager, ("attest-factor", f"{x}=nan"), "is not ADDRESS=X with X from 0 to 1"),
        (manager, ("attest-factor", x), "is not ADDRESS=X with X from 0 to 1"),
        (manager, ("attest-factor", "0x12=0.5"), "node '0x12' is not an Ethereum address"),
        (manager, ("attest-factor", f"{x}=0.5", f"{x.lower()}=0.6"), f"node {x} is named twice"),
        (manager, ("admit", x, x), f"node {x} is named twice"),
        (manager, ("failback", 1), "round 1 has not started: the current round is 0"),
        (manager, ("replace-committee", 0, x, x), f"committee member {x} is named twice"),
    ]
    nonces = {k.address: ledger.w3.eth.get_transaction_count(k.address) for k in (manager, node)}
    for key, argv, words in cases:
        code, _, err = bflc(capsys, "admin", *argv, "--network", deployed.path, "--key-file", key.path)
        assert words in one_line_error(code, err), argv
    assert {a: ledger.w3.eth.get_transaction_count(a) for a in nonces} == nonces
    assert (ledger.decision_count(), ledger.decision(open_id).approvals) == (last, (manager.address,))
