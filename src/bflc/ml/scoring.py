"""Committee scoring: the accuracy of every candidate update on a member's local data.

:func:`score_candidates` evaluates ``chunk_size`` parameter sets of one
architecture together. All candidates see the same samples, so the first
Conv2d applies every candidate's filters at once; its output
``(samples, k * channels, height, width)`` holds the candidates' feature maps
side by side, later Conv2d layers run on it as one grouped convolution
(``groups=k``), and ReLU, MaxPool2d and Dropout act on it per channel as they
are. The maps are kept channels-last, where oneDNN's convolution and max-pool
kernels are fastest on CPU. After Flatten, each candidate's dense layers run
on its features of the whole batch with its own weight arrays.
:func:`score_candidates_sequential` is the plain loop it must agree with, and
scores models with other layers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bflc.errors import ConfigError
from bflc.ml._torch import as_tensors, model_mode
from bflc.ml.models import Params, check_parameters, set_parameters
from bflc.ml.train import evaluate

_Tensors = Mapping[str, torch.Tensor]

# Samples times candidates per merged pass through the convolutional layers:
# small passes keep the merged feature maps in cache (benchmarks/scoring.py).
# The dense layers take whole ``batch_size`` batches, so each candidate's large
# weight matrices are read once per batch.
CONV_PASS = 128


@dataclass(frozen=True)
class CandidateScores:
    """Scores of ``k`` candidates on ``num_samples`` samples.

    ``accuracy`` (float64, in [0, 1]) is ``correct / num_samples``; ``correct``
    (int64) counts right predictions; ``loss`` (float64) is the mean
    cross-entropy. Each array has one entry per candidate, in input order.
    """

    accuracy: np.ndarray
    loss: np.ndarray
    correct: np.ndarray
    num_samples: int


def score_candidates(
    model: nn.Module,
    candidates: Sequence[Params],
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 256,
    chunk_size: int = 8,
) -> CandidateScores:
    """Score all candidates, ``chunk_size`` at a time in one merged forward pass.

    Parameters
    ----------
    model:
        A model of the candidates' architecture; its own weights are not
        used or changed. Evaluated in eval mode (no dropout). An
        ``nn.Sequential`` of Conv2d (ungrouped, zero padding), ReLU,
        MaxPool2d, Dropout, one Flatten and Linear layers, as
        :func:`bflc.ml.models.build_model` makes, is scored merged; any
        other model by :func:`score_candidates_sequential`.
    candidates:
        Parameter dicts as returned by :func:`bflc.ml.models.get_parameters`.
    x, y:
        The scoring member's samples, float32 ``(n, C, H, W)``, and labels.
    batch_size:
        Samples per pass through the dense layers; the convolutional layers
        take ``CONV_PASS // chunk_size`` at a time.
    chunk_size:
        Candidates merged per pass. Memory grows with ``chunk_size`` times
        ``batch_size`` (activations); the candidates' convolution filters are
        concatenated, their dense weights used in place.

    Raises
    ------
    BlobError
        If a candidate does not fit ``model`` or holds NaN/Inf.
    ConfigError
        If ``batch_size`` or ``chunk_size`` is below 1.
    DataError
        If ``x`` and ``y`` are empty or differ in length.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size is {chunk_size}", "stack at least 1 candidate per pass")
    inputs, targets = as_tensors(x, y, batch_size)
    checked = [check_parameters(model, candidate) for candidate in candidates]
    if not _mergeable(model):
        return score_candidates_sequential(model, checked, x, y, batch_size=batch_size)
    loss = np.zeros(len(checked))
    correct = np.zeros(len(checked), dtype=np.int64)
    with model_mode(model, training=False), torch.inference_mode():
        for start in range(0, len(checked), chunk_size):
            chunk = [_as_tensors(candidate) for candidate in checked[start : start + chunk_size]]
            filters = _concatenated_filters(model, chunk)
            rows = slice(start, start + len(chunk))
            for batch_x, batch_y in zip(torch.split(inputs, batch_size), torch.split(targets, batch_size), strict=True):
                logits = _merged_logits(model, filters, chunk, batch_x)
                per_candidate_y = batch_y.expand(len(chunk), -1)
                loss[rows] += F.cross_entropy(logits.transpose(1, 2), per_candidate_y, reduction="none").sum(1).numpy()
                correct[rows] += (logits.argmax(dim=2) == per_candidate_y).sum(1).numpy()
    return _scores(loss / len(targets), correct, len(targets))


def score_candidates_sequential(
    model: nn.Module,
    candidates: Sequence[Params],
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 128,
) -> CandidateScores:
    """Score the candidates one at a time with :func:`bflc.ml.train.evaluate` (the reference).

    Takes the same arguments as :func:`score_candidates` (without ``chunk_size``)
    and leaves ``model`` unchanged.
    """
    scratch = copy.deepcopy(model)
    loss = np.zeros(len(candidates))
    correct = np.zeros(len(candidates), dtype=np.int64)
    for i, candidate in enumerate(candidates):
        set_parameters(scratch, candidate)
        mean_loss, accuracy = evaluate(scratch, x, y, batch_size=batch_size)
        loss[i], correct[i] = mean_loss, round(accuracy * len(y))
    return _scores(loss, correct, len(y))


