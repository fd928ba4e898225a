"""The runs behind the experiments: stable ids, results on disk, resumable.

A run is a :class:`~bflc.sim.config.SimConfig` plus what to do with it
(simulate, or train stand-alone). Its id is a short hash of both, so the same
run asked for by two experiments, or by a second invocation, is done once:
its result lives in ``OUT/runs/<id>.json`` and is read back from there.

Missing runs are done here one at a time, in local worker processes
(``jobs``) or as tasks on a Ray cluster (``ray``, see
:mod:`bflc.experiments.ray_runs`); a worker only returns its run's
:class:`Outcome`, and this process writes it, so results land under ``OUT``
whichever machine did the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from tqdm import tqdm

from bflc.chain.artifact import artifact_sha256
from bflc.errors import BflcError, ConfigError
from bflc.experiments.standalone import train_stand_alone
from bflc.machine import cpu_model, head_commit, package_versions
from bflc.ml.dataset import FederatedDataset
from bflc.protocol import PROTOCOL_VERSION
from bflc.redact import one_line
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset, simulate

Result = dict[str, Any]
KINDS = ("simulate", "stand-alone")


class RunFailed(BflcError):
    """One or more runs of an experiment failed; the others finished and are saved."""


@dataclass(frozen=True)
class Run:
    """One unit of work.

    ``simulate`` plays ``config`` with :func:`bflc.sim.engine.simulate`;
    ``stand-alone`` trains one model centrally on the pooled data of the
    config's writers (:func:`bflc.experiments.standalone.train_stand_alone`).
    """

    config: SimConfig
    kind: str = "simulate"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown run kind {self.kind!r}")

    @property
    def id(self) -> str:
        """12 hex digits of sha256 over the kind and the sorted config.

        A BFLC run's also covers :data:`bflc.protocol.PROTOCOL_VERSION` from
        version 2 on, so that a run of older rules is never taken for one of
        the current rules (the baselines do not depend on them).
        """
        fields: dict[str, Any] = {"kind": self.kind, "config": self.config.to_dict()}
        if self.kind == "simulate" and self.config.aggregator == "bflc":
            fields["protocol"] = PROTOCOL_VERSION
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """A short description for the progress bar."""
        c = self.config
        if self.kind == "stand-alone":
            return f"stand-alone seed {c.seed}"
        method = f"bflc/{c.election}" if c.aggregator == "bflc" else c.aggregator
        return f"{method} k={c.active_fraction:g} q={c.malicious_fraction:g} {c.attack} seed {c.seed}"


class Registry:
    """Finished runs under ``out/runs``; the missing ones are run on demand.

    Parameters
    ----------
    out:
        The experiment output directory.
    progress:
        Show a progress bar over runs (only on a terminal).
    jobs:
        Runs done at once, each in its own process (torch uses
        ``config.threads`` threads in each). Results do not depend on it.
    finished_only:
        Run nothing: :meth:`results` returns the runs already on disk, so an
        experiment can be written from a long run still in progress.
    ray:
        The address of a Ray cluster to do the runs on, one task of one CPU
        each, instead of local processes (``jobs`` must then be 1). Results
        do not depend on it either.
    """

    def __init__(
        self, out: Path, *, progress: bool = True, jobs: int = 1, finished_only: bool = False, ray: str | None = None
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        if ray is not None and jobs != 1:
            raise ValueError("runs go to local processes (jobs) or to a Ray cluster, not both")
        self.out = out
        self.progress = progress
        self.jobs = jobs
        self.finished_only = finished_only
        self.ray = ray
        # Recorded with every run: the command that asked for it.
        self.command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self._datasets: dict[tuple[str, int, int], FederatedDataset] = {}

    def progress_bar(self, iterable: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
        """A tqdm bar, shown only on a terminal and when progress is wanted."""
        return tqdm(iterable, disable=None if self.progress else True, **kwargs)

    def path(self, run: Run) -> Path:
        """The file that holds the result of ``run``."""
        return self.out / "runs" / f"{run.id}.json"

    def results(self, runs: Sequence[Run], desc: str) -> dict[str, Result]:
        """The result of every run by id, running those not on disk yet.

        With ``finished_only``: only the runs on disk, at least one.

        Every missing run is tried, even after one fails.

        Raises
        ------
        ConfigError
            With ``finished_only``, if none of the runs has finished.
        RunFailed
            If any run failed, naming each one and its error, after the
            others have finished.
        """
        unique = list({run.id: run for run in runs}.values())
        missing = [run for run in unique if not self.path(run).exists()]
        if self.finished_only:
            if len(missing) == len(unique):
                raise ConfigError(f"no {desc} run has finished in {self.out / 'runs'}", f"run `bflc experiment {desc}` first")
            return {run.id: json.loads(self.path(run).read_text()) for run in unique if run not in missing}
        failures: list[tuple[str, str]] = []  # (label, error); two runs may share a label
        with self.progress_bar(total=len(unique), initial=len(unique) - len(missing), desc=desc, unit="run") as bar:

            def finished(run: Run, error: str | None) -> None:
                if error is not None:
                    failures.append((run.label, error))
                    bar.write(f"{desc}: run {run.label} [{run.id}] failed: {error}", file=sys.stderr)
                bar.set_postfix_str(f"{'failed' if error else 'done'}: {run.label}")
                bar.update()

            if self.ray is None and (self.jobs == 1 or len(missing) < 2):
                for run in missing:
                    finished(run, self.attempt(run, bar))
            else:
                bar.set_postfix_str(f"{len(missing)} runs sent to the Ray cluster at {self.ray}" if self.ray else f"{self.jobs} at once")
                for run, outcome in self._elsewhere(missing):
                    finished(run, self.keep(run, outcome))
        if failures:
            listed = "; ".join(f"{label}: {error}" for label, error in failures)
            raise RunFailed(
                f"{len(failures)} of {len(unique)} {desc} runs failed ({listed})",
                f"the other runs are saved in {self.out / 'runs'}, each failure's traceback beside them as <id>.error.txt; "
                f"run the command again to retry the failed runs, or add --finished-only to write the outputs without them",
            )
        return {run.id: json.loads(self.path(run).read_text()) for run in unique}

    def _elsewhere(self, runs: Sequence[Run]) -> Iterator[tuple[Run, Outcome]]:
        """Do ``runs`` on the Ray cluster or in ``jobs`` local processes; yield each outcome as it comes."""
        if self.ray is not None:
            from bflc.experiments.ray_runs import ray_outcomes

            yield from ray_outcomes(self.ray, runs, self.command)
            return
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(runs))) as pool:
            futures = {pool.submit(do_run, run, self.command): run for run in runs}
            for future in as_completed(futures):
                yield futures[future], future.result()

    def attempt(self, run: Run, bar: tqdm | None = None) -> str | None:
        """Do ``run`` here; return ``None``, or the error that stopped it in one line.

        The traceback of a failed run goes to ``OUT/runs/<id>.error.txt``
        (removed once the run succeeds), so one broken run does not stop an
        experiment's other runs.
        """
        try:
            self.run(run, bar)
        except Exception as error:
            return self.keep(run, failed(error))
        self.path(run).with_suffix(".error.txt").unlink(missing_ok=True)
        return None

    def keep(self, run: Run, outcome: Outcome) -> str | None:
        """Write the outcome of ``run``: its result, or its traceback beside the results; return its error, if any."""
        error_path = self.path(run).with_suffix(".error.txt")
        if outcome.result is None:
            error_path.parent.mkdir(parents=True, exist_ok=True)
            error_path.write_text(f"{run.label} [{run.id}]\n{json.dumps(run.config.to_dict(), sort_keys=True)}\n\n{outcome.traceback}")
            return outcome.error or "failed"
        self.save(run, outcome.result)
        error_path.unlink(missing_ok=True)
        return None

    def run(self, run: Run, bar: tqdm | None = None) -> None:
        """Do ``run`` here and write its result, with where and when it ran, to :meth:`path`."""

        def show(metrics: dict[str, Any]) -> None:
            if bar is not None:
                bar.set_postfix_str(f"{run.label}: round {metrics['round'] + 1}, acc {metrics['accuracy']:.3f}")

        self.save(run, execute(run, self.command, self._dataset(run.config), show))

    def save(self, run: Run, result: Result) -> None:
        """Write the result of ``run`` to :meth:`path`."""
        path = self.path(run)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: an interrupted run leaves no file behind
        # that a later invocation would take for finished.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(partial, path)

    def _dataset(self, config: SimConfig) -> FederatedDataset:
        key = (config.dataset, config.nodes, config.seed)
        if key not in self._datasets:
            self._datasets[key] = load_nodes_dataset(config)
        return self._datasets[key]


def machine() -> dict[str, Any]:
    """The machine a run ran on: processor, torch's CPU kernels, logical cores, OS and Python.

    Results are bit for bit the same on one machine; on another CPU, or
    with other kernels (``torch_cpu_capability``: AVX2, AVX512, ...), float
    sums may round differently and runs drift apart.
    """
    return {
        "processor": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


class Outcome(NamedTuple):
    """What became of a run done in another process: its result, or its error in one line and its traceback."""

    result: Result | None
    error: str | None = None
    traceback: str = ""


def failed(error: Exception) -> Outcome:
    """The outcome of a run stopped by ``error``, in the ``except`` block that caught it."""
    return Outcome(None, f"{type(error).__name__}: {one_line(str(error))}", traceback.format_exc())


def execute(
    run: Run, command: str, dataset: FederatedDataset | None = None, on_round: Callable[[dict[str, Any]], None] | None = None
) -> Result:
    """Do ``run`` and return its result, with where, when and on what it ran under ``run``.

    The record holds the run's id, the command, the start time, the wall
    time, the machine, the commit, the versions of the packages that can
    change a result (:func:`bflc.machine.package_versions`), the protocol
    version and the contract artifact's hash. Of these only the protocol
    version enters the id (:attr:`Run.id`), so banked runs keep their ids.

    Parameters
    ----------
    run:
        The run.
    command:
        The command that asked for it, recorded with the result.
    dataset:
        The run's dataset (:func:`bflc.sim.engine.load_nodes_dataset` of its
        config), if already loaded.
    on_round:
        Called with each round's (or stand-alone epoch's) metrics.
    """
    started = time.time()
    if dataset is None:
        dataset = load_nodes_dataset(run.config)
    if run.kind == "simulate":
        result = simulate(run.config, dataset=dataset, progress=False, on_round=on_round)
    else:
        result = train_stand_alone(run.config, dataset, on_epoch=on_round)
    result["run"] = {
        "id": run.id,
        "kind": run.kind,
        "command": command,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "machine": machine(),
        "commit": head_commit(),
        "packages": package_versions(),
        "protocol": PROTOCOL_VERSION,
        "contract_artifact_sha256": artifact_sha256(),
    }
    return result


def do_run(run: Run, command: str) -> Outcome:
    """Do ``run`` in a worker (a local process or a Ray task) and return its outcome; never raises."""
    try:
        return Outcome(execute(run, command))
    except Exception as error:
        return failed(error)
