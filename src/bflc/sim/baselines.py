"""The paper's baselines: aggregation rules of a central server with no committee, and decentralized broadcast.

Each server rule combines the round's updates and says which of them went
into the result; :data:`RULES` maps ``--aggregator`` names to them.
:class:`BroadcastRunner` has no server: every node aggregates the updates it
receives itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bflc.aggregate import coordinate_median, fedavg, krum, krum_select, trimmed_mean
from bflc.ml.models import Params, flatten, unflatten
from bflc.sim.config import SimConfig
from bflc.sim.metrics import RoundMetrics
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.sim.transfers import broadcast_round, server_round
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


class _OffChainRunner:
    """What the baselines share: no chain, and random active nodes each round, each training from the model it is given.

    Parameters
    ----------
    config:
        The run's settings.
    nodes:
        The virtual nodes' learners.
    population:
        Who is online and who is malicious.
    """

    def __init__(self, config: SimConfig, nodes: VirtualNodes, population: Population) -> None:
        self.config = config
        self.nodes = nodes
        self.population = population
        self.timer = PhaseTimer()

    def _active(self, round: int) -> list[int]:
        """The nodes online in ``round``."""
        return self.population.active_others(round, self.config.seed, set(), self.population.num_active)

    def _train(self, round: int, active: list[int], start: Mapping[int, Params]) -> tuple[list[int], list[np.ndarray], list[int]]:
        """Each active node trains from its model in ``start`` (malicious ones attack).

        Returns
        -------
        tuple[list[int], list[np.ndarray], list[int]]
            The nodes with a usable update, their updates (flat) and claimed
            sample counts. Like every bflc node, nobody takes non-finite
            parameters: a node whose training diverged sends nothing.
        """
        senders, vectors, weights = [], [], []
        for node in active:
            update = self.nodes.trainer_update(node, round, start[node], self.timer)
            if update is not None:
                senders.append(node)
                vectors.append(flatten(update.params))
                weights.append(update.n_samples)
        return senders, vectors, weights

    def setup_cost(self) -> dict[str, int]:
        """Nothing: a baseline has no chain."""
        return {"transactions": 0, "gas": 0}


class BaselineRunner(_OffChainRunner):
    """Basic federated learning: random active nodes train, one aggregation rule combines their updates.

    See :class:`_OffChainRunner` for the parameters (``config.aggregator``
    names the rule).
    """

    def __init__(self, config: SimConfig, nodes: VirtualNodes, population: Population) -> None:
        super().__init__(config, nodes, population)
        self.rule = RULES[config.aggregator](config)
        self.params = nodes.initial_parameters()

    def run_round(self, round: int) -> RoundMetrics:
        """One round: the active nodes train from the server's model, the rule combines their updates."""
        active = self._active(round)
        senders, vectors, weights = self._train(round, active, dict.fromkeys(active, self.params))
        num_malicious = sum(1 for node in senders if self.nodes.is_malicious(node))
        used: list[int] = []
        if vectors:  # else the round keeps the current model
            with self.timer.phase("aggregate"):
                aggregate, used = self.rule.combine(np.stack(vectors), np.asarray(weights, dtype=np.float64), num_malicious)
                self.params = unflatten(np.asarray(aggregate, dtype=np.float32), self.params)
        return RoundMetrics.tally(
            round, active, dict(enumerate(senders)), used, self.nodes.is_malicious, transfers=server_round(len(active), len(senders))
        )

    def current_parameters(self) -> Params:
        """The server's model."""
        return self.params


class BroadcastRunner(_OffChainRunner):
    """Decentralized federated learning by broadcast: no server, every node keeps and aggregates a model of its own.

    Every node starts from the seeded initial model. Each round the active
    nodes train from their own models; each node with a usable update
    (attacked, if the node is malicious) sends it to every other active node,
    and each active node replaces its model with the FedAvg of the updates it
    holds, its own and those it received (one that sent nothing, its training
    having diverged, averages what it received). A node keeps its model while
    it is offline and trains from it when it is active again. With no usable
    update in the round, every node keeps its model.

    Nodes could end a round with different models if some withheld their
    update from some peers or sent different ones to different peers; the
    simulated attacks send one update to every peer, so every active node
    holds the same updates and ends the round with the same model, computed
    once here and shared.

    The reported model (:meth:`current_parameters`) is the one held by the
    lowest-numbered honest node active in the last round played (the
    lowest-numbered active node if none was honest): the model an honest
    participant ends the round with, which is every active node's here. An
    offline node's older model is not the round's result, and a malicious
    node's own model is no one else's concern.

    See :class:`_OffChainRunner` for the parameters.
    """

    def __init__(self, config: SimConfig, nodes: VirtualNodes, population: Population) -> None:
        super().__init__(config, nodes, population)
        self.models = dict.fromkeys(range(population.size), nodes.initial_parameters())
        self.reporter = 0

    def run_round(self, round: int) -> RoundMetrics:
        """One round: the active nodes train from their own models, broadcast their updates and each aggregates them."""
        active = self._active(round)
        senders, vectors, weights = self._train(round, active, self.models)
        if vectors:
            with self.timer.phase("aggregate"):
                aggregate = fedavg(np.stack(vectors), np.asarray(weights, dtype=np.float64))
                model = unflatten(np.asarray(aggregate, dtype=np.float32), self.models[active[0]])
            self.models.update(dict.fromkeys(active, model))
        self.reporter = next((node for node in active if not self.nodes.is_malicious(node)), active[0])
        return RoundMetrics.tally(
            round,
            active,
            dict(enumerate(senders)),
            range(len(senders)),  # every receiver averages every update it holds
            self.nodes.is_malicious,
            transfers=broadcast_round(len(active), len(senders)),
        )

    def current_parameters(self) -> Params:
        """The model of the lowest-numbered honest node active in the last round (see the class)."""
        return self.models[self.reporter]
