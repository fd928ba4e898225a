"""``bflc demo``: BFLC on the bundled FEMNIST next to plain FedAvg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bflc.errors import ConfigError
from bflc.plots import plot_accuracy
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset, simulate
from bflc.sim.table import RoundTable

# 100 FEMNIST writers, 10% online per round, a committee of 40% of them; the
# paper's FedAvg weights (claimed sample counts not clipped).
DEMO_CONFIG = SimConfig.create(
    dataset="femnist",
    model="cnn",
    nodes=100,
    active_fraction=0.1,
    committee_fraction=0.4,
    rounds=40,
    local_epochs=2,
    batch_size=10,
    lr=0.05,
    momentum=0.9,
    sample_cap=0.0,
)
# Digits in seconds: for a first look and for tests.
QUICK_CONFIG = DEMO_CONFIG.replace(dataset="digits", model="mlp", nodes=20, active_fraction=0.5, rounds=8, local_epochs=5, lr=0.1, momentum=0.0)


def run_demo(out_dir: Path, rounds: int | None = None, seed: int = 0, quick: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Run BFLC and FedAvg on the same setup; write ``demo.json`` and ``accuracy.png``.

    Returns a summary: final accuracy of each run, paths written, seconds.
    """
    if rounds is not None and rounds < 1:
        raise ConfigError(f"rounds={rounds} must be at least 1")
    base = QUICK_CONFIG if quick else DEMO_CONFIG
    config = base.replace(seed=seed, rounds=rounds or base.rounds)
    dataset = load_nodes_dataset(config)
    if not quiet:
        print(
            f"bflc demo: {config.nodes} {config.dataset} writers, {config.active_fraction:.0%} online per round, "
            f"committee {config.committee_fraction:.0%} of them, model {config.model}, {config.rounds} rounds"
        )
    results = {}
    for aggregator in ("bflc", "fedavg"):
        run = config.replace(aggregator=aggregator)
        table = RoundTable(f"\n{aggregator.upper()}")
        results[aggregator] = simulate(
            run, dataset=dataset, progress=not quiet, on_round=None if quiet else table.print_row
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "demo.json"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    png_path = plot_accuracy(
        {"BFLC (committee consensus)": results["bflc"], "FedAvg (no defence)": results["fedavg"]},
        out_dir / "accuracy.png",
        f"{config.dataset.upper()}: {config.nodes} nodes, {config.active_fraction:.0%} active, "
        f"committee {config.committee_fraction:.0%} of them, model {config.model}",
    )
    summary = {
        "bflc_final_accuracy": results["bflc"]["final_accuracy"],
        "fedavg_final_accuracy": results["fedavg"]["final_accuracy"],
        "bflc_seconds": results["bflc"]["seconds"]["total"],
        "fedavg_seconds": results["fedavg"]["seconds"]["total"],
        "transactions": results["bflc"]["totals"]["transactions"],
        "gas": results["bflc"]["totals"]["gas"],
        "json": str(json_path),
        "plot": str(png_path),
    }
    if not quiet:
        print(
            f"\nfinal test accuracy: BFLC {100 * summary['bflc_final_accuracy']:.2f}%  "
            f"FedAvg {100 * summary['fedavg_final_accuracy']:.2f}%\n"
            f"BFLC used {summary['transactions']} transactions ({summary['gas']:,} gas)\n"
            f"results: {json_path}\nplot:    {png_path}"
        )
    return summary
