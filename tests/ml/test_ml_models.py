"""Model zoo: shapes, parameter counts, seeded init and the NumPy parameter helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflc.errors import BlobError, ConfigError
from bflc.ml.models import MODEL_NAMES, build_model, flatten, get_parameters, set_parameters, unflatten

SHAPES = [((1, 28, 28), 62), ((1, 8, 8), 10)]


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_leaf_cnn_has_leafs_parameter_count() -> None:
    model = build_model("leaf-cnn", (1, 28, 28), 62)
    conv1 = 32 * 1 * 25 + 32  # 5x5 kernels, 1 -> 32 channels, padding 2 keeps 28x28, pool -> 14x14
    conv2 = 64 * 32 * 25 + 64  # 5x5 kernels, 32 -> 64 channels, pool -> 7x7
    fc1 = (7 * 7 * 64) * 2048 + 2048
    fc2 = 2048 * 62 + 62
    assert conv1 + conv2 + fc1 + fc2 == 6_603_710
    assert count(model) == 6_603_710


@pytest.mark.parametrize(("input_shape", "num_classes"), SHAPES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_maps_a_batch_to_logits(name: str, input_shape: tuple, num_classes: int) -> None:
    model = build_model(name, input_shape, num_classes, seed=0).eval()
    logits = model(torch.zeros(3, *input_shape))
    assert logits.shape == (3, num_classes)
    assert list(model.state_dict()) == [key for key, _ in model.named_parameters()], "no buffers"


def test_alexnet_trains_on_a_cpu_budget() -> None:
    model = build_model("alexnet", (1, 28, 28), 62)
    assert 1_000_000 < count(model) < 5_000_000
    assert any(isinstance(layer, torch.nn.Dropout) for layer in model)
    assert sum(isinstance(layer, torch.nn.Conv2d) for layer in model) == 5


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_seeded_init_is_reproducible_and_leaves_global_rng_alone(name: str) -> None:
    before = torch.get_rng_state()
    first = flatten(get_parameters(build_model(name, (1, 8, 8), 10, seed=1)))
    again = flatten(get_parameters(build_model(name, (1, 8, 8), 10, seed=1)))
    other = flatten(get_parameters(build_model(name, (1, 8, 8), 10, seed=2)))
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("name", "input_shape", "num_classes"),
    [("resnet", (1, 28, 28), 62), ("cnn", (28, 28), 62), ("mlp", (1, 0, 8), 10), ("cnn", (1, 8, 8), 1)],
)
def test_bad_model_requests_raise_config_error(name: str, input_shape: tuple, num_classes: int) -> None:
    with pytest.raises(ConfigError):
        build_model(name, input_shape, num_classes)


def test_input_too_small_for_pooling_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="pools a 4x4 input down to nothing"):
        build_model("alexnet", (1, 4, 4), 10)


def test_parameters_round_trip_through_numpy() -> None:
    source, target = build_model("cnn", (1, 8, 8), 10, seed=1), build_model("cnn", (1, 8, 8), 10, seed=2)
    params = get_parameters(source)
    assert list(params) == list(source.state_dict())
    assert all(array.dtype == np.float32 for array in params.values())
    set_parameters(target, dict(reversed(params.items())))
    batch = torch.randn(4, 1, 8, 8)
    assert torch.equal(source(batch), target(batch))
    params["conv1.weight"][:] = 0.0
    assert source.conv1.weight.abs().sum() > 0, "get_parameters returns copies"


def test_flatten_and_unflatten_are_inverse() -> None:
    params = get_parameters(build_model("mlp", (1, 8, 8), 10, seed=0))
    vector = flatten(params)
    assert vector.dtype == np.float32 and vector.shape == (sum(a.size for a in params.values()),)
    restored = unflatten(vector, params)
    assert list(restored) == list(params)
    for key in params:
        np.testing.assert_array_equal(restored[key], params[key])
    with pytest.raises(BlobError, match="cannot fill"):
        unflatten(vector[:-1], params)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("out.bias"), r"lack \['out.bias'\]"),
        (lambda p: p.update(extra=np.zeros(1, np.float32)), r"unexpected \['extra'\]"),
        (lambda p: p.update({"out.bias": np.zeros(11, np.float32)}), "'out.bias' is float32 \\(11,\\)"),
        (lambda p: p.update({"out.bias": np.zeros(10, np.int64)}), "'out.bias' is int64"),
        (lambda p: p["out.bias"].__setitem__(3, np.nan), "NaN or infinite"),
        (lambda p: p["fc1.weight"].__setitem__((0, 0), np.inf), "NaN or infinite"),
    ],
)
def test_set_parameters_rejects_misfits(change, message: str) -> None:
    model = build_model("mlp", (1, 8, 8), 10, seed=0)
    before = flatten(get_parameters(model))
    params = get_parameters(model)
    change(params)
    with pytest.raises(BlobError, match=message):
        set_parameters(model, params)
    np.testing.assert_array_equal(flatten(get_parameters(model)), before)
