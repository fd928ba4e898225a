"""Attacks a user brings as module:function (loaded by tests of --attack)."""

from __future__ import annotations

import numpy as np


def backwards(global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """The honest delta turned around and scaled by ``strength``."""
    return global_vector - strength * (local_vector - global_vector)


def too_short(global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A broken attack: a vector of the wrong size."""
    return global_vector[:3]


NOT_CALLABLE = 3


def free_ride(global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A free rider: sends the global model back unchanged."""
    return global_vector
