"""A local Ethereum node: anvil (Foundry), installed from npm by the Makefile.

Started on a free 127.0.0.1 port and stopped by its PID. Its dev accounts are
unlocked, so the same web3.py ledger sends transactions as on the in-process
chain, but over JSON-RPC.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from bflc.chain.devchain import BLOCK_GAS_LIMIT, DevChain
from bflc.errors import ChainError

STARTUP_SECONDS = 30
# States anvil keeps for calls on past blocks (a failed transaction's reason is
# recovered by replaying it on its parent block). Without a bound anvil writes
# every older state under ~/.foundry/anvil/tmp: gigabytes per test run.
HISTORY_STATES = 256


def anvil_binary() -> Path:
    """The anvil executable: ``$BFLC_ANVIL``, the project's ``node_modules``, or PATH.

    Raises
    ------
    ChainError
        If none is found.
    """
    candidates = [os.environ.get("BFLC_ANVIL", "")]
    for parent in [Path.cwd(), *Path(__file__).resolve().parents]:
        candidates.append(str(parent / "node_modules" / ".bin" / "anvil"))
    candidates.append(shutil.which("anvil") or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ChainError("no anvil binary found", "run `npm ci` in the bflc checkout (make test does), or set BFLC_ANVIL")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def anvil_command(port: int, *options: str) -> list[str]:
    """The command line of an anvil node on ``127.0.0.1:port``.

    Parameters
    ----------
    port : int
        The JSON-RPC port.
    *options : str
        Further anvil options (accounts, block time, state file).

    Returns
    -------
    list of str
        The node's block gas limit is the project's, and it keeps only the
        last ``HISTORY_STATES`` states, in memory.
    """
    return [
        str(anvil_binary()),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--gas-limit", str(BLOCK_GAS_LIMIT),
        "--prune-history", str(HISTORY_STATES),
        *options,
    ]


class AnvilChain(DevChain):
    """An anvil node with ``num_accounts`` funded accounts, on 127.0.0.1.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, num_accounts: int = 10, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = anvil_command(self.port, "--accounts", str(num_accounts), "--balance", "1000000", "--silent")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        self._wait_until_ready()
        self.accounts = [Web3.to_checksum_address(a) for a in self.w3.eth.accounts]

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise ChainError(f"anvil exited with code {self.process.returncode}: {err.strip()[:500]}")
            if self.w3.is_connected():
                return
            time.sleep(0.1)
        self.close()
        raise ChainError(f"anvil did not answer on {self.url} within {STARTUP_SECONDS} s")

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks (``anvil_mine``)."""
        self.w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(blocks)])

    def close(self) -> None:
        """Stop the node (by its PID) and wait for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> AnvilChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
