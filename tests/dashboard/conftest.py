"""One anvil node and one played scenario per test module; an anvil node
that can be stopped and started again with its chain."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from dashboard_net import RestartableAnvil, Scenario, play_scenario

from bflc.chain.anvil import AnvilChain


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilChain]:
    with AnvilChain(12) as chain:
        yield chain


@pytest.fixture(scope="module")
def scenario(anvil: AnvilChain) -> Scenario:
    return play_scenario(anvil)


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[RestartableAnvil]:
    node = RestartableAnvil(tmp_path / "anvil-state.json")
    try:
        yield node
    finally:
        node.stop()
