"""Table 1: accuracy of BFLC, basic FL (FedAvg) and stand-alone training.

BFLC and FedAvg run at each active fraction k, BFLC with a committee of 40%
of the active nodes; stand-alone trains one model on the pooled training data
with the compute of FedAvg at the largest k
(:func:`bflc.experiments.standalone.stand_alone_epochs`). Every run uses the
same model and hyper-parameters; each cell is the mean ± sample standard
deviation of the final test accuracy over the seeds.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

import numpy as np

from bflc.experiments.output import pyplot, save_figure, summarize, write_tables
from bflc.experiments.registry import Registry, Run
from bflc.experiments.setups import base, describe
from bflc.experiments.standalone import stand_alone_epochs

NAME = "table1"
COMMITTEE_FRACTION = 0.4
FRAMEWORKS = {"bflc": "BFLC", "fedavg": "Basic FL (FedAvg)"}
STAND_ALONE = "Stand-alone"
FULL = {"k": (0.1, 0.2, 0.3, 0.4, 0.5), "seeds": (0, 1, 2)}
QUICK = {"k": (0.1, 0.2), "seeds": (0,), "size": {"nodes": 50, "rounds": 10}}


def runs(quick: bool) -> tuple[list[Run], list[Run]]:
    """The federated runs (k x framework x seed) and the stand-alone runs (one per seed)."""
    grid = QUICK if quick else FULL
    config = replace(base(quick, QUICK["size"]), committee_fraction=COMMITTEE_FRACTION)
    federated = [
        Run(replace(config, active_fraction=k, aggregator=aggregator, seed=seed))
        for seed, k, aggregator in product(grid["seeds"], grid["k"], FRAMEWORKS)
    ]
    stand_alone = [
        Run(replace(config, active_fraction=max(grid["k"]), aggregator="fedavg", seed=seed), kind="stand-alone")
        for seed in grid["seeds"]
    ]
    return federated, stand_alone


def run(registry: Registry, quick: bool) -> dict[str, Any]:
    """Run (or reuse) every run; write ``table1.csv|json|png``; return the summary."""
    grid = QUICK if quick else FULL
    federated, stand_alone = runs(quick)
    results = registry.results(federated + stand_alone, desc=NAME)
    rows = [
        _row(label, k, [r for r in federated if r.config.aggregator == aggregator and r.config.active_fraction == k], results)
        for aggregator, label in FRAMEWORKS.items()
        for k in grid["k"]
    ]
    rows.append(_row(STAND_ALONE, None, stand_alone, results))
    example = results[federated[0].id]
    setup = {
        **example["config"],
        "active_fraction": list(grid["k"]),
        "aggregator": list(FRAMEWORKS),
        "seed": list(grid["seeds"]),
        "writers": example["dataset"]["writers"],
        "stand_alone_epochs": stand_alone_epochs(stand_alone[0].config),
    }
    summary = summarize(NAME, quick, rows, setup=setup, runs=[r.id for r in federated + stand_alone])
    summary["paths"] = {
        **write_tables(registry.out, summary),
        "png": _plot(rows, registry, f"{describe(example)}, {len(grid['seeds'])} seed(s)"),
    }
    return summary


def _row(framework: str, k: float | None, cell: list[Run], results: dict[str, Any]) -> dict[str, Any]:
    accuracy = np.array([100 * results[r.id]["final_accuracy"] for r in cell])
    return {
        "framework": framework,
        "active_fraction": k,
        "mean_accuracy": round(float(accuracy.mean()), 3),
        "std_accuracy": round(float(accuracy.std(ddof=1)), 3) if len(accuracy) > 1 else None,
        "seeds": len(accuracy),
        "accuracies": " ".join(f"{a:.2f}" for a in accuracy),
    }


def _plot(rows: list[dict[str, Any]], registry: Registry, setup: str) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label in FRAMEWORKS.values():
        mine = [r for r in rows if r["framework"] == label]
        ax.errorbar(
            [100 * r["active_fraction"] for r in mine],
            [r["mean_accuracy"] for r in mine],
            yerr=[r["std_accuracy"] or 0.0 for r in mine],
            marker="o",
            capsize=3,
            label=label,
        )
    [alone] = [r for r in rows if r["framework"] == STAND_ALONE]
    ax.axhline(alone["mean_accuracy"], color="black", linestyle="--", label=f"{STAND_ALONE} (pooled data)")
    ax.set_xlabel("active nodes per round, k (%)")
    ax.set_ylabel("final test accuracy (%), mean ± std over seeds")
    ax.set_title(f"Table 1: {setup}, committee {COMMITTEE_FRACTION:.0%} of active", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, registry.out / f"{NAME}.png")
