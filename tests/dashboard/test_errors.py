"""Error states: the API answers 503 with a JSON error while the chain is
unreachable or the contract is missing, the page keeps being served, and
the dashboard recovers by itself when the chain comes back."""

from __future__ import annotations

import urllib.request

from web3 import Web3

from bflc.chain.anvil import AnvilChain, free_port
from tests.dashboard.dashboard_net import RestartableAnvil, dashboard_app, get, serve, small_network


def test_address_without_code_is_503_contract_not_found(anvil: AnvilChain) -> None:
    empty_address = Web3.to_checksum_address("0x" + "12" * 20)
    with serve(dashboard_app(anvil.url, empty_address)) as url:
        status, body = get(url + "/api/overview")
        assert status == 503
        assert body["code"] == "contract_not_found"
        assert empty_address in body["error"]


def test_unreachable_chain_is_503_and_the_page_still_loads() -> None:
    rpc = f"http://127.0.0.1:{free_port()}"
    with serve(dashboard_app(rpc, "0x" + "12" * 20)) as url:
        for path in ["/api/overview", "/api/rounds/0", "/api/models", "/api/nodes", "/api/events"]:
            status, body = get(url + path)
            assert (status, body["code"]) == (503, "chain_unreachable"), path
            assert body["error"].startswith(f"cannot reach the chain at {rpc} (ConnectionError) (")
            assert body["endpoint"] == {"rpc": rpc, "healthy": False}
        with urllib.request.urlopen(url + "/") as response:
            assert response.status == 200


def test_stopping_the_chain_gives_503_and_the_dashboard_recovers(restartable: RestartableAnvil) -> None:
    ledger = small_network(restartable.start())
    with serve(dashboard_app(restartable.url, ledger.address)) as url:
        status, before = get(url + "/api/rounds/0")
        assert status == 200 and len(before["updates"]) == 1

        restartable.stop()
        status, body = get(url + "/api/rounds/0")
        assert (status, body["code"]) == (503, "chain_unreachable"), body

        restartable.start()
        status, after = get(url + "/api/rounds/0")
        assert status == 200
        assert after == before
        status, overview = get(url + "/api/overview")
        assert status == 200 and overview["committee"][0]["address"] == ledger.committee(0)[0]
