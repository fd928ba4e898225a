"""The compiled BFLC contract: source, committed artifact, recompilation."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from bflc.errors import ChainError

CONTRACT_NAME = "BFLC"
EVM_VERSION = "paris"


def contracts_dir() -> Path:
    """Directory holding ``BFLC.vy`` and ``build/BFLC.json``."""
    return Path(str(resources.files("bflc") / "contracts"))


def source_path() -> Path:
    """The contract's Vyper source, ``BFLC.vy``."""
    return contracts_dir() / f"{CONTRACT_NAME}.vy"


def artifact_path() -> Path:
    """The committed artifact, ``build/BFLC.json``: ABI and bytecode."""
    return contracts_dir() / "build" / f"{CONTRACT_NAME}.json"


def compile_contract() -> dict[str, Any]:
    """Compile ``BFLC.vy`` with the pinned Vyper and return the artifact dict.

    The EVM version comes from the ``# pragma evm-version`` line of the source.
    """
    import vyper

    source = source_path().read_text()
    out = vyper.compile_code(source, output_formats=["abi", "bytecode", "bytecode_runtime"])
    return {
        "contractName": CONTRACT_NAME,
        "compiler": f"vyper-{vyper.__version__}",
        "evmVersion": EVM_VERSION,
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "deployedBytecode": out["bytecode_runtime"],
    }


def write_artifact(path: Path | None = None) -> Path:
    """Recompile and write the artifact (``bflc contract compile``)."""
    target = path or artifact_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(compile_contract(), indent=1, sort_keys=True) + "\n")
    return target


@lru_cache(maxsize=1)
def load_artifact() -> dict[str, Any]:
    """The committed artifact; nodes deploy and talk to exactly this bytecode."""
    path = artifact_path()
    try:
        artifact: dict[str, Any] = json.loads(path.read_text())
        return artifact
    except FileNotFoundError:
        raise ChainError(f"contract artifact {path} is missing", "run `bflc contract compile`") from None
    except json.JSONDecodeError as exc:
        raise ChainError(f"contract artifact {path} is not valid JSON: {exc}", "run `bflc contract compile`") from None


def artifact_sha256() -> str:
    """sha256 of the committed artifact (ABI and bytecode): which contract a result was measured on."""
    return hashlib.sha256(artifact_path().read_bytes()).hexdigest()
