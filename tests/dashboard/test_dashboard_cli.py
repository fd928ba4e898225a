"""``bflc dashboard``: bad inputs give one line; the real command serves the
network file's contract and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bflc.chain.anvil import AnvilChain, free_port
from bflc.cli import main
from bflc.net.network import NetworkFile, write_network
from tests.dashboard.dashboard_net import ANVIL_CHAIN_ID, Scenario, get, wait_for_dashboard


@pytest.fixture
def network_file(tmp_path: Path, anvil: AnvilChain, scenario: Scenario) -> Path:
    network = NetworkFile("dashboard-cli", anvil.url, ANVIL_CHAIN_ID, scenario.ledger.address, 0, f"file://{tmp_path}/store")
    return write_network(tmp_path / "network.toml", network)


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["dashboard", *args])
    return code, capsys.readouterr().err


def test_missing_network_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli("--network", str(tmp_path / "nope.toml"), capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("bflc: error: cannot read network file")


def test_port_in_use_is_one_line(network_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_cli("--network", str(network_file), "--port", str(port), capsys=capsys)
    assert code == 2
    assert err == f"bflc: error: port {port} on 127.0.0.1 is in use (stop what listens there or pick another --port)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port 70000 is not a TCP port"),
        (["--nodes-dir", "/nonexistent/nodes"], "--nodes-dir /nonexistent/nodes is not a directory"),
        (["--host", "no-such-host.invalid"], "--host 'no-such-host.invalid' is not an address here"),
    ],
)
def test_bad_options_are_one_line(network_file: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli("--network", str(network_file), *args, capsys=capsys)
    assert code == 2 and err.startswith(f"bflc: error: {message}") and err.count("\n") == 1


def test_the_command_serves_the_network_and_stops_on_sigterm(network_file: Path, scenario: Scenario) -> None:
    port = free_port()
    command = [sys.executable, "-m", "bflc.cli", "dashboard", "--network", str(network_file), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner and scenario.ledger.address in banner
        status, overview = wait_for_dashboard(process, port)
        assert status == 200 and overview["round"] == scenario.ledger.current_round()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_in_thread_for_cluster_up(network_file: Path, scenario: Scenario) -> None:
    from bflc.dashboard.serve import bind, serve_in_thread

    url = serve_in_thread(network_file, bind("127.0.0.1", 0))
    status, overview = get(url + "/api/overview")
    assert status == 200 and overview["network"]["address"] == scenario.ledger.address
