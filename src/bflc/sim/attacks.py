"""What malicious nodes do to their updates (pure functions on flat vectors).

``gaussian`` is the paper's attack: pointwise Gaussian noise. ``sign-flip``
and ``scale`` turn the honest delta around or blow it up. ``label-flip``
poisons the data instead (see :func:`flip_labels`) and leaves the trained
update as it is.
"""

from __future__ import annotations

import numpy as np


def poison_update(attack: str, global_vec: np.ndarray, local_vec: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The vector a malicious node submits instead of ``local_vec``.

    Parameters
    ----------
    attack:
        ``gaussian``: global model plus N(0, strength^2) noise on every weight;
        ``sign-flip``: global minus strength times the honest delta;
        ``scale``: global plus strength times the honest delta;
        ``label-flip``: the update trained on flipped labels, unchanged.
    global_vec, local_vec:
        The round's global model and the honestly trained model, flattened.
    strength:
        Noise std or delta factor.
    rng:
        Source of the Gaussian noise.
    """
    delta = local_vec - global_vec
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: not finite, and the node has no usable update
        if attack == "gaussian":
            return (global_vec + rng.normal(0.0, strength, size=global_vec.shape)).astype(np.float32)
        if attack == "sign-flip":
            return (global_vec - strength * delta).astype(np.float32)
        if attack == "scale":
            return (global_vec + strength * delta).astype(np.float32)
    return local_vec


def flip_labels(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Label-flipping: class c becomes ``num_classes - 1 - c``.

    >>> flip_labels(np.array([0, 1, 9]), 10).tolist()
    [9, 8, 0]
    """
    return (num_classes - 1 - y).astype(y.dtype)
