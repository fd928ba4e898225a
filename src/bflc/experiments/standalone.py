"""Stand-alone training: one model trained centrally on every writer's data.

Table 1's upper reference. It uses the federated runs' model and SGD settings
(batch size, learning rate, momentum) and the same global test set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from bflc.ml.dataset import FederatedDataset
from bflc.ml.models import build_model
from bflc.ml.train import evaluate, train_local
from bflc.seeds import derive_seed
from bflc.sim.config import SimConfig
from bflc.sim.metrics import model_quality


def stand_alone_epochs(config: SimConfig) -> int:
    """Epochs over the pooled data that match the compute of FedAvg under ``config``.

    Each round FedAvg trains ``active_fraction`` of the writers for
    ``local_epochs`` passes over their own shards: in expectation
    ``active_fraction * local_epochs`` passes over the pooled data. Over
    ``rounds`` rounds that is ``rounds * local_epochs * active_fraction``
    epochs, rounded (at least one). BFLC trains less, since committee
    members do not train in their round.
    """
    return max(1, round(config.rounds * config.training.local_epochs * config.active_fraction))


def train_stand_alone(
    config: SimConfig,
    dataset: FederatedDataset,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``config.model`` on ``dataset.pooled_train()`` and test after each epoch.

    Returns a result shaped like a simulation's: ``config``, ``epochs``,
    ``rounds`` (one entry per epoch, ``round`` being the epoch index, with
    ``accuracy``, ``loss`` and ``diverged`` on ``dataset.pooled_test()``, as
    :func:`bflc.sim.metrics.model_quality` records them),
    ``final_accuracy``, ``best_accuracy`` and ``seconds``. Torch runs with
    ``config.threads`` threads, as in :func:`bflc.sim.engine.simulate`.
    """
    started = time.perf_counter()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        model = build_model(config.model, dataset.input_shape, dataset.num_classes, seed=config.seed)
        x, y = dataset.pooled_train()
        test_x, test_y = dataset.pooled_test()
        rounds: list[dict[str, Any]] = []
        for epoch in range(stand_alone_epochs(config)):
            train_local(
                model,
                x,
                y,
                epochs=1,
                batch_size=config.training.batch_size,
                lr=config.training.lr,
                momentum=config.training.momentum,
                seed=derive_seed(config.seed, epoch),
            )
            accuracy, loss, diverged = model_quality(*evaluate(model, test_x, test_y))
            rounds.append({"round": epoch, "accuracy": accuracy, "loss": loss, "diverged": diverged})
            if on_epoch:
                on_epoch(rounds[-1])
    finally:
        torch.set_num_threads(threads_before)
    return {
        "config": config.to_dict(),
        "epochs": len(rounds),
        "train_samples": len(y),
        "rounds": rounds,
        "final_accuracy": rounds[-1]["accuracy"],
        "best_accuracy": max(m["accuracy"] for m in rounds),
        "seconds": {"total": round(time.perf_counter() - started, 3)},
    }
