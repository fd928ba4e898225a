"""Flower's side of benchmarks/flower_compare.py: a ClientApp training with bflc's
``train_local`` and a ServerApp running Flower's FedAvg, both importable so that
Ray's workers can unpickle them."""

from __future__ import annotations

import time
import warnings
from functools import cache
from typing import Any

import numpy as np
import torch

from bflc.ml.dataset import FederatedDataset
from bflc.ml.models import build_model, get_parameters
from bflc.ml.train import evaluate, train_local
from bflc.seeds import derive_seed
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from flwr.client import ClientApp, NumPyClient
    from flwr.common import Context, ndarrays_to_parameters
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
    from flwr.server.strategy import FedAvg


@cache
def dataset_of(nodes: int) -> FederatedDataset:
    """FEMNIST cut to its first ``nodes`` writers, loaded once per process."""
    return load_nodes_dataset(SimConfig.create(nodes=nodes))


def _load(model: torch.nn.Module, parameters: list[np.ndarray]) -> None:
    model.load_state_dict({key: torch.from_numpy(value) for key, value in zip(model.state_dict(), parameters, strict=True)})


class FemnistClient(NumPyClient):
    """FEMNIST writer ``writer`` training ``config.model`` as the simulator's FedAvg does."""

    def __init__(self, config: SimConfig, writer: int) -> None:
        self.config, self.writer = config, writer

    def fit(self, parameters: list[np.ndarray], fit_config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict]:
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        data = dataset_of(cfg.nodes)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        _load(model, parameters)
        x, y = data.train_of(self.writer)
        seed = derive_seed(cfg.seed, int(fit_config["round"]), self.writer)
        train_local(model, x, y, epochs=cfg.training.local_epochs, batch_size=cfg.training.batch_size, lr=cfg.training.lr, momentum=cfg.training.momentum, seed=seed)
        return list(get_parameters(model).values()), len(y), {}


def client_app(config: SimConfig) -> ClientApp:
    """Flower's ClientApp: supernode ``i`` is FEMNIST writer ``i``."""

    def client_fn(context: Context) -> Any:
        return FemnistClient(config, int(context.node_config["partition-id"])).to_client()

    return ClientApp(client_fn=client_fn)


def server_app(config: SimConfig, dataset: FederatedDataset, stamps: list[float]) -> ServerApp:
    """Flower's FedAvg over ``active_fraction`` of the nodes a round, evaluating centrally
    on the pooled test data after each round and appending the time to ``stamps``."""
    model = build_model(config.model, dataset.input_shape, dataset.num_classes, seed=config.seed)
    test_x, test_y = dataset.pooled_test()
    clients = round(config.active_fraction * config.nodes)

    def evaluate_fn(server_round: int, parameters: list[np.ndarray], _: dict) -> tuple[float, dict]:
        _load(model, parameters)
        loss, accuracy = evaluate(model, test_x, test_y)
        if server_round > 0:
            stamps.append(time.perf_counter())
        return loss, {"accuracy": accuracy}

    def server_fn(_: Context) -> ServerAppComponents:
        strategy = FedAvg(
            fraction_fit=clients / config.nodes,
            fraction_evaluate=0.0,
            min_fit_clients=clients,
            min_available_clients=config.nodes,
            evaluate_fn=evaluate_fn,
            on_fit_config_fn=lambda r: {"round": r - 1},
            initial_parameters=ndarrays_to_parameters(list(get_parameters(model).values())),
            accept_failures=False,
        )
        return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=config.rounds))

    return ServerApp(server_fn=server_fn)
