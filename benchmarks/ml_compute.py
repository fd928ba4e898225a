"""Committee scoring and client training: batched against one-by-one, and scoring against the CPU's peak.

1. Scoring: K candidates (random initialisations) scored on FEMNIST writer
   0's first 200 training samples (the simulator's ``max_validation_samples``)
   by :func:`bflc.ml.scoring.score_candidates` (batched) and
   :func:`bflc.ml.scoring.score_candidates_sequential` (one by one), checked
   equal. The model's FLOPs per sample are counted layer by layer (a
   multiply-add is 2 FLOPs); each layer's peak FLOP/s is measured with torch
   at the layer's own shapes on a large batch (convolutions channels-last on
   256 samples, dense layers on 512). The fraction of peak is the time the
   layers would take at their peaks over the measured time.
2. Training: FEMNIST's first ``clients`` writers trained from one global
   model (1 epoch, batch 10, lr 0.05) one after another with
   :func:`bflc.ml.train.train_local` and batched with
   :func:`batched_train.train_clients` (benchmarks/batched_train.py) (default groups, and all
   clients in one group); the largest weight difference is reported.

All on one torch thread, the simulator's default. Methods alternate in every
repeat; the best repeat counts.

Run: .venv/bin/python benchmarks/ml_compute.py [--quick]
Writes benchmarks/results/ml_compute.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from batched_train import ClientData, train_clients
from bflc.ml.data import load_dataset
from bflc.ml.dataset import FederatedDataset
from bflc.ml.models import build_model, get_parameters, set_parameters
from bflc.ml.scoring import score_candidates, score_candidates_sequential
from bflc.ml.train import train_local
from common import interleaved, op_profile, write_result

SAMPLES = 200
CONV_BATCH, DENSE_BATCH = 256, 512


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Each Conv2d and Linear layer with the shape of its input for one sample."""
    shapes: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    hooks = [
        layer.register_forward_hook(lambda layer, inputs, _, name=name: shapes.append((name, layer, tuple(inputs[0].shape[1:]))))
        for name, layer in model.named_modules()
        if isinstance(layer, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for hook in hooks:
        hook.remove()
    return shapes


def flops_per_sample(layer: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-adds times 2 of one sample through ``layer`` (biases and activations not counted)."""
    if isinstance(layer, nn.Linear):
        return 2 * layer.in_features * layer.out_features
    _, height, width = F.conv2d(torch.zeros(1, *shape), layer.weight, None, layer.stride, layer.padding).shape[1:]
    kernel = layer.weight.shape[1] * layer.weight.shape[2] * layer.weight.shape[3]
    return 2 * kernel * layer.out_channels * height * width


def peak_flops(layer: nn.Module, shape: tuple[int, ...], repeats: int) -> float:
    """Best FLOP/s of the layer's operation at its shapes on a large batch."""
    batch = DENSE_BATCH if isinstance(layer, nn.Linear) else CONV_BATCH
    x = torch.randn(batch, *shape)
    weight, bias = layer.weight.detach(), layer.bias.detach()
    if isinstance(layer, nn.Linear):
        run = lambda: F.linear(x, weight, bias)  # noqa: E731
    else:
        x = x.to(memory_format=torch.channels_last)
        run = lambda: F.conv2d(x, weight, bias, layer.stride, layer.padding)  # noqa: E731
    with torch.inference_mode():
        run()
        best = interleaved({"op": run}, repeats)["op"]["best_s"]
    return flops_per_sample(layer, shape) * batch / best


def matmul_peak(repeats: int, size: int = 2048) -> float:
    """Best FLOP/s of a square fp32 matrix product (the CPU's dense peak, for reference)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = interleaved({"mm": lambda: a @ b}, repeats)["mm"]["best_s"]
    return 2 * size**3 / best


def bench_scoring(name: str, data: FederatedDataset, k: int, repeats: int) -> dict[str, Any]:
    """Batched vs sequential scoring of ``k`` candidates, and the batched time against the layers' peaks."""
    x, y = data.train_of(0)
    x, y = x[:SAMPLES], y[:SAMPLES]
    model = build_model(name, data.input_shape, data.num_classes, seed=0)
    candidates = [get_parameters(build_model(name, data.input_shape, data.num_classes, seed=s)) for s in range(k)]
    batched, sequential = score_candidates(model, candidates, x, y), score_candidates_sequential(model, candidates, x, y)
    assert np.array_equal(batched.correct, sequential.correct)
    assert np.allclose(batched.loss, sequential.loss, rtol=1e-5)
    methods = {
        "sequential": lambda: score_candidates_sequential(model, candidates, x, y),
        "batched": lambda: score_candidates(model, candidates, x, y),
    }
    timed = interleaved(methods, repeats)
    layers = []
    for layer_name, layer, shape in layer_shapes(model, data.input_shape):
        flops = flops_per_sample(layer, shape)
        peak = peak_flops(layer, shape, repeats)
        layers.append({"layer": layer_name, "flops_per_sample": flops, "peak_flops_per_s": peak})
    work = len(y) * k
    ideal_s = sum(layer["flops_per_sample"] * work / layer["peak_flops_per_s"] for layer in layers)
    model_flops = sum(layer["flops_per_sample"] for layer in layers)
    best = {method: t["best_s"] for method, t in timed.items()}
    return {
        "model": name,
        "k": k,
        "samples": len(y),
        "seconds": best,
        "timings": timed,
        "speedup": best["sequential"] / best["batched"],
        "flops_per_sample": model_flops,
        "layers": layers,
        "achieved_flops_per_s": {method: model_flops * work / s for method, s in best.items()},
        "ideal_seconds_at_layer_peaks": ideal_s,
        "fraction_of_peak": {method: ideal_s / s for method, s in best.items()},
        "profile": {method: op_profile(run, top=12) for method, run in methods.items()},
    }


def bench_training(name: str, data: FederatedDataset, clients: int, repeats: int) -> dict[str, Any]:
    """Sequential vs batched local training of ``clients`` clients from one global model."""
    model = build_model(name, data.input_shape, data.num_classes, seed=0)
    initial = get_parameters(model)
    shards = [ClientData(*data.train_of(i), seed=i) for i in range(clients)]
    settings = {"epochs": 1, "batch_size": 10, "lr": 0.05}

    def sequential() -> list[dict[str, np.ndarray]]:
        out = []
        for client in shards:
            set_parameters(model, initial)
            train_local(model, client.x, client.y, seed=client.seed, **settings)
            out.append(get_parameters(model))
        return out

    def batched(group_size: int | None = None) -> list[dict[str, np.ndarray]]:
        extra = {} if group_size is None else {"group_size": group_size}
        return [params for params, _ in train_clients(model, initial, shards, **settings, **extra)]

    reference, result = sequential(), batched()
    max_diff = max(float(np.abs(a[key] - b[key]).max()) for a, b in zip(reference, result, strict=True) for key in a)
    methods = {"sequential": sequential, "batched": batched, "batched_one_group": lambda: batched(clients)}
    timed = interleaved(methods, repeats)
    best = {method: t["best_s"] for method, t in timed.items()}
    return {
        "model": name,
        "clients": clients,
        "samples": sum(len(c.y) for c in shards),
        "settings": settings,
        "seconds": best,
        "timings": timed,
        "speedup": best["sequential"] / best["batched"],
        "speedup_one_group": best["sequential"] / best["batched_one_group"],
        "max_abs_weight_difference": max_diff,
        "profile": {method: op_profile(methods[method], top=12) for method in ("sequential", "batched")},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer models and repeats")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 2 if args.quick else 4
    models = ["cnn"] if args.quick else ["cnn", "leaf-cnn"]
    data = load_dataset("femnist")
    started = time.perf_counter()
    result = {
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "matmul_peak_flops_per_s": matmul_peak(repeats),
        "scoring": [bench_scoring(name, data, 30, repeats) for name in models],
        "training": [bench_training(name, data, 30, repeats) for name in ["mlp", *models]],
    }
    result["seconds"] = time.perf_counter() - started
    write_result("ml_compute", result)
    for row in result["scoring"]:
        print("scoring", row["model"], row["seconds"], f"{row['speedup']:.2f}x", row["fraction_of_peak"])
    for row in result["training"]:
        print("training", row["model"], row["seconds"], f"{row['speedup']:.2f}x", row["max_abs_weight_difference"])
    return result


if __name__ == "__main__":
    main()
