"""Fig. 3: attack success probability over committee fraction p and malicious fraction q.

Exact values (:func:`bflc.security.attack_probability`) on a grid of q for a
few p, with A = 1000 nodes, and beside them Monte-Carlo estimates that run the
contract's random election (:func:`bflc.security.monte_carlo_attack_probability`).
"""

from __future__ import annotations

from itertools import product
from typing import Any, TypedDict

from bflc.experiments.output import finish_plot, pyplot, summarize, write_tables
from bflc.experiments.registry import Registry
from bflc.experiments.setups import DEFAULT_SETUP, Setup
from bflc.security import attack_probability, attack_sizes, monte_carlo_attack_probability

NAME = "fig3"
NODES = 1000
COMMITTEE_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
MALICIOUS_FRACTIONS = tuple(i / 100 for i in range(101))


class _Grid(TypedDict):
    p: tuple[float, ...]
    q: tuple[float, ...]
    trials: int


# Where the Monte-Carlo estimate runs, and with how many elections each.
FULL: _Grid = {"p": COMMITTEE_FRACTIONS, "q": (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7), "trials": 2000}
QUICK: _Grid = {"p": (0.02, 0.1), "q": (0.4, 0.5, 0.6), "trials": 300}


def run(registry: Registry, quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Any]:
    """Compute the grid; write ``fig3.csv|json|png``; return the summary.

    Fig. 3 is computed, not simulated: ``setup`` (dataset, model, preset)
    does not change it; the paper fixes A = 1000 nodes for it.
    """
    grid = QUICK if quick else FULL
    estimates = {}
    points = list(product(grid["p"], grid["q"]))
    for seed, (p, q) in enumerate(registry.progress_bar(points, desc=NAME, unit="point")):
        estimates[p, q] = monte_carlo_attack_probability(NODES, p, q, grid["trials"], seed)
    rows = []
    for p, q in product(COMMITTEE_FRACTIONS, MALICIOUS_FRACTIONS):
        seats, malicious = attack_sizes(NODES, p, q)
        estimate = estimates.get((p, q))
        rows.append({
            "nodes": NODES,
            "committee_fraction": p,
            "malicious_fraction": q,
            "seats": seats,
            "malicious_nodes": malicious,
            "probability": attack_probability(NODES, p, q),
            "mc_probability": estimate.probability if estimate else None,
            "mc_standard_error": estimate.standard_error if estimate else None,
            "mc_trials": estimate.trials if estimate else None,
        })
    monte_carlo = {"committee_fractions": grid["p"], "malicious_fractions": grid["q"], "trials": grid["trials"]}
    summary = summarize(NAME, quick, rows, setup={"nodes": NODES, "monte_carlo": monte_carlo})
    summary["paths"] = {**write_tables(registry.out, summary), "png": _plot(rows, registry, grid["trials"])}
    return summary


def _plot(rows: list[dict[str, Any]], registry: Registry, trials: int) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for p in COMMITTEE_FRACTIONS:
        mine = [r for r in rows if r["committee_fraction"] == p]
        [line] = ax.plot([100 * r["malicious_fraction"] for r in mine], [r["probability"] for r in mine], label=f"p = {p:g} exact")
        sampled = [r for r in mine if r["mc_probability"] is not None]
        if sampled:
            ax.errorbar(
                [100 * r["malicious_fraction"] for r in sampled],
                [r["mc_probability"] for r in sampled],
                yerr=[2 * r["mc_standard_error"] for r in sampled],
                fmt="o",
                markersize=4,
                capsize=2,
                color=line.get_color(),
                label=f"p = {p:g} contract election",
            )
    labels = ("malicious nodes, q (%)", "P[malicious hold > half of the committee]")
    title = f"Fig. 3: attack success, A = {NODES} nodes; markers: {trials} random elections ± 2 s.e."
    return finish_plot(fig, ax, labels, title, registry.out / f"{NAME}.png", fontsize=7, ncol=2)
