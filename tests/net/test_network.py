"""The network file: round trip, and one clear error for every way it can be wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from bflc.errors import ConfigError
from bflc.net.network import LearningSettings, NetworkFile, load_network, write_network
from bflc.settings import TrainingSettings

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
NET = NetworkFile(
    name="pilot",
    rpc="https://rpc.example.org:8545",
    chain_id=1337,
    contract=CONTRACT,
    deployed_block=7,
    store="s3://models/pilot",
    learning=LearningSettings(model="cnn", input_shape=(1, 28, 28), num_classes=62, model_seed=3, training=TrainingSettings(local_epochs=1, lr=0.01, momentum=0.5)),
)
DOCUMENT: dict[str, Any] = {
    "network": {"name": "pilot"},
    "chain": {"rpc": "https://rpc.example.org:8545", "chain_id": 1337, "contract": CONTRACT, "deployed_block": 7},
    "store": {"url": "s3://models/pilot"},
    "learning": {
        "model": "cnn",
        "input_shape": [1, 28, 28],
        "num_classes": 62,
        "local_epochs": 1,
        "batch_size": 10,
        "lr": 0.01,
        "momentum": 0.5,
        "max_validation_samples": 200,
        "model_seed": 3,
        "sample_cap": 4.0,
    },
}
ALL_KEYS = [(table, key) for table, keys in DOCUMENT.items() for key in keys]


def write_document(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(document))
    return path


def changed(table: str, key: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document[table][key] = value
    return document


def test_a_network_file_round_trips(tmp_path: Path) -> None:
    path = write_network(tmp_path / "network.toml", NET)
    assert load_network(path) == NET
    assert [p.name for p in tmp_path.iterdir()] == ["network.toml"]  # no temporary file left behind


def test_the_layout_is_the_documented_one(tmp_path: Path) -> None:
    assert load_network(write_document(tmp_path / "n.toml", DOCUMENT)) == NET


def test_writing_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    path = write_network(tmp_path / "n.toml", NET)
    other = NetworkFile(**{**NET.__dict__, "name": "renamed"})
    write_network(path, other)
    assert load_network(path) == other


def test_a_lowercase_address_is_checksummed(tmp_path: Path) -> None:
    net = load_network(write_document(tmp_path / "n.toml", changed("chain", "contract", CONTRACT.lower())))
    assert net.contract == CONTRACT


def test_an_integer_learning_rate_is_a_float(tmp_path: Path) -> None:
    net = load_network(write_document(tmp_path / "n.toml", changed("learning", "lr", 1)))
    assert net.learning.training.lr == 1.0 and isinstance(net.learning.training.lr, float)


def test_max_loss_ratio_may_be_left_out_given_or_refused(tmp_path: Path) -> None:
    """Files written before the reference rule load with its default; a given value is checked like any other."""
    assert load_network(write_document(tmp_path / "n.toml", DOCUMENT)).learning.training.max_loss_ratio == 4.0
    assert load_network(write_document(tmp_path / "off.toml", changed("learning", "max_loss_ratio", 0))).learning.training.max_loss_ratio == 0.0
    with pytest.raises(ConfigError, match=r"max_loss_ratio must be 0 \(off\) or at least 1") as info:
        load_network(write_document(tmp_path / "bad.toml", changed("learning", "max_loss_ratio", 0.5)))
    assert str(tmp_path / "bad.toml") in str(info.value)
    with pytest.raises(ConfigError, match=r"\[learning\] max_loss_ratio = 'four' is not a number"):
        load_network(write_document(tmp_path / "typo.toml", changed("learning", "max_loss_ratio", "four")))


@pytest.mark.parametrize("key", ["screen_similarity", "screen_push", "norm_clip"])
def test_the_backdoor_defence_keys_may_be_left_out_given_or_refused(tmp_path: Path, key: str) -> None:
    """Files written before the defence existed load with it off; a given value is checked like any other."""
    assert getattr(load_network(write_document(tmp_path / "n.toml", DOCUMENT)).learning.training, key) == 0.0
    assert getattr(load_network(write_document(tmp_path / "on.toml", changed("learning", key, 1))).learning.training, key) == 1.0
    with pytest.raises(ConfigError, match=f"{key} must be 0"):
        load_network(write_document(tmp_path / "bad.toml", changed("learning", key, {"screen_similarity": 1.5, "screen_push": -1, "norm_clip": 0.5}[key])))


@pytest.mark.parametrize(("table", "key"), ALL_KEYS)
def test_every_missing_key_is_named(tmp_path: Path, table: str, key: str) -> None:
    document = copy.deepcopy(DOCUMENT)
    del document[table][key]
    with pytest.raises(ConfigError, match=rf"\[{table}\] has no '{key}'") as info:
        load_network(write_document(tmp_path / "n.toml", document))
    assert str(tmp_path / "n.toml") in str(info.value)


@pytest.mark.parametrize("table", list(DOCUMENT))
def test_every_missing_table_is_named(tmp_path: Path, table: str) -> None:
    document = {t: v for t, v in DOCUMENT.items() if t != table}
    with pytest.raises(ConfigError, match=rf"has no \[{table}\] table"):
        load_network(write_document(tmp_path / "n.toml", document))


@pytest.mark.parametrize(("table", "key"), ALL_KEYS)
def test_every_key_of_the_wrong_type_is_named(tmp_path: Path, table: str, key: str) -> None:
    wrong = 3 if isinstance(DOCUMENT[table][key], str) else "three"
    with pytest.raises(ConfigError, match=rf"\[{table}\] {key} = .* is not an? "):
        load_network(write_document(tmp_path / "n.toml", changed(table, key, wrong)))


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("chain", "chain_id", True),
        ("learning", "input_shape", [1, "28", 28]),
        ("learning", "input_shape", 28),
        ("learning", "lr", False),
    ],
)
def test_booleans_and_mixed_lists_are_the_wrong_type(tmp_path: Path, table: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"\[{table}\] {key} = .* is not"):
        load_network(write_document(tmp_path / "n.toml", changed(table, key, value)))


@pytest.mark.parametrize(
    ("table", "key", "value", "message"),
    [
        ("network", "name", "  ", "name must be one non-empty line"),
        ("chain", "rpc", "localhost:8545", "is not an http:// or https:// URL"),
        ("chain", "rpc", "ftp://example.org", "is not an http:// or https:// URL"),
        ("chain", "rpc", "http://", "is not an http:// or https:// URL"),
        ("chain", "chain_id", 0, "chain_id must be a positive integer"),
        ("chain", "contract", "0x1234", "is not an Ethereum address"),
        ("chain", "contract", "5FbDB2315678afecb367f032d93F642f64180aa3x", "is not an Ethereum address"),
        ("chain", "contract", "0x5fbDB2315678afecb367f032d93F642f64180aa3", "is not an Ethereum address"),  # bad checksum
        ("chain", "deployed_block", -1, "deployed_block must be non-negative"),
        ("store", "url", "/var/models", "is not a URL"),
        ("store", "url", "", "is not a URL"),
        ("learning", "model", "", "model must not be empty"),
        ("learning", "input_shape", [], "input_shape must be positive sizes"),
        ("learning", "input_shape", [1, 0, 28], "input_shape must be positive sizes"),
        ("learning", "num_classes", 1, "num_classes must be at least 2"),
        ("learning", "local_epochs", 0, "local_epochs must be at least 1"),
        ("learning", "batch_size", 0, "batch_size must be at least 1"),
        ("learning", "lr", 0.0, "lr must be positive"),
        ("learning", "momentum", 1.0, r"momentum must be in \[0, 1\)"),
        ("learning", "momentum", -0.1, r"momentum must be in \[0, 1\)"),
        ("learning", "max_validation_samples", 0, "max_validation_samples must be at least 1"),
        ("learning", "model_seed", -1, "model_seed must be non-negative"),
    ],
)
def test_every_bad_value_is_explained(tmp_path: Path, table: str, key: str, value: Any, message: str) -> None:
    path = write_document(tmp_path / "n.toml", changed(table, key, value))
    with pytest.raises(ConfigError, match=message) as info:
        load_network(path)
    assert str(path) in str(info.value)


def test_unknown_keys_and_tables_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'learning_rate' in \[learning\]"):
        load_network(write_document(tmp_path / "a.toml", changed("learning", "learning_rate", 0.1)))
    with pytest.raises(ConfigError, match=r"unknown table \[chains\]"):
        load_network(write_document(tmp_path / "b.toml", {**DOCUMENT, "chains": {}}))


def test_invalid_toml_and_a_missing_file_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[network\nname = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_network(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="cannot read network file"):
        load_network(tmp_path / "missing.toml")


def test_writing_into_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        write_network(tmp_path / "missing" / "n.toml", NET)


def test_values_are_checked_when_built_in_code_too() -> None:
    with pytest.raises(ConfigError, match="invalid network setting: chain_id"):
        NetworkFile(**{**NET.__dict__, "chain_id": 0})
    with pytest.raises(ConfigError, match="invalid training setting: batch_size"):
        TrainingSettings(batch_size=0)
