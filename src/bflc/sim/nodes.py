"""The virtual nodes' machine learning: one :class:`~bflc.ml.learner.TorchLearner` per node over one shared model."""

from __future__ import annotations

from bflc.attacks import Attack, load_attack
from bflc.ml.dataset import FederatedDataset
from bflc.ml.learner import TorchLearner
from bflc.ml.models import Params, build_model, get_parameters
from bflc.roles import TrainedUpdate, local_update
from bflc.seeds import NodeSeeds
from bflc.sim.config import SimConfig
from bflc.sim.population import Population
from bflc.timing import PhaseTimer


class VirtualNodes:
    """Node ``i`` holds writer ``i``'s data; malicious nodes carry the run's attack.

    The nodes take turns, so they share one torch model: each learner loads
    the parameters it works on first.

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
        self.attack: Attack | None = load_attack(config.attack, config.strength) if population.malicious else None
        # evaluates only: its data is the pooled test set (pooling the training set too would copy it for nothing)
        self.evaluator = TorchLearner(self.model, dataset.pooled_test(), None, config.training)
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
