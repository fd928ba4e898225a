"""The runs of an experiment spread over a Ray cluster (``bflc experiment --ray ADDRESS``).

Ray is optional (``pip install 'bflc[ray]'``) and imported only here, when
runs are sent to a cluster. Each run is one Ray task of one CPU that calls
:func:`bflc.experiments.registry.do_run` and returns its outcome; the caller
writes the results under ``OUT/runs`` on its own machine, so the cluster's
nodes need bflc installed and the dataset at the same path, but not the
output folder. A run is a deterministic simulation seeded by its config, so
its result is the one ``--jobs`` gives.
"""

from __future__ import annotations

import importlib
import logging
import socket
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType

from bflc.errors import ConfigError
from bflc.experiments.registry import Outcome, Run, do_run
from bflc.redact import one_line

# The version flwr's simulation extra pins (flwr==1.41.0), so one venv holds both.
RAY_VERSION = "2.55.1"
INSTALL_HINT = f"install it with pip install 'bflc[ray]' (Ray {RAY_VERSION}), or use --jobs N to run on this machine"
# How long a cluster's address may take to accept a connection before it is taken for absent.
CONNECT_SECONDS = 5.0


def import_ray() -> ModuleType:
    """The ``ray`` module.

    Raises
    ------
    ConfigError
        If Ray is not installed, saying how to install it.
    """
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ConfigError("--ray needs Ray, which is not installed", INSTALL_HINT) from None


def ray_outcomes(address: str, runs: Sequence[Run], command: str) -> Iterator[tuple[Run, Outcome]]:
    """Do ``runs`` as tasks on the Ray cluster at ``address``; yield each with its outcome as it finishes.

    Parameters
    ----------
    address:
        What ``ray.init`` connects to: ``HOST:PORT`` of a running cluster's
        head (``ray start --head`` prints it), ``auto``, or ``ray://HOST:PORT``.
    runs:
        The runs, one task of one CPU each: the cluster does as many at once
        as it has CPUs.
    command:
        The command that asked for them, recorded with each result.

    Tasks not finished when the caller stops early (an error, Ctrl-C) are
    cancelled, and a connection opened here is closed at the end.

    Raises
    ------
    ConfigError
        If Ray is not installed, or nothing answers at ``HOST:PORT``.
    """
    ray = import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        _check_reachable(address)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Ray's notice about GPU environment variables
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(do_run)
        pending = {task.remote(run, command): run for run in runs}
        try:
            while pending:
                [ready], _ = ray.wait(list(pending), num_returns=1)
                run = pending.pop(ready)
                try:
                    outcome = ray.get(ready)
                except ray.exceptions.RayError as error:  # the task's worker died, or the task was cancelled
                    outcome = Outcome(None, f"{type(error).__name__}: {one_line(str(error), limit=300)}", str(error))
                yield run, outcome
        finally:
            for ref in pending:
                ray.cancel(ref)
    finally:
        if connected_here:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Raise a one-line ConfigError if ``address`` is ``HOST:PORT`` and nothing accepts a connection there.

    ``ray.init`` would otherwise retry for minutes. Other forms (``auto``,
    ``ray://...``) are left to Ray.
    """
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ConfigError(
            f"no Ray cluster answers at {address} ({error.strerror or error})",
            "start one with `ray start --head` and pass the HOST:PORT it prints, e.g. --ray 10.0.0.5:6379",
        ) from None
