"""Table 1: accuracy of BFLC, basic FL (FedAvg) and stand-alone training.

BFLC and FedAvg run at each active fraction k, BFLC with a committee of 40%
of the active nodes; stand-alone trains one model on the pooled training data
with the compute of FedAvg at the largest k
(:func:`bflc.experiments.standalone.stand_alone_epochs`). Every run uses the
same model and hyper-parameters; each cell is the mean ± sample standard
deviation of the final test accuracy over the seeds.

Stand-alone runs twice: with the federated hyper-parameters, as the paper
asks, and with a five times smaller learning rate. The federated step size
(lr 0.05, momentum 0.9, batch 10) suits a few local epochs on one writer's
few hundred samples; over the pooled data, thousands of steps in a row, it
diverges, so the second row shows what central training reaches when tuned.
"""

from __future__ import annotations

from itertools import product
from typing import Any, TypedDict

import numpy as np

from bflc.experiments.output import finish_plot, partial_note, pyplot, summarize, write_tables
from bflc.experiments.registry import Registry, Run
from bflc.experiments.setups import DEFAULT_SETUP, Setup, base, describe
from bflc.experiments.standalone import stand_alone_epochs

NAME = "table1"
COMMITTEE_FRACTION = 0.4
FRAMEWORKS = {"bflc": "BFLC", "fedavg": "Basic FL (FedAvg)"}
STAND_ALONE = "Stand-alone"
# Stand-alone rows: label -> settings changed from the federated runs'.
STAND_ALONE_VARIANTS: dict[str, dict[str, float]] = {STAND_ALONE: {}, f"{STAND_ALONE} (lr 0.01)": {"lr": 0.01}}
# A stand-alone result more than this many points below every federated one
# is left off the plot's axis (and named in the legend).
ZOOM_POINTS = 15


class _Grid(TypedDict):
    k: tuple[float, ...]
    seeds: tuple[int, ...]


class _QuickGrid(_Grid):
    size: dict[str, int]


FULL: _Grid = {"k": (0.1, 0.2, 0.3, 0.4, 0.5), "seeds": (0, 1, 2)}
QUICK: _QuickGrid = {"k": (0.1, 0.2), "seeds": (0,), "size": {"nodes": 50, "rounds": 10}}


def runs(quick: bool, setup: Setup = DEFAULT_SETUP) -> tuple[list[Run], dict[str, list[Run]]]:
    """The federated runs (k x framework x seed) and the stand-alone runs by variant (one per seed), from ``setup``."""
    grid = QUICK if quick else FULL
    config = base(quick, QUICK["size"], setup).replace(committee_fraction=COMMITTEE_FRACTION)
    federated = [
        Run(config.replace(active_fraction=k, aggregator=aggregator, seed=seed))
        for seed, k, aggregator in product(grid["seeds"], grid["k"], FRAMEWORKS)
    ]
    stand_alone = {
        label: [
            Run(config.replace(active_fraction=max(grid["k"]), aggregator="fedavg", seed=seed, **changes), kind="stand-alone")
            for seed in grid["seeds"]
        ]
        for label, changes in STAND_ALONE_VARIANTS.items()
    }
    return federated, stand_alone


def run(registry: Registry, quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Any]:
    """Run (or reuse) every run from ``setup``; write ``table1.csv|json|png``; return the summary."""
    grid = QUICK if quick else FULL
    federated, stand_alone = runs(quick, setup)
    every = federated + [run for variant in stand_alone.values() for run in variant]
    results = registry.results(every, desc=NAME)
    missing = [r.label for r in every if r.id not in results]
    cells: list[tuple[str, float | None, list[Run]]] = [
        (label, k, [r for r in federated if r.config.aggregator == aggregator and r.config.active_fraction == k])
        for aggregator, label in FRAMEWORKS.items()
        for k in grid["k"]
    ]
    cells += [(label, None, cell) for label, cell in stand_alone.items()]
    rows = [_row(label, k, done, results) for label, k, cell in cells if (done := [r for r in cell if r.id in results])]
    example = results[next(r.id for r in every if r.id in results)]
    settings = {
        **example["config"],
        "active_fraction": list(grid["k"]),
        "aggregator": list(FRAMEWORKS),
        "seed": list(grid["seeds"]),
        "writers": example["dataset"]["writers"],
        "stand_alone_epochs": stand_alone_epochs(stand_alone[STAND_ALONE][0].config),
        "stand_alone_variants": STAND_ALONE_VARIANTS,
    }
    summary = summarize(NAME, quick, rows, missing, preset=setup.preset, setup=settings, runs=[r.id for r in every if r.id in results])
    summary["paths"] = {
        **write_tables(registry.out, summary),
        "png": _plot(rows, registry, f"{describe(example)}, {len(grid['seeds'])} seed(s)" + partial_note(len(every) - len(missing), len(missing))),
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
    # The axis spans the federated results; a stand-alone line far below them
    # (a diverged run) is named in the legend instead of squashing the curves.
    federated = [r["mean_accuracy"] for r in rows if r["active_fraction"] is not None]
    floor = min(federated, default=0.0) - ZOOM_POINTS
    shown = [r["mean_accuracy"] for r in rows if r["active_fraction"] is None and r["mean_accuracy"] >= floor]
    ax.set_ylim(min(federated + shown) - 2, max(federated + shown) + 2)
    # Not strict: a stand-alone variant with no finished run has no row.
    for row, style in zip([r for r in rows if r["active_fraction"] is None], ("--", ":"), strict=False):
        label = f"{row['framework']}, pooled data"
        if row["mean_accuracy"] >= floor:
            ax.axhline(row["mean_accuracy"], color="black", linestyle=style, label=label)
        else:
            ax.plot([], [], color="black", linestyle=style, label=f"{label}: {row['mean_accuracy']:.1f}% (off the axis)")
    labels = ("active nodes per round, k (%)", "final test accuracy (%), mean ± std over seeds")
    title = f"Table 1: {setup}, committee {COMMITTEE_FRACTION:.0%} of active"
    return finish_plot(fig, ax, labels, title, registry.out / f"{NAME}.png")
