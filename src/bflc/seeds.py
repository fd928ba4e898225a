"""Seeds derived from integers, so that every random choice of a run is reproducible."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def derive_seed(*parts: int) -> int:
    """A 32-bit seed derived from non-negative integers (run seed, round, node, ...).

    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(1, 0)
    True
    """
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass(frozen=True)
class NodeSeeds:
    """Where one node's randomness comes from, round by round.

    ``key`` identifies the node: the simulator's node ``i`` of a run seeded
    ``s`` has ``(s, i)``; a node daemon has ``(account,)`` (its address as an
    integer) unless told otherwise. A daemon given ``(s, i)`` trains and
    attacks exactly as the simulator's node ``i``.

    Parameters
    ----------
    key:
        One or more non-negative integers.
    """

    key: tuple[int, ...]

    def training(self, round: int) -> int:
        """Seed of this node's local training (sample order, dropout) and attack noise in ``round``."""
        return derive_seed(self.key[0], round, *self.key[1:])

    def salt(self, round: int) -> bytes:
        """A reproducible 32-byte commitment salt for ``round`` (the simulator's; a real node draws a secret one)."""
        return np.random.default_rng([self.key[0], 6, round, *self.key[1:]]).bytes(32)

    def collusion(self, round: int) -> np.random.Generator:
        """Source of a colluding member's favourable scores in ``round``."""
        return np.random.default_rng([self.key[0], 4, round, *self.key[1:]])
