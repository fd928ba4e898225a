"""Batched committee scoring agrees with the one-by-one reference."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from bflc.errors import BlobError, ConfigError
from bflc.ml.data import FederatedDataset
from bflc.ml.models import MODEL_NAMES, build_model, flatten, get_parameters
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


def random_like(params: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=value.shape).astype(np.float32) for key, value in params.items()}


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
    assert batched.accuracy.shape == (7,) and ((batched.accuracy >= 0) & (batched.accuracy <= 1)).all()
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


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batched_scoring_equals_sequential_for_every_model_on_femnist(femnist: FederatedDataset, name: str) -> None:
    """5 candidates in chunks of 3 and 2; 50-sample batches cut into conv passes of 42 + 8 (k=3) and 50 (k=2)."""
    data = femnist.select(range(2))
    candidates = candidates_for(name, data, 5)
    model = build_model(name, data.input_shape, data.num_classes, seed=7)
    x, y = data.train_of(1)
    reference = score_candidates_sequential(model, candidates, x, y)
    assert_same_scores(score_candidates(model, candidates, x, y, batch_size=50, chunk_size=3), reference)
    assert len(set(reference.correct)) > 1, "the candidates' accuracies differ"


def test_default_chunks_merge_a_count_that_is_not_a_multiple(femnist: FederatedDataset) -> None:
    data = femnist.select(range(1))
    shape, classes = data.input_shape, data.num_classes
    candidates = [get_parameters(build_model("cnn", shape, classes, seed=seed)) for seed in range(11)]
    model = build_model("cnn", shape, classes, seed=0)
    x, y = data.train_of(0)
    assert_same_scores(score_candidates(model, candidates, x, y), score_candidates_sequential(model, candidates, x, y))


def test_models_with_other_layers_are_scored_one_by_one(digits: FederatedDataset) -> None:
    """A Linear before Flatten cannot be merged; such a model is still scored right."""
    model = nn.Sequential(nn.Linear(8, 8), nn.Flatten(), nn.Linear(64, 10))
    candidates = [random_like(get_parameters(model), seed) for seed in range(3)]
    x, y = digits.pooled_test()
    assert_same_scores(score_candidates(model, candidates, x, y), score_candidates_sequential(model, candidates, x, y))


def test_flat_samples_are_scored_merged(digits: FederatedDataset) -> None:
    model = build_model("mlp", digits.input_shape, digits.num_classes)
    candidates = [get_parameters(build_model("mlp", digits.input_shape, digits.num_classes, seed=s)) for s in range(3)]
    x, y = digits.pooled_test()
    flat = x.reshape(len(x), -1)
    assert_same_scores(score_candidates(model, candidates, flat, y), score_candidates_sequential(model, candidates, x, y))


def test_layers_without_bias_are_merged(digits: FederatedDataset) -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, bias=False),
        nn.Flatten(),
        nn.Linear(144, 10, bias=False),
    )
    candidates = [random_like(get_parameters(model), seed) for seed in range(5)]
    x, y = digits.pooled_test()
    batched = score_candidates(model, candidates, x, y, chunk_size=2)
    assert_same_scores(batched, score_candidates_sequential(model, candidates, x, y))
