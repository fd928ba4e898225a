"""scikit-learn's 8x8 digits split into non-IID writers: the fastest smoke-test dataset."""

from __future__ import annotations

import numpy as np

from bflc.errors import ConfigError
from bflc.ml.dataset import FederatedDataset, Shard

DIGITS_CLASSES = 10
DIGITS_SHAPE = (1, 8, 8)
_MAX_DRAWS = 1000


def load_digits_writers(
    num_writers: int = 10,
    *,
    seed: int = 0,
    alpha: float = 0.5,
    test_fraction: float = 0.2,
    min_samples: int = 4,
) -> FederatedDataset:
    """Split scikit-learn's ``load_digits`` (1,797 samples) into non-IID writers.

    Label skew follows the usual Dirichlet scheme: for every class, the
    class's samples are divided among the writers in proportions drawn from
    ``Dirichlet(alpha, ..., alpha)``; a draw is repeated until every writer
    holds at least ``min_samples``. Each writer then keeps a random
    ``test_fraction`` of its own samples (at least one) as its test set. Pixels
    are scaled from 0..16 to [0, 1] (ink bright, as in MNIST).

    Parameters
    ----------
    num_writers:
        Number of writers (clients).
    seed:
        Seed of ``numpy.random.default_rng``; the same seed gives the same split.
    alpha:
        Dirichlet concentration; small values (0.1) give few classes per
        writer, large values (100) give nearly IID writers.
    test_fraction:
        Share of each writer's samples held out as its test set, in (0, 1).
    min_samples:
        Fewest samples (train + test) a writer may get, at least 2.

    Returns
    -------
    FederatedDataset
        Named ``"digits"``, input shape ``(1, 8, 8)``, 10 classes, writers
        ``digits-000``, ``digits-001``, ...

    Raises
    ------
    ConfigError
        If a parameter is out of range, or no draw gives every writer
        ``min_samples`` (raise ``alpha`` or lower ``num_writers``).
    """
    # Imported here: scikit-learn takes about a second to import and only this loader needs it.
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0 or alpha <= 0.0 or min_samples < 2 or num_writers < 1:
        raise ConfigError(
            f"digits split got num_writers={num_writers}, alpha={alpha}, "
            f"test_fraction={test_fraction}, min_samples={min_samples}",
            "use num_writers >= 1, alpha > 0, 0 < test_fraction < 1, min_samples >= 2",
        )
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    if num_writers * min_samples > len(y):
        raise ConfigError(
            f"{num_writers} writers of at least {min_samples} samples need more than the {len(y)} digits",
            f"use at most {len(y) // min_samples} writers",
        )
    rng = np.random.default_rng(seed)
    train, test = [], []
    for part in _dirichlet_partition(y, num_writers, alpha, min_samples, rng):
        shuffled = rng.permutation(part)
        num_test = min(len(part) - 1, max(1, round(len(part) * test_fraction)))
        held_out, kept = shuffled[:num_test], shuffled[num_test:]
        test.append(Shard(x[held_out], y[held_out]))
        train.append(Shard(x[kept], y[kept]))
    writers = [f"digits-{i:03d}" for i in range(num_writers)]
    return FederatedDataset("digits", DIGITS_CLASSES, DIGITS_SHAPE, writers, train, test)


def _dirichlet_partition(
    labels: np.ndarray, num_writers: int, alpha: float, min_samples: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Sample indices per writer, each class split by a Dirichlet draw."""
    classes = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for _ in range(_MAX_DRAWS):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_writers)]
        for members in classes:
            shares = rng.dirichlet(np.full(num_writers, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
            for writer, chunk in enumerate(np.split(rng.permutation(members), cuts)):
                parts[writer].append(chunk)
        merged = [np.sort(np.concatenate(chunks)) for chunks in parts]
        if min(len(p) for p in merged) >= min_samples:
            return merged
    raise ConfigError(
        f"no Dirichlet(alpha={alpha}) split in {_MAX_DRAWS} draws gave all {num_writers} writers "
        f"{min_samples} samples",
        "raise alpha or lower num_writers",
    )
