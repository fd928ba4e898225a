"""A hostile chain endpoint: real `bflc node` processes (two FEMNIST
trainers, a committee member and the manager's watcher) reach anvil only
through a :class:`~tests.chaos.faults.HostileRpcProxy`, by a URL with a user,
a password and an API key in it. The proxy answers honestly, then in turns
with a body that is not JSON, truncated JSON, out-of-range values, bad hex,
a missing field, values of the wrong type, a huge body, slow answers and
HTTP 500s, then honestly again. Meanwhile:

- no node exits, and none hits an exception the daemon did not expect
  (``step_failed``): every bad answer is a typed, retried error;
- every node shows the endpoint unhealthy in status.json and logs
  ``endpoint_unhealthy``; after the proxy heals, ``endpoint_recovered``, and
  the network reaches new rounds;
- neither the password nor the API key appears in any node's files.

About two and a half minutes on two busy cores (``make chaos`` runs it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bflc.cluster.procs import stop
from bflc.node.state import read_json
from tests.chaos.faults import HostileRpcProxy
from tests.node.node_cluster import LiveCluster, bflc

NODES, COMMITTEE = 3, 1  # two trainers: K = 2
DEADLINES = {"commit": 10, "reveal": 10, "score": 20, "round": 40}  # blocks of a second
FAULTS = ("non-json", "truncated", "out-of-range", "bad-hex", "missing-field", "wrong-type", "huge", "deep", "slow", "http-500")
FAULT_SECONDS = 4.0
SECRETS = ("s3cret", "key123")

pytestmark = pytest.mark.slow


def status(live: LiveCluster, name: str) -> dict:
    return read_json(Path(live.info["nodes"][name]["state_dir"]) / "status.json") or {}


@pytest.mark.chaos
def test_nodes_behind_a_hostile_endpoint_keep_running_and_recover_when_it_heals(tmp_path):
    directory = tmp_path / "cluster"
    started = bflc(
        "cluster", "up", "--no-watch", "--dir", str(directory),
        "--nodes", str(NODES), "--committee", str(COMMITTEE), "--writers-per-node", "1",
        "--min-score", "0.01", "--relative-min-score", "0",
        *(arg for phase, blocks in DEADLINES.items() for arg in (f"--{phase}-deadline", str(blocks))),
    )
    assert started.returncode == 0, started.stderr
    live = LiveCluster(directory)  # the test itself reads the chain directly
    names = list(live.info["nodes"])
    try:
        with HostileRpcProxy(live.info["rpc"]) as proxy:
            # every node now reaches the chain only through the proxy
            stop({name: live.record(name) for name in names}, grace_seconds=10)
            network = Path(live.info["network"])
            network.write_text(network.read_text().replace(live.info["rpc"], f"http://user:s3cret@127.0.0.1:{proxy.port}/key123"))
            for name in names:
                live.restart(name)
            live.info = json.loads((directory / "cluster.json").read_text())
            live.wait(lambda: all("round" in status(live, n) for n in names), 120, "every node to read the chain through the proxy", poll=0.5)

            showed_unhealthy: set[str] = set()
            for mode in FAULTS:
                proxy.mode = mode
                until = time.monotonic() + FAULT_SECONDS
                while time.monotonic() < until:
                    showed_unhealthy |= {n for n in names if status(live, n).get("endpoint", {}).get("healthy") is False}
                    time.sleep(0.2)
                assert all(live.running(n) for n in names), f"a node exited while the proxy answered {mode}"
            proxy.mode = "honest"
            healed = live.manager.current_round()
            live.wait_round(healed + 2, timeout=150)
            live.wait(lambda: all(status(live, n)["endpoint"]["healthy"] for n in names), 60, "every node to see the endpoint healthy")

        assert all(live.running(n) for n in names)
        assert showed_unhealthy == set(names)
        for name in names:
            assert live.journal(name, "endpoint_unhealthy") and live.journal(name, "endpoint_recovered"), name
            assert not live.journal(name, "step_failed"), live.journal(name, "step_failed")[0]["traceback"]
            state_dir = Path(live.info["nodes"][name]["state_dir"])
            for file in ("node.log", "status.json", "stdout.log"):
                text = (state_dir / file).read_text()
                assert not any(secret in text for secret in SECRETS), f"{name}/{file} holds a secret of the RPC URL"
        assert {"eth_call", "eth_sendRawTransaction"} <= set(proxy.methods)
    finally:
        bflc("cluster", "down", "--dir", str(directory))
