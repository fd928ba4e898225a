"""Local training of many clients of one architecture in one batched computation.

:func:`train_clients` gives every client exactly the SGD steps that
:func:`bflc.ml.train.train_local` would give it — the same sample order
(``torch.randperm`` from a generator seeded with the client's seed, epoch by
epoch), the same batches, the same learning rate and momentum — but runs them
for all clients at once: the clients' parameters are stacked along a leading
axis, and ``torch.func.vmap`` over ``torch.func.functional_call`` computes
every client's loss and gradient in one pass.

Clients hold different numbers of samples, so they take different numbers of
steps, and their last batch of an epoch may be short. Semantics:

* **Grouping.** Clients are sorted by step count, most first, and cut into
  groups of ``group_size``, so the clients of a group take similar numbers of
  steps.
* **Equal steps, shrinking group.** Within a group, global step ``t`` runs
  step ``t`` of every client that has one. The clients still training at
  step ``t`` are a prefix of the group's stack and each step works on a view
  of it: no finished client is computed or updated, and no parameters are
  copied.
* **Masked short batches.** A client's batch is padded to ``batch_size`` with
  masked samples; its loss is the sum of the unmasked samples' cross-entropy
  divided by their count, the mean that ``train_local`` takes.

The results equal ``train_local``'s up to floating-point rounding (the batched
kernels add in another order); ``tests/ml/test_batched_training.py`` checks a
tolerance of 1e-5 absolute on the weights after several steps. Rounding
differences grow with the steps taken: benchmarks/ml_compute.py reports the
largest weight difference (about 1e-7 for the CNN, 3e-4 for LEAF's CNN after
an epoch of up to 32 steps at lr 0.05). On CPU it is not faster than training
the clients one after another (the same benchmark): every client has its own
weights, so batching saves only per-step dispatch, and the clients' weights
together no longer fit the caches that one client's do. Dropout draws
random numbers per client in ``train_local``, which a batched pass cannot
reproduce, so models with active dropout are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from torch.nn import functional as F

from bflc.errors import ConfigError
from bflc.ml._torch import as_tensors
from bflc.ml.models import check_parameters
from bflc.ml.train import TrainResult

Parameters = Mapping[str, np.ndarray]

# Clients per batched computation. Each client has its own weights, so a step
# reads and writes group_size copies of the model: a group small enough for
# the CPU's caches beat one large group of 30 FEMNIST CNN clients
# (benchmarks/batched_training.py).
GROUP_SIZE = 8


@dataclass(frozen=True)
class ClientData:
    """One client's samples, float32 ``(n, C, H, W)``, labels int64 ``(n,)``, and its training seed."""

    x: np.ndarray
    y: np.ndarray
    seed: int


