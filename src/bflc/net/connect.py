"""Connecting to a real network's JSON-RPC node, checked before use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware

from bflc.chain.web3_ledger import RECEIPT_TIMEOUT, Web3Ledger
from bflc.errors import ChainError
from bflc.net.network import NetworkFile

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

RPC_TIMEOUT = 30.0
"""Seconds one JSON-RPC request may take."""

_UNREACHABLE = (requests.RequestException, OSError, ProviderConnectionError, Web3RPCError, ValueError)


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
        Seconds each request may take.

    Raises
    ------
    ChainError
        If the node does not answer, or is on another chain.
    """
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": timeout}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    try:
        actual = int(w3.eth.chain_id)
    except _UNREACHABLE as error:
        raise ChainError(
            f"cannot reach the chain at {rpc} ({type(error).__name__})",
            "check the URL, that the node is running, and that this machine can reach it",
        ) from None
    if chain_id is not None and actual != chain_id:
        raise ChainError(
            f"the node at {rpc} is on chain {actual}, but the network file says chain {chain_id}",
            "point rpc at a node of the network's chain, or fix chain_id",
        )
    return w3


def connect(
    net: NetworkFile,
    account: LocalAccount | None = None,
    *,
    timeout: float = RPC_TIMEOUT,
    receipt_timeout: float = RECEIPT_TIMEOUT,
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

    Raises
    ------
    ChainError
        If the node cannot be reached, is on another chain, or there is no
        contract at the network's address.
    """
    w3 = open_web3(net.rpc, chain_id=net.chain_id, timeout=timeout)
    if not w3.eth.get_code(Web3.to_checksum_address(net.contract)):  # stored checksummed already
        raise ChainError(
            f"no contract at {net.contract} on chain {net.chain_id} ({net.rpc})",
            f"check [chain] contract in the network file, and that the node has synced past block {net.deployed_block}",
        )
    return Web3Ledger(w3, net.contract, signer=account, receipt_timeout=receipt_timeout)
