"""An endpoint that answers garbage is an unhealthy endpoint: every API
route answers 503 with a one-line error and the endpoint's redacted URL, no
traceback is logged, and the dashboard recovers once the endpoint answers
properly again."""

from __future__ import annotations

import pytest

from bflc.chain.anvil import AnvilChain
from tests.dashboard.dashboard_net import Scenario, dashboard_app, get, serve
from tests.dashboard.endpoint_proxy import GARBAGE, EndpointProxy

ROUTES = ["/api/overview", "/api/rounds/0", "/api/models", "/api/nodes", "/api/events", "/api/decisions", "/api/snapshot"]
# The first request after the endpoint broke finds an odd answer (chain_error),
# or an HTTP error status (chain_unreachable); later ones connect afresh, and a
# connection whose first answer is garbage counts as unreachable.
FIRST = {name: "chain_unreachable" if name == "server error" else "chain_error" for name in GARBAGE}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_garbage_is_503_with_the_endpoint_then_recovery(
    garbage: str, scenario: Scenario, anvil: AnvilChain, capfd: pytest.CaptureFixture[str]
) -> None:
    with EndpointProxy(anvil.url) as proxy, serve(dashboard_app(proxy.url, scenario.ledger.address)) as url:
        before = {route: get(url + route) for route in ROUTES}
        assert {status for status, _ in before.values()} == {200}

        proxy.answer = GARBAGE[garbage]
        for i, route in enumerate(ROUTES):
            status, body = get(url + route)
            assert (status, body["code"]) == (503, "chain_unreachable" if i else FIRST[garbage]), route
            assert body["endpoint"] == {"rpc": proxy.redacted, "healthy": False}
            assert "\n" not in body["error"] and proxy.redacted in body["error"]

        proxy.answer = None
        assert {route: get(url + route) for route in ROUTES} == before
    assert "Traceback" not in capfd.readouterr().err
