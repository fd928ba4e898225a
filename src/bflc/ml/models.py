"""Models (MLP, small CNN, LEAF's FEMNIST CNN, AlexNet-style CNN) and their parameters as NumPy.

Every model is an ``nn.Sequential`` of named layers without BatchNorm, so its
``state_dict`` holds parameters only and a parameter dict is the whole model.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from bflc.errors import BlobError, ConfigError

# A model's parameters: one float32 array per ``state_dict`` name, in that order.
Params = dict[str, np.ndarray]


class Score(NamedTuple):
    """A model's accuracy (in [0, 1]) and mean loss on one node's validation data."""

    accuracy: float
    loss: float

_MISFIT_HINT = "the parameters were made for another model architecture"


@dataclass(frozen=True)
class _Architecture:
    """Conv blocks ``(out_channels, kernel, max-pool after)``, then dense hidden layers."""

    convs: tuple[tuple[int, int, bool], ...]
    hidden: tuple[int, ...]
    dropout: float = 0.0


_ARCHITECTURES = {
    # The "2NN" of McMahan et al. (2017), the FedAvg paper.
    "mlp": _Architecture(convs=(), hidden=(200, 200)),
    "cnn": _Architecture(convs=((16, 3, True), (32, 3, True)), hidden=(128,)),
    # LEAF's FEMNIST baseline (Caldas et al. 2018): 6,603,710 parameters at 28x28, 62 classes.
    "leaf-cnn": _Architecture(convs=((32, 5, True), (64, 5, True)), hidden=(2048,)),
    # AlexNet's layout (5 convs, 3 max-pools, dropout before 2 dense hidden layers)
    # scaled down for 28x28 inputs: 2,018,046 parameters at 62 classes.
    "alexnet": _Architecture(
        convs=((32, 3, True), (64, 3, True), (128, 3, False), (128, 3, False), (64, 3, True)),
        hidden=(1024, 1024),
        dropout=0.5,
    ),
}

MODEL_NAMES = tuple(_ARCHITECTURES)


def build_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, *, seed: int | None = None
) -> nn.Sequential:
    """Build a freshly initialised model.

    Parameters
    ----------
    name:
        One of :data:`MODEL_NAMES`: ``"mlp"``, ``"cnn"``, ``"leaf-cnn"``, ``"alexnet"``.
    input_shape:
        ``(C, H, W)`` of one sample, e.g. ``(1, 28, 28)`` or ``(1, 8, 8)``.
    num_classes:
        Number of outputs (logits).
    seed:
        Seed for the initial weights; the same seed gives identical weights
        and leaves torch's global random state untouched. ``None`` draws from
        torch's global generator.

    Raises
    ------
    ConfigError
        If the name is unknown, the shape is not three positive sizes, the
        input is too small for the model's pooling, or ``num_classes < 2``.
    """
    architecture = _ARCHITECTURES.get(name)
    if architecture is None:
        raise ConfigError(f"unknown model {name!r}", f"use one of {', '.join(MODEL_NAMES)}")
    if len(input_shape) != 3 or min(input_shape) < 1 or num_classes < 2:
        raise ConfigError(
            f"model {name!r} got input shape {tuple(input_shape)} and {num_classes} classes",
            "give (channels, height, width) and at least 2 classes",
        )
    if seed is None:
        return _build(name, architecture, tuple(input_shape), num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(name, architecture, tuple(input_shape), num_classes)


def _build(
    name: str, architecture: _Architecture, input_shape: tuple[int, ...], num_classes: int
) -> nn.Sequential:
    channels, height, width = input_shape
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (out_channels, kernel, pool) in enumerate(architecture.convs, start=1):
        layers[f"conv{i}"] = nn.Conv2d(channels, out_channels, kernel, padding=kernel // 2)
        layers[f"conv{i}_relu"] = nn.ReLU()
        if pool:
            layers[f"conv{i}_pool"] = nn.MaxPool2d(2)
            height, width = height // 2, width // 2
        channels = out_channels
    if height == 0 or width == 0:
        raise ConfigError(
            f"model {name!r} pools a {input_shape[1]}x{input_shape[2]} input down to nothing",
            "use a larger input or a model with fewer pooling layers",
        )
    layers["flatten"] = nn.Flatten()
    features = channels * height * width
    for j, size in enumerate(architecture.hidden, start=1):
        if architecture.dropout:
            layers[f"fc{j}_dropout"] = nn.Dropout(architecture.dropout)
        layers[f"fc{j}"] = nn.Linear(features, size)
        layers[f"fc{j}_relu"] = nn.ReLU()
        features = size
    layers["out"] = nn.Linear(features, num_classes)
    return nn.Sequential(layers)


def get_parameters(model: nn.Module) -> Params:
    """Copy the model's state (parameters and any buffers) to float32 arrays, in ``state_dict`` order."""
    return {key: value.detach().cpu().numpy().astype(np.float32) for key, value in model.state_dict().items()}