def train_clients(
    model: nn.Module,
    initial: Parameters,
    clients: Sequence[ClientData],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
    group_size: int = GROUP_SIZE,
) -> list[tuple[dict[str, np.ndarray], TrainResult]]:
    """Train every client from ``initial`` with mini-batch SGD, ``group_size`` clients batched.

    Parameters
    ----------
    model:
        A model of the clients' architecture; its own weights are not used
        or changed. Must hold no ``nn.Dropout`` with ``p > 0``.
    initial:
        The parameters every client starts from (the global model).
    clients:
        Each client's data and seed, as :func:`bflc.ml.train.train_local` takes them.
    epochs, batch_size, lr, momentum:
        SGD settings, the same for every client.
    group_size:
        Clients per batched computation. Clients are sorted by step count,
        most first, and cut into groups of this size, so a group's clients
        take similar numbers of steps.

    Returns
    -------
    list[tuple[dict[str, numpy.ndarray], TrainResult]]
        Per client, in input order: its trained parameters (float32, in the
        model's ``state_dict`` order) and what ``train_local`` would report.

    Raises
    ------
    ConfigError
        If a setting is out of range, no client is given, or the model has dropout.
    BlobError
        If ``initial`` does not fit ``model``.
    DataError
        If a client's ``x`` and ``y`` are empty or differ in length.
    """
    if epochs < 1 or lr <= 0.0 or not 0.0 <= momentum < 1.0 or not clients or group_size < 1:
        raise ConfigError(
            f"batched training got epochs={epochs}, lr={lr}, momentum={momentum}, "
            f"{len(clients)} clients, group_size={group_size}",
            "use epochs >= 1, lr > 0, 0 <= momentum < 1, at least one client and group_size >= 1",
        )
    if any(isinstance(layer, nn.Dropout) and layer.p > 0 for layer in model.modules()):
        raise ConfigError("batched training cannot reproduce per-client dropout", "train this model with train_local")
    data = [as_tensors(c.x, c.y, batch_size) for c in clients]
    schedules = [_schedule(len(y), c.seed, epochs, batch_size) for c, (_, y) in zip(clients, data, strict=True)]
    order = sorted(range(len(clients)), key=lambda i: -len(schedules[i]))
    start = check_parameters(model, initial)
    step = vmap(grad_and_value(_masked_loss_fn(model)))
    results: dict[int, tuple[dict[str, np.ndarray], TrainResult]] = {}
    for first in range(0, len(order), group_size):
        group = order[first : first + group_size]
        trained, losses = _train_group(
            step, start, [data[i] for i in group], [schedules[i] for i in group], batch_size, lr, momentum
        )
        for row, i in enumerate(group):
            n, steps = len(data[i][1]), len(schedules[i])
            params = {key: value[row].numpy().copy() for key, value in trained.items()}
            last_epoch = float(losses[row, steps - steps // epochs : steps].sum())
            results[i] = (params, TrainResult(loss=last_epoch / n, num_samples=n, steps=steps))
    return [results[i] for i in range(len(clients))]


def _train_group(
    step: Callable[..., tuple[dict[str, torch.Tensor], torch.Tensor]],
    start: Mapping[str, np.ndarray],
    data: Sequence[tuple[torch.Tensor, torch.Tensor]],
    schedules: Sequence[Sequence[torch.Tensor]],
    batch_size: int,
    lr: float,
    momentum: float,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Run one group's steps (clients sorted by step count, most first).

    Returns the stacked parameters ``(clients, ...)`` and each step's loss
    times its sample count ``(clients, steps)``, float64.
    """
    inputs, targets = _padded(data)
    index, mask = _stacked_schedules(schedules, batch_size)
    active = [int((index[:, t, 0] >= 0).sum()) for t in range(index.shape[1])]
    index.clamp_(min=0)  # padding reads sample 0; the mask drops it from the loss
    stacked = {key: torch.from_numpy(array).expand(len(data), *array.shape).clone() for key, array in start.items()}
    velocity = {key: torch.zeros_like(value) for key, value in stacked.items()} if momentum else {}
    weighted_loss = torch.zeros(len(data), index.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for t, a in enumerate(active):
            rows = torch.arange(a)[:, None]
            x = inputs[rows, index[:a, t]]
            y = targets[rows, index[:a, t]]
            grads, loss = step({k: v[:a] for k, v in stacked.items()}, x, y, mask[:a, t])
            weighted_loss[:a, t] = loss.double() * mask[:a, t].sum(1)
            for key, g in grads.items():
                if momentum:
                    velocity[key][:a].mul_(momentum).add_(g)
                    g = velocity[key][:a]
                stacked[key][:a].sub_(g, alpha=lr)
    return stacked, weighted_loss


def _schedule(n: int, seed: int, epochs: int, batch_size: int) -> list[torch.Tensor]:
    """The client's batches of sample indices over all epochs, as ``train_local`` draws them."""
    order = torch.Generator().manual_seed(seed)
    return [batch for _ in range(epochs) for batch in torch.randperm(n, generator=order).split(batch_size)]


def _padded(data: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """All clients' samples and labels, zero-padded to the largest client: ``(clients, n_max, ...)``."""
    n_max = max(len(y) for _, y in data)
    x0 = data[0][0]
    inputs = torch.zeros(len(data), n_max, *x0.shape[1:], dtype=x0.dtype)
    targets = torch.zeros(len(data), n_max, dtype=torch.int64)
    for row, (x, y) in enumerate(data):
        inputs[row, : len(y)], targets[row, : len(y)] = x, y
    return inputs, targets


def _stacked_schedules(schedules: Sequence[Sequence[torch.Tensor]], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample indices ``(clients, steps, batch_size)`` (-1 where a client has no step) and the float mask of real samples."""
    index = torch.full((len(schedules), len(schedules[0]), batch_size), -1, dtype=torch.int64)
    for row, batches in enumerate(schedules):
        for t, batch in enumerate(batches):
            index[row, t, : len(batch)] = batch
    return index, (index >= 0).float()


def _masked_loss_fn(model: nn.Module) -> Callable[..., torch.Tensor]:
    """The loss of one client's batch as a function of its parameters: mean cross-entropy over unmasked samples."""

    def loss(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, params, (x,))
        return (F.cross_entropy(logits, y, reduction="none") * mask).sum() / mask.sum()

    return loss
