"""Aggregation rules as pure NumPy functions over stacked flat updates.

Every function takes ``updates``, a 2-D float array of shape
``(n_updates, n_params)`` whose rows are flattened models (or deltas), and
returns one aggregated row of shape ``(n_params,)``. All arithmetic is done
in float64 and the result is always float64, whatever float width the
updates arrive in; callers cast back to their model's dtype when encoding.

Results are deterministic bit for bit: committee members on different
machines must produce the same aggregate blob (and hash), so sums are taken
row by row in index order instead of through BLAS, whose reduction order
depends on the CPU kernel and thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from bflc.errors import ConfigError

__all__ = [
    "capped_sample_weights",
    "coordinate_median",
    "fedavg",
    "krum",
    "krum_scores",
    "krum_select",
    "trimmed_mean",
]

_SHAPE_HINT = "pass a finite float array of shape (n_updates, n_params)"


def _as_updates(updates: ArrayLike) -> np.ndarray:
    """Validate ``updates`` and return it as a float64 array."""
    array = np.asarray(updates)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ConfigError(
            f"updates must be a non-empty 2-D array, got shape {array.shape}", _SHAPE_HINT
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ConfigError(f"updates must be a float array, got dtype {array.dtype}", _SHAPE_HINT)
    if not np.isfinite(array).all():
        raise ConfigError("updates contain NaN or Inf", "drop or repair the non-finite updates")
    return array.astype(np.float64, copy=False)


def _as_weights(weights: ArrayLike, n_updates: int) -> np.ndarray:
    """Validate per-update ``weights`` and return them as float64."""
    array = np.asarray(weights)
    hint = f"pass {n_updates} finite non-negative weights (e.g. sample counts), not all zero"
    if array.shape != (n_updates,):
        raise ConfigError(
            f"weights must have shape ({n_updates},) to match the updates, got {array.shape}",
            hint,
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ConfigError(f"weights must be numbers, got dtype {array.dtype}", hint)
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or (array < 0).any():
        raise ConfigError("weights must be finite and non-negative", hint)
    with np.errstate(over="ignore"):  # an overflowing sum is reported below
        total = array.sum()
    if not 0 < total < math.inf:
        raise ConfigError(f"weights must have a positive finite sum, got {total}", hint)
    return array


def _weighted_mean(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum ``weights[i] * rows[i]`` in index order, then divide by the total weight."""
    total = np.zeros(rows.shape[1], dtype=np.float64)
    for row, weight in zip(rows, weights, strict=True):
        total += row * weight
    mean: np.ndarray = total / weights.sum()
    return mean


