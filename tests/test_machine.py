"""The commit a run records: read from ``.git`` in a clone and in a worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bflc.machine import cpu_model, head_commit


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity and return its output."""
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_the_commit_is_read_in_a_clone_a_worktree_and_after_refs_are_packed(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q", "-b", "main")
    (clone / "a").write_text("1")
    git(clone, "add", "a")
    git(clone, "commit", "-q", "-m", "one")
    first = git(clone, "rev-parse", "HEAD")
    (clone / "a").write_text("2")
    git(clone, "commit", "-q", "-am", "two")
    second = git(clone, "rev-parse", "HEAD")
    git(clone, "worktree", "add", "-q", "-b", "old", str(tmp_path / "worktree"), first)

    assert head_commit(clone) == second
    assert head_commit(tmp_path / "worktree") == first

    git(clone, "pack-refs", "--all")
    assert head_commit(clone) == second
    assert head_commit(tmp_path / "worktree") == first

    git(tmp_path / "worktree", "checkout", "-q", "--detach", second)
    assert head_commit(tmp_path / "worktree") == second


def test_no_git_directory_records_no_commit(tmp_path: Path) -> None:
    assert head_commit(tmp_path) is None


def test_the_cpu_is_named_with_its_family_and_model_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel\t\t: 9\n")
    assert cpu_model(cpuinfo) == "AMD EPYC (family 25, model 1)"
    cpuinfo.write_text("model name\t: Apple M2\n")
    assert cpu_model(cpuinfo) == "Apple M2"
    assert cpu_model(tmp_path / "missing") != ""
