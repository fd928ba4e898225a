"""Committee scoring: merged (batched) against one-by-one evaluation of K candidates.

For each model of :data:`bflc.ml.models.MODEL_NAMES` and K candidates
(random initialisations), times :func:`bflc.ml.scoring.score_candidates`
(merged, default settings), the same code with ``chunk_size=1`` (one
candidate per pass: what the channels-last layout gains without merging) and
:func:`bflc.ml.scoring.score_candidates_sequential` (the reference loop) on
FEMNIST writer 0's first 200 training samples, on one torch thread. The three
run interleaved in every repeat, so a busy neighbour slows them alike; the
table gives medians. Every run checks that the merged scores equal the
reference's.

Run: .venv/bin/python benchmarks/scoring.py [--repeats N] [--models mlp cnn]
Writes benchmarks/results/scoring.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bflc.machine import cpu_model
from bflc.ml.data import load_dataset
from bflc.ml.models import MODEL_NAMES, build_model, get_parameters
from bflc.ml.scoring import CandidateScores, score_candidates, score_candidates_sequential

RESULTS = Path(__file__).parent / "results" / "scoring.json"
CANDIDATES = (4, 8, 16, 32)
SAMPLES = 200


def bench_model(name: str, x: np.ndarray, y: np.ndarray, num_classes: int, repeats: int) -> list[dict[str, Any]]:
    """Median seconds of each scoring method for every K in :data:`CANDIDATES`."""
    shape = x.shape[1:]
    model = build_model(name, shape, num_classes, seed=0)
    pool = [get_parameters(build_model(name, shape, num_classes, seed=seed)) for seed in range(max(CANDIDATES))]
    rows = []
    for k in CANDIDATES:
        methods = _methods(model, pool[:k], x, y)
        reference = methods["sequential"]()
        for method in ("merged", "one_per_pass"):
            scores = methods[method]()
            np.testing.assert_array_equal(scores.correct, reference.correct)
            np.testing.assert_allclose(scores.loss, reference.loss, rtol=1e-5)
        times: dict[str, list[float]] = {method: [] for method in methods}
        for _ in range(repeats):
            for method, run in methods.items():
                start = time.perf_counter()
                run()
                times[method].append(time.perf_counter() - start)
        median = {method: statistics.median(values) for method, values in times.items()}
        rows.append(
            {
                "model": name,
                "k": k,
                **{f"{method}_s": seconds for method, seconds in median.items()},
                "speedup": median["sequential"] / median["merged"],
                "speedup_one_per_pass": median["sequential"] / median["one_per_pass"],
            }
        )
        print(_row(rows[-1]), flush=True)
    return rows


def _methods(
    model: torch.nn.Module, candidates: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray
) -> dict[str, Callable[[], CandidateScores]]:
    """The scoring methods compared, each scoring ``candidates`` on ``(x, y)``."""
    return {
        "sequential": lambda: score_candidates_sequential(model, candidates, x, y),
        "merged": lambda: score_candidates(model, candidates, x, y),
        "one_per_pass": lambda: score_candidates(model, candidates, x, y, chunk_size=1),
    }


def _row(row: dict[str, Any]) -> str:
    return (
        f"| {row['model']} | {row['k']} | {row['sequential_s']:.4f} | {row['merged_s']:.4f} "
        f"| {row['speedup']:.2f}x | {row['one_per_pass_s']:.4f} | {row['speedup_one_per_pass']:.2f}x |"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per method (median reported)")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset("femnist")
    x, y = data.train_of(0)
    x, y = x[:SAMPLES], y[:SAMPLES]
    print(f"{cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} thread, {len(y)} FEMNIST samples")
    print("| model | K | sequential s | merged s | speedup | one per pass s | speedup |")
    print("|---|---|---|---|---|---|---|")
    rows = [row for name in args.models for row in bench_model(name, x, y, data.num_classes, args.repeats)]
    report = {
        "machine": {"cpu": cpu_model(), "python": platform.python_version()},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "dataset": f"femnist writer 0, first {len(y)} training samples",
        "repeats": args.repeats,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
