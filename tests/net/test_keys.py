"""Key files: raw hex keys, V3 keystores, and every way a key file can be wrong."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from bflc.errors import ConfigError
from bflc.net.keys import PASSWORD_ENV, load_key, new_key_file, read_password_file

# Foundry's first dev key (public knowledge, never funded outside dev chains).
DEV_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def keystore(path: Path, password: str) -> Path:
    # pbkdf2 with few iterations keeps the test fast; load_key reads any KDF.
    return write(path, json.dumps(Account.encrypt(DEV_KEY, password, kdf="pbkdf2", iterations=1000)), 0o644)


@pytest.mark.parametrize("text", [DEV_KEY, "0x" + DEV_KEY, f"  \n0x{DEV_KEY.upper()}\n\n", DEV_KEY + "\n"])
def test_a_raw_hex_key_loads_with_or_without_0x_and_whitespace(tmp_path: Path, text: str) -> None:
    assert load_key(write(tmp_path / "k", text)).address == DEV_ADDRESS


def test_a_world_readable_raw_key_is_refused_with_a_chmod_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "k", DEV_KEY, 0o644)
    with pytest.raises(ConfigError, match="accessible to every user") as info:
        load_key(path)
    assert f"chmod 600 {path}" in str(info.value)


def test_a_group_readable_raw_key_is_accepted(tmp_path: Path) -> None:
    assert load_key(write(tmp_path / "k", DEV_KEY, 0o640)).address == DEV_ADDRESS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no private key"),
        ("not a key", "holds no private key"),
        (DEV_KEY[:-2], "holds no private key"),
        ("0" * 64, "invalid private key"),
        ("f" * 64, "invalid private key"),
        ("{not json", "not valid JSON"),
        ('{"address": "00"}', "not an Ethereum V3 keystore"),
        ('{"crypto": {}, "version": 3}', "malformed"),
    ],
)
def test_a_malformed_key_file_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.key", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_key(path)
    assert str(path) in str(info.value)


def test_a_missing_key_file_says_which_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read key file .*nope.key") as info:
        load_key(tmp_path / "nope.key")
    assert "keystore" in str(info.value)


def test_a_keystore_opens_with_the_password_argument(tmp_path: Path) -> None:
    assert load_key(keystore(tmp_path / "ks.json", "s3cret"), "s3cret").address == DEV_ADDRESS


def test_a_keystore_opens_with_the_password_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    assert load_key(keystore(tmp_path / "ks.json", "s3cret")).address == DEV_ADDRESS


def test_a_keystore_without_password_opens_without_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert load_key(keystore(tmp_path / "ks.json", "")).address == DEV_ADDRESS


def test_an_encrypted_keystore_without_a_password_asks_for_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"is encrypted.*--password-file"):
        load_key(keystore(tmp_path / "ks.json", "s3cret"))


def test_a_wrong_keystore_password_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = keystore(tmp_path / "ks.json", "s3cret")
    with pytest.raises(ConfigError, match="wrong password for keystore"):
        load_key(path, "guess")
    monkeypatch.setenv(PASSWORD_ENV, "guess")
    with pytest.raises(ConfigError, match="wrong password"):
        load_key(path)


def test_new_key_file_writes_a_private_raw_key_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    address = new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path).address == address
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        new_key_file(path)
    assert path.read_bytes() == before


def test_new_key_file_with_a_password_writes_a_keystore(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    address = new_key_file(path, "pw")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["crypto"]["kdf"] == "scrypt"
    assert load_key(path, "pw").address == address


def test_new_key_file_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot create key file"):
        new_key_file(tmp_path / "no" / "such" / "dir.key")


def test_new_keys_differ(tmp_path: Path) -> None:
    assert new_key_file(tmp_path / "a") != new_key_file(tmp_path / "b")


def test_a_password_file_gives_its_first_line(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("correct horse\nignored\n")
    (tmp_path / "empty").write_text("")
    assert read_password_file(tmp_path / "pw") == "correct horse"
    assert read_password_file(tmp_path / "empty") == ""
    with pytest.raises(ConfigError, match="cannot read password file"):
        read_password_file(tmp_path / "missing")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "k", DEV_KEY, 0o000)
    with pytest.raises(ConfigError, match="cannot read key file"):
        load_key(path)
