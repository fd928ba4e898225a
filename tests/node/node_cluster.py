"""Driving a real `bflc cluster` (anvil + node processes) from end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bflc.cluster.launch import FUNDING_WEI, load_cluster, start_node
from bflc.cluster.procs import ProcessRecord, is_running
from bflc.net.connect import connect
from bflc.net.keys import load_key, new_key_file
from bflc.net.network import load_network
from bflc.node.journal import read_journal
from bflc.storage import open_store


def bflc(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the `bflc` command line in a child process."""
    return subprocess.run([sys.executable, "-m", "bflc.cli", *args], capture_output=True, text=True, timeout=timeout)


class LiveCluster:
    """A running cluster: its chain (as the manager), its processes and logs."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.info = load_cluster(directory)
        self.network = load_network(Path(self.info["network"]))
        self.manager = connect(self.network, self.key("manager"))
        self.store = open_store(self.info["store"])

    # ---- chain

    def key(self, name: str):
        return load_key(self.dir / "keys" / f"{name}.key")

    def address(self, name: str) -> str:
        return self.info["nodes"][name]["address"]

    def name_of(self, address: str) -> str:
        return next(n for n, node in self.info["nodes"].items() if node["address"].lower() == address.lower())

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def next_round(self, timeout: float = 120) -> int:
        """Wait for the next round to start; return it."""
        start = self.manager.current_round()
        return self.wait(lambda: self.manager.current_round() > start and self.manager.current_round(), timeout, f"round {start} to end", poll=0.1)

    def wait_round(self, round: int, timeout: float = 180) -> None:
        self.wait(lambda: self.manager.current_round() >= round, timeout, f"round {round}")

    def new_account(self, name: str):
        """A fresh funded key (not admitted)."""
        path = self.dir / "keys" / f"{name}.key"
        address = new_key_file(path)
        w3 = self.manager.w3
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": FUNDING_WEI}))
        return load_key(path)

    # ---- processes

    def record(self, name: str) -> ProcessRecord:
        return ProcessRecord.from_json(self.info["nodes"][name]["process"])

    def running(self, name: str) -> bool:
        return is_running(self.record(name))

    def kill9(self, name: str) -> None:
        record = self.record(name)
        os.kill(record.pid, signal.SIGKILL)
        self.wait(lambda: not is_running(record), 10, f"{name} to die")

    def restart(self, name: str) -> None:
        start_node(self.dir, self.info, name)

    def add_node(self, name: str, address: str, args: list[str]) -> None:
        """Start one more `bflc node` process, recorded in cluster.json (so `down` stops it)."""
        state_dir = self.dir / "nodes" / name
        command = [
            sys.executable, "-m", "bflc.cli", "node",
            "--network", self.info["network"],
            "--key-file", str(self.dir / "keys" / f"{name}.key"),
            "--state-dir", str(state_dir),
            "--poll", "0.5",
            *args,
        ]
        self.info["nodes"][name] = {
            "address": address,
            "data": None,
            "malicious": False,
            "state_dir": str(state_dir),
            "process": {"pid": 0, "start_time": None, "command": command, "log": str(state_dir / "stdout.log")},
        }
        self.restart(name)

    def journal(self, name: str, event: str | None = None) -> list[dict]:
        records = read_journal(Path(self.info["nodes"][name]["state_dir"]) / "node.log")
        return [r for r in records if event is None or r["event"] == event]
