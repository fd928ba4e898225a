"""Defences against targeted poisoning that need no clean data, as pure NumPy functions.

A backdoor keeps an update's accuracy on clean data, so the committee's
score alone lets it in (docs/decisions/0010-coalition-screen.md). What gives
backdoored updates away is that their trainers share one extra goal: each
update is its trainer's own clean progress plus a common push towards the
trigger. Honest non-IID updates differ from the round's robust centre (the
coordinate-wise median change) in directions of their own, nearly
orthogonal to each other; the attackers' differences share the push, so
they point the same way. Three functions act on that:

* :func:`coalition_screen`, run by every committee member over all the
  round's updates before scoring: an update whose difference from the centre
  is too similar to another's is flagged and scores 0. Members need not
  agree bit for bit: the median of their scores decides.
* :func:`push_screen`, run before it: the screen's memory. The residuals of
  updates the committee rejected in earlier rounds
  (:func:`suspect_directions`) are directions a coalition pushed in; an
  update whose change goes far along one of them is flagged even when it is
  the round's only attacker, or when attackers hold most of the round and
  own its median.
* :func:`clip_to_median_norm`, run inside aggregation: each qualified
  change is scaled down to the median length, so a boosted update weighs no
  more than an ordinary one. It is deterministic across machines (exact
  sums), since every member must build the same model.

Every function takes ``deltas``, a 2-D float array of shape
``(n_updates, n_params)`` whose rows are each update minus the global model
it started from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from bflc.errors import ConfigError

__all__ = [
    "Screen",
    "clip_to_median_norm",
    "coalition_screen",
    "corroborated",
    "exact_norms",
    "push_screen",
    "residual_similarity",
    "screen_threshold",
    "suspect_directions",
]

# Fewer updates than this are not screened: with two, each is the other's
# only neighbour and their median is their mean.
MIN_SCREENED = 3


def _as_deltas(deltas: ArrayLike) -> np.ndarray:
    """Validate ``deltas`` and return them as float64."""
    array = np.asarray(deltas)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ConfigError(f"deltas must be a non-empty 2-D array, got shape {array.shape}", "pass one flat change per row")
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise ConfigError("deltas must be finite floats", "drop the non-finite updates first")
    return array.astype(np.float64, copy=False)


def _lengths(rows: np.ndarray) -> np.ndarray:
    """The Euclidean length of each row (BLAS sums: for screening, not for what members must agree on bit for bit)."""
    lengths: np.ndarray = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    return lengths


def _unit_residuals(rows: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Each row less ``centre`` (the coordinate-wise median row), scaled to length 1 (a zero residual stays zero)."""
    residuals = rows - centre
    lengths = _lengths(residuals)
    units: np.ndarray = np.divide(residuals, lengths[:, None], out=np.zeros_like(residuals), where=lengths[:, None] > 0)
    return units


def residual_similarity(deltas: ArrayLike) -> np.ndarray:
    """Cosine similarity of every pair of updates' differences from the round's centre.

    The centre is the coordinate-wise median of ``deltas``; each row's
    residual is the row minus the centre. A residual of length 0 (an update
    equal to the centre) is similar to nothing.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, n)``, values in ``[-1, 1]``, the diagonal set to ``-1``
        (an update is not its own partner). Here rows 1 and 3 made the same change:

    >>> residual_similarity([[2.0, 0, 0], [0, 2, 0], [0, 0, 2], [0, 2, 0]]).round(2).tolist()
    [[-1.0, -0.45, 0.2, -0.45], [-0.45, -1.0, -0.45, 1.0], [0.2, -0.45, -1.0, -0.45], [-0.45, 1.0, -0.45, -1.0]]
    """
    rows = _as_deltas(deltas)
    units = _unit_residuals(rows, np.median(rows, axis=0))
    similarity: np.ndarray = np.clip(units @ units.T, -1.0, 1.0)
    np.fill_diagonal(similarity, -1.0)
    return similarity


@dataclass(frozen=True)
class Screen:
    """The coalition screen's verdict on one round's updates.

    ``flagged`` holds the positions of the flagged updates, ascending;
    ``similarity[i]`` is update ``i``'s largest residual similarity to
    another update, ``partner[i]`` that update's position; ``threshold`` is
    the similarity above which an update was flagged (``inf`` when the
    round was too small to screen).
    """

    flagged: list[int]
    similarity: list[float]
    partner: list[int]
    threshold: float


# The screen's bar sits this many robust standard deviations (1.4826 MAD)
# above the median similarity of the round's pairs ...
SCREEN_SPREAD = 4.0
# ... but never below this: a round of very diverse honest updates must not
# turn ordinary neighbours into suspects.
SCREEN_FLOOR = 0.1


