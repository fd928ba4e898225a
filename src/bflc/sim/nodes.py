"""The virtual nodes' machine learning: one :class:`~bflc.ml.learner.TorchLearner` per node over one shared model."""

from __future__ import annotations

import numpy as np

from bflc.attacks import Attack, Backdoor, backdoor_success, backdoor_test_set, load_attack
from bflc.ml.dataset import FederatedDataset
from bflc.ml.learner import TorchLearner
from bflc.ml.models import Params, build_model, get_parameters, set_parameters
from bflc.ml.train import predict
from bflc.roles import TrainedUpdate, local_update
from bflc.seeds import NodeSeeds
from bflc.sim.config import SimConfig
from bflc.sim.population import Population
from bflc.timing import PhaseTimer


class VirtualNodes:
    """Node ``i`` holds writer ``i``'s data; malicious nodes carry the run's attack.

    The nodes take turns, so they share one torch model: each learner loads
    the parameters it works on first. When the run's attack declares a
    trigger (:class:`~bflc.attacks.Backdoor`), the pooled test images of other
    classes than its target are stamped once, for :meth:`backdoor_success`;
    with no malicious node, that measures how often the clean model takes
    triggered images for the target.

    Parameters
    ----------
    dataset:
        The writers' data (node ``i`` gets writer ``i``).
    config:
        The run's settings (model, training, attack, seed).
    population:
        Which nodes are malicious.
    """

    def __init__(self, dataset: FederatedDataset, config: SimConfig, population: Population) -> None:
        self.dataset = dataset
        self.config = config
        self.population = population
        self.model = build_model(config.model, dataset.input_shape, dataset.num_classes, seed=config.seed)
        self.initial = get_parameters(self.model)
        self.attack: Attack = load_attack(config.attack, config.strength, config.backdoor, config.seed)
        test = dataset.pooled_test()
        # evaluates only: its data is the pooled test set (pooling the training set too would copy it for nothing)
        self.evaluator = TorchLearner(self.model, test, None, config.training)
        self.trigger_test: tuple[Backdoor, np.ndarray] | None = (
            (self.attack, backdoor_test_set(self.attack, *test, dataset.num_classes)) if isinstance(self.attack, Backdoor) else None
        )
        self._learners: dict[int, TorchLearner] = {}

    def initial_parameters(self) -> Params:
        """The seeded initial model (the genesis model)."""
        return self.initial

    def is_malicious(self, node: int) -> bool:
        """Whether ``node`` attacks."""
        return node in self.population.malicious

    def attack_of(self, node: int) -> Attack | None:
        """``node``'s attack on its update (``None``: honest)."""
        return self.attack if self.is_malicious(node) else None

    def learner(self, node: int) -> TorchLearner:
        """``node``'s learner on its own writer's data (its training data poisoned if its attack poisons data)."""
        if node not in self._learners:
            clean = self.dataset.train_of(node)
            attack = self.attack_of(node)
            train = attack.poison_data(clean.x, clean.y, self.dataset.num_classes) if attack is not None else (clean.x, clean.y)
            self._learners[node] = TorchLearner(self.model, train, None, self.config.training, validation=(clean.x, clean.y))
        return self._learners[node]

    def seeds(self, node: int) -> NodeSeeds:
        """``node``'s seeds: its training seed in round ``r`` is ``derive_seed(config.seed, r, node)``."""
        return NodeSeeds((self.config.seed, node))

    def trainer_update(self, node: int, round: int, global_params: Params, timer: PhaseTimer) -> TrainedUpdate | None:
        """``node``'s update in ``round`` from ``global_params`` (the trainer's step without chain or store)."""
        return local_update(self.learner(node), global_params, self.seeds(node).training(round), self.attack_of(node), timer)

    def evaluate(self, params: Params) -> tuple[float, float]:
        """Loss and accuracy of ``params`` on the pooled test data of every writer."""
        return self.evaluator.evaluate(params)

    def backdoor_success(self, params: Params) -> float | None:
        """The share of triggered test images of other classes that ``params`` classifies as the target (``None``: no trigger)."""
        if self.trigger_test is None:
            return None
        backdoor, images = self.trigger_test
        set_parameters(self.model, params)
        return backdoor_success(predict(self.model, images), backdoor.target_class)
