"""``bflc dashboard``: serve the live, read-only page of a network."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bflc.cli.commands import command
from bflc.dashboard.serve import DEFAULT_PORT


def _add_dashboard(commands: Any) -> None:
    """Add ``bflc dashboard`` to ``bflc``'s subparsers.

    Parameters
    ----------
    commands:
        The ``add_subparsers`` object of the ``bflc`` parser.
    """
    sub = command(
        commands,
        "dashboard",
        _run_dashboard,
        "serve a live, read-only web page of a network",
        "Serves a web page and a JSON API showing the network's round, committee, every update's "
        "scores, median and verdict, the model history with accuracy per round, the nodes and "
        "the notable events. It only reads the chain: no key, no transaction. While the chain "
        "is unreachable the page shows a banner and the API answers 503; both recover by "
        "themselves. See docs/dashboard.md.",
    )
    sub.add_argument("--network", type=Path, required=True, help="the network file (TOML)")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    sub.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    sub.add_argument(
        "--nodes-dir",
        type=Path,
        help="folder of node state directories whose logs give each model's accuracy "
        "(default: 'nodes' beside the network file if it exists, as `bflc cluster` lays it out)",
    )


def _run_dashboard(args: argparse.Namespace) -> int:
    from bflc.dashboard.serve import bind, network_app_for, serve, url_of
    from bflc.redact import redact_url

    network, app = network_app_for(args.network, args.nodes_dir)
    listener = bind(args.host, args.port)
    print(f"bflc dashboard for {network.contract} on {redact_url(network.rpc)} at {url_of(listener)} (Ctrl-C to stop)", flush=True)
    serve(app, listener)
    return 0


# The commands this module adds to ``bflc``, in --help order.
COMMANDS = (_add_dashboard,)
