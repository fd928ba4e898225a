"""Helpers of the dashboard tests: a network played through the Ledger with
known data, the dashboard served on a free 127.0.0.1 port in a thread, and
a JSON client."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3

from bflc.chain import Ledger, Phase, ProtocolParams, to_fixed
from bflc.chain.anvil import anvil_command, free_port
from bflc.chain.devchain import DevChain
from bflc.chain.web3_ledger import Web3Ledger, deploy_contract
from bflc.dashboard.app import network_app
from bflc.net.network import NetworkFile
from bflc.protocol import commitment

ANVIL_CHAIN_ID = 31337
GENESIS = b"\x01" * 32
MODEL_1 = b"\x11" * 32
MODEL_2 = b"\x22" * 32
FEE = 1_000
REWARD = 10**18
POOL = 5 * 10**18

# Round 0: every member's score of the updates of t0..t5 (None: no vote).
# Lower medians: t0 0.9, t1 0.7, t2 0.15, t3 0.6, t4 not final, t5 0.3.
ROUND0_SCORES = {
    "t0": (0.9, 0.8, 0.95),
    "t1": (0.7, 0.75, 0.1),
    "t2": (0.15, 0.1, 0.9),
    "t3": (0.6, 0.6, 0.6),
    "t4": (0.5, None, None),
    "t5": (0.3, 0.3, 0.3),
}
PARAMS = ProtocolParams(
    committee_size=3,
    min_committee_size=1,
    updates_per_round=6,
    qualify_top_fraction=0.4,
    min_score=0.2,
    relative_min_score=0.5,
    commit_deadline_blocks=5,
    reveal_deadline_blocks=5,
    score_deadline_blocks=5,
    round_deadline_blocks=20,
    permission_fee=FEE,
    round_reward=REWARD,
    committee_share=0.2,
)


def sealed(blob: int) -> tuple[bytes, int, bytes]:
    """The blob hash, sample count and salt of test update number ``blob``."""
    blob_hash = blob.to_bytes(32, "big")
    return blob_hash, 10 + blob % 7, keccak(blob_hash)


def commit_and_reveal(ledger: Ledger, blobs: dict[str, int], close: Callable[[], None]) -> dict[str, int]:
    """Each account commits to its blob; ``close`` runs if commitments are still open (fewer than K); then each reveals.

    Returns the update id of each account.
    """
    r = ledger.current_round()
    for account, blob in blobs.items():
        ledger.as_account(account).commit_update(r, commitment(account, r, *sealed(blob)))
    if ledger.phase() == Phase.COMMIT:
        close()
    return {account: ledger.as_account(account).reveal_update(r, *sealed(blob)) for account, blob in blobs.items()}


@dataclass
class Scenario:
    """A network with a known history (see :func:`play_scenario`)."""

    chain: DevChain
    ledger: Ledger
    who: dict[str, str]
    update_ids: dict[tuple[int, str], int] = field(default_factory=dict)

    def at(self, name: str) -> Ledger:
        return self.ledger.as_account(self.who[name])

    def submit(self, round: int, blobs: dict[str, int]) -> None:
        """The named nodes commit to and reveal updates ``blobs`` (commitments close after the deadline if fewer than K)."""
        ids = commit_and_reveal(self.ledger, {self.who[name]: blob for name, blob in blobs.items()}, self.close_after_deadline)
        self.update_ids.update({(round, name): ids[self.who[name]] for name in blobs})

    def close_after_deadline(self) -> None:
        """Mine to the current phase's deadline, then the manager closes the phase."""
        state = self.ledger.round_state()
        self.chain.mine(max(0, state.phase_start_block + PARAMS.deadline_blocks(state.phase) - self.ledger.block_number()))
        self.ledger.close_phase(state.round)


