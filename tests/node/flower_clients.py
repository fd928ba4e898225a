"""Flower clients for the FlowerLearner tests, and factories for spec strings
(``tests.node.flower_clients:make_client`` and friends)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from bflc.ml.data import FederatedDataset, load_dataset

with warnings.catch_warnings():
    # flwr 1.41 imports typer, which warns about click deprecations: not ours to fix.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="typer")
    from flwr.client import Client, NumPyClient

FEATURES = 28 * 28
CLASSES = 62


@cache
def femnist() -> FederatedDataset:
    """The bundled FEMNIST subset, loaded once."""
    return load_dataset("femnist")


def flat(x: np.ndarray) -> np.ndarray:
    """Images ``(n, 1, 28, 28)`` as rows ``(n, 784)``."""
    return x.reshape(len(x), -1)


def softmax_regression_accuracy(weights: np.ndarray, bias: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``argmax(x @ weights + bias) == y``, in float64."""
    logits = flat(x).astype(np.float64) @ weights.astype(np.float64) + bias.astype(np.float64)
    return float(np.mean(np.argmax(logits, axis=1) == y))


class SoftmaxClient(NumPyClient):
    """Multinomial logistic regression on the pooled data of some FEMNIST
    writers, trained by minibatch SGD, written as a Flower user would.

    Parameters
    ----------
    writers:
        Indices of the FEMNIST writers whose data this client holds.
    epochs, batch_size, lr:
        Defaults for local SGD; ``config["local_epochs"]`` overrides ``epochs``.
    init_seed:
        Seed of the initial weights (small Gaussian; zero bias).
    """

    def __init__(
        self, writers: Sequence[int], *, epochs: int = 1, batch_size: int = 32, lr: float = 0.1, init_seed: int = 0
    ) -> None:
        data = femnist().select(list(writers))
        self.train_x, self.train_y = data.pooled_train()
        self.test_x, self.test_y = data.pooled_test()
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        rng = np.random.default_rng(init_seed)
        self.weights = (rng.standard_normal((FEATURES, CLASSES)) * 0.01).astype(np.float32)
        self.bias = np.zeros(CLASSES, dtype=np.float32)

    def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
        return [self.weights.copy(), self.bias.copy()]

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        weights, bias = (np.array(array, dtype=np.float32) for array in parameters)
        x, y = flat(self.train_x), self.train_y
        rng = np.random.default_rng(int(config["seed"]))
        for _ in range(int(config.get("local_epochs", self.epochs))):
            order = rng.permutation(len(y))
            for start in range(0, len(y), self.batch_size):
                batch = order[start : start + self.batch_size]
                grad = _softmax(x[batch] @ weights + bias)
                grad[np.arange(len(batch)), y[batch]] -= 1.0
                grad /= len(batch)
                weights -= self.lr * (x[batch].T @ grad)
                bias -= self.lr * grad.sum(axis=0)
        self.weights, self.bias = weights, bias
        return [weights, bias], len(y), {"round": config["round"]}

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        weights, bias = parameters
        logits = flat(self.test_x) @ weights + bias
        probs = _softmax(logits)
        loss = -np.mean(np.log(probs[np.arange(len(self.test_y)), self.test_y] + 1e-12))
        accuracy = np.mean(np.argmax(logits, axis=1) == self.test_y)
        return float(loss), len(self.test_y), {"accuracy": float(accuracy)}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def make_client() -> SoftmaxClient:
    """The factory of ``tests.node.flower_clients:make_client``: writers 0-2."""
    return SoftmaxClient([0, 1, 2])


def make_wrapped_client() -> Client:
    """A client as Flower's ``client_fn`` usually returns it."""
    return SoftmaxClient([0, 1, 2]).to_client()


class Factories:
    """Holds a factory one attribute deep (``tests.node.flower_clients:Factories.make``)."""

    @staticmethod
    def make() -> SoftmaxClient:
        return SoftmaxClient([3])


def client_fn(context: Any) -> Client:
    """A Flower ``ClientApp`` factory: it needs a Context bflc does not give."""
    return make_wrapped_client()


def failing_factory() -> SoftmaxClient:
    raise RuntimeError("no data on this node")


def not_a_client_factory() -> dict[str, int]:
    return {"weights": 1}


NOT_CALLABLE = 42


class TinyClient(NumPyClient):
    """Flower twin of the daemon tests' tiny learner (tensors ``b`` (3,) and
    ``w`` (2, 2)): fit moves every value halfway to 1 plus seeded noise;
    accuracy is ``1 / (1 + mean |value - 1|)``."""

    def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
        return [np.zeros(3, np.float32), np.zeros((2, 2), np.float32)]

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        rng = np.random.default_rng(int(config["seed"]))
        return [array + 0.5 * (1.0 - array) + rng.normal(0, 0.01, array.shape) for array in parameters], 10, {}

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        distance = float(np.mean(np.abs(np.concatenate([array.ravel() for array in parameters]) - 1.0)))
        return distance, 7, {"accuracy": 1.0 / (1.0 + distance)}
