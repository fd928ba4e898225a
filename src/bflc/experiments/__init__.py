"""Reproductions of the paper's experiments (Table 1, Figs. 3, 4 and 5) and the backdoor experiment.

Each experiment writes ``NAME.csv``, ``NAME.json`` and ``NAME.png`` into the
output directory; the simulations behind them are kept under ``OUT/runs`` and
reused, so an interrupted experiment resumes where it stopped and runs shared
by two experiments are done once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bflc.errors import ConfigError
from bflc.experiments import backdoor, fig3, fig4, fig5, table1
from bflc.experiments.registry import Registry
from bflc.experiments.setups import Setup, check

EXPERIMENTS = {"table1": table1, "fig3": fig3, "fig4": fig4, "fig5": fig5, "backdoor": backdoor}


def run_experiments(
    name: str,
    out: Path,
    *,
    quick: bool = False,
    progress: bool = True,
    jobs: int = 1,
    finished_only: bool = False,
    setup: Setup | None = None,
    ray: str | None = None,
) -> dict[str, Any]:
    """Run experiment ``name`` (or ``all``) into ``out``; return each one's summary by name.

    Parameters
    ----------
    name:
        ``table1``, ``fig3``, ``fig4``, ``fig5``, ``backdoor`` or ``all``.
    out:
        The output folder; finished runs are kept in ``out/runs``.
    quick:
        The small grid of each experiment.
    progress:
        Show progress bars (on a terminal) and notes.
    jobs:
        Runs done at once, each in its own process.
    finished_only:
        Run nothing: the outputs cover the runs finished so far, and each
        summary lists the missing ones.
    setup:
        The preset, dataset, model and rounds the runs start from
        (:class:`~bflc.experiments.setups.Setup`); checked here.
    ray:
        The address of a Ray cluster that does the runs instead of local
        processes (:mod:`bflc.experiments.ray_runs`).

    Raises
    ------
    ConfigError
        If ``name`` is not an experiment or ``all``, ``jobs`` is below 1,
        both ``jobs`` and ``ray`` are given, Ray is not installed, or the
        setup is invalid.
    DataError
        If the setup's dataset cannot be read.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}", "give the number of runs to do at once, e.g. --jobs 2")
    if ray is not None and jobs != 1:
        raise ConfigError("give --jobs or --ray, not both", "with --ray the cluster does as many runs at once as it has CPUs")
    if name != "all" and name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}", f"use one of {', '.join(EXPERIMENTS)} or all")
    if ray is not None:
        from bflc.experiments.ray_runs import import_ray

        import_ray()  # fails before any work when Ray is missing
    setup = check(setup or Setup())
    if progress and (note := setup.note()):
        print(f"bflc experiment: note: {note}", file=sys.stderr)
    registry = Registry(out, progress=progress, jobs=jobs, finished_only=finished_only, ray=ray)
    names = list(EXPERIMENTS) if name == "all" else [name]
    return {n: EXPERIMENTS[n].run(registry, quick, setup) for n in names}
