"""One anvil node and one played scenario per test module; an anvil node
that can be stopped and started again with its chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bflc.chain.anvil import AnvilChain
from tests.dashboard.dashboard_net import RestartableAnvil, Scenario, play_scenario


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
        node.close()
