"""Faults injected into a running ``bflc cluster``, the seeded plan that
schedules them and the log of what happened.

- ``kill``: ``kill -9`` of one node process (a data node or the manager's
  watcher); after ``down`` seconds it is started again with its recorded
  command and state directory, as a supervisor would.
- ``chain``: anvil stopped and started again on the same port with its
  state. Block production is paused (``evm_setIntervalMining 0``), the state
  (accounts, blocks, receipts) is dumped with ``anvil_dumpState``, the
  process group gets SIGTERM, and after ``down`` seconds the cluster's anvil
  command runs again with ``--load-state``. Transactions still in the pool
  are lost, as on a real node restart: their senders must send them again.
- ``store``: the S3 server unreachable. The nodes reach it through
  :class:`TcpProxy`, which stops listening and cuts every open connection for
  ``down`` seconds, then listens again on the same port. The server behind it
  keeps every object, as a real object store keeps its disks.
- ``flaky``: a bad link to the S3 server for ``down`` seconds: the proxy
  resets 3 in 4 new connections at once and cuts the others after 0.1-1 s,
  so that one request fails and the next may succeed.

:class:`HostileRpcProxy` is a chain endpoint that lies: in front of anvil it
answers with garbage of many kinds (tests/chaos/test_hostile_endpoint.py).

The plan (:func:`plan_faults`) is a function of the seed alone; the times at
which faults really happen, and so the rounds they hit, depend on the
machine's speed.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

from web3 import HTTPProvider, Web3
from web3.exceptions import Web3Exception
from web3.types import BlockData

from bflc.chain.anvil import free_port
from bflc.cluster.launch import cluster_file
from bflc.cluster.procs import ProcessRecord, is_running, spawn, stop
from bflc.errors import ChainError
from bflc.files import json_bytes, write_atomically
from tests.node.node_cluster import LiveCluster

T = TypeVar("T")

# Seconds between two faults, and how long each kind keeps its target down.
GAP_SECONDS = (4.0, 12.0)
DOWN_SECONDS = {"kill": (1.0, 10.0), "chain": (2.0, 8.0), "store": (5.0, 20.0), "flaky": (10.0, 30.0)}
# A flaky link resets this share of new connections and cuts the others after a while.
FLAKY_LOSS = 0.75
FLAKY_LIFETIME_SECONDS = (0.1, 1.0)
# One bag of faults, drawn in a shuffled order, then the next bag: every seven
# faults hold one chain restart, one store outage and one flaky link.
FAULT_BAG = ("kill", "kill", "kill", "kill", "chain", "store", "flaky")
MAX_NODES_DOWN = 2
# A restarted node is not killed again before it had this long to act.
REKILL_AFTER_SECONDS = 45.0
ANVIL_STARTUP_SECONDS = 30.0
NODE_STARTUP_SECONDS = 90.0


@dataclass(frozen=True)
class Fault:
    """One planned fault.

    Parameters
    ----------
    kind:
        ``kill``, ``chain``, ``store`` or ``flaky``.
    at:
        Planned start, in seconds after the run began.
    target:
        The node's name, ``anvil`` or ``store``.
    down:
        Seconds before the target comes back.
    """

    kind: str
    at: float
    target: str
    down: float


def plan_faults(seed: int, nodes: Sequence[str]) -> Iterator[Fault]:
    """An endless plan of faults against ``nodes`` (and the chain and store), from ``seed``.

    At most :data:`MAX_NODES_DOWN` nodes are down at once, a node is killed
    again only :data:`REKILL_AFTER_SECONDS` after its restart, and a store
    fault (outage or flaky link) starts only once the previous one ended.
    """
    rng = random.Random(seed)
    back: dict[str, float] = {}  # target -> planned time it comes back
    bag: list[str] = []
    at = 0.0
    while True:
        at += rng.uniform(*GAP_SECONDS)
        if not bag:
            bag = list(FAULT_BAG)
            rng.shuffle(bag)
        kind = bag.pop()
        down = round(rng.uniform(*DOWN_SECONDS[kind]), 1)
        if kind == "kill":
            eligible = [n for n in nodes if back.get(n, 0.0) + REKILL_AFTER_SECONDS <= at]
            if not eligible or sum(back.get(n, 0.0) > at for n in nodes) >= MAX_NODES_DOWN:
                continue
            target = rng.choice(eligible)
        else:
            target = "anvil" if kind == "chain" else "store"  # store and flaky
            at = max(at, back.get(target, 0.0))
        back[target] = at + down
        yield Fault(kind, round(at, 1), target, down)
        if kind == "chain":  # the run waits for the chain to come back
            at += down


@dataclass
class FaultRecord:
    """One fault as it happened.

    Parameters
    ----------
    number:
        1, 2, ... in order.
    fault:
        What was planned.
    at:
        Seconds after the run began when it was injected.
    round, phase:
        The chain's round and phase at that moment.
    back:
        Seconds after the run began when the target was back (``None`` while down).
    outcome:
        What the checks found, in a few words.
    """

    number: int
    fault: Fault
    at: float
    round: int
    phase: str
    back: float | None = None
    outcome: str = ""

    def row(self) -> str:
        down = "-" if self.back is None else f"{self.back - self.at:.1f}"
        return f"| {self.number} | {self.at:.1f} | {self.round} | {self.phase} | {self.fault.kind} | {self.fault.target} | {down} | {self.outcome} |"


TABLE_HEADER = "| # | t (s) | round | phase | fault | target | down (s) | outcome |\n|---|---|---|---|---|---|---|---|"


def fault_table(records: Sequence[FaultRecord]) -> str:
    """The fault log as a markdown table."""
    return "\n".join([TABLE_HEADER, *(r.row() for r in records)])


class TcpProxy:
    """A TCP forwarder from a port on 127.0.0.1 to ``backend_port``, which can
    be taken down (nothing listens, open connections are cut) and brought back
    on the same port, or made flaky.

    Parameters
    ----------
    backend_port:
        The port of the server behind it, on 127.0.0.1.
    """

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flaky: random.Random | None = None
        self._byte_pause: float | None = None

    def start(self) -> None:
        """Listen (again) and forward every connection."""
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port at once
        listener.settimeout(0.2)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        """Stop listening and cut every open connection; a no-op when down."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        assert self._acceptor is not None
        self._acceptor.join()
        listener.close()
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            self._cut(connection)

    def make_flaky(self, rng: random.Random | None) -> None:
        """From now on reset :data:`FLAKY_LOSS` of the new connections at once
        and cut the others after :data:`FLAKY_LIFETIME_SECONDS`, drawing from
        ``rng``; ``None`` makes the link clean again."""
        self._flaky = rng

    def make_slow(self, byte_pause: float | None) -> None:
        """From now on send the server's answers one byte every ``byte_pause``
        seconds (a store that never stops sending, each byte within any socket
        timeout); ``None`` makes the link fast again."""
        self._byte_pause = byte_pause

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            flaky = self._flaky
            if flaky is not None and flaky.random() < FLAKY_LOSS:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                client.close()
                continue
            try:
                backend = socket.create_connection(("127.0.0.1", self.backend_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, backend))
            for source, sink, answers in ((client, backend, False), (backend, client, True)):
                threading.Thread(target=self._pump, args=(source, sink, answers), daemon=True).start()
            if flaky is not None:
                threading.Timer(flaky.uniform(*FLAKY_LIFETIME_SECONDS), self._cut, args=(client,)).start()

    @staticmethod
    def _cut(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        """Copy ``source`` to ``sink`` until either side ends; then end both.

        ``answers``: this is the server's side, which :meth:`make_slow` slows down.
        """
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                pause = self._byte_pause if answers else None
                if pause is None:
                    sink.sendall(chunk)
                    continue
                for k in range(len(chunk)):
                    sink.sendall(chunk[k : k + 1])
                    time.sleep(pause)
        for connection in (source, sink):
            self._cut(connection)
        with self._lock:
            self._open.discard(source)
        source.close()


class ChainNode:
    """The cluster's anvil, restarted on the same port with its state kept.

    Parameters
    ----------
    cluster:
        The running cluster (its ``cluster.json`` is kept current, so that
        ``bflc cluster down`` stops the restarted anvil).
    work:
        Where the state dumps go.
    """

    def __init__(self, cluster: LiveCluster, work: Path) -> None:
        self.cluster = cluster
        self.work = work
        self.command = list(cluster.info["anvil"]["command"])  # as `cluster up` started it
        self.w3 = Web3(HTTPProvider(cluster.info["rpc"], request_kwargs={"timeout": 10}))
        self.restarts = 0

    def stop_with_state(self) -> BlockData:
        """Pause mining, dump the state to a file, stop anvil; return the last block."""
        self._rpc("evm_setIntervalMining", [0])
        last = self.w3.eth.get_block("latest")
        dumped = self._rpc("anvil_dumpState", [])
        self.restarts += 1
        self._state_file().write_bytes(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
        record = ProcessRecord.from_json(self.cluster.info["anvil"])
        assert stop({"anvil": record}, grace_seconds=10) == {"anvil": "stopped"}
        return last

    def start(self) -> None:
        """Start anvil from the last dump, on the same port; wait until it answers."""
        state = self._state_file()
        record = spawn([*self.command, "--load-state", str(state)], Path(self.cluster.info["anvil"]["log"]))
        self.cluster.info["anvil"] = record.to_json()
        write_atomically(cluster_file(self.cluster.dir), json_bytes(self.cluster.info))
        deadline = time.monotonic() + ANVIL_STARTUP_SECONDS
        while not self.w3.is_connected():
            assert is_running(record), f"anvil exited when restarted from {state}"
            assert time.monotonic() < deadline, f"anvil did not answer within {ANVIL_STARTUP_SECONDS:.0f} s of its restart"
            time.sleep(0.2)

    def _state_file(self) -> Path:
        return self.work / f"anvil-state-{self.restarts}.json"

    def _rpc(self, method: str, params: list) -> object:
        answer = self.w3.provider.make_request(method, params)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer["result"]


def retry_transient(read: Callable[[], T], attempts: int = 20) -> T:
    """``read()``, tried again while the chain does not answer (e.g. just restarted)."""
    for _ in range(attempts - 1):
        try:
            return read()
        except (ChainError, OSError, Web3Exception):
            time.sleep(0.5)
    return read()


class ChaosRun:
    """Injects the planned faults into a running cluster and logs them.

    Parameters
    ----------
    cluster:
        The running cluster.
    proxy:
        The proxy in front of the cluster's S3 server.
    chain:
        The cluster's anvil.
    seed:
        Seed of the fault plan.
    """

    def __init__(self, cluster: LiveCluster, proxy: TcpProxy, chain: ChainNode, seed: int) -> None:
        self.cluster = cluster
        self.proxy = proxy
        self.chain = chain
        self.seed = seed
        self.records: list[FaultRecord] = []
        self._due: list[tuple[float, FaultRecord]] = []  # (when it comes back, the fault)
        self._t0 = time.monotonic()
        self.started_wall = time.time()

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.monotonic() - self._t0

    def wall(self, elapsed: float) -> float:
        """The Unix time ``elapsed`` seconds after the run began (journal lines carry Unix times)."""
        return self.started_wall + elapsed

    def current_round(self) -> int:
        return retry_transient(self.cluster.manager.current_round)

    def run(self, until_round: int, timeout: float) -> None:
        """Inject faults until the chain reaches ``until_round``, then bring every target back.

        Raises
        ------
        AssertionError
            If the round is not reached within ``timeout`` seconds, or a node
            died on its own.
        """
        for name in self.cluster.info["nodes"]:
            self.wait_started(name, 1)
        self._t0, self.started_wall = time.monotonic(), time.time()
        plan = plan_faults(self.seed, list(self.cluster.info["nodes"]))
        fault = next(plan)
        while self.current_round() < until_round:
            assert self.elapsed() < timeout, f"round {until_round} not reached within {timeout:.0f} s"
            self._recover(self.elapsed())
            if self.elapsed() >= fault.at:
                self._inject(fault)
                fault = next(plan)
            time.sleep(0.2)
        while self._due:
            time.sleep(max(0.0, min(due for due, _ in self._due) - self.elapsed()))
            self._recover(self.elapsed())

    def _inject(self, fault: Fault) -> None:
        state = retry_transient(self.cluster.manager.round_state)
        record = FaultRecord(len(self.records) + 1, fault, self.elapsed(), state.round, state.phase.name.lower())
        self.records.append(record)
        print(f"fault {record.number} at {record.at:.1f} s, round {record.round} ({record.phase}): {fault.kind} {fault.target} for {fault.down} s", flush=True)
        if fault.kind == "kill":
            assert self.cluster.running(fault.target), f"{fault.target} died before it was killed"
            self.cluster.kill9(fault.target)
        elif fault.kind == "store":
            self.proxy.stop()
        elif fault.kind == "flaky":
            self.proxy.make_flaky(random.Random(f"{self.seed}/{record.number}"))
        else:
            last = self.chain.stop_with_state()
            time.sleep(fault.down)
            self.chain.start()
            kept = retry_transient(lambda: self.chain.w3.eth.get_block(last["number"]))
            assert kept["hash"] == last["hash"], f"anvil came back without block {last['number']}"
            record.outcome = f"state kept (block {last['number']})"
            self._back(record)
            return
        self._due.append((record.at + fault.down, record))

    def _recover(self, now: float) -> None:
        """Bring back every target whose time is up."""
        for due, record in [d for d in self._due if d[0] <= now]:
            self._due.remove((due, record))
            if record.fault.kind == "kill":
                self._start_node(record.fault.target)
            elif record.fault.kind == "store":
                self.proxy.start()
            else:
                self.proxy.make_flaky(None)
            self._back(record)

    def _start_node(self, name: str) -> None:
        """Start a killed node again; wait until its daemon runs (logged ``started``).

        ``bflc node`` checks the chain once at startup and exits if it does
        not answer (a configuration error, by design), so no other fault is
        injected before the daemon is past that point.
        """
        starts = len(self.cluster.journal(name, "started"))
        self.cluster.restart(name)
        self.wait_started(name, starts + 1)

    def wait_started(self, name: str, starts: int) -> None:
        """Wait until ``name`` logged its ``starts``-th ``started`` event."""

        def started() -> bool:
            assert self.cluster.running(name), f"{name} exited at startup; see {self.cluster.record(name).log}"
            return len(self.cluster.journal(name, "started")) >= starts

        self.cluster.wait(started, NODE_STARTUP_SECONDS, f"{name} to start")

    def _back(self, record: FaultRecord) -> None:
        record.back = self.elapsed()
        print(f"fault {record.number}: {record.fault.target} back after {record.back - record.at:.1f} s", flush=True)


# ---------------------------------------------------------------- a hostile JSON-RPC endpoint

WORD_99 = "0x" + (99).to_bytes(32, "big").hex()  # a uint of 99: no phase, status or bool has it


def _bad_hex(value: object) -> object:
    """``value`` with every hex string in it replaced by one that is not hex."""
    if isinstance(value, str) and value.startswith("0x"):
        return "0xZZ"
    if isinstance(value, dict):
        return {key: _bad_hex(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_bad_hex(item) for item in value]
    return value


class HostileRpcProxy:
    """An HTTP proxy on 127.0.0.1 in front of a JSON-RPC node that answers
    honestly or, in one of :attr:`MODES`, badly.

    Whatever the request's path and credentials, it is sent to ``backend``.
    Modes: ``honest``; ``non-json`` (an HTML page); ``truncated`` (the first
    half of the answer); ``out-of-range`` (every ``eth_call`` returns the word
    99: no phase, node status or bool); ``bad-hex`` (every hex string is
    ``0xZZ``); ``missing-field`` (no ``result``); ``wrong-type`` (a
    ``result`` object where a string belongs, and the reverse); ``huge``
    (:attr:`huge_bytes` of a JSON string, without a length, as fast as the
    client reads); ``slow`` (the honest answer after :attr:`slow_seconds`);
    ``trickle`` (the honest answer, one byte every :attr:`trickle_seconds`);
    ``http-500``; ``deep`` (a result of 100,000 nested arrays: parsed, it
    would overflow the stack of a process with web3's recursion limit). With :attr:`targets` set, only answers to those methods
    are bad.

    Parameters
    ----------
    backend:
        The JSON-RPC URL of the node behind it.
    """

    MODES = ("honest", "non-json", "truncated", "out-of-range", "bad-hex", "missing-field", "wrong-type", "huge", "slow", "trickle", "http-500", "deep")

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.mode = "honest"
        self.huge_bytes = 40 * 2**20
        self.slow_seconds = 2.0
        self.trickle_seconds = 0.2
        self.targets: frozenset[str] | None = None
        self.methods: list[str] = []  # every JSON-RPC method asked, in order
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> HostileRpcProxy:
        """Listen on :attr:`port` (in a thread) and return self."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                proxy._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening (the port is closed afterwards)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HostileRpcProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        request = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        method = str(json.loads(request).get("method", "?")) if request.startswith(b"{") else "?"
        self.methods.append(method)
        mode = self.mode if self.targets is None or method in self.targets else "honest"
        with contextlib.suppress(OSError):  # the client may hang up on a huge or slow answer
            if mode == "http-500":
                self._send(handler, b"internal error", status=500)
            elif mode == "non-json":
                self._send(handler, b"<html><body>502 Bad Gateway</body></html>")
            elif mode == "huge":
                self._send_huge(handler)
            elif mode == "deep":
                self._send(handler, b'{"jsonrpc": "2.0", "id": 1, "result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
            else:
                self._send(handler, self._corrupt(mode, method, self._forward(request, mode)), trickle=mode == "trickle")

    def _forward(self, request: bytes, mode: str) -> bytes:
        if mode == "slow":
            time.sleep(self.slow_seconds)
        post = urllib.request.Request(self.backend, data=request, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=60) as answer:
            return bytes(answer.read())

    @staticmethod
    def _corrupt(mode: str, method: str, answer: bytes) -> bytes:
        if mode == "truncated":
            return answer[: len(answer) // 2]
        if mode not in ("out-of-range", "bad-hex", "missing-field", "wrong-type"):
            return answer
        message = json.loads(answer)
        if "result" not in message:
            return answer
        if mode == "out-of-range" and method == "eth_call":
            message["result"] = WORD_99
        elif mode == "bad-hex":
            message["result"] = _bad_hex(message["result"])
        elif mode == "missing-field":
            del message["result"]
        elif mode == "wrong-type":
            message["result"] = {"unexpected": [1, 2]} if isinstance(message["result"], str) else "0x1"
        return json.dumps(message).encode()

    def _send(self, handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, trickle: bool = False) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not trickle:
            handler.wfile.write(body)
            return
        for byte in body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(self.trickle_seconds)

    def _send_huge(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"0" * 2**20
        handler.wfile.write(b'{"jsonrpc": "2.0", "id": 1, "result": "0x')
        for _ in range(self.huge_bytes // len(chunk)):
            handler.wfile.write(chunk)
        handler.wfile.write(b'"}')
