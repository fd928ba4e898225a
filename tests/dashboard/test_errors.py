"""Error states: the API answers 503 with a JSON error while the chain is
unreachable or the contract is missing, the page keeps being served, and
the dashboard recovers by itself when the chain comes back."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from dashboard_net import GENESIS, PARAMS, dashboard_app, get, serve
from web3 import HTTPProvider, Web3

from bflc.chain.anvil import AnvilChain, anvil_binary, free_port
from bflc.chain.web3_ledger import Web3Ledger, deploy_contract


class RestartableAnvil:
    """An anvil node on a fixed port that keeps its chain in ``state`` across restarts."""

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = state
        self.process: subprocess.Popen | None = None

    def start(self) -> Web3:
        command = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port), "--state", str(self.state), "--silent"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 10}))
        deadline = time.monotonic() + 30
        while not w3.is_connected():
            assert self.process.poll() is None and time.monotonic() < deadline, "anvil did not start"
            time.sleep(0.1)
        return w3

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # anvil writes its state on the way out
            self.process.wait(timeout=20)


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[RestartableAnvil]:
    node = RestartableAnvil(tmp_path / "anvil-state.json")
    try:
        yield node
    finally:
        node.stop()


def test_address_without_code_is_503_contract_not_found(anvil: AnvilChain) -> None:
    empty_address = Web3.to_checksum_address("0x" + "12" * 20)
    with serve(dashboard_app(anvil.url, empty_address)) as url:
        status, body = get(url + "/api/overview")
        assert status == 503
        assert body["error"]["code"] == "contract_not_found"
        assert empty_address in body["error"]["message"]


def test_unreachable_chain_is_503_and_the_page_still_loads() -> None:
    rpc = f"http://127.0.0.1:{free_port()}"
    with serve(dashboard_app(rpc, "0x" + "12" * 20)) as url:
        for path in ["/api/overview", "/api/rounds/0", "/api/models", "/api/nodes", "/api/events"]:
            status, body = get(url + path)
            assert (status, body["error"]["code"]) == (503, "chain_unreachable"), path
            assert rpc in body["error"]["message"] and body["error"]["hint"]
        with urllib.request.urlopen(url + "/") as response:
            assert response.status == 200


def test_stopping_the_chain_gives_503_and_the_dashboard_recovers(restartable: RestartableAnvil) -> None:
    w3 = restartable.start()
    accounts = w3.eth.accounts
    params = replace(PARAMS, permission_fee=0).to_contract()
    address = deploy_contract(w3, accounts[0], [accounts[0]], [accounts[1], accounts[2]], GENESIS, "file:///genesis", params)
    ledger = Web3Ledger(w3, address, accounts[0])
    ledger.admit(accounts[3])
    ledger.as_account(accounts[3]).submit_update(0, b"\x05" * 32, 7)
    with serve(dashboard_app(restartable.url, address)) as url:
        status, before = get(url + "/api/rounds/0")
        assert status == 200 and len(before["updates"]) == 1

        restartable.stop()
        status, body = get(url + "/api/rounds/0")
        assert (status, body["error"]["code"]) == (503, "chain_unreachable")

        restartable.start()
        status, after = get(url + "/api/rounds/0")
        assert status == 200
        assert after == before
        status, overview = get(url + "/api/overview")
        assert status == 200 and overview["committee"][0]["address"] == accounts[1]
