"""The network file: everything a node or operator needs to join one BFLC network.

``bflc chain deploy`` writes it; every other command reads it. Layout::

    [network]
    name = "femnist-pilot"

    [chain]
    rpc = "https://rpc.example.org:8545"
    chain_id = 1337
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    deployed_block = 1

    [store]
    url = "s3://bflc-models/femnist-pilot"
    mirrors = ["file:///srv/bflc-mirror"]      # optional: fetched from when url fails

    [learning]
    model = "cnn"
    input_shape = [1, 28, 28]
    num_classes = 62
    model_seed = 0
    local_epochs = 2
    batch_size = 10
    lr = 0.05
    momentum = 0.9
    max_validation_samples = 200
    sample_cap = 4.0
    max_loss_ratio = 4.0

Every key except ``store.mirrors`` and ``learning.max_loss_ratio`` (default
4.0, for files written before it existed) is required and unknown keys are errors,
so a typo never passes silently. ``model = "external"`` (:data:`EXTERNAL_MODEL`)
marks a network whose genesis model is not one of bflc's: nodes run a Flower
client of that model.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bflc.errors import ConfigError, require
from bflc.files import write_atomically
from bflc.settings import TrainingSettings

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")

EXTERNAL_MODEL = "external"
"""``LearningSettings.model`` of a network deployed from a Flower client or a
genesis file of any model: bflc cannot build it, so every node brings it
(``bflc node --flower-client``) and checks it against the genesis."""


@dataclass(frozen=True)
class LearningSettings:
    """What every node of the network learns, and how, so that updates are comparable.

    Parameters
    ----------
    model:
        Model name: one of :data:`bflc.ml.models.MODEL_NAMES` (bflc's own
        learner), or :data:`EXTERNAL_MODEL` (every node brings the model).
    input_shape:
        Shape of one sample, e.g. ``(1, 28, 28)``.
    num_classes:
        Number of classes (at least 2).
    model_seed:
        Seed of the genesis model's initial weights.
    training:
        How nodes train and score (:class:`bflc.settings.TrainingSettings`);
        its fields are keys of the ``[learning]`` table.
    """

    model: str = "cnn"
    input_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 62
    model_seed: int = 0
    training: TrainingSettings = field(default_factory=TrainingSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        checks = [
            (bool(self.model.strip()), "model must not be empty"),
            (len(self.input_shape) > 0 and all(s >= 1 for s in self.input_shape), "input_shape must be positive sizes"),
            (self.num_classes >= 2, "num_classes must be at least 2"),
            (self.model_seed >= 0, "model_seed must be non-negative"),
        ]
        require(checks, "learning setting")


@dataclass(frozen=True)
class NetworkFile:
    """One BFLC network: chain endpoint, contract, blob store and learning settings.

    Parameters
    ----------
    name:
        A human-readable name.
    rpc:
        JSON-RPC endpoint (``http://`` or ``https://``).
    chain_id:
        The chain's id; a node on another chain is refused.
    contract:
        The BFLC contract's address (stored checksummed).
    deployed_block:
        The block the contract was deployed in (where event scans start).
    store:
        Blob store URL (``file:///...`` or ``s3://...``).
    learning:
        The network's learning settings.
    mirrors:
        Other blob store URLs with the same blobs, tried in order when the
        store lacks a blob or serves a bad copy (see ``docs/storage.md``).

    Raises
    ------
    ConfigError
        If any value is out of range or malformed.
    """

    name: str
    rpc: str
    chain_id: int
    contract: str
    deployed_block: int
    store: str
    learning: LearningSettings = field(default_factory=LearningSettings)
    mirrors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mirrors", tuple(self.mirrors))
        require(
            [
                (bool(self.name.strip()) and "\n" not in self.name, "name must be one non-empty line"),
                (_is_http_url(self.rpc), f"rpc {self.rpc!r} is not an http:// or https:// URL"),
                (self.chain_id >= 1, "chain_id must be a positive integer"),
                (self.deployed_block >= 0, "deployed_block must be non-negative"),
                *(
                    (_URL.fullmatch(url) is not None, f"{what} {url!r} is not a URL like file:///path or s3://bucket/prefix")
                    for what, url in [("store", self.store), *(("mirror", mirror) for mirror in self.mirrors)]
                ),
            ],
            "network setting",
        )
        object.__setattr__(self, "contract", checksum_address(self.contract, "contract"))


def checksum_address(value: str, what: str) -> str:
    """``value`` as a checksummed Ethereum address.

    Raises
    ------
    ConfigError
        If it is not a 0x-prefixed 40-hex-digit address, or its mixed case
        fails the EIP-55 checksum (a typo).
    """
    from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address

    digits = value[2:] if isinstance(value, str) else ""
    mixed_case = digits != digits.lower() and digits != digits.upper()
    if not (isinstance(value, str) and value.startswith("0x") and is_hex_address(value)) or (
        mixed_case and not is_checksum_address(value)
    ):
        raise ConfigError(
            f"{what} {value!r} is not an Ethereum address",
            "write 0x followed by 40 hex digits; mixed case must be the EIP-55 checksum",
        )
    return str(to_checksum_address(value))


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# ---------------------------------------------------------------- TOML

def _kind(annotation: Any) -> str:
    """The TOML kind of a settings field's type."""
    return {str: "str", int: "int", float: "float", tuple[int, ...]: "int list"}[annotation]


def _learning_keys() -> dict[str, tuple[str, str]]:
    """The ``[learning]`` keys: :class:`LearningSettings`' own fields, then :class:`TrainingSettings`'."""
    keys = {}
    for cls in (LearningSettings, TrainingSettings):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name != "training":
                keys[f.name] = (f.name, _kind(hints[f.name]))
    return keys


# TOML table -> {key: (field name, kind)}; the learning table maps onto LearningSettings and its TrainingSettings.
_TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "network": {"name": ("name", "str")},
    "chain": {
        "rpc": ("rpc", "str"),
        "chain_id": ("chain_id", "int"),
        "contract": ("contract", "str"),
        "deployed_block": ("deployed_block", "int"),
    },
    "store": {"url": ("store", "str"), "mirrors": ("mirrors", "str list")},
    "learning": _learning_keys(),
}
# Keys that may be left out: the field's default applies (max_loss_ratio: files
# written before the reference rule existed get it on; the backdoor defence's
# keys: files written before it existed get its default).
_OPTIONAL = frozenset(
    {("store", "mirrors"), ("learning", "max_loss_ratio"), ("learning", "screen_similarity"), ("learning", "screen_push"), ("learning", "norm_clip")}
)
_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "int list": "a list of integers",
    "str list": "a list of strings",
}


