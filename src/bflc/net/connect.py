"""Connecting to a real network's JSON-RPC node, checked before use.

The node is not trusted: each answer is read within a size limit and a
deadline (:class:`BoundedSession`), and what it says is decoded by
:class:`~bflc.chain.web3_ledger.Web3Ledger`, which turns anything malformed
into :class:`~bflc.errors.EndpointError`. Messages name the endpoint by
scheme, host and port only (:func:`bflc.redact.redact_url`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from web3 import HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError, Web3Exception, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware

from bflc.chain.web3_ledger import RECEIPT_TIMEOUT, Web3Ledger
from bflc.errors import ChainError, EndpointError
from bflc.files import json_structure
from bflc.net.network import NetworkFile
from bflc.redact import redact_url

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

RPC_TIMEOUT = 30.0
"""Seconds one JSON-RPC request may take, from sending it to the last byte of its answer."""

MAX_RESPONSE_BYTES = 32 * 2**20
"""Largest JSON-RPC answer read (no view or receipt of the contract comes near it)."""

MAX_RESPONSE_DEPTH = 64
"""Deepest nesting of a JSON-RPC answer parsed (a block with access lists nests 6 deep)."""

_CHUNK_BYTES = 2**16
_UNREACHABLE = (requests.RequestException, OSError, ProviderConnectionError, Web3RPCError, Web3Exception, ValueError, KeyError, TypeError)


class BoundedSession(requests.Session):
    """An HTTP session that reads every answer within a size limit and a deadline.

    The body is streamed: an answer that says or turns out to be larger than
    ``max_bytes`` is refused without being held in memory, and one that is
    still arriving after ``deadline`` seconds (a slow trickle resets no
    socket timeout) is abandoned.

    Parameters
    ----------
    max_bytes : int
        Largest body accepted.
    deadline : float
        Seconds from sending a request to the end of its answer.
    """

    def __init__(self, max_bytes: int = MAX_RESPONSE_BYTES, deadline: float = RPC_TIMEOUT) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.headers["Accept-Encoding"] = "identity"  # the limit counts the bytes as they will be held

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request and read its whole answer within the limits.

        Raises
        ------
        EndpointError
            If the answer exceeds ``max_bytes``.
        ChainError
            If it does not arrive in full within ``deadline`` seconds, or the
            connection breaks off while it arrives.
        """
        until = time.monotonic() + self.deadline
        response = super().request(method, url, *args, **{**kwargs, "stream": True})
        with response:
            response._content = self._body(response, until, redact_url(str(url)))
        return response

    def _body(self, response: requests.Response, until: float, endpoint: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(f"{int(declared)} bytes", endpoint)
        body = bytearray()
        try:
            while chunk := response.raw.read1(_CHUNK_BYTES):
                body += chunk
                if len(body) > self.max_bytes:
                    raise self._too_large(f"more than {self.max_bytes} bytes", endpoint)
                if time.monotonic() > until:
                    raise ChainError(
                        f"the chain endpoint did not finish its answer within {self.deadline:g} s (at {endpoint})",
                        "the node is overloaded or something slows its answers; the daemon retries",
                    )
        except urllib3.exceptions.HTTPError as error:
            raise ChainError(f"the chain endpoint broke off its answer: {type(error).__name__} (at {endpoint})", "the daemon retries") from error
        depth, _ = json_structure(bytes(body))
        if depth > MAX_RESPONSE_DEPTH:
            raise EndpointError(
                f"the chain endpoint answered malformed data: JSON nested {depth} deep, over the limit of {MAX_RESPONSE_DEPTH} (at {endpoint})",
                "parsing it could overflow the stack; the daemon retries",
            )
        return bytes(body)

    def _too_large(self, size: str, endpoint: str) -> EndpointError:
        return EndpointError(
            f"the chain endpoint answered malformed data: an answer of {size}, over the limit of {self.max_bytes} (at {endpoint})",
            "check the RPC node and anything between it and this machine; the daemon retries",
        )


def open_web3(rpc: str, *, chain_id: int | None = None, timeout: float = RPC_TIMEOUT) -> Web3:
    """A web3 connection to ``rpc`` that has answered once.

    Proof-of-authority chains (geth clique, Besu QBFT/IBFT) are read too: their
    long ``extraData`` is accepted.

    Parameters
    ----------
    rpc:
        The node's HTTP(S) JSON-RPC URL.
    chain_id:
        The chain the node must be on (not checked when ``None``).
    timeout:
        Seconds each request may take, its whole answer included (which may
        be at most :data:`MAX_RESPONSE_BYTES`).

    Raises
    ------
    ChainError
        If the node does not answer, or is on another chain.
    """
    session = BoundedSession(deadline=timeout)
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": timeout}, session=session))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    try:
        actual = int(w3.eth.chain_id)
    except (ChainError, *_UNREACHABLE) as error:
        raise ChainError(
            f"cannot reach the chain at {redact_url(rpc)} ({type(error).__name__})",
            "check the URL, that the node is running, and that this machine can reach it",
        ) from None
    if chain_id is not None and actual != chain_id:
        raise ChainError(
            f"the node at {redact_url(rpc)} is on chain {actual}, but the network file says chain {chain_id}",
            "point rpc at a node of the network's chain, or fix chain_id",
        )
    return w3


def connect(
    net: NetworkFile,
    account: LocalAccount | None = None,
    *,
    timeout: float = RPC_TIMEOUT,
    receipt_timeout: float = RECEIPT_TIMEOUT,
    dry_run_first: bool = False,
) -> Web3Ledger:
    """A ledger on the network's contract, signing with ``account``.

    Parameters
    ----------
    net:
        The network file.
    account:
        The key that signs transactions (:func:`bflc.net.keys.load_key`);
        ``None`` gives a read-only ledger whose transactions raise ConfigError.
    timeout:
        Seconds each JSON-RPC request may take.
    receipt_timeout:
        Seconds to wait for each transaction to be mined.
    dry_run_first:
        Send a transaction only if it succeeds as a call first (see
        :class:`~bflc.chain.web3_ledger.Web3Ledger`).

    Raises
    ------
    ChainError
        If the node cannot be reached, is on another chain, or there is no
        contract at the network's address.
    """
    w3 = open_web3(net.rpc, chain_id=net.chain_id, timeout=timeout)
    try:
        code = w3.eth.get_code(Web3.to_checksum_address(net.contract))  # stored checksummed already
    except (ChainError, *_UNREACHABLE) as error:
        raise ChainError(f"cannot read the contract's code at {redact_url(net.rpc)} ({type(error).__name__})", "try again") from None
    if not code:
        raise ChainError(
            f"no contract at {net.contract} on chain {net.chain_id} ({redact_url(net.rpc)})",
            f"check [chain] contract in the network file, and that the node has synced past block {net.deployed_block}",
        )
    return Web3Ledger(w3, net.contract, signer=account, receipt_timeout=receipt_timeout, dry_run_first=dry_run_first)