def check_parameters(model: nn.Module, params: Mapping[str, np.ndarray]) -> Params:
    """Check that ``params`` fit ``model`` and return them as contiguous float32.

    Parameters
    ----------
    model:
        The model the parameters are meant for.
    params:
        One array per ``state_dict`` key, any key order.

    Returns
    -------
    dict[str, numpy.ndarray]
        The arrays in the model's ``state_dict`` order.

    Raises
    ------
    BlobError
        If a key is missing or unexpected, a shape differs, an array is not
        floating point, or a value is NaN or infinite.
    """
    state = model.state_dict()
    missing, unexpected = state.keys() - params.keys(), params.keys() - state.keys()
    if missing or unexpected:
        raise BlobError(
            f"parameters lack {sorted(missing)} and have unexpected {sorted(unexpected)}", _MISFIT_HINT
        )
    checked = {}
    for key, reference in state.items():
        array = np.asarray(params[key])
        if array.shape != tuple(reference.shape) or array.dtype.kind != "f":
            raise BlobError(
                f"parameter {key!r} is {array.dtype} {array.shape}, the model needs float {tuple(reference.shape)}",
                _MISFIT_HINT,
            )
        if not np.isfinite(array).all():
            raise BlobError(f"parameter {key!r} holds NaN or infinite values", "reject these parameters")
        checked[key] = np.ascontiguousarray(array, dtype=np.float32)
    return checked


def all_finite(params: Mapping[str, np.ndarray]) -> bool:
    """Whether every value of every array is finite (no NaN, no infinity).

    A node whose training diverged holds such parameters: no blob can carry
    them (:func:`bflc.storage.codec.encode_model` refuses them), so it has
    no update to submit.

    >>> all_finite({"w": np.array([1.0, 2.0])}), all_finite({"w": np.array([1.0, np.nan])})
    (True, False)
    """
    return all(bool(np.isfinite(array).all()) for array in params.values())


def set_parameters(model: nn.Module, params: Mapping[str, np.ndarray]) -> None:
    """Copy ``params`` into ``model`` in place, after :func:`check_parameters`."""
    checked = check_parameters(model, params)
    model.load_state_dict({key: torch.tensor(array) for key, array in checked.items()})


def flatten(params: Mapping[str, np.ndarray]) -> np.ndarray:
    """Concatenate the arrays, raveled in dict order, into one float32 vector."""
    return np.concatenate([np.ravel(array) for array in params.values()]).astype(np.float32, copy=False)


def unflatten(vector: np.ndarray, like: Mapping[str, np.ndarray]) -> Params:
    """Cut a flat vector back into arrays with the keys and shapes of ``like`` (new float32 arrays).

    Raises
    ------
    BlobError
        If ``vector`` is not 1-D or its length differs from the total size of ``like``.
    """
    shapes = [np.shape(array) for array in like.values()]
    sizes = [int(np.prod(shape)) for shape in shapes]
    if np.ndim(vector) != 1 or len(vector) != sum(sizes):
        raise BlobError(f"a vector of shape {np.shape(vector)} cannot fill {sum(sizes)} parameters", _MISFIT_HINT)
    pieces = np.split(np.asarray(vector, dtype=np.float32), np.cumsum(sizes)[:-1])
    return {key: piece.reshape(shape).copy() for key, piece, shape in zip(like, pieces, shapes, strict=True)}
