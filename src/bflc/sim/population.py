"""The virtual nodes of a simulation and who is online each round."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflc.errors import ConfigError
from bflc.sim.config import SimConfig


@dataclass(frozen=True)
class Population:
    """Nodes ``0 .. size-1``; node i holds writer i's data."""

    size: int
    malicious: frozenset[int]
    num_active: int
    committee_size: int
    updates_per_round: int

    @classmethod
    def create(cls, config: SimConfig, num_writers: int) -> Population:
        """The population of ``config`` over a dataset of ``num_writers`` writers.

        Raises
        ------
        ConfigError
            If the nodes, active fraction, committee and updates per round do not fit.
        """
        size = config.nodes or num_writers
        if size > num_writers:
            raise ConfigError(
                f"nodes={size} is more than the {num_writers} writers of the dataset",
                "use fewer nodes or a dataset with more writers",
            )
        num_active = max(1, round(config.active_fraction * size))
        committee_size = max(1, round(config.committee_fraction * num_active))
        committee_size -= 1 - committee_size % 2  # odd, as the contract requires
        if num_active - committee_size < 1:
            raise ConfigError(
                f"{num_active} active nodes leave no trainer beside a committee of {committee_size}",
                "raise active_fraction or nodes, or lower committee_fraction",
            )
        trainers = num_active - committee_size
        if config.updates_per_round > trainers:
            raise ConfigError(
                f"updates_per_round={config.updates_per_round} is more than the {trainers} active nodes outside the committee",
                f"use at most {trainers}, or raise active_fraction",
            )
        rng = np.random.default_rng([config.seed, 1])
        num_malicious = round(config.malicious_fraction * size)
        malicious = frozenset(int(i) for i in rng.choice(size, size=num_malicious, replace=False))
        return cls(size, malicious, num_active, committee_size, config.updates_per_round or trainers)

    @property
    def honest(self) -> list[int]:
        """The honest nodes, in ascending order."""
        return [i for i in range(self.size) if i not in self.malicious]

    def first_committee(self, seed: int) -> list[int]:
        """The founding committee: honest nodes chosen at random.

        The paper assumes the first committee is mostly honest.
        """
        honest = self.honest
        if len(honest) < self.committee_size:
            raise ConfigError("too few honest nodes for the first committee", "lower malicious_fraction")
        rng = np.random.default_rng([seed, 2])
        return sorted(int(i) for i in rng.choice(honest, size=self.committee_size, replace=False))

    def active_others(self, round: int, seed: int, exclude: set[int], count: int) -> list[int]:
        """``count`` online nodes outside ``exclude`` for this round."""
        pool = [i for i in range(self.size) if i not in exclude]
        rng = np.random.default_rng([seed, 3, round])
        return sorted(int(i) for i in rng.choice(pool, size=min(count, len(pool)), replace=False))
