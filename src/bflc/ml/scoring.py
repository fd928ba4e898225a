"""Committee scoring: the accuracy of every candidate update on a member's local data.

:func:`score_candidates` evaluates many parameter sets of one architecture in
one batched pass: the candidates' arrays are stacked along a new leading axis
and ``torch.vmap`` maps ``torch.func.functional_call`` over that axis.
:func:`score_candidates_sequential` is the plain loop it must agree with.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from bflc.errors import ConfigError
from bflc.ml._torch import as_tensors, model_mode
from bflc.ml.models import check_parameters, set_parameters
from bflc.ml.train import evaluate

Parameters = Mapping[str, np.ndarray]


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
    """Score all candidates with batched (vmapped) evaluation.

    Parameters
    ----------
    model:
        A model of the candidates' architecture; its own weights are not
        used or changed. Evaluated in eval mode (no dropout).
    candidates:
        Parameter dicts as returned by :func:`bflc.ml.models.get_parameters`.
    x, y:
        The scoring member's samples, float32 ``(n, C, H, W)``, and labels.
    batch_size:
        Samples per forward pass.
    chunk_size:
        Candidates stacked per forward pass; memory grows with
        ``batch_size * chunk_size``.

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
    loss = np.zeros(len(checked))
    correct = np.zeros(len(checked), dtype=np.int64)

    def logits_of(params: dict[str, torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
        return functional_call(model, params, (batch,))

    logits_of_all = torch.vmap(logits_of, in_dims=(0, None))
    with model_mode(model, training=False), torch.no_grad():
        for start in range(0, len(checked), chunk_size):
            chunk = checked[start : start + chunk_size]
            stacked = {key: torch.from_numpy(np.stack([c[key] for c in chunk])) for key in chunk[0]}
            rows = slice(start, start + len(chunk))
            for batch_x, batch_y in zip(inputs.split(batch_size), targets.split(batch_size)):
                logits = logits_of_all(stacked, batch_x)
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


def _scores(mean_loss: np.ndarray, correct: np.ndarray, num_samples: int) -> CandidateScores:
    return CandidateScores(accuracy=correct / num_samples, loss=mean_loss, correct=correct, num_samples=num_samples)
