"""One anvil node and one played scenario for the dashboard's API tests."""

from __future__ import annotations

from typing import Iterator

import pytest
from dashboard_net import Scenario, play_scenario

from bflc.chain.anvil import AnvilChain


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilChain]:
    with AnvilChain(12) as chain:
        yield chain


@pytest.fixture(scope="module")
def scenario(anvil: AnvilChain) -> Scenario:
    return play_scenario(anvil)
