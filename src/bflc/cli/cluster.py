"""``bflc cluster up|down``: a local network of anvil and node daemons."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bflc.cli.commands import command
from bflc.cli.fields import in_flags
from bflc.errors import ConfigError

if TYPE_CHECKING:
    from bflc.cluster.launch import ClusterSettings


def _add_cluster(commands: Any) -> None:
    from bflc.attacks import ATTACKS
    from bflc.cluster.launch import ClusterSettings
    from bflc.net.defaults import DEADLINE_HELP, MIN_COMMITTEE_HELP, ROUNDS_HELP, add_filter_arguments

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
    start.add_argument("--committee", type=int, default=d.committee, metavar="M", help="committee size, odd; K = nodes - committee (default: %(default)s)")
    start.add_argument("--min-committee", type=int, metavar="M", help=MIN_COMMITTEE_HELP)
    start.add_argument("--writers-per-node", type=int, default=d.writers_per_node, metavar="W", help="FEMNIST writers per node (default: %(default)s)")
    start.add_argument("--model", default=d.model, help="model of the network (default: %(default)s)")
    add_filter_arguments(start)
    rounds = start.add_argument_group("round deadlines (commit, reveal, scoring)", ROUNDS_HELP)
    for phase in ("commit", "reveal", "score", "round"):
        default = getattr(d, f"{phase}_deadline_blocks")
        rounds.add_argument(f"--{phase}-deadline", type=int, default=default, metavar="BLOCKS", help=f"{DEADLINE_HELP[phase]} (default: {default})")
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


def cluster_settings(args: argparse.Namespace) -> ClusterSettings:
    """The settings the ``cluster up`` flags ask for (prints the ``--no-filter`` warning).

    Raises
    ------
    ConfigError
        Naming the flag, for a value out of range.
    """
    from bflc.cluster.launch import ClusterSettings
    from bflc.net.defaults import filter_from_args

    flags = {
        "nodes": "--nodes",
        "malicious": "--malicious",
        "committee": "--committee",
        "min_committee": "--min-committee",
        "writers_per_node": "--writers-per-node",
        "model": "--model",
        "attack": "--attack",
        "commit_deadline_blocks": "--commit-deadline",
        "reveal_deadline_blocks": "--reveal-deadline",
        "score_deadline_blocks": "--score-deadline",
        "round_deadline_blocks": "--round-deadline",
        "block_time": "--block-time",
        "poll_seconds": "--poll",
        "store": "--store",
    }
    try:
        values = {field: getattr(args, flag[2:].replace("-", "_")) for field, flag in flags.items()}
        return ClusterSettings(**values, qualification=filter_from_args(args))
    except ConfigError as error:
        raise in_flags(error, flags) from None


def _run_cluster_up(args: argparse.Namespace) -> int:
    from bflc.cluster.launch import up

    if args.rounds is not None and (args.rounds < 1 or args.no_watch):
        raise ConfigError("--rounds must be at least 1 and needs the round table (drop --no-watch)")
    if args.dashboard is not None and args.no_watch:
        raise ConfigError("--dashboard is served by `cluster up` while it shows the table", "drop --no-watch, or run `bflc dashboard`")
    settings = cluster_settings(args)
    listener = None
    if args.dashboard is not None:  # bound first: a busy port fails before anything starts
        from bflc.dashboard.serve import bind

        listener = bind("127.0.0.1", args.dashboard)
    cluster = up(args.dir, settings)
    print(f"anvil on {cluster['rpc']}; network file {cluster['network']}; blobs in {cluster['store']}")
    for name, node in cluster["nodes"].items():
        tag = " (malicious)" if node["malicious"] else ""
        print(f"  {name:<8} {node['address']}  pid {node['process']['pid']:<7} data {node['data'] or '-'}{tag}")
    if args.no_watch:
        print(f"running; stop with `bflc cluster down --dir {args.dir}`")
        return 0
    if listener is not None:
        from bflc.dashboard.serve import serve_in_thread

        print(f"dashboard at {serve_in_thread(Path(cluster['network']), listener)}")
    try:
        _watch(cluster, args.rounds)
    except KeyboardInterrupt:
        print(f"\nthe nodes keep running; stop them with `bflc cluster down --dir {args.dir}`")
        return 0
    _print_down(args.dir)
    return 0


def _watch(cluster: dict[str, Any], rounds: int | None) -> None:
    from bflc.cluster.watch import watch
    from bflc.net.connect import connect
    from bflc.net.network import load_network

    ledger = connect(load_network(Path(cluster["network"])))
    names = {node["address"].lower(): name for name, node in cluster["nodes"].items()}
    state_dirs = {name: Path(node["state_dir"]) for name, node in cluster["nodes"].items() if node["data"]}
    watch(ledger, names, state_dirs, sys.stdout, until_round=rounds)


def _run_cluster_down(args: argparse.Namespace) -> int:
    _print_down(args.dir)
    return 0


def _print_down(directory: Path) -> None:
    from bflc.cluster.launch import down, load_cluster, processes

    records = processes(load_cluster(directory.absolute()))
    for name, outcome in down(directory).items():
        print(f"  {name:<8} pid {records[name].pid:<7} {outcome}")


# The commands this module adds to ``bflc``, in --help order.
COMMANDS = (_add_cluster,)
