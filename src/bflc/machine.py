"""What machine this is, for results and benchmarks recorded beside it."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

# The installed distributions whose versions can change a result: bflc, its
# training stack, and its chain stack (the EVM, the tester and the compiler).
RESULT_PACKAGES = ("bflc", "torch", "numpy", "web3", "py-evm", "eth-tester", "vyper")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The checkout bflc runs from (an editable install); other installs have no .git there.
CHECKOUT = Path(__file__).resolve().parents[2]


def head_commit(checkout: Path = CHECKOUT) -> str | None:
    """The commit checked out in ``checkout``, read from ``.git`` (no git process).

    ``None`` when there is no ``.git`` directory or its HEAD cannot be
    resolved. Uncommitted changes are not detected.
    """
    git = checkout / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        packed = (git / "packed-refs").read_text().splitlines()
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
