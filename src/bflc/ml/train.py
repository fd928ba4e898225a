"""Local training (plain SGD) and evaluation of one model on one shard."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bflc.errors import ConfigError
from bflc.ml._torch import as_tensors, model_mode


@dataclass(frozen=True)
class TrainResult:
    """What one call of :func:`train_local` did.

    ``loss`` is the mean cross-entropy over the samples of the last epoch,
    measured on each batch before its update; ``steps`` counts SGD updates.
    """

    loss: float
    num_samples: int
    steps: int


def train_local(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
    seed: int,
) -> TrainResult:
    """Train ``model`` in place with mini-batch SGD on cross-entropy.

    Each epoch visits the samples in an order drawn from a
    ``torch.Generator`` seeded with ``seed``; dropout draws from torch's global
    generator, re-seeded with ``seed`` inside a forked random state. The same
    model, data and seed (and the same torch thread count) therefore give
    bit-identical weights, and the caller's global random state is untouched.
    The last batch of an epoch may be smaller than ``batch_size``.

    Parameters
    ----------
    model:
        Model mapping ``x`` to logits; left in the train/eval mode it had.
    x, y:
        Samples, float32 ``(n, C, H, W)``, and labels, int64 ``(n,)``.
    epochs, batch_size, lr, momentum:
        SGD settings: passes over the data, samples per step, learning rate,
        momentum (0 for plain SGD).
    seed:
        Seed of the sample order and of dropout.

    Raises
    ------
    ConfigError
        If a setting is out of range.
    DataError
        If ``x`` and ``y`` are empty or differ in length.
    """
    if epochs < 1 or lr <= 0.0 or not 0.0 <= momentum < 1.0:
        raise ConfigError(
            f"training got epochs={epochs}, lr={lr}, momentum={momentum}",
            "use epochs >= 1, lr > 0 and 0 <= momentum < 1",
        )
    inputs, targets = as_tensors(x, y, batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    order = torch.Generator().manual_seed(seed)
    steps, epoch_loss = 0, 0.0
    with model_mode(model, training=True), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            epoch_loss = 0.0
            for batch in torch.split(torch.randperm(len(targets), generator=order), batch_size):
                loss = F.cross_entropy(model(inputs[batch]), targets[batch])
                optimizer.zero_grad()
                torch.autograd.backward(loss)  # loss.backward(), which torch leaves unannotated
                optimizer.step()
                epoch_loss += loss.item() * len(batch)
                steps += 1
    return TrainResult(loss=epoch_loss / len(targets), num_samples=len(targets), steps=steps)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, *, batch_size: int = 512) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``, in eval mode.

    Raises
    ------
    ConfigError
        If ``batch_size < 1``.
    DataError
        If ``x`` and ``y`` are empty or differ in length.
    """
    inputs, targets = as_tensors(x, y, batch_size)
    total_loss, correct = 0.0, 0
    with model_mode(model, training=False), torch.no_grad():
        for batch_x, batch_y in zip(torch.split(inputs, batch_size), torch.split(targets, batch_size), strict=True):
            logits = model(batch_x)
            total_loss += F.cross_entropy(logits, batch_y, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == batch_y).sum())
    return total_loss / len(targets), correct / len(targets)


def predict(model: nn.Module, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """The class ``model`` gives each sample of ``x`` (the largest logit), in eval mode.

    Raises
    ------
    ConfigError
        If ``batch_size < 1``.
    DataError
        If ``x`` is empty.
    """
    inputs, _ = as_tensors(x, np.zeros(len(x), dtype=np.int64), batch_size)  # no labels: only the samples and batch size are checked
    with model_mode(model, training=False), torch.no_grad():
        return torch.cat([model(batch).argmax(dim=1) for batch in torch.split(inputs, batch_size)]).numpy()
