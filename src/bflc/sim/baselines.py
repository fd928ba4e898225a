"""The paper's baselines as aggregation rules of a central server with no committee.

Each rule combines the round's updates and says which of them went into the
result; :data:`RULES` maps ``--aggregator`` names to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bflc.aggregate import coordinate_median, fedavg, krum, krum_select, trimmed_mean
from bflc.ml.models import Params, flatten, unflatten
from bflc.sim.config import SimConfig
from bflc.sim.metrics import RoundMetrics
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.timing import PhaseTimer


class AggregationRule(Protocol):
    """How a server combines the round's updates."""

    def combine(self, updates: np.ndarray, weights: np.ndarray, num_malicious: int) -> tuple[np.ndarray, list[int]]:
        """The aggregate of ``updates`` (one flat vector per row) and the rows it used.

        ``weights`` are the claimed sample counts; ``num_malicious`` is how many
        rows come from malicious nodes (only Krum is told, as its bound f).
        """
        ...


class FedAvgRule:
    """Sample-weighted mean of every update."""

    def combine(self, updates: np.ndarray, weights: np.ndarray, num_malicious: int) -> tuple[np.ndarray, list[int]]:
        """See :class:`AggregationRule`."""
        return fedavg(updates, weights), list(range(len(updates)))


class MedianRule:
    """Coordinate-wise median of every update."""

    def combine(self, updates: np.ndarray, weights: np.ndarray, num_malicious: int) -> tuple[np.ndarray, list[int]]:
        """See :class:`AggregationRule`."""
        return coordinate_median(updates), list(range(len(updates)))


@dataclass(frozen=True)
class TrimmedMeanRule:
    """Coordinate-wise mean after cutting ``beta`` of the values at each end."""

    beta: float

    def combine(self, updates: np.ndarray, weights: np.ndarray, num_malicious: int) -> tuple[np.ndarray, list[int]]:
        """See :class:`AggregationRule`."""
        return trimmed_mean(updates, self.beta), list(range(len(updates)))


@dataclass(frozen=True)
class KrumRule:
    """Krum (``multi=False``: the single best update) or Multi-Krum (the n - f best, averaged).

    Krum assumes it knows an upper bound f on malicious updates: it is given
    the true count, capped at what Krum tolerates (n > 2f + 2). With too few
    updates for that, the round falls back to FedAvg.
    """

    multi: bool

    def combine(self, updates: np.ndarray, weights: np.ndarray, num_malicious: int) -> tuple[np.ndarray, list[int]]:
        """See :class:`AggregationRule`."""
        n = len(updates)
        f = min(num_malicious, max(0, (n - 3) // 2))
        if n <= 2 * f + 2:
            return FedAvgRule().combine(updates, weights, num_malicious)
        selected = n - f if self.multi else 1
        chosen = [int(i) for i in krum_select(updates, f, selected)]
        return krum(updates, f, selected, weights), chosen


RULES: dict[str, Callable[[SimConfig], AggregationRule]] = {
    "fedavg": lambda config: FedAvgRule(),
    "cwmed": lambda config: MedianRule(),
    "trimmed-mean": lambda config: TrimmedMeanRule(config.trim_beta),
    "krum": lambda config: KrumRule(multi=False),
    "multi-krum": lambda config: KrumRule(multi=True),
}


class BaselineRunner:
    """Basic federated learning: random active nodes train, one aggregation rule combines their updates.

    Parameters
    ----------
    config:
        The run's settings (``config.aggregator`` names the rule).
    nodes:
        The virtual nodes' learners.
    population:
        Who is online and who is malicious.
    """

    def __init__(self, config: SimConfig, nodes: VirtualNodes, population: Population) -> None:
        self.config = config
        self.nodes = nodes
        self.population = population
        self.rule = RULES[config.aggregator](config)
        self.timer = PhaseTimer()
        self.params = nodes.initial_parameters()

    def run_round(self, round: int) -> RoundMetrics:
        """One round: the active nodes train from the server's model, the rule combines their updates."""
        cfg, pop = self.config, self.population
        active = pop.active_others(round, cfg.seed, set(), pop.num_active)
        senders, vectors, weights = [], [], []
        for node in active:
            update = self.nodes.trainer_update(node, round, self.params, self.timer)
            if update is None:
                continue  # diverged: like every bflc node, the server takes finite parameters only
            senders.append(node)
            vectors.append(flatten(update.params))
            weights.append(update.n_samples)
        num_malicious = sum(1 for node in senders if self.nodes.is_malicious(node))
        used: list[int] = []
        if vectors:  # else the round keeps the current model
            with self.timer.phase("aggregate"):
                aggregate, used = self.rule.combine(np.stack(vectors), np.asarray(weights, dtype=np.float64), num_malicious)
                self.params = unflatten(np.asarray(aggregate, dtype=np.float32), self.params)
        return RoundMetrics.tally(
            round,
            active,
            dict(enumerate(senders)),
            used,
            self.nodes.is_malicious,
            # the server sends the model to each active node and receives each update
            transmission_units=len(active) + len(senders),
        )

    def current_parameters(self) -> Params:
        """The server's model."""
        return self.params

    def setup_cost(self) -> dict[str, int]:
        """Nothing: a baseline has no chain."""
        return {"transactions": 0, "gas": 0}
