"""Fig. 5: transmission cost against accuracy at 10% malicious nodes.

The Fig. 4 setting (10% active, committee 20% of active, colluding committee,
Gaussian attack) with 10% malicious nodes, for BFLC, FedAvg, CwMed and a
decentralized broadcast run (:class:`bflc.sim.baselines.BroadcastRunner`).
Every run records its full-model transfers per round by kind
(:mod:`bflc.sim.transfers`); :data:`COUNTING_RULES` states the formulas and
is written into ``fig5.json`` too.
"""

from __future__ import annotations

import math
from typing import Any

from bflc.experiments.fig4 import BFLC, CWMED, FEDAVG, config
from bflc.experiments.output import finish_plot, partial_note, pyplot, summarize, write_tables
from bflc.experiments.registry import Registry, Run
from bflc.experiments.setups import DEFAULT_SETUP, Setup, base, describe
from bflc.plots import mark_diverged
from bflc.sim.metrics import diverged
from bflc.sim.transfers import summed

NAME = "fig5"
MALICIOUS_FRACTION = 0.1
BROADCAST = "Decentralized broadcast (FedAvg)"
QUICK = {"size": {"nodes": 150, "rounds": 10}}
COUNTING_RULES = {
    "unit": "one full model (a global model, an update or an aggregate) moved from one party to another: an upload "
    "to the blob store and each download from it count separately; hashes and transactions on the chain, and the "
    "store's time-based integrity re-checks, are not counted",
    BFLC: "per round, (trainers + committee) + updates + updates * committee + proposals: every active node downloads "
    "the round's global model from the store (model_downloads: trainers + committee; a node still holding a copy "
    "would skip it); each trainer with a usable update uploads it (update_uploads: updates); each committee member "
    "downloads every update to score it and aggregates the qualified ones from those copies (update_downloads: "
    "updates * committee); each member that proposes the aggregate (a majority of the committee) builds it and puts "
    "it in the store, which reads a stored copy back to check it before writing: the first proposer uploads it "
    "(aggregate_uploads: 1) and each later one downloads it (aggregate_checks: proposals - 1)",
    f"{FEDAVG}, {CWMED}": "per round, active + updates: a central server sends its model to each active node "
    "(model_downloads: active) and receives each usable update (update_uploads: updates; 2 * active when every node "
    "has one)",
    BROADCAST: "per round, senders * (active - 1): each active node with a usable update sends it to every other "
    "active node (update_sends) and every active node averages the updates it holds itself (FedAvg), keeping its "
    "own model while offline; no model is sent. The accuracy is that of the model the lowest-numbered honest active "
    "node holds after the round, which every active node holds when all send the same update to everyone",
}


def runs(quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Run]:
    """The simulated runs by method, from ``setup`` (broadcast in FedAvg's setting)."""
    sized = base(quick, QUICK["size"], setup)
    configs = {method: config(sized, method, "gaussian", MALICIOUS_FRACTION) for method in (BFLC, FEDAVG, CWMED)}
    configs[BROADCAST] = configs[FEDAVG].replace(aggregator="broadcast")
    return {method: Run(c) for method, c in configs.items()}


def run(registry: Registry, quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Any]:
    """Run (or reuse) every run from ``setup``; write ``fig5.csv|json|png``; return the summary."""
    planned = runs(quick, setup)
    results = registry.results(list(planned.values()), desc=NAME)
    missing = [r.label for r in planned.values() if r.id not in results]
    planned = {method: r for method, r in planned.items() if r.id in results}
    curves = {method: results[r.id]["rounds"] for method, r in planned.items()}
    rows = []
    for method, rounds in curves.items():
        total = 0
        for m in rounds:
            units = sum(m["transfers"].values())
            total += units
            rows.append({
                "method": method,
                "round": m["round"],
                "units": units,
                "cumulative_units": total,
                "log10_cumulative_units": round(math.log10(total), 6) if total else None,
                "accuracy": round(100 * m["accuracy"], 3),
                "diverged": diverged(m),
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
            method: {
                "units": sum(r["units"] for r in rows if r["method"] == method),
                "transfers": summed(m["transfers"] for m in rounds),
                "final_accuracy": round(100 * rounds[-1]["accuracy"], 3),
            }
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
        mine = [r for r in rows if r["method"] == method and r["log10_cumulative_units"] is not None]  # none sent yet: no log
        ax.plot([r["log10_cumulative_units"] for r in mine], [r["accuracy"] for r in mine], marker="o", markersize=3, label=method)
        mark_diverged(ax, [(r["log10_cumulative_units"], r["accuracy"]) for r in mine if r["diverged"]])
    labels = ("log10 transmission units (full-model transfers, cumulative)", "test accuracy (%)")
    title = f"Fig. 5: {setup}, {MALICIOUS_FRACTION:.0%} malicious, Gaussian attack"
    return finish_plot(fig, ax, labels, title, registry.out / f"{NAME}.png")
