"""The RPC URL's password and API key never leave the dashboard: not in an
API answer, an error message, the page, the command's output or the
server's log, whether the chain is up, down or answering garbage."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bflc.chain.anvil import AnvilChain, free_port
from bflc.net.network import NetworkFile, write_network
from tests.dashboard.dashboard_net import ANVIL_CHAIN_ID, Scenario, dashboard_app, get, serve, wait_for_dashboard
from tests.dashboard.endpoint_proxy import GARBAGE, SECRETS, EndpointProxy


def fetch(url: str) -> tuple[int, str]:
    """GET ``url``: the status and the body as text, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def every_path(scenario: Scenario) -> list[str]:
    """The page, its files and every API route, with each round and node of the scenario."""
    nodes = [f"/api/nodes/{address}" for address in scenario.who.values()]
    rounds = [f"/api/rounds/{r}" for r in range(scenario.ledger.current_round() + 2)]
    api = ["/api/overview", "/api/models", "/api/nodes", "/api/events?all=1", "/api/decisions", "/api/snapshot", "/api/snapshot?round=1"]
    page = ["/", f"/node/{scenario.who['t0']}", "/static/dashboard.js", "/static/index.html", "/no/such/page"]
    return page + api + rounds + nodes


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_no_answer_or_log_line_holds_the_rpc_secrets(
    scenario: Scenario, anvil: AnvilChain, capfd: pytest.CaptureFixture[str]
) -> None:
    with EndpointProxy(anvil.url) as proxy, serve(dashboard_app(proxy.url, scenario.ledger.address)) as url:
        status, overview = get(url + "/api/overview")
        assert status == 200 and overview["network"]["rpc"] == proxy.redacted
        for answer in [None, *GARBAGE.values()]:  # up, then answering each kind of garbage
            proxy.answer = answer
            for path in every_path(scenario):
                assert_no_secret(fetch(url + path)[1])
    # and down: nothing listens at the URL any more
    with serve(dashboard_app(proxy.url, scenario.ledger.address)) as url:
        status, body = get(url + "/api/overview")
        assert (status, body["code"], body["endpoint"]) == (503, "chain_unreachable", {"rpc": proxy.redacted, "healthy": False})
        for path in every_path(scenario):
            assert_no_secret(fetch(url + path)[1])
    out, err = capfd.readouterr()
    assert_no_secret(out + err)
    assert "Traceback" not in err


def test_the_command_prints_only_the_redacted_url(tmp_path: Path, scenario: Scenario, anvil: AnvilChain) -> None:
    with EndpointProxy(anvil.url) as proxy:
        network = NetworkFile("redacted", proxy.url, ANVIL_CHAIN_ID, scenario.ledger.address, 0, f"file://{tmp_path}/store")
        network_file = write_network(tmp_path / "network.toml", network)
        port = free_port()
        command = [sys.executable, "-m", "bflc.cli", "dashboard", "--network", str(network_file), "--port", str(port)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            status, _ = wait_for_dashboard(process, port)
            assert status == 200
            proxy.answer = GARBAGE["bad hex"]
            assert get(f"http://127.0.0.1:{port}/api/overview")[0] == 503
            assert get(f"http://127.0.0.1:{port}/api/rounds/x")[0] == 400
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0
    assert f"on {proxy.redacted} at http://127.0.0.1:{port}" in output
    assert_no_secret(output)
    assert "Traceback" not in output
