"""The settings every experiment starts from, full size and quick."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bflc.demo import DEMO_CONFIG
from bflc.sim.config import SimConfig

# Every bundled FEMNIST writer, the demo's model and SGD settings, 40 rounds.
FULL = replace(DEMO_CONFIG, nodes=0, rounds=40)
# A few minutes for the whole quick suite on two CPU cores: fewer writers and rounds.
QUICK = replace(FULL, nodes=100, rounds=20)


def base(quick: bool) -> SimConfig:
    return QUICK if quick else FULL


def describe(result: dict[str, Any]) -> str:
    """The setup of a finished run in words, for plot titles."""
    c, d = result["config"], result["dataset"]
    return f"{d['name'].upper()} {d['writers']} writers, {c['model']}, {c['rounds']} rounds"
