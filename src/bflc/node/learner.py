"""What a node needs from machine learning, whoever provides it.

A node trains in rounds where it is a trainer and scores other nodes'
updates in rounds where it sits on the committee. :class:`NodeLearner` is
that contract; :class:`TorchLearner` fulfils it with bflc's own models and
datasets, and :mod:`bflc.node.flower` with any Flower ``NumPyClient``.
Parameters travel as ``{name: float32 array}`` dicts in a fixed order (the
names and shapes of the network's genesis model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from bflc.ml.dataset import FederatedDataset
from bflc.ml.models import build_model, get_parameters, set_parameters
from bflc.ml.scoring import score_candidates
from bflc.ml.train import evaluate, train_local

Params = dict[str, np.ndarray]


@runtime_checkable
class NodeLearner(Protocol):
    """Local training, scoring and evaluation on one node's private data."""

    def initial_parameters(self) -> Params:
        """Freshly initialised parameters (used for the genesis model)."""
        ...

    def fit(self, global_params: Params, seed: int) -> tuple[Params, int]:
        """Train from ``global_params``; return the new parameters and the
        number of local training samples used."""
        ...

    def score(self, candidates: Sequence[Params]) -> list[float]:
        """Accuracy in [0, 1] of each candidate on this node's validation data."""
        ...

    def evaluate(self, params: Params) -> tuple[float, float]:
        """Loss and accuracy of ``params`` on this node's test data."""
        ...


class TorchLearner:
    """A :class:`NodeLearner` over bflc's models, on the writers of one dataset
    this node holds (pooled).

    Parameters
    ----------
    dataset:
        The node's own data: every writer in it belongs to this node.
    model:
        Model name (:func:`bflc.ml.models.build_model`).
    local_epochs, batch_size, lr, momentum:
        Local SGD settings (the network's, so that updates are comparable).
    max_validation_samples:
        Training samples used to score candidates (the first ones).
    model_seed:
        Seed of the initial parameters.
    """

    def __init__(
        self,
        dataset: FederatedDataset,
        model: str,
        *,
        local_epochs: int = 1,
        batch_size: int = 10,
        lr: float = 0.05,
        momentum: float = 0.9,
        max_validation_samples: int = 200,
        model_seed: int = 0,
    ) -> None:
        self.train_x, self.train_y = dataset.pooled_train()
        self.test_x, self.test_y = dataset.pooled_test()
        self.model = build_model(model, dataset.input_shape, dataset.num_classes, seed=model_seed)
        self.local_epochs = local_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.max_validation_samples = max_validation_samples

    def initial_parameters(self) -> Params:
        return get_parameters(self.model)

    def fit(self, global_params: Params, seed: int) -> tuple[Params, int]:
        set_parameters(self.model, global_params)
        train_local(
            self.model,
            self.train_x,
            self.train_y,
            epochs=self.local_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            seed=seed,
        )
        return get_parameters(self.model), len(self.train_y)

    def score(self, candidates: Sequence[Params]) -> list[float]:
        cap = self.max_validation_samples
        result = score_candidates(self.model, list(candidates), self.train_x[:cap], self.train_y[:cap])
        return [float(a) for a in result.accuracy]

    def evaluate(self, params: Params) -> tuple[float, float]:
        set_parameters(self.model, params)
        return evaluate(self.model, self.test_x, self.test_y)