def screen_threshold(similarity: np.ndarray, max_similarity: float) -> float:
    """The similarity above which :func:`coalition_screen` flags an update.

    ``min(max_similarity, max(SCREEN_FLOOR, median + SCREEN_SPREAD * 1.4826 * MAD))``
    over the round's pairs (the upper triangle of ``similarity``): most
    pairs of a round are honest ones, nearly orthogonal, so their median and
    spread say how close honest updates come this round; early in training
    they come closer, and ``max_similarity`` caps the bar there.
    """
    pairs = similarity[np.triu_indices(similarity.shape[0], 1)]
    median = float(np.median(pairs))
    spread = 1.4826 * float(np.median(np.abs(pairs - median)))
    return min(max_similarity, max(SCREEN_FLOOR, median + SCREEN_SPREAD * spread))


def coalition_screen(deltas: ArrayLike, max_similarity: float) -> Screen:
    """Flag the updates whose difference from the round's centre is shared with another update.

    Update ``i`` is flagged when its largest residual similarity to another
    update (:func:`residual_similarity`) is above the round's bar
    (:func:`screen_threshold`), at most ``max_similarity``.

    Parameters
    ----------
    deltas:
        Each update minus the global model, shape ``(n_updates, n_params)``.
    max_similarity:
        In ``(0, 1]``: any update with a larger similarity is flagged.

    Returns
    -------
    Screen
        Nothing is flagged with fewer than :data:`MIN_SCREENED` updates.

    Raises
    ------
    ConfigError
        If ``deltas`` is malformed or ``max_similarity`` out of range.

    Six honest updates that each change a parameter of their own, and two
    that change the same two parameters:

    >>> honest = np.eye(8)[:6].tolist()
    >>> screen = coalition_screen(honest + [[0, 0, 0, 0, 0, 0, 2, 2], [0, 0, 0, 0, 0, 0, 2, 2.2]], 0.35)
    >>> screen.flagged, screen.partner[6:], screen.threshold
    ([6, 7], [7, 6], 0.1)
    """
    if not 0 < max_similarity <= 1:
        raise ConfigError(f"max_similarity must be in (0, 1], got {max_similarity}", "use e.g. 0.25")
    rows = _as_deltas(deltas)
    n = rows.shape[0]
    if n < MIN_SCREENED:
        return Screen([], [-1.0] * n, [-1] * n, math.inf)
    similarity = residual_similarity(rows)
    partner = similarity.argmax(axis=1)
    largest = similarity[np.arange(n), partner]
    threshold = screen_threshold(similarity, max_similarity)
    flagged = [i for i in range(n) if largest[i] > threshold]
    return Screen(flagged, [float(s) for s in largest], [int(p) for p in partner], threshold)


# A residual whose cosine with its round's median change is larger than this
# (either sign) is not remembered: it follows the round's common progress,
# which every honest update of the next rounds shares, so a coalition could
# have every honest update flagged by getting such an update rejected.
MAX_PROGRESS_COSINE = 0.3