def _as_tensors(params: Mapping[str, np.ndarray]) -> _Tensors:
    """The arrays as tensors sharing their memory: the large dense weights are never copied."""
    return {key: torch.from_numpy(array) for key, array in params.items()}


def _mergeable(model: nn.Module) -> bool:
    """Whether :func:`_merged_logits` can run ``model`` (the layers listed in :func:`score_candidates`)."""
    if not isinstance(model, nn.Sequential):
        return False
    flattens = [(i, layer) for i, layer in enumerate(model) if isinstance(layer, nn.Flatten)]
    if len(flattens) != 1:
        return False
    at, flatten = flattens[0]
    if (flatten.start_dim, flatten.end_dim) != (1, -1):
        return False
    return all(_mergeable_layer(layer, i < at) for i, layer in enumerate(model) if i != at)


def _mergeable_layer(layer: nn.Module, before_flatten: bool) -> bool:
    """Whether ``layer`` can act on merged feature maps (before Flatten) or on one candidate's features (after)."""
    if isinstance(layer, nn.Conv2d):
        return before_flatten and layer.groups == 1 and layer.padding_mode == "zeros"
    if isinstance(layer, nn.MaxPool2d):
        return before_flatten
    return isinstance(layer, (nn.ReLU, nn.Dropout)) or (isinstance(layer, nn.Linear) and not before_flatten)


def _concatenated_filters(model: nn.Module, chunk: Sequence[_Tensors]) -> dict[str, torch.Tensor | None]:
    """Each Conv2d's weights and biases (None if it has none), the candidates' concatenated on the first axis."""
    convs = [name for name, layer in model.named_children() if isinstance(layer, nn.Conv2d)]
    keys = [f"{name}.{kind}" for name in convs for kind in ("weight", "bias")]
    return {key: torch.cat([params[key] for params in chunk]) if key in chunk[0] else None for key in keys}


def _merged_logits(
    model: nn.Module, filters: Mapping[str, torch.Tensor | None], chunk: Sequence[_Tensors], x: torch.Tensor
) -> torch.Tensor:
    """Logits ``(k, n, classes)`` of the ``k`` candidates in ``chunk`` on samples ``x``.

    The layers up to Flatten run merged, :data:`CONV_PASS` samples times
    candidates at a time; features that no convolution merged are shared by
    all candidates. The dense layers after Flatten run on each candidate's
    features of the whole batch with that candidate's own weight arrays, so
    their large matrices are neither copied nor read more than once a batch.
    """
    layers = list(model.named_children())
    flatten = next(i for i, (_, layer) in enumerate(layers) if isinstance(layer, nn.Flatten))
    k = len(chunk)
    parts = torch.split(x, max(1, CONV_PASS // k))
    features = torch.cat([_merged_features(layers[:flatten], filters, part, k) for part in parts]).expand(-1, k, -1)
    return torch.stack([_dense(layers[flatten + 1 :], params, h) for params, h in zip(chunk, features.unbind(1), strict=True)])


def _merged_features(
    layers: Sequence[tuple[str, nn.Module]], filters: Mapping[str, torch.Tensor | None], x: torch.Tensor, k: int
) -> torch.Tensor:
    """Flattened features after the layers before Flatten: ``(n, k, F)``, or ``(n, 1, F)`` if all are shared.

    The candidates share the input, so the first convolution applies all their
    filters at once (``groups=1``). Its output, ``(n, k * C, H, W)`` with
    candidate-major channels, goes through the later convolutions grouped by
    candidate (``groups=k``).
    """
    # For one input channel only .to() sets the strides that make oneDNN write channels-last output.
    h, merged = (x.to(memory_format=torch.channels_last) if x.dim() == 4 else x), False
    for name, layer in layers:
        if isinstance(layer, nn.Conv2d):
            weight, bias = filters[f"{name}.weight"], filters[f"{name}.bias"]
            assert weight is not None, "a Conv2d always has weights; only its bias may be None"
            h = F.conv2d(h, weight, bias, layer.stride, layer.padding, layer.dilation, groups=k if merged else 1)
            merged = True
        else:
            h = layer(h)
    return h.reshape(len(h), k if merged else 1, -1)


def _dense(layers: Sequence[tuple[str, nn.Module]], params: _Tensors, h: torch.Tensor) -> torch.Tensor:
    """Apply the layers after Flatten to one candidate's features ``(n, F)`` with its ``params``."""
    for name, layer in layers:
        h = F.linear(h, params[f"{name}.weight"], params.get(f"{name}.bias")) if isinstance(layer, nn.Linear) else layer(h)
    return h


def _scores(mean_loss: np.ndarray, correct: np.ndarray, num_samples: int) -> CandidateScores:
    return CandidateScores(accuracy=correct / num_samples, loss=mean_loss, correct=correct, num_samples=num_samples)
