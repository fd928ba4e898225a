"""Reproductions of the paper's experiments: Table 1 and Figs. 3, 4 and 5.

Each experiment writes ``NAME.csv``, ``NAME.json`` and ``NAME.png`` into the
output directory; the simulations behind them are kept under ``OUT/runs`` and
reused, so an interrupted experiment resumes where it stopped and runs shared
by two experiments are done once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bflc.errors import ConfigError
from bflc.experiments import fig3, fig4, fig5, table1
from bflc.experiments.registry import Registry

EXPERIMENTS = {"table1": table1, "fig3": fig3, "fig4": fig4, "fig5": fig5}


def run_experiments(
    name: str, out: Path, *, quick: bool = False, progress: bool = True, jobs: int = 1, finished_only: bool = False
) -> dict[str, Any]:
    """Run experiment ``name`` (or ``all``) into ``out``; return each one's summary by name.

    ``jobs`` runs are done at once, each in its own process. With
    ``finished_only`` nothing is run: the outputs cover the runs finished so
    far, and each summary lists the missing ones.

    Raises
    ------
    ConfigError
        If ``name`` is not an experiment or ``all``, or ``jobs`` is below 1.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}", "give the number of runs to do at once, e.g. --jobs 2")
    if name != "all" and name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}", f"use one of {', '.join(EXPERIMENTS)} or all")
    registry = Registry(out, progress=progress, jobs=jobs, finished_only=finished_only)
    names = list(EXPERIMENTS) if name == "all" else [name]
    return {n: EXPERIMENTS[n].run(registry, quick) for n in names}
