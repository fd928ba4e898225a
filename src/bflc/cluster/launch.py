"""A local network for demos and end-to-end tests: anvil, N node daemons, a manager, one blob directory.

``bflc cluster up`` starts everything detached (each process in its own
session, PIDs recorded in ``DIR/cluster.json``) so the nodes outlive the
command; ``bflc cluster down`` stops them by PID. Layout of ``DIR``::

    .bflc-cluster    written first: marks DIR as a cluster directory `up` may clear
    cluster.json     processes (PID, start time, command, log), accounts, data
    network.toml     the network file every node reads
    keys/            node0.key ... and manager.key (raw dev keys, mode 0600)
    store/           the shared blob store (unless --store)
    nodes/NAME/      each node's state directory, plus stdout.log
    anvil.log
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bflc.chain.types import MAX_NODES_PER_DECISION, ProtocolParams
from bflc.cluster.procs import ProcessRecord, is_running, spawn, stop
from bflc.errors import ChainError, ConfigError, require
from bflc.net.defaults import SAFE_FILTER, Qualification, default_min_committee_size
from bflc.settings import TrainingSettings

CLUSTER_FILE = "cluster.json"
# Written by `up` before anything else: only a directory holding it (or, made
# before the marker existed, a cluster.json) is one whose files `up` may remove.
MARKER_FILE = ".bflc-cluster"
FUNDING_WEI = 100 * 10**18
STARTUP_SECONDS = 30
# What `up` creates in DIR: the only paths it removes when it replaces a stopped cluster.
_OWNED = ("cluster.json", "network.toml", "keys", "store", "nodes", "anvil.log")


@dataclass(frozen=True)
class ClusterSettings:
    """How ``bflc cluster up`` builds its network.

    Parameters
    ----------
    nodes:
        Node daemons with data (the first ``committee`` form the first committee).
    malicious:
        How many of them (the last ones) attack as trainers and collude as members.
    committee:
        Committee size M, odd; K (updates per round) is ``nodes - committee``.
    min_committee:
        Elections never seat fewer members (odd; ``None``: 3, or M if smaller).
    writers_per_node:
        Bundled FEMNIST writers per node: node i gets writers i*W .. i*W+W-1.
    model:
        The network's model (small and fast by default).
    training:
        How the nodes train and score.
    attack:
        The malicious nodes' attack.
    commit_deadline_blocks, reveal_deadline_blocks, score_deadline_blocks, round_deadline_blocks:
        Protocol deadlines (see :class:`ProtocolParams`); anvil mines a block
        every ``block_time`` seconds.
    block_time:
        Seconds per block.
    poll_seconds:
        Each daemon's pause between passes.
    qualification:
        Which scored updates qualify (default: the simulator's, an update
        needs half of the round's best median).
    store:
        Blob store URL (default: ``DIR/store``).
    """

    nodes: int = 6
    malicious: int = 0
    committee: int = 3
    min_committee: int | None = None
    writers_per_node: int = 3
    model: str = "mlp"
    training: TrainingSettings = field(default_factory=TrainingSettings)
    attack: str = "gaussian"
    commit_deadline_blocks: int = 10
    reveal_deadline_blocks: int = 10
    score_deadline_blocks: int = 20
    round_deadline_blocks: int = 60
    block_time: int = 1
    poll_seconds: float = 0.5
    qualification: Qualification = SAFE_FILTER
    store: str | None = None

    def __post_init__(self) -> None:
        require(
            [
                (self.nodes >= 2, "nodes must be at least 2"),
                (1 <= self.committee < self.nodes, "committee must be at least 1 and leave a trainer"),
                (
                    self.committee % 2 == 1,
                    f"committee must be odd, e.g. {self.committee - 1} or {self.committee + 1}: "
                    "half of an even committee could veto any update",
                ),
                (0 <= self.malicious <= self.nodes - self.committee, "malicious must leave the first committee honest"),
                (self.writers_per_node >= 1, "writers_per_node must be at least 1"),
                (self.block_time >= 1, "block_time must be at least 1 second"),
                (self.poll_seconds > 0, "poll_seconds must be positive"),
            ],
            "cluster setting",
        )
        self.params()  # the protocol's own checks, before anything starts

    def params(self) -> ProtocolParams:
        """The protocol parameters the cluster deploys with."""
        return ProtocolParams(
            committee_size=self.committee,
            min_committee_size=default_min_committee_size(self.committee) if self.min_committee is None else self.min_committee,
            updates_per_round=self.nodes - self.committee,
            **self.qualification.params(),
            commit_deadline_blocks=self.commit_deadline_blocks,
            reveal_deadline_blocks=self.reveal_deadline_blocks,
            score_deadline_blocks=self.score_deadline_blocks,
            round_deadline_blocks=self.round_deadline_blocks,
        )


def cluster_file(directory: Path) -> Path:
    """The path of the ``cluster.json`` of ``directory``."""
    return directory / CLUSTER_FILE


def load_cluster(directory: Path) -> dict[str, Any]:
    """The ``cluster.json`` of ``directory``.

    Raises
    ------
    ConfigError
        If there is none.
    """
    path = cluster_file(directory)
    try:
        cluster: dict[str, Any] = json.loads(path.read_text())
        return cluster
    except FileNotFoundError:
        raise ConfigError(f"no cluster in {directory} ({path} does not exist)", "start one with `bflc cluster up`") from None


def processes(cluster: dict[str, Any]) -> dict[str, ProcessRecord]:
    """Every process of a cluster by name: the nodes, then anvil (stopped last)."""
    records = {name: ProcessRecord.from_json(node["process"]) for name, node in cluster["nodes"].items()}
    records["anvil"] = ProcessRecord.from_json(cluster["anvil"])
    return records


def start_node(directory: Path, cluster: dict[str, Any], name: str) -> ProcessRecord:
    """(Re)start node ``name`` of a cluster with its recorded command; update cluster.json."""
    node = cluster["nodes"][name]
    record = spawn(node["process"]["command"], Path(node["process"]["log"]), _node_env())
    node["process"] = record.to_json()
    _write_cluster(directory, cluster)
    return record


def up(directory: Path, settings: ClusterSettings) -> dict[str, Any]:
    """Start anvil, deploy the contract and start the node daemons.

    Returns
    -------
    dict
        The cluster description written to ``DIR/cluster.json``.

    Raises
    ------
    ConfigError
        If ``directory`` is not empty and not a cluster directory (nothing in
        it is touched), or a cluster started from it still runs.
    """
    directory = directory.absolute()
    _refuse_foreign(directory)
    _refuse_running(directory)
    _clear(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER_FILE).write_text("a cluster directory of `bflc cluster up`: it replaces what it wrote here\n")
    anvil = _start_anvil(directory, settings.block_time)
    try:
        cluster = _deploy_and_start(directory, settings, anvil)
    except BaseException:
        stop({"anvil": anvil}, grace_seconds=5)
        raise
    return cluster


def down(directory: Path, grace_seconds: float = 15.0) -> dict[str, str]:
    """Stop every process of the cluster in ``directory`` (SIGTERM, then SIGKILL).

    Returns
    -------
    dict[str, str]
        Process name -> ``stopped``, ``killed`` or ``not running``.
    """
    cluster = load_cluster(directory.absolute())
    records = processes(cluster)
    anvil = records.pop("anvil")
    outcome = stop(records, grace_seconds)
    outcome.update(stop({"anvil": anvil}, grace_seconds))
    return outcome


# ---------------------------------------------------------------- internals


def _refuse_foreign(directory: Path) -> None:
    """Refuse a directory ``up`` did not make, unless it is empty: clearing it would delete the user's files."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigError(f"--dir {directory} is not a directory", "give a new or empty directory for the cluster")
    ours = (directory / MARKER_FILE).is_file() or cluster_file(directory).is_file()
    if not ours and any(directory.iterdir()):
        raise ConfigError(
            f"--dir {directory} is not empty and not a cluster directory (it has no {MARKER_FILE})",
            "give a new or empty directory; `cluster up` replaces keys/, store/ and network.toml in it",
        )


def _refuse_running(directory: Path) -> None:
    if not cluster_file(directory).exists():
        return
    running = [name for name, record in processes(load_cluster(directory)).items() if is_running(record)]
    if running:
        raise ConfigError(
            f"a cluster is already running in {directory} ({', '.join(running)})",
            f"stop it with `bflc cluster down --dir {directory}` or use another --dir",
        )


def _clear(directory: Path) -> None:
    for name in _OWNED:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _start_anvil(directory: Path, block_time: int) -> ProcessRecord:
    from web3 import HTTPProvider, Web3

    from bflc.chain.anvil import anvil_command, free_port

    port = free_port()
    command = anvil_command(port, "--accounts", "1", "--balance", "1000000", "--block-time", str(block_time))
    record = spawn(command, directory / "anvil.log")
    w3 = Web3(HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 10}))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not is_running(record):
            raise ChainError(f"anvil exited at startup; see {directory / 'anvil.log'}")
        if w3.is_connected():
            return record
        time.sleep(0.2)
    stop({"anvil": record}, grace_seconds=5)
    raise ChainError(f"anvil did not answer on port {port} within {STARTUP_SECONDS} s")


