"""``bflc dashboard``: serve the live, read-only page of a network.

Registered by :func:`add_commands`; the web stack is imported inside the
handler so that ``bflc --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from bflc.errors import ConfigError

Command = Callable[..., argparse.ArgumentParser]
DEFAULT_PORT = 8080


def add_commands(commands: Any, command: Command) -> None:
    """Add ``bflc dashboard`` to ``bflc``'s subparsers.

    Parameters
    ----------
    commands:
        The ``add_subparsers`` object of the ``bflc`` parser.
    command:
        ``bflc.cli._command``: makes a subparser with a handler and ``--debug``.
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
    network, app = _network_app(args.network, args.nodes_dir)
    listener = bind(args.host, args.port)
    print(f"bflc dashboard for {network.contract} on {network.rpc} at {_url(listener)} (Ctrl-C to stop)", flush=True)
    serve(app, listener)
    return 0


def serve_in_thread(network_file: Path, listener: socket.socket) -> str:
    """Serve the dashboard of ``network_file`` on ``listener`` (from :func:`bind`)
    from a daemon thread of this process, for as long as it runs
    (``bflc cluster up --dashboard``).

    Returns
    -------
    str
        The page's URL.

    Raises
    ------
    ConfigError
        If the network file is bad.
    """
    _, app = _network_app(network_file, None)
    threading.Thread(target=_server(app).run, kwargs={"sockets": [listener]}, name="bflc-dashboard", daemon=True).start()
    return _url(listener)


def _network_app(network_file: Path, nodes_dir: Path | None) -> tuple[Any, Any]:
    """The network file and the dashboard app for it, or a ConfigError naming the bad input."""
    from bflc.dashboard.app import network_app
    from bflc.net.network import load_network

    network = load_network(network_file)
    return network, network_app(network, _nodes_dir(network_file, nodes_dir))


def _url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://{host}:{port}"


def _nodes_dir(network_file: Path, given: Path | None) -> Path | None:
    if given is not None:
        if not given.is_dir():
            raise ConfigError(f"--nodes-dir {given} is not a directory", "give the folder that holds the nodes' state directories")
        return given
    beside = network_file.parent / "nodes"
    return beside if beside.is_dir() else None


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises
    ------
    ConfigError
        If the port is out of range, in use, or the host cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", "use a number from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ConfigError(f"--host {host!r} is not an address here: {error.strerror}", "use 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use", "stop what listens there or pick another --port") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}", "pick another --host or --port") from None
    return listener


def serve(app: Any, listener: socket.socket) -> None:
    """Serve ``app`` on ``listener`` with uvicorn until Ctrl-C or SIGTERM.

    uvicorn shuts down gracefully on either signal, then raises it again; a
    SIGTERM is the normal way to stop the command, so it then returns (exit
    0), while Ctrl-C ends as every ``bflc`` command does (exit 130).
    """
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        _server(app).run(sockets=[listener])
    finally:
        signal.signal(signal.SIGTERM, previous)


def _server(app: Any) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, ws="none"))