def fedavg(updates: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """FedAvg: the mean of the updates weighted by ``weights``.

    Parameters
    ----------
    updates:
        Float array of shape ``(n_updates, n_params)``.
    weights:
        Shape ``(n_updates,)``, finite, non-negative, positive sum; usually
        each trainer's number of local samples.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(n_params,)``:
        ``sum_i weights[i] * updates[i] / sum_i weights[i]``, summed in row
        order (the same order as Flower's ``aggregate``).

    Raises
    ------
    ConfigError
        If ``updates`` or ``weights`` are malformed.
    """
    rows = _as_updates(updates)
    return _weighted_mean(rows, _as_weights(weights, rows.shape[0]))


def capped_sample_weights(samples: ArrayLike, cap: float | None) -> np.ndarray:
    """Claimed sample counts as FedAvg weights, each at most ``cap`` times their median.

    A sample count is what a trainer claims; no one can check it. Clipping
    bounds how far one inflated claim can pull the weighted mean: with K
    updates, a single one weighs at most ``cap / (cap + K - 1)`` of the
    aggregate when the others claim the median.

    Parameters
    ----------
    samples:
        Shape ``(n_updates,)``, each update's claimed number of samples.
    cap:
        At least 1; ``None`` leaves the counts as they are.

    Returns
    -------
    numpy.ndarray
        Float64 weights: ``min(samples[i], cap * median(samples))``.

    Raises
    ------
    ConfigError
        If ``cap`` is below 1 or ``samples`` is not a non-empty 1-D array of
        finite non-negative numbers.
    """
    counts = np.asarray(samples, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or not np.isfinite(counts).all() or (counts < 0).any():
        raise ConfigError("sample counts must be a non-empty list of finite non-negative numbers", _SHAPE_HINT)
    if cap is None:
        return counts
    if not cap >= 1:
        raise ConfigError(f"sample cap must be at least 1, got {cap}", "use e.g. 4 (four times the median count), or no cap")
    return np.minimum(counts, cap * float(np.median(counts)))


def coordinate_median(updates: ArrayLike) -> np.ndarray:
    """Coordinate-wise median (for an even count, the mean of the two middle values).

    Raises
    ------
    ConfigError
        If ``updates`` is not a non-empty finite 2-D float array.
    """
    median: np.ndarray = np.median(_as_updates(updates), axis=0)
    return median


def trimmed_mean(updates: ArrayLike, beta: float) -> np.ndarray:
    """Coordinate-wise trimmed mean.

    For each coordinate, drop the ``floor(beta * n)`` smallest and the
    ``floor(beta * n)`` largest values and average the rest; this equals
    ``scipy.stats.trim_mean(updates, beta, axis=0)``, the rule behind
    Flower's ``aggregate_trimmed_avg``.

    Parameters
    ----------
    updates:
        Float array of shape ``(n_updates, n_params)``.
    beta:
        Fraction cut from each end, ``0 <= beta < 0.5``.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(n_params,)``.

    Raises
    ------
    ConfigError
        If ``updates`` is malformed or ``beta`` is outside ``[0, 0.5)``.
    """
    if not 0 <= beta < 0.5:
        raise ConfigError(f"trimmed-mean beta must be in [0, 0.5), got {beta}", "use e.g. 0.1")
    rows = np.sort(_as_updates(updates), axis=0)
    n_updates = rows.shape[0]
    cut = math.floor(beta * n_updates)
    kept = rows[cut : n_updates - cut]
    return _weighted_mean(kept, np.ones(kept.shape[0]))


def krum_scores(updates: ArrayLike, num_malicious: int) -> np.ndarray:
    """Krum score of every update (Blanchard et al., 2017).

    The score of update ``i`` is the sum of squared Euclidean distances from
    it to its ``n - f - 2`` closest other updates, where ``n`` is the number
    of updates and ``f = num_malicious``. Lower is more central.

    Parameters
    ----------
    updates:
        Float array of shape ``(n_updates, n_params)``.
    num_malicious:
        Number of Byzantine updates ``f`` to tolerate; Krum needs
        ``n > 2 f + 2``.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(n_updates,)``.

    Raises
    ------
    ConfigError
        If ``updates`` is malformed, ``num_malicious`` is negative, or there
        are too few updates for ``num_malicious``.
    """
    rows = _as_updates(updates)
    n_updates = rows.shape[0]
    if isinstance(num_malicious, bool) or not isinstance(num_malicious, (int, np.integer)):
        raise ConfigError(f"num_malicious must be an integer, got {num_malicious!r}")
    if num_malicious < 0:
        raise ConfigError(f"num_malicious must be >= 0, got {num_malicious}")
    if n_updates <= 2 * num_malicious + 2:
        raise ConfigError(
            f"Krum needs more than 2*f + 2 = {2 * num_malicious + 2} updates "
            f"to tolerate f = {num_malicious} malicious ones, got {n_updates}",
            "collect more updates or lower num_malicious",
        )
    distances = np.zeros((n_updates, n_updates))
    for i in range(n_updates - 1):
        to_later = np.square(rows[i + 1 :] - rows[i]).sum(axis=1)
        distances[i, i + 1 :] = to_later
        distances[i + 1 :, i] = to_later
    num_closest = n_updates - num_malicious - 2
    to_others = np.sort(distances, axis=1)[:, 1:]  # column 0 is the distance to itself
    scores: np.ndarray = to_others[:, :num_closest].sum(axis=1)
    return scores


def krum_select(updates: ArrayLike, num_malicious: int, num_selected: int = 1) -> np.ndarray:
    """Indices of the ``num_selected`` updates with the lowest Krum scores.

    Returns
    -------
    numpy.ndarray
        Int64 indices ordered by score, ties broken by lower index first.

    Raises
    ------
    ConfigError
        As :func:`krum_scores`, or if ``num_selected`` is not in
        ``[1, n_updates]``.
    """
    scores = krum_scores(updates, num_malicious)
    if isinstance(num_selected, bool) or not isinstance(num_selected, (int, np.integer)):
        raise ConfigError(f"num_selected must be an integer, got {num_selected!r}")
    if not 1 <= num_selected <= scores.shape[0]:
        raise ConfigError(
            f"num_selected must be between 1 and the {scores.shape[0]} updates, got {num_selected}"
        )
    return np.argsort(scores, kind="stable")[:num_selected].astype(np.int64)


def krum(
    updates: ArrayLike,
    num_malicious: int,
    num_selected: int = 1,
    weights: ArrayLike | None = None,
) -> np.ndarray:
    """Krum (``num_selected == 1``) or Multi-Krum (``num_selected > 1``).

    Parameters
    ----------
    updates:
        Float array of shape ``(n_updates, n_params)``.
    num_malicious:
        Number of Byzantine updates ``f`` to tolerate (``n > 2 f + 2``).
    num_selected:
        How many lowest-score updates to keep (see :func:`krum_select`).
    weights:
        Optional per-update weights of shape ``(n_updates,)``, e.g. sample
        counts, used for the Multi-Krum mean of the selected updates; equal
        weights when omitted. Ignored when ``num_selected == 1``.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(n_params,)``: the selected update itself
        for Krum, the (weighted) mean of the selected updates for Multi-Krum.

    Raises
    ------
    ConfigError
        As :func:`krum_select` and :func:`fedavg`.
    """
    rows = _as_updates(updates)
    selected = krum_select(rows, num_malicious, num_selected)
    if num_selected == 1:
        chosen: np.ndarray = rows[selected[0]].copy()
        return chosen
    n_updates = rows.shape[0]
    all_weights = np.ones(n_updates) if weights is None else _as_weights(weights, n_updates)
    return fedavg(rows[selected], all_weights[selected])