def play_scenario(chain: DevChain) -> Scenario:
    """Play four rounds that show every verdict, a blacklisting, a leave and a failback.

    - round 0 (committee c0, c1, c2; K = 6, top 40 %, min 0.2, relative 0.5):
      t0..t5 commit and reveal; t4 gets one vote, so scoring is closed after
      the deadline: t0 and t1 qualify, t3 is outside the top fraction, t5
      below the relative score, t2 below the minimum score, t4 is not final;
      c0 and c1 propose MODEL_1, which is accepted; rewards are paid. Two
      qualified providers elect a committee of one (the largest odd number).
    - round 1 (committee t0): t2, t3, t5 commit (closed after the deadline)
      and reveal; t5 is blacklisted; t0's votes make every update final and
      trigger aggregation: t2 qualifies; MODEL_2 is accepted.
    - round 2 (committee t2): c0's update is final, c1's has no vote; a
      manager fails back to round 1 (the round is abandoned).
    - round 3 (committee t2, current): t3's update is final (awaiting
      aggregation), t1's has no vote yet; t4 leaves.
    """
    names = ["m0", "c0", "c1", "c2", "t0", "t1", "t2", "t3", "t4", "t5"]
    who = dict(zip(names, chain.accounts, strict=False))
    ledger = chain.deploy([who["m0"]], [who["c0"], who["c1"], who["c2"]], GENESIS, "file:///genesis", PARAMS)
    s = Scenario(chain, ledger, who)
    trainers = [f"t{i}" for i in range(6)]
    for t in trainers:
        s.at(t).apply(FEE)
        ledger.admit(who[t])
    ledger.fund(POOL)

    s.submit(0, {t: 100 + i for i, t in enumerate(trainers)})
    for m, member in enumerate(["c0", "c1", "c2"]):
        votes = [(s.update_ids[(0, t)], scores[m]) for t, scores in ROUND0_SCORES.items() if scores[m] is not None]
        s.at(member).submit_scores(0, [u for u, _ in votes], [to_fixed(v) for _, v in votes])
    s.close_after_deadline()
    for member in ["c0", "c1"]:
        s.at(member).propose_model(0, MODEL_1, "file:///model-1")

    s.submit(1, {"t2": 200, "t3": 201, "t5": 202})
    ledger.blacklist(who["t5"])
    ids = [s.update_ids[(1, t)] for t in ["t2", "t3", "t5"]]
    s.at("t0").submit_scores(1, ids, [to_fixed(v) for v in (0.8, 0.7, 0.95)])
    s.at("t0").propose_model(1, MODEL_2, "file:///model-2")

    s.submit(2, {"c0": 300, "c1": 301})
    s.at("t2").submit_scores(2, [s.update_ids[(2, "c0")]], [to_fixed(0.5)])
    ledger.failback(1)

    s.submit(3, {"t3": 400, "t1": 401})
    s.at("t2").submit_scores(3, [s.update_ids[(3, "t3")]], [to_fixed(0.65)])
    s.at("t4").leave()
    return s


def write_node_log(nodes_dir: Path, node: str, *records: dict[str, Any], partial: str = "") -> None:
    """Append ``model_evaluated``-style lines to ``nodes_dir/node/node.log``
    (and ``partial``, a line still being written)."""
    path = nodes_dir / node / "node.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write("".join(json.dumps(r) + "\n" for r in records) + partial)


def dashboard_app(rpc: str, address: str, deployed_block: int = 0, nodes_dir: Path | None = None) -> Any:
    """The dashboard app of the contract at ``address`` behind ``rpc``, as ``bflc dashboard`` builds it."""
    network = NetworkFile("dashboard-test", rpc, ANVIL_CHAIN_ID, address, deployed_block, "file:///tmp/bflc-dashboard-test")
    return network_app(network, nodes_dir)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def get(url: str) -> tuple[int, Any]:
    """GET ``url``: the status and the decoded JSON body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for_dashboard(process: subprocess.Popen, port: int, timeout: float = 30) -> tuple[int, Any]:
    """The first answer of a `bflc dashboard` process on ``port`` to /api/overview."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get(f"http://127.0.0.1:{port}/api/overview")
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "the dashboard did not answer"
            time.sleep(0.2)


class RestartableAnvil:
    """An anvil node on a fixed port that keeps its chain in ``state`` across restarts.

    While it is stopped the port stays bound (not listening), so connections
    are refused and no other server of the machine can take the port meanwhile.
    """

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = state
        self.process: subprocess.Popen | None = None
        self._held: socket.socket | None = None

    def start(self) -> Web3:
        if self._held is not None:
            self._held.close()
            self._held = None
        command = anvil_command(self.port, "--state", str(self.state), "--silent")
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
            held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                held.bind(("127.0.0.1", self.port))
            except OSError:  # connections anvil closed still hold the port: nobody else can bind it either
                held.close()
            else:
                self._held = held

    def close(self) -> None:
        """Stop the node and free its port."""
        self.stop()
        if self._held is not None:
            self._held.close()
            self._held = None


def small_network(w3: Web3) -> Web3Ledger:
    """Deploy on a node's unlocked accounts: manager 0, committee 1, 2 and 3;
    account 4 is admitted and commits to and reveals an update (K = 1).
    Returns the manager's ledger."""
    accounts = w3.eth.accounts
    params = replace(PARAMS, permission_fee=0, updates_per_round=1).to_contract()
    address = deploy_contract(w3, accounts[0], [accounts[0]], accounts[1:4], GENESIS, "file:///genesis", params)
    ledger = Web3Ledger(w3, address, accounts[0])
    ledger.admit(accounts[4])
    commit_and_reveal(ledger, {accounts[4]: 5}, close=lambda: None)
    return ledger
