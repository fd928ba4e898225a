"""Backdoors: clean accuracy and backdoor success against the malicious proportion (issue 19).

Malicious nodes train on their data plus copies stamped with the trigger
and relabelled to the target class (:class:`bflc.attacks.BackdoorSettings`,
the defaults: a 4-pixel white square in the bottom-right corner, class 0,
half of their samples). 10% of the nodes are active each round and BFLC's
committee is 20% of them, as in Fig. 4. BFLC runs with and without the
committee's backdoor defence (decision 0010), each with an honest and a
colluding committee (malicious members score malicious updates ~0.9),
beside FedAvg, coordinate-wise median, trimmed mean and Multi-Krum.

Each row is one run: its final clean accuracy, its backdoor success (the
share of triggered test images of other classes classified as the target),
the same method's accuracy and backdoor success without attack (same seed:
a weak model sends some triggered images to the target class with no
poisoning at all), and how many malicious updates got into the model. The
summary checks the issue's targets for every method: backdoor success at
most :data:`MAX_BACKDOOR` % and clean accuracy at most :data:`MAX_DROP`
points below the attack-free run, for every seed at 30% malicious nodes or
fewer.
"""

from __future__ import annotations

from itertools import product
from typing import Any, TypedDict

from bflc.experiments.output import partial_note, plot_seeds, pyplot, save_figure, summarize, write_tables
from bflc.experiments.registry import Registry, Run
from bflc.experiments.setups import BACKDOOR_DEFENCE, DEFAULT_SETUP, BlockGrid, QuickBlockGrid, Setup, base, describe
from bflc.sim.config import SimConfig

NAME = "backdoor"
ACTIVE_FRACTION = 0.1
COMMITTEE_FRACTION = 0.2
ROUNDS = 30
BFLC = "BFLC (backdoor defence)"
BFLC_UNDEFENDED = "BFLC (no defence)"
FEDAVG = "FedAvg"
# Explicit values, so that a row's runs keep their ids whatever the defaults.
METHODS: dict[str, dict[str, Any]] = {
    BFLC: {"aggregator": "bflc", "election": "score", **BACKDOOR_DEFENCE},
    BFLC_UNDEFENDED: {"aggregator": "bflc", "election": "score", "screen_similarity": 0.0, "screen_push": 0.0, "norm_clip": 0.0},
    FEDAVG: {"aggregator": "fedavg"},
    "CwMed": {"aggregator": "cwmed"},
    "Trimmed mean": {"aggregator": "trimmed-mean"},
    "Multi-Krum": {"aggregator": "multi-krum"},
}
BASELINES = tuple(m for m in METHODS if METHODS[m]["aggregator"] != "bflc")
HONEST, COLLUDING = "honest", "colluding"
# The targets, checked at every malicious share up to TARGET_SHARE.
MAX_BACKDOOR = 10.0
MAX_DROP = 2.0
TARGET_SHARE = 0.3


class _Block(TypedDict):
    methods: tuple[str, ...]
    committees: tuple[str, ...]
    malicious: tuple[float, ...]
    seeds: tuple[int, ...]


SEEDS = (0, 1, 2)
SHARES = (0.1, 0.2, 0.3, 0.4)
# Without attack (share 0) a committee is honest whatever it is told.
FULL: BlockGrid[_Block] = {
    "blocks": (
        {"methods": (BFLC, BFLC_UNDEFENDED), "committees": (HONEST,), "malicious": (0.0,), "seeds": SEEDS},
        {"methods": (BFLC, BFLC_UNDEFENDED), "committees": (HONEST, COLLUDING), "malicious": SHARES, "seeds": SEEDS},
        {"methods": BASELINES, "committees": (HONEST,), "malicious": (0.0, *SHARES), "seeds": SEEDS},
    )
}
QUICK: QuickBlockGrid[_Block] = {
    "blocks": ({"methods": (BFLC, FEDAVG), "committees": (HONEST,), "malicious": (0.0, 0.3), "seeds": (0,)},),
    "size": {"nodes": 0, "rounds": 3},
}


def config(start: SimConfig, method: str, committee: str, malicious_fraction: float) -> SimConfig:
    """``start`` set up for ``method`` with that committee and share of backdoor attackers."""
    return start.replace(
        active_fraction=ACTIVE_FRACTION,
        committee_fraction=COMMITTEE_FRACTION,
        attack="backdoor",
        malicious_fraction=malicious_fraction,
        collude=committee == COLLUDING,
        **METHODS[method],
    )


