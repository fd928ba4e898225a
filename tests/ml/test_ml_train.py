"""Local SGD training and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflc.errors import ConfigError, DataError
from bflc.ml.data import FederatedDataset
from bflc.ml.models import build_model, flatten, get_parameters, set_parameters
from bflc.ml.train import TrainResult, evaluate, train_local


def trained(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    model = build_model(name, x.shape[1:], 10, seed=0)
    train_local(model, x, y, epochs=2, batch_size=16, lr=0.05, momentum=0.9, seed=seed)
    return flatten(get_parameters(model))


@pytest.mark.parametrize("name", ["cnn", "alexnet"])  # alexnet also draws dropout masks
def test_same_seed_gives_bit_identical_weights(digits: FederatedDataset, name: str) -> None:
    x, y = digits.train_of(0)
    rng_before = torch.get_rng_state()
    first, again, other = trained(name, x, y, seed=5), trained(name, x, y, seed=5), trained(name, x, y, seed=6)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)


def test_training_on_digits_beats_chance(digits: FederatedDataset) -> None:
    model = build_model("cnn", (1, 8, 8), 10, seed=0)
    test_x, test_y = digits.pooled_test()
    _, accuracy_before = evaluate(model, test_x, test_y)
    x, y = digits.pooled_train()
    result = train_local(model, x, y, epochs=5, batch_size=32, lr=0.05, momentum=0.9, seed=0)
    loss, accuracy = evaluate(model, test_x, test_y)
    assert accuracy > 0.8 > accuracy_before
    assert result.loss < np.log(10) and loss < np.log(10)


def test_train_result_counts_samples_and_steps(digits: FederatedDataset) -> None:
    x, y = digits.train_of(1)
    model = build_model("mlp", (1, 8, 8), 10, seed=0).eval()
    result = train_local(model, x, y, epochs=3, batch_size=7, lr=0.01, seed=0)
    assert result == TrainResult(loss=result.loss, num_samples=len(y), steps=3 * -(-len(y) // 7))
    assert not model.training, "the caller's eval mode is restored"


def test_evaluate_known_answer_for_a_zero_model(digits: FederatedDataset) -> None:
    model = build_model("mlp", (1, 8, 8), 10, seed=0)
    set_parameters(model, {key: np.zeros_like(value) for key, value in get_parameters(model).items()})
    x, y = digits.pooled_test()
    loss, accuracy = evaluate(model, x, y, batch_size=50)
    assert loss == pytest.approx(np.log(10), rel=1e-6)  # all logits 0: uniform prediction
    assert accuracy == np.mean(y == 0)  # argmax of equal logits is class 0


@pytest.mark.parametrize(
    "settings",
    [
        {"epochs": 0, "batch_size": 8, "lr": 0.1},
        {"epochs": 1, "batch_size": 0, "lr": 0.1},
        {"epochs": 1, "batch_size": 8, "lr": 0.0},
        {"epochs": 1, "batch_size": 8, "lr": 0.1, "momentum": 1.0},
    ],
)
def test_bad_training_settings_raise_config_error(digits: FederatedDataset, settings: dict) -> None:
    x, y = digits.train_of(0)
    with pytest.raises(ConfigError):
        train_local(build_model("mlp", (1, 8, 8), 10), x, y, seed=0, **settings)


def test_mismatched_or_empty_data_raises_data_error(digits: FederatedDataset) -> None:
    x, y = digits.train_of(0)
    model = build_model("mlp", (1, 8, 8), 10)
    with pytest.raises(DataError, match="samples and"):
        train_local(model, x, y[:-1], epochs=1, batch_size=8, lr=0.1, seed=0)
    with pytest.raises(DataError, match="at least one"):
        evaluate(model, x[:0], y[:0])