def suspect_directions(deltas: ArrayLike, rejected: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """The directions that the rejected updates of a round pushed in, for :func:`push_screen`.

    Each rejected row's residual (the row less the round's coordinate-wise
    median change), scaled to length 1. A residual is left out when it is
    zero or when its cosine with the median change is above
    :data:`MAX_PROGRESS_COSINE` in size.

    Parameters
    ----------
    deltas:
        Every update of the round, as changes from its global model.
    rejected:
        Positions of the updates the committee rejected.

    Returns
    -------
    tuple
        The positions kept, ascending, and their unit residuals, one row each.

    Three updates, one of them (2) rejected: its residual ``[-0.5, 0, 3]``
    is mostly the third coordinate, nearly orthogonal to the median change:

    >>> kept, units = suspect_directions([[1.0, 0, 0], [1, 0.1, 0], [0.5, 0, 3]], [2])
    >>> kept, units.round(3).tolist()
    ([2], [[-0.164, 0.0, 0.986]])
    """
    rows = _as_deltas(deltas)
    if any(not 0 <= k < rows.shape[0] for k in rejected):
        raise ConfigError("a rejected position is not a row of deltas", "pass positions of the rows")
    centre = np.median(rows, axis=0)
    units = _unit_residuals(rows, centre)
    length = float(np.sqrt(centre @ centre))
    progress = units @ centre / length if length > 0 else np.zeros(rows.shape[0])
    kept = [k for k in sorted(set(rejected)) if units[k].any() and abs(progress[k]) <= MAX_PROGRESS_COSINE]
    return kept, units[kept]


# A remembered direction counts once another provider's rejected update went
# nearly the same way (cosine above this): a coalition's pushes resemble each
# other across rounds, while an honest update rejected by mistake has a
# direction of its own, which would otherwise get that writer's (and similar
# writers') next updates rejected too.
MIN_CORROBORATION = 0.25


def corroborated(directions: ArrayLike, providers: Sequence[str]) -> list[int]:
    """The positions of the ``directions`` (unit rows) with a cosine above :data:`MIN_CORROBORATION` to another provider's.

    >>> corroborated([[1.0, 0, 0], [0.8, 0.6, 0], [0, 0, 1]], ["a", "b", "c"])
    [0, 1]
    >>> corroborated([[1.0, 0, 0], [0.8, 0.6, 0]], ["a", "a"])  # one provider alone corroborates nothing
    []
    """
    units = _as_deltas(directions)
    if len(providers) != units.shape[0]:
        raise ConfigError("one provider per direction is needed", "pass the providers in the directions' order")
    cosine = units @ units.T
    owners = np.array(providers)
    cosine[owners[:, None] == owners[None, :]] = -np.inf
    return [int(k) for k in np.flatnonzero(cosine.max(axis=1) > MIN_CORROBORATION)]


def push_screen(deltas: ArrayLike, suspects: ArrayLike, max_push: float, exclude: ArrayLike | None = None) -> Screen:
    """Flag the updates whose change goes far along a remembered suspect direction.

    Update ``i``'s push along direction ``j`` is ``<deltas[i], suspects[j]>``
    in units of the round's median change length; update ``i`` is flagged
    when its largest push is above ``max_push``. Raw changes, not
    residuals, are projected: the round's median plays no part, so a
    coalition that holds most of the round cannot move the bar.

    Parameters
    ----------
    deltas:
        The round's updates as changes from the global model, shape ``(n, p)``.
    suspects:
        Unit directions (:func:`suspect_directions` of earlier rounds), shape ``(s, p)``.
    max_push:
        Above this, in median change lengths, an update is flagged.
    exclude:
        Optional boolean ``(n, s)``: pairs not compared (an update is not
        held against its own provider's earlier updates).

    Returns
    -------
    Screen
        ``similarity[i]`` holds update ``i``'s largest push (0 when none is
        positive), ``partner[i]`` the suspect's position (-1 then),
        ``threshold`` is ``max_push``.

    Raises
    ------
    ConfigError
        If an array is malformed or ``max_push`` is not positive.

    The second update goes 0.98 median lengths (of 1.02) along the suspect direction:

    >>> screen = push_screen([[1.0, 0, 0], [1, 0, 1], [1, 0.2, 0]], [[0, 0, 1.0]], 0.2)
    >>> screen.flagged, [round(p, 2) for p in screen.similarity], screen.partner
    ([1], [0.0, 0.98, 0.0], [-1, 0, -1])
    """
    if not max_push > 0:
        raise ConfigError(f"max_push must be positive, got {max_push}", "use e.g. 0.2")
    rows = _as_deltas(deltas)
    directions = _as_deltas(suspects)
    if directions.shape[1] != rows.shape[1]:
        raise ConfigError("suspects and deltas differ in length", "remember directions of the same model")
    n = rows.shape[0]
    scale = float(np.median(_lengths(rows)))
    along = rows @ directions.T / scale if scale > 0 else np.zeros((n, directions.shape[0]))
    if exclude is not None:
        mask = np.asarray(exclude, dtype=bool)
        if mask.shape != along.shape:
            raise ConfigError(f"exclude must have shape {along.shape}, got {mask.shape}", "one row per update, one column per suspect")
        along = np.where(mask, -np.inf, along)
    partner = along.argmax(axis=1)
    largest = along[np.arange(n), partner]
    positive = largest > 0
    push = np.where(positive, largest, 0.0)
    return Screen(
        [i for i in range(n) if push[i] > max_push],
        [float(p) for p in push],
        [int(j) if positive[i] else -1 for i, j in enumerate(partner)],
        max_push,
    )


def exact_norms(deltas: ArrayLike) -> np.ndarray:
    """Euclidean length of each row, correctly rounded (``math.fsum``), the same on every machine.

    >>> exact_norms([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [5.0, 0.0]
    """
    rows = _as_deltas(deltas)
    return np.array([math.sqrt(math.fsum((row * row).tolist())) for row in rows])


def clip_to_median_norm(deltas: ArrayLike, multiple: float = 1.0) -> np.ndarray:
    """Each row scaled down to at most ``multiple`` times the median row length (shorter rows stay as they are).

    Deterministic bit for bit: the lengths are exact sums and the scaling is
    elementwise, so every committee member clips alike.

    Raises
    ------
    ConfigError
        If ``deltas`` is malformed or ``multiple`` is below 1.

    Returns
    -------
    numpy.ndarray
        Float64, the shape of ``deltas``.

    >>> clip_to_median_norm([[3.0, 4.0], [0.0, 1.0], [0.0, 2.0]]).tolist()
    [[1.2000000000000002, 1.6], [0.0, 1.0], [0.0, 2.0]]
    """
    if not multiple >= 1:
        raise ConfigError(f"the clipping multiple must be at least 1, got {multiple}", "use e.g. 1 (the median length)")
    rows = _as_deltas(deltas)
    norms = exact_norms(rows)
    bound = multiple * float(np.median(norms))
    factors = np.ones_like(norms)
    over = norms > bound
    factors[over] = bound / norms[over]
    clipped: np.ndarray = rows * factors[:, None]
    return clipped
