"""What machine this is, for results and benchmarks recorded beside it."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

# The installed distributions whose versions can change a result: bflc, its
# training stack, and its chain stack (the EVM, the tester and the compiler).
RESULT_PACKAGES = ("bflc", "torch", "numpy", "web3", "py-evm", "eth-tester", "vyper")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from ``cpuinfo``, or what :mod:`platform` knows.

    A virtual machine may report a bare name (``AMD EPYC``) for CPUs whose
    floating-point results differ; the family and model numbers are added
    then, when ``cpuinfo`` has them: ``AMD EPYC (family 25, model 1)``.
    """
    try:
        fields: dict[str, str] = {}
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        fields = {}
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


# The checkout bflc runs from (an editable install); other installs have no .git there.
CHECKOUT = Path(__file__).resolve().parents[2]


def git_dirs(checkout: Path) -> tuple[Path, Path]:
    """The git directory of ``checkout`` and the one holding its refs.

    The same directory in a plain clone. In a worktree (``git worktree
    add``) ``.git`` is a file naming the worktree's own directory, which
    holds HEAD, and that directory's ``commondir`` names the shared one,
    which holds the refs.
    """
    git = checkout / ".git"
    if not git.is_file():
        return git, git
    own = Path(git.read_text().strip().removeprefix("gitdir: "))
    own = own if own.is_absolute() else checkout / own
    try:
        common = own / (own / "commondir").read_text().strip()
    except OSError:
        common = own
    return own, common


def head_commit(checkout: Path = CHECKOUT) -> str | None:
    """The commit checked out in ``checkout``, read from ``.git`` (no git process).

    Works in a clone and in a worktree. ``None`` when there is no ``.git``
    or its HEAD cannot be resolved. Uncommitted changes are not detected.
    """
    try:
        own, common = git_dirs(checkout)
        head = (own / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        for git in (own, common):
            if (git / ref).is_file():
                return (git / ref).read_text().strip()
        packed = (common / "packed-refs").read_text().splitlines()
    except OSError:
        return None
    return next((line.split()[0] for line in packed if line.endswith(f" {ref}")), None)


def package_versions(names: Sequence[str] = RESULT_PACKAGES) -> dict[str, str | None]:
    """The installed version of each distribution in ``names`` (``None``: not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
