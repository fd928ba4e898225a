"""What every experiment writes: ``NAME.csv``, ``NAME.json`` and ``NAME.png``."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def summarize(
    name: str, quick: bool, rows: Sequence[dict[str, Any]], missing: Sequence[str] = (), **fields: Any
) -> dict[str, Any]:
    """An experiment's summary: its name, variant, ``fields``, the labels of planned runs that have not finished (``missing``) and its rows."""
    return {"experiment": name, "variant": "quick" if quick else "full", **fields, "missing_runs": list(missing), "rows": list(rows)}


def partial_note(finished: int, missing: int) -> str:
    """``", 12 of 76 runs finished"`` for a plot title when runs are missing, else ``""``."""
    return f", {finished} of {finished + missing} runs finished" if missing else ""


def write_tables(out: Path, summary: dict[str, Any]) -> dict[str, str]:
    """Write the summary's rows as ``NAME.csv`` and the whole summary as ``NAME.json``.

    Returns the paths written, by format.
    """
    out.mkdir(parents=True, exist_ok=True)
    name, rows = summary["experiment"], summary["rows"]
    csv_path, json_path = out / f"{name}.csv", out / f"{name}.json"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    return {"csv": str(csv_path), "json": str(json_path)}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg back end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_seeds(ax: Any, by_x: dict[float, list[float]], style: str, color: str) -> Any:
    """Plot the mean of each x's values (one per seed) as a line, with a band from the lowest to the highest; return the line.

    The band is drawn only where some x has more than one value.
    """
    xs = sorted(by_x)
    line = ax.plot(xs, [sum(by_x[x]) / len(by_x[x]) for x in xs], style, marker="o", markersize=3, color=color)[0]
    if max(len(v) for v in by_x.values()) > 1:
        ax.fill_between(xs, [min(by_x[x]) for x in xs], [max(by_x[x]) for x in xs], color=color, alpha=0.15)
    return line


def finish_plot(fig: Any, ax: Any, labels: tuple[str, str], title: str, path: Path, **legend: Any) -> str:
    """Label the axes of a one-panel figure, title it, add a grid and a legend, then save it.

    Parameters
    ----------
    fig, ax:
        The figure and its axes.
    labels:
        The x and y axis labels.
    title:
        The figure's title.
    path:
        Where the PNG goes (see :func:`save_figure`).
    **legend:
        Options of the legend (e.g. ``fontsize``).
    """
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(**legend)
    return save_figure(fig, path)


def save_figure(fig: Any, path: Path, rect: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)) -> str:
    """Save ``fig`` as a PNG at ``path``, close it and return the path.

    ``rect`` is the part of the figure the axes are laid out in (left,
    bottom, right, top, as fractions), leaving room for a figure legend.
    """
    fig.tight_layout(rect=rect)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return str(path)
