"""Malicious node behaviour, for demos and tests of the protocol's defences."""

from __future__ import annotations

from dataclasses import dataclass

from bflc.errors import ConfigError
from bflc.sim.config import ATTACKS as SIM_ATTACKS
from bflc.sim.config import DEFAULT_ATTACK_SCALE

# A node poisons its update; label-flip (poisoned data) is the simulator's alone.
ATTACKS = tuple(a for a in SIM_ATTACKS if a != "label-flip")


@dataclass(frozen=True)
class Misbehaviour:
    """What a malicious node does.

    Parameters
    ----------
    attack:
        As a trainer, poison every update (``gaussian``, ``sign-flip`` or
        ``scale``, see :func:`bflc.sim.attacks.poison_update`).
    attack_scale:
        Noise std or delta factor (default: the simulator's for the attack).
    colluders:
        As a committee member, score updates of these addresses ~0.9.

    Raises
    ------
    ConfigError
        For an unknown attack.
    """

    attack: str | None = None
    attack_scale: float | None = None
    colluders: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.attack is not None and self.attack not in ATTACKS:
            raise ConfigError(f"unknown attack {self.attack!r}", f"use one of {', '.join(ATTACKS)}")
        object.__setattr__(self, "colluders", frozenset(a.lower() for a in self.colluders))

    @property
    def strength(self) -> float:
        """The attack's noise std or delta factor."""
        if self.attack is None:
            raise ConfigError("no attack configured")
        return self.attack_scale if self.attack_scale is not None else DEFAULT_ATTACK_SCALE[self.attack]
