"""What the simulator needs from a way of running rounds: BFLC on the chain, or a baseline."""

from __future__ import annotations

from typing import Protocol

from bflc.ml.models import Params
from bflc.sim.metrics import RoundMetrics
from bflc.timing import PhaseTimer


class Runner(Protocol):
    """Plays rounds of one federated learning method over the virtual nodes."""

    timer: PhaseTimer

    def run_round(self, round: int) -> RoundMetrics:
        """Play ``round``; return its metrics (accuracy and loss are the caller's to fill in)."""
        ...

    def current_parameters(self) -> Params:
        """The global model after the last round played."""
        ...

    def setup_cost(self) -> dict[str, int]:
        """Transactions and gas spent before round 0 (admission); zeros off chain."""
        ...
