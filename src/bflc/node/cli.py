"""``bflc node``, ``bflc prune`` and ``bflc cluster up|down``.

Registered by :func:`add_commands`; heavy imports happen inside the handlers
so that ``bflc --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

from bflc.errors import ConfigError

Command = Callable[..., argparse.ArgumentParser]
COLLUDERS_ENV = "BFLC_COLLUDERS"


def add_commands(commands: Any, command: Command) -> None:
    """Add the node commands to ``bflc``'s subparsers.

    Parameters
    ----------
    commands:
        The ``add_subparsers`` object of the ``bflc`` parser.
    command:
        ``bflc.cli._command``: makes a subparser with a handler and ``--debug``.
    """
    _add_node(commands, command)
    _add_prune(commands, command)
    _add_cluster(commands, command)


# ---------------------------------------------------------------- node


def _add_node(commands: Any, command: Command) -> None:
    from bflc.node.data import DATA_SPECS
    from bflc.node.misbehaviour import ATTACKS

    sub = command(
        commands,
        "node",
        _run_node,
        "run a node daemon: train, score and aggregate as the chain assigns, until SIGTERM",
        "Runs one node of a network. Each pass reads the round from the chain and does what this "
        "node's role needs: a trainer trains and submits an update, a committee member scores the "
        "round's updates and proposes the aggregate, and every admitted node closes scoring or "
        "replaces the committee after a deadline. Without --data or --flower-client the node only "
        "does those deadline duties (a manager's watcher). SIGTERM or Ctrl-C stops it cleanly; a "
        "restart resumes from --state-dir. See docs/node.md.",
    )
    sub.add_argument("--network", type=Path, required=True, help="the network file (TOML) from `bflc chain deploy`")
    sub.add_argument("--key-file", type=Path, required=True, help="this node's key file (`bflc keys new`)")
    sub.add_argument("--password-file", type=Path, metavar="F", help="the keystore's password (default: $BFLC_KEY_PASSWORD)")
    sub.add_argument("--state-dir", type=Path, required=True, help="the node's own directory: state, log, blob cache, lock")
    source = sub.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="SPEC", help=f"this node's private data: {DATA_SPECS}")
    source.add_argument("--flower-client", metavar="MODULE:FACTORY", help="learn through a Flower NumPyClient instead (see docs/flower.md)")
    sub.add_argument("--store", metavar="URL", help="blob store (default: the network file's)")
    sub.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="pause between passes (default: %(default)s)")
    sub.add_argument("--apply", action="store_true", help="if not admitted, pay the permission fee and apply, then wait for admission")
    sub.add_argument("--light", action="store_true", help="keep only the current model and round's updates in the blob cache")
    sub.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads (default: %(default)s)")
    demo = sub.add_argument_group("malicious behaviour (demos and tests only)")
    demo.add_argument("--attack", choices=ATTACKS, help="poison every update this node trains")
    demo.add_argument("--attack-scale", type=float, metavar="X", help="noise std or delta factor of the attack")
    demo.add_argument(
        "--collude",
        nargs="?",
        const="",
        metavar="FILE",
        help=f"as a committee member, score ~0.9 the updates of the addresses in FILE (one per line; without FILE: ${COLLUDERS_ENV}, comma-separated)",
    )


def _run_node(args: argparse.Namespace) -> int:
    import torch

    from bflc.net.connect import connect
    from bflc.net.cli import signer_from_args
    from bflc.net.network import load_network
    from bflc.node.daemon import NodeDaemon
    from bflc.node.misbehaviour import Misbehaviour
    from bflc.storage import open_store

    if args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    if args.poll <= 0:
        raise ConfigError("--poll must be positive")
    torch.set_num_threads(args.threads)
    network = load_network(args.network)
    misbehaviour = Misbehaviour(
        attack=args.attack,
        attack_scale=args.attack_scale,
        colluders=frozenset(_colluders(args.collude)) if args.collude is not None else frozenset(),
    )
    ledger = connect(network, signer_from_args(args))
    store = open_store(args.store or network.store)
    learner = _learner(args, network)
    daemon = NodeDaemon(
        ledger,
        store,
        learner,
        args.state_dir,
        poll_seconds=args.poll,
        apply=args.apply,
        misbehaviour=misbehaviour,
        light=args.light,
        sample_cap=network.learning.sample_cap or None,
    )
    return daemon.run()


def _learner(args: argparse.Namespace, network: Any) -> Any:
    """The node's learner: a Flower client, bflc's TorchLearner on --data, or none (a watcher)."""
    if args.flower_client:
        from bflc.node.flower import load_flower_learner

        return load_flower_learner(args.flower_client)
    if not args.data:
        return None
    from bflc.node.data import load_node_data
    from bflc.node.learner import TorchLearner

    dataset = load_node_data(args.data)
    learning = network.learning
    if tuple(dataset.input_shape) != learning.input_shape or dataset.num_classes != learning.num_classes:
        raise ConfigError(
            f"--data {args.data!r} has inputs {tuple(dataset.input_shape)} and {dataset.num_classes} classes, "
            f"but the network {network.name!r} learns {learning.input_shape} with {learning.num_classes} classes",
            "give this node data of the network's task",
        )
    return TorchLearner(
        dataset,
        learning.model,
        local_epochs=learning.local_epochs,
        batch_size=learning.batch_size,
        lr=learning.lr,
        momentum=learning.momentum,
        max_validation_samples=learning.max_validation_samples,
        model_seed=learning.model_seed,
    )


def _colluders(source: str) -> list[str]:
    """Addresses from a file (one per line, # comments) or, for "", from $BFLC_COLLUDERS."""
    if source:
        try:
            lines = Path(source).read_text().splitlines()
        except OSError as error:
            raise ConfigError(f"cannot read --collude file {source}: {error}") from error
        entries = [line.split("#")[0].strip() for line in lines]
    else:
        entries = [a.strip() for a in os.environ.get(COLLUDERS_ENV, "").split(",")]
    addresses = [a for a in entries if a]
    bad = [a for a in addresses if not (a.startswith("0x") and len(a) == 42)]
    if bad or not addresses:
        raise ConfigError(f"--collude: {bad[0]!r} is not an address" if bad else "--collude names no address", "list 0x-prefixed 20-byte addresses")
    return addresses


# ---------------------------------------------------------------- prune


def _add_prune(commands: Any, command: Command) -> None:
    sub = command(
        commands,
        "prune",
        _run_prune,
        "light node: drop cached blobs except the latest model and the current round's updates",
        "Deletes from a stopped node's blob cache (STATE_DIR/blobs) every blob except the latest "
        "global model and the current round's updates. With --network the chain says what is "
        "current; without it, the node's own state and status files do.",
    )
    sub.add_argument("--state-dir", type=Path, required=True, help="the node's state directory")
    sub.add_argument("--network", type=Path, help="the network file, to read the current round from the chain")


def _run_prune(args: argparse.Namespace) -> int:
    from bflc.node.prune import prune_cache
    from bflc.node.state import StateDir

    if not args.state_dir.is_dir():
        raise ConfigError(f"state directory {args.state_dir} does not exist")
    state_dir = StateDir(args.state_dir)
    ledger = None
    if args.network is not None:
        from bflc.net.connect import connect
        from bflc.net.network import load_network

        ledger = connect(load_network(args.network))
    with state_dir.lock():
        before = len(state_dir.blobs.list())
        removed = prune_cache(state_dir, ledger)
    print(f"pruned {len(removed)} of {before} cached blobs in {state_dir.blobs.root}; kept {before - len(removed)}")
    return 0


# ---------------------------------------------------------------- cluster


def _add_cluster(commands: Any, command: Command) -> None:
    from bflc.node.cluster import ClusterSettings
    from bflc.node.misbehaviour import ATTACKS

    d = ClusterSettings()
    sub = commands.add_parser(
        "cluster",
        help="a local network (anvil + node daemons) for demos and tests",
        description="Start or stop a local BFLC network: anvil, a manager and N node processes.",
    )
    actions = sub.add_subparsers(title="actions", metavar="ACTION")
    start = command(
        actions,
        "up",
        _run_cluster_up,
        "start anvil, deploy, start N node daemons, show a live round table",
        "Starts anvil (a block every --block-time seconds), creates a key per node and a manager "
        "key, deploys the contract, gives node i bundled FEMNIST writers i*W..i*W+W-1 and starts "
        "each node (and the manager's watcher) as a detached process. Then prints a row per "
        "finished round until Ctrl-C; the nodes keep running until `bflc cluster down`.",
    )
    start.add_argument("--nodes", type=int, default=d.nodes, metavar="N", help="node daemons with data (default: %(default)s)")
    start.add_argument("--malicious", type=int, default=d.malicious, metavar="M", help="of them attack and collude (the last M; default: %(default)s)")
    start.add_argument("--attack", choices=ATTACKS, default=d.attack, help="the malicious nodes' attack (default: %(default)s)")
    start.add_argument("--committee", type=int, default=d.committee, metavar="M", help="committee size; K = nodes - committee (default: %(default)s)")
    start.add_argument("--min-score", type=float, default=d.min_score, metavar="X", help="lowest median score that qualifies (default: %(default)s)")
    start.add_argument("--relative-min-score", type=float, default=d.relative_min_score, metavar="X", help="an update needs this fraction of the round's best median (default: %(default)s)")
    start.add_argument("--writers-per-node", type=int, default=d.writers_per_node, metavar="W", help="FEMNIST writers per node (default: %(default)s)")
    start.add_argument("--model", default=d.model, help="model of the network (default: %(default)s)")
    start.add_argument("--score-deadline", type=int, default=d.score_deadline_blocks, metavar="BLOCKS", help="scoring deadline (default: %(default)s)")
    start.add_argument("--round-deadline", type=int, default=d.round_deadline_blocks, metavar="BLOCKS", help="round deadline (default: %(default)s)")
    start.add_argument("--block-time", type=int, default=d.block_time, metavar="SECONDS", help="anvil block interval (default: %(default)s)")
    start.add_argument("--poll", type=float, default=d.poll_seconds, metavar="SECONDS", help="nodes' pause between passes (default: %(default)s)")
    start.add_argument("--store", metavar="URL", help="blob store URL, file:///... or s3://... (default: DIR/store)")
    start.add_argument("--dir", type=Path, default=Path(".bflc-cluster"), help="cluster directory (default: %(default)s)")
    start.add_argument("--rounds", type=int, metavar="R", help="stop the whole cluster once R rounds are done")
    start.add_argument("--no-watch", action="store_true", help="return once everything started")
    start.add_argument(
        "--dashboard",
        type=int,
        nargs="?",
        const=8080,
        metavar="PORT",
        help="also serve `bflc dashboard` on 127.0.0.1:PORT (default 8080) while the table runs",
    )
    stop = command(actions, "down", _run_cluster_down, "stop every process a `cluster up` started (by PID)")
    stop.add_argument("--dir", type=Path, default=Path(".bflc-cluster"), help="cluster directory (default: %(default)s)")


def _run_cluster_up(args: argparse.Namespace) -> int:
    from bflc.node.cluster import ClusterSettings, up

    if args.rounds is not None and (args.rounds < 1 or args.no_watch):
        raise ConfigError("--rounds must be at least 1 and needs the round table (drop --no-watch)")
    if args.dashboard is not None and args.no_watch:
        raise ConfigError("--dashboard is served by `cluster up` while it shows the table", "drop --no-watch, or run `bflc dashboard`")
    listener = None
    if args.dashboard is not None:  # bound first: a busy port fails before anything starts
        from bflc.dashboard.cli import bind

        listener = bind("127.0.0.1", args.dashboard)
    settings = ClusterSettings(
        nodes=args.nodes,
        malicious=args.malicious,
        committee=args.committee,
        writers_per_node=args.writers_per_node,
        min_score=args.min_score,
        relative_min_score=args.relative_min_score,
        model=args.model,
        attack=args.attack,
        score_deadline_blocks=args.score_deadline,
        round_deadline_blocks=args.round_deadline,
        block_time=args.block_time,
        poll_seconds=args.poll,
        store=args.store,
    )
    cluster = up(args.dir, settings)
    print(f"anvil on {cluster['rpc']}; network file {cluster['network']}; blobs in {cluster['store']}")
    for name, node in cluster["nodes"].items():
        tag = " (malicious)" if node["malicious"] else ""
        print(f"  {name:<8} {node['address']}  pid {node['process']['pid']:<7} data {node['data'] or '-'}{tag}")
    if args.no_watch:
        print(f"running; stop with `bflc cluster down --dir {args.dir}`")
        return 0
    if listener is not None:
        from bflc.dashboard.cli import serve_in_thread

        print(f"dashboard at {serve_in_thread(Path(cluster['network']), listener)}")
    try:
        _watch(cluster, args.rounds)
    except KeyboardInterrupt:
        print(f"\nthe nodes keep running; stop them with `bflc cluster down --dir {args.dir}`")
        return 0
    _print_down(args.dir)
    return 0


def _watch(cluster: dict, rounds: int | None) -> None:
    from bflc.net.connect import connect
    from bflc.net.network import load_network
    from bflc.node.watch import watch

    ledger = connect(load_network(Path(cluster["network"])))
    names = {node["address"].lower(): name for name, node in cluster["nodes"].items()}
    state_dirs = {name: Path(node["state_dir"]) for name, node in cluster["nodes"].items() if node["data"]}
    watch(ledger, names, state_dirs, sys.stdout, until_round=rounds)


def _run_cluster_down(args: argparse.Namespace) -> int:
    _print_down(args.dir)
    return 0


def _print_down(directory: Path) -> None:
    from bflc.node.cluster import down, load_cluster, processes

    records = processes(load_cluster(directory.absolute()))
    for name, outcome in down(directory).items():
        print(f"  {name:<8} pid {records[name].pid:<7} {outcome}")
