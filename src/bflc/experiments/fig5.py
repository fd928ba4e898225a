"""Fig. 5: transmission cost against accuracy at 10% malicious nodes.

The Fig. 4 setting (10% active, committee 20% of active, colluding committee,
Gaussian attack) with 10% malicious nodes. :data:`COUNTING_RULES` says how
transmission units are counted; they are written into ``fig5.json`` too.
"""

from __future__ import annotations

import math
from typing import Any

from bflc.experiments.fig4 import BFLC, CWMED, FEDAVG, config
from bflc.experiments.output import finish_plot, partial_note, pyplot, summarize, write_tables
from bflc.experiments.registry import Registry, Run
from bflc.experiments.setups import DEFAULT_SETUP, Setup, base, describe

NAME = "fig5"
MALICIOUS_FRACTION = 0.1
BROADCAST = "Decentralized broadcast (FedAvg)"
METHODS = (BFLC, FEDAVG, CWMED)
QUICK = {"size": {"nodes": 150, "rounds": 10}}
COUNTING_RULES = {
    "unit": "one transfer of a full model (a global model or an update) from one party to another; "
    "hashes on the chain are not counted",
    BFLC: "per round, trainers + updates * committee: each trainer fetches the global model and "
    "each submitted update is sent to each committee member",
    f"{FEDAVG}, {CWMED}": "per round, active + updates (2 * active when every node has one): a central "
    "server sends the model to each active node and receives each update",
    BROADCAST: "per round, active * (active - 1): each active node sends its update to every other "
    "active node and aggregates locally with FedAvg; every node ends the round with the aggregate a "
    "FedAvg server would compute, so the accuracy is that of the FedAvg run on the same nodes",
}


def runs(quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Run]:
    """The simulated runs by method, from ``setup`` (broadcast reuses FedAvg's)."""
    sized = base(quick, QUICK["size"], setup)
    return {method: Run(config(sized, method, "gaussian", MALICIOUS_FRACTION)) for method in METHODS}


def broadcast_units(active: list[int]) -> int:
    """Units of one broadcast round among the ``active`` nodes: each sends to every other."""
    return len(active) * (len(active) - 1)


def run(registry: Registry, quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Any]:
    """Run (or reuse) every run from ``setup``; write ``fig5.csv|json|png``; return the summary."""
    planned = runs(quick, setup)
    results = registry.results(list(planned.values()), desc=NAME)
    missing = [r.label for r in planned.values() if r.id not in results]
    planned = {method: r for method, r in planned.items() if r.id in results}
    curves = {method: results[r.id]["rounds"] for method, r in planned.items()}
    if FEDAVG in curves:
        curves[BROADCAST] = [{**m, "transmission_units": broadcast_units(m["trainers"])} for m in curves[FEDAVG]]
    rows = []
    for method, rounds in curves.items():
        total = 0
        for m in rounds:
            total += m["transmission_units"]
            rows.append({
                "method": method,
                "round": m["round"],
                "units": m["transmission_units"],
                "cumulative_units": total,
                "log10_cumulative_units": round(math.log10(total), 6),
                "accuracy": round(100 * m["accuracy"], 3),
            })
    example = results[next(iter(planned.values())).id]
    summary = summarize(
        NAME,
        quick,
        rows,
        missing,
        preset=setup.preset,
        setup={**example["config"], "aggregator": list(curves), "writers": example["dataset"]["writers"]},
        counting_rules=COUNTING_RULES,
        totals={
            method: {"units": sum(m["transmission_units"] for m in rounds), "final_accuracy": round(100 * rounds[-1]["accuracy"], 3)}
            for method, rounds in curves.items()
        },
        runs=[r.id for r in planned.values()],
    )
    summary["paths"] = {**write_tables(registry.out, summary), "png": _plot(rows, registry, describe(example) + partial_note(len(planned), len(missing)))}
    return summary


def _plot(rows: list[dict[str, Any]], registry: Registry, setup: str) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ax.plot([r["log10_cumulative_units"] for r in mine], [r["accuracy"] for r in mine], marker="o", markersize=3, label=method)
    labels = ("log10 transmission units (full-model transfers, cumulative)", "test accuracy (%)")
    title = f"Fig. 5: {setup}, {MALICIOUS_FRACTION:.0%} malicious, Gaussian attack"
    return finish_plot(fig, ax, labels, title, registry.out / f"{NAME}.png")
