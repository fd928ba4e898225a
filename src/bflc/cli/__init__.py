"""The ``bflc`` command.

Heavy imports happen inside each command so that ``bflc --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bflc import __version__
from bflc.cli import cluster as cluster_cli
from bflc.cli import dashboard as dashboard_cli
from bflc.cli import net as net_cli
from bflc.cli import node as node_cli
from bflc.cli import sim as sim_cli
from bflc.cli.commands import Handler
from bflc.errors import BflcError
from bflc.redact import printable


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    handler: Handler = args.handler
    try:
        return handler(args)
    except BflcError as exc:
        if args.debug:
            raise
        print(f"bflc: error: {printable(str(exc))}", file=sys.stderr)  # reasons may come from other nodes
        return 2
    except KeyboardInterrupt:
        print("bflc: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bflc",
        description="Decentralized federated learning with committee consensus on an EVM chain (BFLC).",
        epilog="Start with `bflc demo`. Every command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"bflc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    # These modules import nothing heavy at the top, so `bflc --help` stays instant.
    for module in (sim_cli, net_cli, node_cli, cluster_cli, dashboard_cli):
        for add in module.COMMANDS:
            add(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
