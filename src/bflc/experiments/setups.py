"""The settings every experiment starts from."""

from __future__ import annotations

from typing import Any

from bflc.demo import DEMO_CONFIG
from bflc.sim.config import SimConfig

# Every bundled FEMNIST writer, the demo's model and SGD settings, 40 rounds.
FULL = DEMO_CONFIG.replace(nodes=0, rounds=40)


def base(quick: bool, quick_size: dict[str, int]) -> SimConfig:
    """:data:`FULL`, or for a quick variant :data:`FULL` with ``quick_size`` applied.

    ``quick_size`` holds fewer writers and rounds.
    """
    return FULL.replace(**quick_size) if quick else FULL


def describe(result: dict[str, Any]) -> str:
    """The setup of a finished run in words, for plot titles."""
    c, d = result["config"], result["dataset"]
    return f"{d['name'].upper()} {d['writers']} writers, {c['model']}, {c['rounds']} rounds"