def runs(quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[tuple[str, str, float, int], Run]:
    """The runs by (method, committee, malicious fraction, seed), from ``setup``, in the grid's order.

    A baseline has no committee: its runs are listed as ``honest``.
    """
    sized = base(quick, QUICK["size"], setup)
    if not quick and setup.rounds is None:
        sized = sized.replace(rounds=ROUNDS)
    return {
        (method, committee, q, seed): Run(config(sized.replace(seed=seed), method, committee, q))
        for block in (QUICK if quick else FULL)["blocks"]
        for method, committee, q, seed in product(block["methods"], block["committees"], block["malicious"], block["seeds"])
    }


def run(registry: Registry, quick: bool, setup: Setup = DEFAULT_SETUP) -> dict[str, Any]:
    """Run (or reuse) every run from ``setup``; write ``backdoor.csv|json|png``; return the summary."""
    planned = runs(quick, setup)
    results = registry.results(list(planned.values()), desc=NAME)
    missing = [r.label for r in planned.values() if r.id not in results]
    done = {key: results[r.id] for key, r in planned.items() if r.id in results}
    rows = [_row(key, result, done.get((key[0], HONEST, 0.0, key[3]))) for key, result in done.items()]
    rows.sort(key=lambda r: (list(METHODS).index(r["method"]), r["committee"] or "", r["malicious_fraction"], r["seed"]))
    example = next(iter(done.values()))
    settings = {
        **{k: v for k, v in example["config"].items() if k not in ("aggregator", "election", "collude", *METHODS[BFLC])},
        "methods": {m: METHODS[m] for m in dict.fromkeys(key[0] for key in done)},
        "grid": (QUICK if quick else FULL)["blocks"],
        "writers": example["dataset"]["writers"],
    }
    summary = summarize(
        NAME, quick, rows, missing, preset=setup.preset, setup=settings, targets=targets(rows), runs=[r.id for r in planned.values()]
    )
    summary["paths"] = {**write_tables(registry.out, summary), "png": _plot(rows, registry, describe(example) + partial_note(len(done), len(missing)))}
    return summary


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 3)


def _row(key: tuple[str, str, float, int], result: dict[str, Any], attack_free: dict[str, Any] | None) -> dict[str, Any]:
    method, committee, q, seed = key
    rounds = result["rounds"]
    bflc = METHODS[method]["aggregator"] == "bflc"
    captured = [m for m in rounds if "committee" in m and 2 * m["committee_malicious"] > len(m["committee"])]
    accuracy = round(100 * result["final_accuracy"], 3)
    reference = None if attack_free is None else round(100 * attack_free["final_accuracy"], 3)
    return {
        "method": method,
        "committee": committee if bflc else None,
        "malicious_fraction": q,
        "seed": seed,
        "clean_accuracy": accuracy,
        "backdoor_success": _percent(result.get("final_backdoor_success")),
        "attack_free_accuracy": reference,
        "attack_free_backdoor_success": None if attack_free is None else _percent(attack_free.get("final_backdoor_success")),
        "accuracy_drop": None if reference is None else round(reference - accuracy, 3),
        "malicious_submitted": sum(m["malicious_submitted"] for m in rounds),
        "malicious_accepted": result["totals"]["malicious_accepted"],
        "rounds_with_malicious_committee_majority": len(captured) if bflc else None,
        "run": result["run"]["id"],
    }


def targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method and committee: whether every run at a malicious share up to :data:`TARGET_SHARE` meets both targets.

    ``met`` is ``None`` when no such run has finished, or one lacks its
    attack-free run; ``worst_backdoor_success`` and ``worst_accuracy_drop``
    are the largest over those runs.
    """
    verdicts: dict[str, dict[str, Any]] = {}
    for method, committee in dict.fromkeys((r["method"], r["committee"]) for r in rows):
        mine = [r for r in rows if (r["method"], r["committee"]) == (method, committee) and 0 < r["malicious_fraction"] <= TARGET_SHARE]
        drops = [r["accuracy_drop"] for r in mine]
        backdoors = [r["backdoor_success"] for r in mine]
        complete = bool(mine) and None not in drops and None not in backdoors
        verdicts[method if committee is None else f"{method}, {committee} committee"] = {
            "runs": len(mine),
            "worst_backdoor_success": max(backdoors) if complete else None,
            "worst_accuracy_drop": max(drops) if complete else None,
            "met": (max(backdoors) <= MAX_BACKDOOR and max(drops) <= MAX_DROP) if complete else None,
        }
    return verdicts


def _plot(rows: list[dict[str, Any]], registry: Registry, setup: str) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), squeeze=False)
    lines = list(dict.fromkeys((r["method"], r["committee"]) for r in rows))
    colors = {method: f"C{i}" for i, method in enumerate(METHODS)}
    legend: dict[str, Any] = {}
    for ax, column, label in zip(axes[0], ("backdoor_success", "clean_accuracy"), ("backdoor success (%)", "clean test accuracy (%)"), strict=True):
        for method, committee in lines:
            by_q: dict[float, list[float]] = {}
            for r in rows:
                if (r["method"], r["committee"]) == (method, committee) and r[column] is not None:
                    by_q.setdefault(100 * r["malicious_fraction"], []).append(r[column])
            if not by_q:
                continue
            seeds = max(len(v) for v in by_q.values())
            name = method if committee is None else f"{method}, {committee} committee"
            name += f", mean of {seeds} seeds" if seeds > 1 else ""
            legend.setdefault(name, plot_seeds(ax, by_q, "--" if committee == COLLUDING else "-", colors[method]))
        ax.set_xlabel("malicious nodes (%)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].axhline(MAX_BACKDOOR, color="grey", linewidth=0.8, linestyle=":")
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(3, len(legend)), fontsize=8, frameon=False)
    fig.suptitle(
        f"Backdoor attack: {setup}\n{ACTIVE_FRACTION:.0%} active, committee {COMMITTEE_FRACTION:.0%} of active; "
        f"dotted: the {MAX_BACKDOOR:g}% target",
        fontsize=10,
    )
    return save_figure(fig, registry.out / f"{NAME}.png", rect=(0.0, 0.14, 1.0, 1.0))
