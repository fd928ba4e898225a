"""Batched committee scoring agrees with the one-by-one reference."""

from __future__ import annotations

import numpy as np
import pytest

from bflc.errors import BlobError, ConfigError
from bflc.ml.data import FederatedDataset
from bflc.ml.models import build_model, flatten, get_parameters
from bflc.ml.scoring import CandidateScores, score_candidates, score_candidates_sequential
from bflc.ml.train import train_local


def candidates_for(name: str, data: FederatedDataset, count: int) -> list[dict[str, np.ndarray]]:
    """Random initialisations plus one model trained a little, so accuracies differ."""
    shape, classes = data.input_shape, data.num_classes
    candidates = [get_parameters(build_model(name, shape, classes, seed=seed)) for seed in range(count - 1)]
    model = build_model(name, shape, classes, seed=99)
    x, y = data.train_of(0)
    train_local(model, x, y, epochs=2, batch_size=16, lr=0.05, seed=0)
    return [*candidates, get_parameters(model)]


def assert_same_scores(batched: CandidateScores, reference: CandidateScores) -> None:
    np.testing.assert_array_equal(batched.correct, reference.correct)
    np.testing.assert_array_equal(batched.accuracy, reference.accuracy)
    np.testing.assert_allclose(batched.loss, reference.loss, rtol=1e-5)
    assert batched.num_samples == reference.num_samples


@pytest.mark.parametrize("name", ["mlp", "cnn", "alexnet"])
def test_batched_scoring_equals_sequential_on_digits(digits: FederatedDataset, name: str) -> None:
    candidates = candidates_for(name, digits, 7)
    model = build_model(name, digits.input_shape, digits.num_classes, seed=123)
    before = flatten(get_parameters(model))
    x, y = digits.pooled_test()
    reference = score_candidates_sequential(model, candidates, x, y, batch_size=32)
    batched = score_candidates(model, candidates, x, y, batch_size=32, chunk_size=3)
    assert_same_scores(batched, reference)
    assert batched.accuracy.shape == (7,) and ((0 <= batched.accuracy) & (batched.accuracy <= 1)).all()
    assert batched.accuracy[-1] > np.median(batched.accuracy[:-1]), "the trained candidate scores best"
    np.testing.assert_array_equal(flatten(get_parameters(model)), before)
    assert model.training, "the model's mode is restored"


def test_batched_scoring_equals_sequential_on_femnist_writers(femnist: FederatedDataset) -> None:
    data = femnist.select(range(3))
    candidates = candidates_for("leaf-cnn", data, 3)
    model = build_model("leaf-cnn", data.input_shape, data.num_classes)
    x, y = data.test_of(2)
    assert_same_scores(score_candidates(model, candidates, x, y), score_candidates_sequential(model, candidates, x, y))


def test_no_candidates_gives_empty_scores(digits: FederatedDataset) -> None:
    model = build_model("mlp", digits.input_shape, digits.num_classes)
    scores = score_candidates(model, [], *digits.test_of(0))
    assert scores.accuracy.shape == scores.loss.shape == scores.correct.shape == (0,)


def test_misfit_candidate_or_settings_are_rejected(digits: FederatedDataset) -> None:
    model = build_model("mlp", digits.input_shape, digits.num_classes, seed=0)
    good = get_parameters(model)
    poisoned = {**good, "out.bias": np.full(10, np.nan, dtype=np.float32)}
    with pytest.raises(BlobError, match="NaN"):
        score_candidates(model, [good, poisoned], *digits.test_of(0))
    with pytest.raises(ConfigError, match="chunk_size"):
        score_candidates(model, [good], *digits.test_of(0), chunk_size=0)
