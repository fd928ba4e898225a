"""Serving the dashboard: a listening socket, uvicorn, the app of a network file.

The web stack is imported inside the functions so that ``bflc --help``
stays fast.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from bflc.errors import ConfigError

DEFAULT_PORT = 8080


def serve_in_thread(network_file: Path, listener: socket.socket) -> str:
    """Serve the dashboard of ``network_file`` on ``listener`` from a daemon thread of this process.

    ``listener`` comes from :func:`bind`; the page is served for as long as
    the process runs (``bflc cluster up --dashboard``).

    Returns
    -------
    str
        The page's URL.

    Raises
    ------
    ConfigError
        If the network file is bad.
    """
    _, app = network_app_for(network_file, None)
    threading.Thread(target=_server(app).run, kwargs={"sockets": [listener]}, name="bflc-dashboard", daemon=True).start()
    return url_of(listener)


def network_app_for(network_file: Path, nodes_dir: Path | None) -> tuple[Any, Any]:
    """The network file and the dashboard app for it, or a ConfigError naming the bad input."""
    from bflc.dashboard.app import network_app
    from bflc.net.network import load_network

    network = load_network(network_file)
    return network, network_app(network, _nodes_dir(network_file, nodes_dir))


def url_of(listener: socket.socket) -> str:
    """The page's URL on ``listener``: ``http://host:port``."""
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
