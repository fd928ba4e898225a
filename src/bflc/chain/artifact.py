"""The compiled contracts (BFLC and its managers' Council): sources, committed artifacts, recompilation."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bflc.errors import ChainError

CONTRACT_NAME = "BFLC"
COUNCIL_NAME = "Council"
CONTRACT_NAMES = (CONTRACT_NAME, COUNCIL_NAME)
EVM_VERSION = "paris"


def contracts_dir() -> Path:
    """Directory holding the ``.vy`` sources and their ``build/*.json`` artifacts."""
    return Path(str(resources.files("bflc") / "contracts"))


def source_path(name: str = CONTRACT_NAME) -> Path:
    """A contract's Vyper source, ``BFLC.vy`` or ``Council.vy``."""
    return contracts_dir() / f"{name}.vy"


def artifact_path(name: str = CONTRACT_NAME) -> Path:
    """A contract's committed artifact, ``build/NAME.json``: ABI and bytecode."""
    return contracts_dir() / "build" / f"{name}.json"


def compile_contract(name: str = CONTRACT_NAME) -> dict[str, Any]:
    """Compile a contract with the pinned Vyper and return the artifact dict.

    The EVM version comes from the ``# pragma evm-version`` line of the source.
    """
    import vyper

    source = source_path(name).read_text()
    out = vyper.compile_code(source, output_formats=["abi", "bytecode", "bytecode_runtime"])
    return {
        "contractName": name,
        "compiler": f"vyper-{vyper.__version__}",
        "evmVersion": EVM_VERSION,
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "deployedBytecode": out["bytecode_runtime"],
    }


def write_artifact(name: str = CONTRACT_NAME) -> Path:
    """Recompile one contract and write its artifact (``bflc contract compile`` writes both)."""
    target = artifact_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(compile_contract(name), indent=1, sort_keys=True) + "\n")
    return target


@cache
def load_artifact(name: str = CONTRACT_NAME) -> dict[str, Any]:
    """A committed artifact; nodes deploy and talk to exactly this bytecode."""
    path = artifact_path(name)
    try:
        artifact: dict[str, Any] = json.loads(path.read_text())
        return artifact
    except FileNotFoundError:
        raise ChainError(f"contract artifact {path} is missing", "run `bflc contract compile`") from None
    except json.JSONDecodeError as exc:
        raise ChainError(f"contract artifact {path} is not valid JSON: {exc}", "run `bflc contract compile`") from None


def artifact_sha256() -> str:
    """sha256 of the committed artifacts (ABIs and bytecode), BFLC's then the council's: which contracts a result was measured on."""
    digest = hashlib.sha256()
    for name in CONTRACT_NAMES:
        digest.update(artifact_path(name).read_bytes())
    return digest.hexdigest()
