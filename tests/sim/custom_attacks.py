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


class CornerPixel:
    """A user's backdoor: every sample gets its top-left pixel set to 1 and label 1; it declares its trigger to be measured."""

    target_class = 1
    poisons_data = True

    def stamp(self, x: np.ndarray) -> np.ndarray:
        """The images with the top-left pixel of every channel set to 1."""
        stamped = x.copy()
        stamped[..., 0, 0] = 1.0
        return stamped

    def poison_data(self, x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Every sample stamped and relabelled to the target."""
        return self.stamp(x), np.full_like(y, self.target_class)

    def poison_update(self, global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The update as trained."""
        return local_vector


CORNER_PIXEL = CornerPixel()
