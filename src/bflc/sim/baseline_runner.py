"""Basic federated learning without a committee: random active nodes train,
one aggregation rule combines their updates (the paper's baselines)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bflc.aggregate import coordinate_median, fedavg, krum, krum_select, trimmed_mean
from bflc.ml.models import all_finite
from bflc.sim.config import SimConfig
from bflc.sim.learner import Learner, Params, derive_seed
from bflc.sim.population import Population
from bflc.sim.timing import PhaseTimer


class BaselineRunner:
    """A central aggregator with no defence beyond its aggregation rule."""

    def __init__(self, config: SimConfig, learner: Learner, population: Population) -> None:
        self.config = config
        self.learner = learner
        self.population = population
        self.timer = PhaseTimer()
        self.params = learner.initial_parameters()

    def run_round(self, round: int) -> dict[str, Any]:
        cfg, pop = self.config, self.population
        active = pop.active_others(round, cfg.seed, set(), pop.num_active)
        senders, vectors, weights = [], [], []
        for node in active:
            with self.timer.phase("train"):
                params, n_samples = self.learner.train(
                    node, self.params, derive_seed(cfg.seed, round, node), node in pop.malicious
                )
            if not all_finite(params):
                continue  # diverged: like every bflc node, the server takes finite parameters only
            senders.append(node)
            vectors.append(self.learner.to_vector(params))
            weights.append(n_samples)
        malicious = [i for i, node in enumerate(senders) if node in pop.malicious]
        used: list[int] = []
        if vectors:  # else the round keeps the current model
            with self.timer.phase("aggregate"):
                aggregate, used = self._combine(np.stack(vectors), np.asarray(weights, dtype=np.float64), len(malicious))
                self.params = self.learner.from_vector(aggregate)
        return {
            "round": round,
            "trainers": active,
            "updates": len(senders),
            "unusable_updates": len(active) - len(senders),
            "accepted": len(used),
            "rejected": len(senders) - len(used),
            "malicious_submitted": len(malicious),
            "malicious_accepted": len(set(malicious) & set(used)),
            "transactions": 0,
            "gas": 0,
            # the server sends the model to each active node and receives each update
            "transmission_units": len(active) + len(senders),
        }

    def current_parameters(self) -> Params:
        return self.params

    def _combine(self, updates: np.ndarray, weights: np.ndarray, num_malicious: int) -> tuple[np.ndarray, list[int]]:
        """Aggregate and say which updates went into the result.

        Krum assumes it knows an upper bound f on malicious updates: we give
        it the true count, capped at what Krum tolerates (n > 2f + 2).
        Coordinate-wise rules use every update. With too few updates for
        Krum (n <= 2f + 2) the round falls back to FedAvg.
        """
        n = len(updates)
        everyone = list(range(n))
        name = self.config.aggregator
        if name == "fedavg":
            return fedavg(updates, weights), everyone
        if name == "cwmed":
            return coordinate_median(updates), everyone
        if name == "trimmed-mean":
            return trimmed_mean(updates, self.config.trim_beta), everyone
        f = min(num_malicious, max(0, (n - 3) // 2))
        if n <= 2 * f + 2:
            return fedavg(updates, weights), everyone
        selected = 1 if name == "krum" else n - f
        chosen = [int(i) for i in krum_select(updates, f, selected)]
        return krum(updates, f, selected, weights), chosen
