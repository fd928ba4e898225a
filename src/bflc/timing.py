"""Wall-clock time per phase of a round (train, score, chain, storage, ...)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class PhaseTimer:
    """Accumulates seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the seconds spent inside the ``with`` block to phase ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def snapshot(self) -> dict[str, float]:
        """The seconds per phase so far, sorted by phase and rounded to 0.1 ms."""
        return {k: round(v, 4) for k, v in sorted(self.seconds.items())}