def _deploy_and_start(directory: Path, settings: ClusterSettings, anvil: ProcessRecord) -> dict[str, Any]:
    from web3 import HTTPProvider, Web3
    from web3.types import Wei

    from bflc.ml.femnist import FEMNIST_CLASSES, FEMNIST_SHAPE
    from bflc.net.connect import connect
    from bflc.net.deploy import deploy_network
    from bflc.net.keys import load_key, new_key_file
    from bflc.net.network import LearningSettings, write_network

    rpc = f"http://127.0.0.1:{_port_of(anvil)}"
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    names = [f"node{i}" for i in range(settings.nodes)]
    keys = {name: directory / "keys" / f"{name}.key" for name in [*names, "manager"]}
    (directory / "keys").mkdir()
    accounts = {name: new_key_file(path) for name, path in keys.items()}
    funder = w3.eth.accounts[0]
    for address in accounts.values():
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": funder, "to": address, "value": Wei(FUNDING_WEI)}))

    store = settings.store or str(directory / "store")
    network_path = directory / "network.toml"
    manager_key = load_key(keys["manager"])
    network = deploy_network(
        rpc,
        manager_key,
        name=f"bflc-cluster-{directory.name}",
        store=store,
        committee=[accounts[n] for n in names[: settings.committee]],
        params=settings.params(),
        learning=LearningSettings(
            model=settings.model,
            input_shape=FEMNIST_SHAPE,
            num_classes=FEMNIST_CLASSES,
            training=settings.training,
        ),
    )
    write_network(network_path, network)
    manager = connect(network, manager_key)
    newcomers = [accounts[name] for name in names[settings.committee :]]
    for i in range(0, len(newcomers), MAX_NODES_PER_DECISION):  # the manager alone: each decision runs at once
        manager.admit(*newcomers[i : i + MAX_NODES_PER_DECISION])

    malicious = set(names[settings.nodes - settings.malicious :])
    colluders = directory / "keys" / "malicious.txt"
    colluders.write_text("".join(f"{accounts[n]}\n" for n in sorted(malicious)))
    nodes: dict[str, Any] = {}
    for i, name in enumerate([*names, "manager"]):
        state_dir = directory / "nodes" / name
        command = [
            sys.executable, "-m", "bflc.cli", "node",
            "--network", str(network_path),
            "--key-file", str(keys[name]),
            "--state-dir", str(state_dir),
            "--poll", str(settings.poll_seconds),
        ]
        data = None
        if name != "manager":
            data = "femnist:" + ",".join(str(i * settings.writers_per_node + w) for w in range(settings.writers_per_node))
            command += ["--data", data]
        if name in malicious:
            command += ["--attack", settings.attack, "--collude", str(colluders)]
        record = spawn(command, state_dir / "stdout.log", _node_env())
        nodes[name] = {"address": accounts[name], "data": data, "malicious": name in malicious, "state_dir": str(state_dir), "process": record.to_json()}
    cluster = {
        "dir": str(directory),
        "rpc": rpc,
        "network": str(network_path),
        "store": network.store,
        "settings": dataclasses.asdict(settings),
        "anvil": anvil.to_json(),
        "nodes": nodes,
    }
    _write_cluster(directory, cluster)
    return cluster


def _port_of(anvil: ProcessRecord) -> int:
    return int(anvil.command[anvil.command.index("--port") + 1])


def _node_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _write_cluster(directory: Path, cluster: dict[str, Any]) -> None:
    from bflc.files import json_bytes, write_atomically

    write_atomically(cluster_file(directory), json_bytes(cluster))
