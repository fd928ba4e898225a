"""The federated dataset: one train and one test shard per writer (client)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bflc.errors import ConfigError, DataError


class Shard(NamedTuple):
    """Samples of one writer (or a pool of writers).

    ``x`` is float32 of shape ``(n, C, H, W)`` with bright ink on a zero
    background; ``y`` is int64 of shape ``(n,)``. Unpacks as ``x, y = shard``.
    """

    x: np.ndarray
    y: np.ndarray

    @property
    def num_samples(self) -> int:
        """Number of samples in the shard."""
        return len(self.y)


@dataclass(frozen=True, eq=False)
class FederatedDataset:
    """Per-writer train and test data, checked for consistency on creation.

    Compared by identity (``eq=False``): element-wise array comparison has no
    single truth value.

    Parameters
    ----------
    name:
        Where the data came from, e.g. ``"femnist"`` or ``"digits"``.
    num_classes:
        Labels are ``0 .. num_classes - 1``.
    input_shape:
        ``(C, H, W)`` of one sample, e.g. ``(1, 28, 28)``.
    writers:
        Writer ids, one per client, unique.
    train, test:
        One :class:`Shard` per writer, in the order of ``writers``.

    Raises
    ------
    DataError
        If a shard has the wrong dtype or shape, x and y differ in length, a
        label is out of range, or a writer has no train or no test samples.
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    writers: list[str]
    train: list[Shard]
    test: list[Shard]

    def __post_init__(self) -> None:
        if not self.writers:
            raise DataError(f"dataset {self.name!r} has no writers", "check the data source")
        if len(set(self.writers)) != len(self.writers):
            raise DataError(f"dataset {self.name!r} lists a writer twice", "writer ids must be unique")
        if not len(self.writers) == len(self.train) == len(self.test):
            raise DataError(
                f"dataset {self.name!r} has {len(self.writers)} writers but "
                f"{len(self.train)} train and {len(self.test)} test shards",
                "give one train and one test shard per writer",
            )
        for writer, train, test in zip(self.writers, self.train, self.test, strict=True):
            self._check_shard(writer, "train", train)
            self._check_shard(writer, "test", test)

    def _check_shard(self, writer: str, split: str, shard: Shard) -> None:
        where = f"dataset {self.name!r}, writer {writer!r} ({split})"
        x, y = shard
        if x.dtype != np.float32 or y.dtype != np.int64:
            raise DataError(f"{where}: x must be float32 and y int64, got {x.dtype} and {y.dtype}")
        if x.shape[1:] != self.input_shape or y.ndim != 1:
            raise DataError(
                f"{where}: samples have shape {x.shape[1:]} and labels {y.shape}, "
                f"expected {self.input_shape} and (n,)"
            )
        if len(x) != len(y):
            raise DataError(f"{where}: {len(x)} samples but {len(y)} labels", "x and y must have equal lengths")
        if len(y) == 0:
            raise DataError(f"{where} has no samples", "every writer needs train and test samples")
        bad = y[(y < 0) | (y >= self.num_classes)]
        if len(bad):
            raise DataError(f"{where}: label {bad[0]} is outside 0..{self.num_classes - 1}")

    @property
    def num_writers(self) -> int:
        """Number of writers (clients)."""
        return len(self.writers)

    @property
    def num_train_samples(self) -> int:
        """Train samples over all writers."""
        return sum(shard.num_samples for shard in self.train)

    @property
    def num_test_samples(self) -> int:
        """Test samples over all writers."""
        return sum(shard.num_samples for shard in self.test)

    def train_of(self, writer: int) -> Shard:
        """Train shard of the writer at index ``writer``."""
        return self.train[writer]

    def test_of(self, writer: int) -> Shard:
        """Test shard of the writer at index ``writer``."""
        return self.test[writer]

    def pooled_train(self) -> Shard:
        """All writers' train samples in one shard (for stand-alone training)."""
        return _pool(self.train)

    def pooled_test(self) -> Shard:
        """All writers' test samples in one shard (the global test set)."""
        return _pool(self.test)

    def select(self, indices: Sequence[int]) -> FederatedDataset:
        """A dataset of the writers at ``indices``, in that order."""
        return FederatedDataset(
            name=self.name,
            num_classes=self.num_classes,
            input_shape=self.input_shape,
            writers=[self.writers[i] for i in indices],
            train=[self.train[i] for i in indices],
            test=[self.test[i] for i in indices],
        )


def _pool(shards: list[Shard]) -> Shard:
    return Shard(np.concatenate([s.x for s in shards]), np.concatenate([s.y for s in shards]))


def subset_writers(dataset: FederatedDataset, n: int, seed: int | None = None) -> FederatedDataset:
    """Keep ``n`` writers: the first ``n``, or ``n`` drawn at random with ``seed``.

    Parameters
    ----------
    dataset:
        The dataset to take writers from.
    n:
        How many writers to keep, ``1 <= n <= dataset.num_writers``.
    seed:
        ``None`` keeps the first ``n`` writers. Otherwise ``n`` writers are
        drawn without replacement by ``numpy.random.default_rng(seed)``; they
        keep their original order.

    Raises
    ------
    ConfigError
        If ``n`` is out of range.
    """
    if not 1 <= n <= dataset.num_writers:
        raise ConfigError(
            f"cannot take {n} writers from {dataset.name!r}",
            f"choose between 1 and {dataset.num_writers}",
        )
    if seed is None:
        return dataset.select(range(n))
    chosen = np.random.default_rng(seed).choice(dataset.num_writers, size=n, replace=False)
    return dataset.select(sorted(chosen.tolist()))
