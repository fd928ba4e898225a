"""What every ``bflc`` command shares: the handler type and the subparser factory."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def command(commands: Any, name: str, handler: Handler, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subparser of ``commands`` that runs ``handler`` and takes ``--debug``.

    Parameters
    ----------
    commands:
        An ``add_subparsers`` object.
    name, help, description:
        The command's name, one-line help and ``--help`` text (default: ``help``).
    handler:
        Called with the parsed arguments; returns the exit code.
    """
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description or help)
    # SUPPRESS keeps a --debug given before the command from being reset here.
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks instead of one-line errors")
    sub.set_defaults(handler=handler)
    return sub
