"""The machine learning each virtual node does: local training, committee
scoring and global evaluation, over one model architecture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflc.ml.dataset import FederatedDataset
from bflc.ml.models import all_finite, build_model, check_parameters, flatten, get_parameters, set_parameters, unflatten
from bflc.ml.scoring import score_candidates
from bflc.ml.train import evaluate, train_local
from bflc.sim.attacks import flip_labels, poison_update
from bflc.sim.config import SimConfig

Params = dict[str, np.ndarray]


def derive_seed(*parts: int) -> int:
    """A 32-bit seed derived from integers (run seed, round, node, ...)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass
class Learner:
    """Trains, scores and evaluates models of one architecture on one dataset."""

    dataset: FederatedDataset
    config: SimConfig

    def __post_init__(self) -> None:
        self.model = build_model(
            self.config.model, self.dataset.input_shape, self.dataset.num_classes, seed=self.config.seed
        )
        self.keys = list(self.model.state_dict().keys())

    def initial_parameters(self) -> Params:
        return get_parameters(self.model)

    def to_vector(self, params: Params) -> np.ndarray:
        return flatten(check_parameters(self.model, params))

    def from_vector(self, vector: np.ndarray) -> Params:
        return unflatten(np.asarray(vector, dtype=np.float32), self.initial_parameters())

    def train(self, writer: int, global_params: Params, seed: int, malicious: bool) -> tuple[Params, int]:
        """Local training of ``writer`` from the global model.

        A malicious node applies the configured attack to its update.
        Returns the parameters to submit and the number of local samples.
        The parameters hold NaN or infinities when training diverged or the
        attack overflowed float32: the caller checks :func:`all_finite`, as
        no blob can carry them.
        """
        x, y = self.dataset.train_of(writer)
        if malicious and self.config.attack == "label-flip":
            y = flip_labels(y, self.dataset.num_classes)
        set_parameters(self.model, global_params)
        train_local(
            self.model,
            x,
            y,
            epochs=self.config.local_epochs,
            batch_size=self.config.batch_size,
            lr=self.config.lr,
            momentum=self.config.momentum,
            seed=seed,
        )
        local = get_parameters(self.model)
        if malicious and all_finite(local):
            rng = np.random.default_rng(seed)
            poisoned = poison_update(
                self.config.attack, self.to_vector(global_params), self.to_vector(local), self.config.strength, rng
            )
            local = self.from_vector(poisoned)
        return local, len(y)

    def validation_set(self, writer: int) -> tuple[np.ndarray, np.ndarray]:
        """A committee member's own data used to score updates."""
        x, y = self.dataset.train_of(writer)
        cap = self.config.max_validation_samples
        return x[:cap], y[:cap]

    def score(self, writer: int, candidates: list[Params]) -> np.ndarray:
        """Accuracy of each candidate on ``writer``'s validation data."""
        x, y = self.validation_set(writer)
        return score_candidates(self.model, candidates, x, y).accuracy

    def evaluate(self, params: Params) -> tuple[float, float]:
        """Loss and accuracy on the pooled test data of every writer."""
        set_parameters(self.model, params)
        x, y = self.dataset.pooled_test()
        return evaluate(self.model, x, y)
