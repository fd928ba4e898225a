"""Batched training of many clients agrees with training them one after another."""

from __future__ import annotations

import numpy as np
import pytest

from bflc.errors import ConfigError
from bflc.ml.batched_train import ClientData, train_clients
from bflc.ml.data import FederatedDataset
from bflc.ml.models import build_model, get_parameters, set_parameters
from bflc.ml.train import train_local

# Absolute tolerance on every weight: batched kernels add in another order.
ATOL = 1e-5


def make_clients(dataset: FederatedDataset, sizes: list[int]) -> list[ClientData]:
    clients = []
    for i, n in enumerate(sizes):
        x, y = dataset.train_of(i % dataset.num_writers)
        clients.append(ClientData(x[:n], y[:n], seed=100 + i))
    return clients


@pytest.mark.parametrize(("name", "momentum"), [("cnn", 0.0), ("mlp", 0.9)])
def test_batched_equals_one_by_one(digits: FederatedDataset, name: str, momentum: float) -> None:
    # 7, 20 and 33 samples at batch 8: 1, 3 and 5 steps per epoch, short last batches.
    clients = make_clients(digits, [20, 7, 33])
    model = build_model(name, (1, 8, 8), 10, seed=0)
    initial = get_parameters(model)
    batched = train_clients(model, initial, clients, epochs=2, batch_size=8, lr=0.05, momentum=momentum, group_size=2)
    assert get_parameters(model).keys() == initial.keys()
    for client, (params, result) in zip(clients, batched):
        set_parameters(model, initial)
        expected = train_local(model, client.x, client.y, epochs=2, batch_size=8, lr=0.05, momentum=momentum, seed=client.seed)
        assert (result.num_samples, result.steps) == (expected.num_samples, expected.steps)
        assert result.loss == pytest.approx(expected.loss, abs=ATOL)
        for key, value in get_parameters(model).items():
            np.testing.assert_allclose(params[key], value, rtol=0, atol=ATOL)
        assert any(not np.array_equal(params[k], initial[k]) for k in initial)


def test_known_answer_one_linear_step() -> None:
    """One step of plain SGD on a 2x2 linear model, worked out by hand."""
    model = build_model("mlp", (1, 1, 2), 2, seed=0)
    initial = {key: np.zeros_like(value) for key, value in get_parameters(model).items()}
    x = np.array([[[[1.0, 2.0]]]], dtype=np.float32)
    [(params, result)] = train_clients(
        model, initial, [ClientData(x, np.array([1]), seed=0)], epochs=1, batch_size=4, lr=1.0
    )
    # Zero weights: logits 0, softmax (1/2, 1/2); only the output bias gets a
    # gradient (hidden activations are 0): d loss / d bias = softmax - onehot,
    # so the step moves it by -(1/2, -1/2).
    np.testing.assert_allclose(params["out.bias"], [-0.5, 0.5])
    assert result.loss == pytest.approx(np.log(2))
    assert result.steps == 1


def test_refuses_dropout_and_bad_settings(digits: FederatedDataset) -> None:
    clients = make_clients(digits, [10])
    with pytest.raises(ConfigError, match="dropout"):
        model = build_model("alexnet", (1, 28, 28), 10, seed=0)
        train_clients(model, get_parameters(model), clients, epochs=1, batch_size=4, lr=0.1)
    model = build_model("cnn", (1, 8, 8), 10, seed=0)
    with pytest.raises(ConfigError):
        train_clients(model, get_parameters(model), clients, epochs=0, batch_size=4, lr=0.1)
    with pytest.raises(ConfigError):
        train_clients(model, get_parameters(model), [], epochs=1, batch_size=4, lr=0.1)
    with pytest.raises(ConfigError):
        train_clients(model, get_parameters(model), clients, epochs=1, batch_size=4, lr=0.1, group_size=0)