def load_network(path: str | Path) -> NetworkFile:
    """Read and validate a network file.

    Raises
    ------
    ConfigError
        Naming the file, the table and the key, for a missing or unreadable
        file, invalid TOML, a missing or unknown key, a value of the wrong
        type, or a value out of range (bad address, bad URL, ...).
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read network file {path}: {error}", "pass the file `bflc chain deploy` wrote") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"network file {path} is not valid TOML: {error}", "fix the syntax at that line") from None
    values = _read_tables(path, document)
    learning = {name: values.pop(name) for name in _TABLES["learning"] if name in values}
    training = {f.name: learning.pop(f.name) for f in dataclasses.fields(TrainingSettings) if f.name in learning}
    try:
        return NetworkFile(**values, learning=LearningSettings(**learning, training=TrainingSettings(**training)))
    except ConfigError as error:
        raise ConfigError(f"network file {path}: {error.message}", error.hint) from None


def write_network(path: str | Path, net: NetworkFile) -> Path:
    """Write ``net`` to ``path`` as TOML, atomically (a crash never leaves half a file).

    Raises
    ------
    ConfigError
        If the file cannot be written.
    """
    import tomli_w

    document = {
        "network": {"name": net.name},
        "chain": {"rpc": net.rpc, "chain_id": net.chain_id, "contract": net.contract, "deployed_block": net.deployed_block},
        "store": {"url": net.store, **({"mirrors": list(net.mirrors)} if net.mirrors else {})},
        "learning": {
            **{k: v for k, v in dataclasses.asdict(net.learning).items() if k != "training"},
            "input_shape": list(net.learning.input_shape),
            **dataclasses.asdict(net.learning.training),
        },
    }
    header = "# A BFLC network, written by `bflc chain deploy`. Share it with every node.\n\n"
    try:
        return write_atomically(path, (header + tomli_w.dumps(document)).encode("utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error}", "check that its directory exists and is writable") from None


def _read_tables(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(document) - set(_TABLES))
    if unknown:
        raise ConfigError(f"network file {path} has an unknown table [{unknown[0]}]", f"the tables are {_table_list()}")
    values: dict[str, Any] = {}
    for table, keys in _TABLES.items():
        content = document.get(table)
        if not isinstance(content, dict):
            raise ConfigError(f"network file {path} has no [{table}] table", f"the tables are {_table_list()}")
        extra = sorted(set(content) - set(keys))
        if extra:
            raise ConfigError(f"network file {path}: unknown key {extra[0]!r} in [{table}]", f"the keys are {', '.join(keys)}")
        for key, (name, kind) in keys.items():
            if key not in content and (table, key) in _OPTIONAL:
                continue
            if key not in content:
                raise ConfigError(f"network file {path}: [{table}] has no {key!r}", f"add {key}, {_TYPE_NAMES[kind]}, to [{table}]")
            values[name] = _typed(path, table, key, content[key], kind)
    return values


def _typed(path: Path, table: str, key: str, value: Any, kind: str) -> Any:
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "int list": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
        "str list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ConfigError(
            f"network file {path}: [{table}] {key} = {value!r} is not {_TYPE_NAMES[kind]}", f"write {key} as {_TYPE_NAMES[kind]}"
        )
    return float(value) if kind == "float" else tuple(value) if kind == "str list" else value


def _table_list() -> str:
    return ", ".join(f"[{t}]" for t in _TABLES)
