"""What a node needs from machine learning, whoever provides it.

A node trains in rounds where it is a trainer and scores other nodes'
updates in rounds where it sits on the committee. :class:`Learner` is that
contract; :class:`TorchLearner` fulfils it with bflc's own models on arrays
the node holds, and :mod:`bflc.ml.flower` with any Flower ``NumPyClient``.
Parameters travel as ``{name: float32 array}`` dicts in a fixed order (the
names and shapes of the network's genesis model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from torch import nn

from bflc.attacks import Attack
from bflc.ml.dataset import FederatedDataset
from bflc.ml.models import Params, Score, build_model, get_parameters, set_parameters
from bflc.ml.scoring import score_candidates
from bflc.ml.train import evaluate, train_local
from bflc.settings import TrainingSettings


@runtime_checkable
class Learner(Protocol):
    """Local training, scoring and evaluation on one node's private data."""

    def initial_parameters(self) -> Params:
        """Freshly initialised parameters (used for the genesis model)."""
        ...

    def fit(self, global_params: Params, seed: int) -> tuple[Params, int]:
        """Train from ``global_params``; return the new parameters and the number of local training samples used."""
        ...

    def score(self, candidates: Sequence[Params]) -> list[Score]:
        """Accuracy in [0, 1] and mean loss of each candidate on this node's validation data."""
        ...

    def evaluate(self, params: Params) -> tuple[float, float]:
        """Loss and accuracy of ``params`` on this node's test data."""
        ...


class TorchLearner:
    """A :class:`Learner` over one of bflc's models and the arrays one node holds.

    Several learners may share one ``model`` (the simulator's virtual nodes
    do): each call loads the parameters it works on first.

    Parameters
    ----------
    model:
        A model of the network's architecture; its weights are overwritten.
    train:
        The node's training samples and labels.
    test:
        Samples and labels for :meth:`evaluate` (``None``: the training data).
    settings:
        Local SGD and scoring settings (the network's, so that updates are comparable).
    validation:
        Samples and labels a committee member scores on, the first
        ``settings.max_validation_samples`` of them (``None``: the training
        data; an attacker that poisons its training data still scores on its
        clean data).
    """

    def __init__(
        self,
        model: nn.Module,
        train: tuple[np.ndarray, np.ndarray],
        test: tuple[np.ndarray, np.ndarray] | None,
        settings: TrainingSettings,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.model = model
        self.train_x, self.train_y = train
        self.test_x, self.test_y = test if test is not None else train
        self.settings = settings
        cap = settings.max_validation_samples
        x, y = validation if validation is not None else train
        self.validation_x, self.validation_y = x[:cap], y[:cap]

    @classmethod
    def from_dataset(
        cls, dataset: FederatedDataset, model: str, settings: TrainingSettings, model_seed: int = 0, attack: Attack | None = None
    ) -> TorchLearner:
        """A learner on every writer of ``dataset`` pooled (a node that holds them all).

        Parameters
        ----------
        dataset:
            The node's own data.
        model:
            Model name (:func:`bflc.ml.models.build_model`).
        settings:
            The network's training settings.
        model_seed:
            Seed of the initial parameters.
        attack:
            A malicious node's attack: it trains on the data the attack
            poisons, and scores on its clean data.
        """
        network = build_model(model, dataset.input_shape, dataset.num_classes, seed=model_seed)
        x, y = dataset.pooled_train()
        train = attack.poison_data(x, y, dataset.num_classes) if attack is not None else (x, y)
        return cls(network, train, dataset.pooled_test(), settings, validation=(x, y))

    def initial_parameters(self) -> Params:
        """The model's current parameters (its seeded initial ones before any training)."""
        return get_parameters(self.model)

    def fit(self, global_params: Params, seed: int) -> tuple[Params, int]:
        """Local SGD from ``global_params`` (see :func:`bflc.ml.train.train_local`)."""
        s = self.settings
        set_parameters(self.model, global_params)
        train_local(
            self.model, self.train_x, self.train_y, epochs=s.local_epochs, batch_size=s.batch_size, lr=s.lr, momentum=s.momentum, seed=seed
        )
        return get_parameters(self.model), len(self.train_y)

    def score(self, candidates: Sequence[Params]) -> list[Score]:
        """Accuracy and mean cross-entropy of each candidate on the validation samples."""
        result = score_candidates(self.model, list(candidates), self.validation_x, self.validation_y)
        return [Score(float(a), float(loss)) for a, loss in zip(result.accuracy, result.loss, strict=True)]

    def evaluate(self, params: Params) -> tuple[float, float]:
        """Mean cross-entropy and accuracy of ``params`` on the test data."""
        set_parameters(self.model, params)
        return evaluate(self.model, self.test_x, self.test_y)
