"""Tiny LEAF JSON files for the loader tests (imported by test modules, not a test itself)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_leaf_file(path: Path, users: dict[str, tuple[list, list]]) -> None:
    """Write one LEAF JSON file; ``users`` maps a user to its (x, y) lists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "users": list(users),
        "num_samples": [len(y) for _, y in users.values()],
        "user_data": {user: {"x": x, "y": y} for user, (x, y) in users.items()},
    }
    path.write_text(json.dumps(doc))


def write_random_leaf_folder(root: Path, writers: int, train: int = 4, test: int = 2, seed: int = 7) -> Path:
    """A LEAF data folder at ``root`` of ``writers`` writers with ``train`` and ``test`` random samples each; returns ``root``."""
    rng = np.random.default_rng(seed)

    def users(samples: int) -> dict:
        return {
            f"f{w:04d}_{w % 100:02d}": (np.round(rng.random((samples, 784)), 2).tolist(), rng.integers(0, 62, samples).tolist())
            for w in range(writers)
        }

    write_leaf_file(root / "train" / "all_data_0_niid_05_keep_0_train_9.json", users(train))
    write_leaf_file(root / "test" / "all_data_0_niid_05_keep_0_test_9.json", users(test))
    return root


def leaf_image(ink: dict[int, float]) -> list[float]:
    """A white 28x28 LEAF image (1.0 everywhere) with the given pixel values."""
    pixels = [1.0] * 784
    for index, value in ink.items():
        pixels[index] = value
    return pixels


TINY_TRAIN = {
    "u2": ([leaf_image({30: 0.25})], [61]),
    "u1": ([leaf_image({0: 0.0}), leaf_image({783: 0.5})], [3, 10]),
    "only_train": ([leaf_image({})], [0]),
}
TINY_TEST = {
    "u1": ([leaf_image({1: 0.75})], [7]),
    "u2": ([leaf_image({})], [36]),
    "only_test": ([leaf_image({})], [1]),
}
