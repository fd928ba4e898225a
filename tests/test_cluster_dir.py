"""``bflc cluster up --dir D`` clears only a cluster directory: a non-empty
D without the marker is refused with one line and left as it was; an empty
or missing D, or one ``up`` made before, is used."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bflc.cli import main
from bflc.cluster import launch
from bflc.cluster.procs import ProcessRecord
from bflc.errors import ChainError


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def no_anvil(monkeypatch: pytest.MonkeyPatch) -> None:
    """``up`` stops where it would start anvil: what it did to DIR before that is left to see."""

    def refuse(directory: Path, block_time: int) -> None:
        raise ChainError("anvil not started in this test")

    monkeypatch.setattr(launch, "_start_anvil", refuse)


@pytest.mark.parametrize("user_files", [{"keys/mine.key": b"k"}, {"network.toml": b"x = 1\n"}, {"store/a": b"1", "notes.txt": b"n"}])
def test_a_users_directory_is_refused_and_untouched(
    tmp_path: Path, user_files: dict[str, bytes], no_anvil: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, content in user_files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    assert main(["cluster", "up", "--dir", str(tmp_path), "--no-watch"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"bflc: error: --dir {tmp_path} is not empty and not a cluster directory (it has no .bflc-cluster) "
        "(give a new or empty directory; `cluster up` replaces keys/, store/ and network.toml in it)\n"
    )
    assert tree(tmp_path) == user_files


def test_a_file_as_dir_is_refused(tmp_path: Path, no_anvil: None) -> None:
    (tmp_path / "f").write_text("mine")
    with pytest.raises(launch.ConfigError, match="is not a directory"):
        launch.up(tmp_path / "f", launch.ClusterSettings())
    assert (tmp_path / "f").read_text() == "mine"


@pytest.mark.parametrize("existing", [False, True])
def test_a_missing_or_empty_directory_becomes_a_cluster_directory(tmp_path: Path, existing: bool, no_anvil: None) -> None:
    directory = tmp_path / "cluster"
    if existing:
        directory.mkdir()
    with pytest.raises(ChainError, match="anvil not started"):
        launch.up(directory, launch.ClusterSettings())
    assert list(tree(directory)) == [launch.MARKER_FILE]


@pytest.mark.parametrize("mark", [launch.MARKER_FILE, launch.CLUSTER_FILE])
def test_a_cluster_directory_is_reused(tmp_path: Path, mark: str, no_anvil: None) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "node0.key").write_text("old")
    (tmp_path / "network.toml").write_text("old")
    # A stopped cluster of an older bflc has only its cluster.json: its anvil is long gone.
    stopped = ProcessRecord(pid=os.getpid(), start_time=1, command=("anvil",), log=str(tmp_path / "anvil.log"))
    (tmp_path / mark).write_text(json.dumps({"nodes": {}, "anvil": stopped.to_json()}) if mark == launch.CLUSTER_FILE else "")
    with pytest.raises(ChainError, match="anvil not started"):
        launch.up(tmp_path, launch.ClusterSettings())
    assert list(tree(tmp_path)) == [launch.MARKER_FILE]
