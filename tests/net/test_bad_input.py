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
