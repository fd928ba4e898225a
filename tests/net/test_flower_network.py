"""A network of a model bflc does not know: deployed from a Flower client
through ``bflc chain deploy --flower-client``, run by ``bflc node --flower-client``
processes on anvil (issue 18, part 5)."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bflc.chain import ModelOrigin
from bflc.chain.anvil import AnvilChain
from bflc.cluster.procs import ProcessRecord, spawn, stop
from bflc.ml.flower import load_flower_learner
from bflc.net.connect import connect
from bflc.net.network import EXTERNAL_MODEL, load_network
from bflc.node.journal import read_journal
from bflc.storage import decode_model, encode_model, get_model, model_spec, open_store

from .conftest import KeyFactory
from .test_net_cli import bflc, one_line_error

pytestmark = pytest.mark.slow

CLIENT = "tests.node.flower_clients:make_client"
ROUNDS = 2


def deploy(anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: Any) -> tuple[int, str, str]:
    return bflc(
        capsys, "chain", "deploy", "--rpc", anvil.url, "--key-file", keys().path, "--store", tmp_path / "store",
        "--out", tmp_path / "network.toml", "--committee", ",".join(keys().address for _ in range(3)), *extra,
    )  # fmt: skip


def test_deploy_from_a_flower_client_or_any_genesis_file_with_model_external(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = deploy(anvil, keys, tmp_path, capsys, "--flower-client", CLIENT)
    assert code == 0, err
    net = load_network(tmp_path / "network.toml")
    genesis = encode_model(load_flower_learner(CLIENT).initial_parameters())
    assert net.learning.model == EXTERNAL_MODEL
    assert connect(net).model(0).blob_hash == hashlib.sha256(genesis).digest()
    assert sorted(decode_model(genesis)) == ["p000", "p001"]

    (tmp_path / "network.toml").unlink()
    own = encode_model({"encoder.weight": np.ones((4, 3), np.float32), "head.bias": np.zeros(2, np.float32)})
    (tmp_path / "own.safetensors").write_bytes(own)
    code, _, err = deploy(anvil, keys, tmp_path, capsys, "--model", EXTERNAL_MODEL, "--genesis", tmp_path / "own.safetensors")
    assert code == 0, err
    net = load_network(tmp_path / "network.toml")
    assert net.learning.model == EXTERNAL_MODEL and connect(net).model(0).blob_hash == hashlib.sha256(own).digest()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--model", "mlp", "--flower-client", CLIENT), "--model mlp and --flower-client both given: the client brings its own model"),
        (("--model", EXTERNAL_MODEL), "an external model needs a genesis model (pass --flower-client MODULE:FACTORY or --genesis FILE"),
        (("--model", "mlp", "--dataset", "digits", "--genesis", "OWN"), "the genesis model is not bflc's mlp for inputs (1, 8, 8) and 10 classes"),
        (("--flower-client", "tests.node.flower_clients:no_such_factory"), "no_such_factory"),
    ],
    ids=["model-and-client", "external-without-genesis", "own-model-as-mlp", "unknown-factory"],
)
def test_deploy_refuses_a_model_it_cannot_check_before_any_transaction(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], words: str
) -> None:
    (tmp_path / "own.safetensors").write_bytes(encode_model({"w": np.ones((4, 3), np.float32)}))
    extra = tuple(str(tmp_path / "own.safetensors") if e == "OWN" else e for e in extra)
    code, _, err = deploy(anvil, keys, tmp_path, capsys, *extra)
    assert words in one_line_error(code, err)
    assert not (tmp_path / "network.toml").exists()
    if "own-model" in words:
        assert "--model external" in err


def test_flower_nodes_run_rounds_on_a_network_deployed_from_their_client(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployer, founders, trainers = keys("deployer"), [keys(f"founder{i}") for i in range(3)], [keys(f"trainer{i}") for i in range(4)]
    network = tmp_path / "network.toml"
    code, _, err = bflc(
        capsys, "chain", "deploy", "--rpc", anvil.url, "--key-file", deployer.path, "--store", tmp_path / "store", "--out", network,
        "--committee", ",".join(f.address for f in founders), "--flower-client", CLIENT, "--updates-per-round", len(trainers),
        "--permission-fee", 0,
    )  # fmt: skip
    assert code == 0, err
    for trainer in trainers:
        code, _, err = bflc(capsys, "admin", "admit", trainer.address, "--network", network, "--key-file", deployer.path)
        assert code == 0, err

    code, _, err = bflc(capsys, "node", "--network", network, "--key-file", trainers[0].path, "--data", "femnist:0", "--state-dir", tmp_path / "x")
    assert "runs a model of its own (model 'external'" in one_line_error(code, err) and "--flower-client" in err

    net = load_network(network)
    ledger = connect(net)
    nodes: dict[str, ProcessRecord] = {}
    try:
        for i, key in enumerate(founders + trainers):
            name = f"node{i}"
            command = [sys.executable, "-m", "bflc.cli", "node", "--network", str(network), "--key-file", str(key.path)]
            command += ["--flower-client", CLIENT, "--state-dir", str(tmp_path / name), "--poll", "0.2"]
            nodes[name] = spawn(command, tmp_path / f"{name}.out")
        deadline = time.monotonic() + 240
        while ledger.current_round() < ROUNDS and time.monotonic() < deadline:
            time.sleep(0.5)
        reached = ledger.current_round()
    finally:
        stopped = stop(nodes)
    logs = {name: (tmp_path / f"{name}.out").read_text(errors="replace")[-2000:] for name in nodes}
    assert reached >= ROUNDS, logs
    assert set(stopped.values()) == {"stopped"}, stopped
    genesis = get_model(open_store(net.store), ledger.model(0).blob_hash.hex())
    for round in range(1, ROUNDS + 1):
        record = ledger.model(round)
        assert record.origin is ModelOrigin.AGGREGATED
        assert model_spec(get_model(open_store(net.store), record.blob_hash.hex())) == model_spec(genesis)
    for name in nodes:
        journal = read_journal(tmp_path / name / "node.log")
        assert not [e for e in journal if e["level"] == "error" or e["event"] in ("update_rejected", "step_failed")], name
