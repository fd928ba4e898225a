"""Result plots (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bflc.sim.metrics import diverged

DIVERGED = "model diverged"


def mark_diverged(ax: Any, points: Sequence[tuple[float, float]]) -> None:
    """Cross out the ``(x, y)`` points whose model diverged on ``ax``, labelled once for its legend."""
    if points:
        labelled = DIVERGED in ax.get_legend_handles_labels()[1]
        ax.plot([x for x, _ in points], [y for _, y in points], "x", color="red", markersize=8, label="_" if labelled else DIVERGED)


def plot_accuracy(runs: Mapping[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Test accuracy per round, one line per run (label -> simulation result); rounds whose model diverged crossed out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, result in runs.items():
        rounds = [m["round"] + 1 for m in result["rounds"]]
        accuracy = [100 * m["accuracy"] for m in result["rounds"]]
        ax.plot(rounds, accuracy, marker="o", markersize=3, label=label)
        mark_diverged(ax, [(x, y) for x, y, m in zip(rounds, accuracy, result["rounds"], strict=True) if diverged(m)])
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
