"""Committee scoring: the accuracy of every candidate update on a member's local data.

:func:`score_candidates` evaluates up to ``chunk_size`` parameter sets of one
architecture in one merged forward pass. The samples are repeated once per
candidate along the channel axis, so the ``k`` candidates' activations form
one tensor ``(samples, k * channels, height, width)``: every Conv2d runs as
one grouped convolution (``groups=k``) with the candidates' filters
concatenated, ReLU / MaxPool2d / Dropout act on it unchanged, Flatten splits
it into ``(k, samples, features)`` and every Linear runs as one batched matmul.
Feature maps are kept channels-last, where oneDNN's convolution and max-pool
kernels are fastest on CPU. :func:`score_candidates_sequential` is the plain
loop it must agree with; models with other layers are scored by that loop.
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
from bflc.ml.models import check_parameters, set_parameters
from bflc.ml.train import evaluate

Parameters = Mapping[str, np.ndarray]

# Samples per merged pass through the convolutional layers: their activations
# grow with k * channels * height * width, and small passes keep them near the
# cache (benchmarks/scoring.py). The dense layers take whole ``batch_size``
# batches, so each candidate's large weight matrices are read once per batch.
CONV_BATCH = 16

_ELEMENTWISE = (nn.ReLU, nn.Dropout)


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
    candidates: Sequence[Parameters],
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 128,
    chunk_size: int = 16,
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
        Samples per pass through the dense layers (the convolutional layers
        take :data:`CONV_BATCH` at a time).
    chunk_size:
        Candidates merged per pass; memory grows with ``chunk_size`` (one
        copy of their parameters) times ``batch_size``.

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
            chunk = checked[start : start + chunk_size]
            stacked = {key: torch.from_numpy(np.stack([c[key] for c in chunk])) for key in chunk[0]}
            rows = slice(start, start + len(chunk))
            for batch_x, batch_y in zip(inputs.split(batch_size), targets.split(batch_size)):
                logits = _merged_logits(model, stacked, batch_x, len(chunk))
                per_candidate_y = batch_y.expand(len(chunk), -1)
                loss[rows] += F.cross_entropy(logits.transpose(1, 2), per_candidate_y, reduction="none").sum(1).numpy()
                correct[rows] += (logits.argmax(dim=2) == per_candidate_y).sum(1).numpy()
    return _scores(loss / len(targets), correct, len(targets))


def score_candidates_sequential(
    model: nn.Module,
    candidates: Sequence[Parameters],
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


def _mergeable(model: nn.Module) -> bool:
    """Whether :func:`_merged_logits` can run ``model`` (see :func:`score_candidates`)."""
    if not isinstance(model, nn.Sequential) or sum(isinstance(layer, nn.Flatten) for layer in model) != 1:
        return False
    flatten = next(i for i, layer in enumerate(model) if isinstance(layer, nn.Flatten))
    return (
        all(_per_channel(layer) for layer in model[:flatten])
        and (model[flatten].start_dim, model[flatten].end_dim) == (1, -1)
        and all(isinstance(layer, _ELEMENTWISE) or _linear(layer) for layer in model[flatten + 1 :])
    )


def _per_channel(layer: nn.Module) -> bool:
    """Whether ``layer`` maps each candidate's channels to its own channels only, given its merged weights."""
    if isinstance(layer, nn.Conv2d):
        return layer.groups == 1 and layer.padding_mode == "zeros" and layer.bias is not None
    return isinstance(layer, (*_ELEMENTWISE, nn.MaxPool2d))


def _linear(layer: nn.Module) -> bool:
    return isinstance(layer, nn.Linear) and layer.bias is not None


def _merged_logits(
    model: nn.Sequential, stacked: Mapping[str, torch.Tensor], x: torch.Tensor, k: int
) -> torch.Tensor:
    """Logits ``(k, n, classes)`` of ``k`` candidates, their parameters stacked on a leading axis, on ``x``."""
    layers = list(model.named_children())
    flatten = next(i for i, (_, layer) in enumerate(layers) if isinstance(layer, nn.Flatten))
    features = [_features(layers[:flatten], stacked, part, k) for part in x.split(CONV_BATCH)]
    return _dense(layers[flatten + 1 :], stacked, torch.cat(features, dim=1))


def _features(
    layers: Sequence[tuple[str, nn.Module]], stacked: Mapping[str, torch.Tensor], x: torch.Tensor, k: int
) -> torch.Tensor:
    """Flattened features ``(k, n, F)`` after the layers before Flatten.

    The candidates share the input, so the first convolution applies all their
    filters at once (``groups=1``). Its output, ``(n, k * C, H, W)`` with
    candidate-major channels, goes through the later convolutions grouped by
    candidate (``groups=k``).
    """
    h, merged = x.to(memory_format=torch.channels_last), False
    for name, layer in layers:
        if isinstance(layer, nn.Conv2d):
            weight, bias = stacked[f"{name}.weight"].flatten(0, 1), stacked[f"{name}.bias"].flatten()
            h = F.conv2d(h, weight, bias, layer.stride, layer.padding, layer.dilation, groups=k if merged else 1)
            merged = True
        else:
            h = layer(h)
    return h.reshape(len(h), k, -1).transpose(0, 1) if merged else h.flatten(1).expand(k, -1, -1)


def _dense(layers: Sequence[tuple[str, nn.Module]], stacked: Mapping[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """Apply the layers after Flatten to features ``(k, n, F)``, each Linear as one batched matmul."""
    for name, layer in layers:
        if isinstance(layer, nn.Linear):
            h = torch.baddbmm(stacked[f"{name}.bias"].unsqueeze(1), h, stacked[f"{name}.weight"].transpose(1, 2))
        else:
            h = layer(h)
    return h


def _scores(mean_loss: np.ndarray, correct: np.ndarray, num_samples: int) -> CandidateScores:
    return CandidateScores(accuracy=correct / num_samples, loss=mean_loss, correct=correct, num_samples=num_samples)
