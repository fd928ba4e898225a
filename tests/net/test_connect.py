"""connect(): the checks before a ledger is handed out, and read-only ledgers."""

from __future__ import annotations

import dataclasses

import pytest

from bflc.chain.anvil import AnvilChain, free_port
from bflc.chain.web3_ledger import Web3Ledger
from bflc.errors import ChainError, ConfigError
from bflc.net.connect import connect, open_web3

from .conftest import Deployed, KeyFactory


def test_a_closed_port_is_cannot_reach(deployed: Deployed) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match=f"cannot reach the chain at {url}"):
        connect(dataclasses.replace(deployed.net, rpc=url), timeout=5)


def test_a_node_on_another_chain_is_refused(deployed: Deployed) -> None:
    with pytest.raises(ChainError, match="is on chain 31337, but the network file says chain 5"):
        connect(dataclasses.replace(deployed.net, chain_id=5))


def test_an_address_without_code_is_refused(deployed: Deployed) -> None:
    empty = dataclasses.replace(deployed.net, contract=deployed.manager.address)
    with pytest.raises(ChainError, match=f"no contract at {deployed.manager.address} on chain 31337"):
        connect(empty)


def test_open_web3_without_a_chain_id_accepts_any_chain(anvil: AnvilChain) -> None:
    assert open_web3(anvil.url).eth.chain_id == 31337


def test_a_connection_without_a_key_reads_but_never_sends(deployed: Deployed) -> None:
    ledger = deployed.ledger()
    assert ledger.read_only
    assert ledger.committee(0) == [k.address for k in deployed.committee]
    assert ledger.managers() == [deployed.manager.address]
    with pytest.raises(ConfigError, match=r"read-only.*--key-file"):
        ledger.admit(deployed.trainers[0].address)
    other = ledger.as_account(deployed.trainers[0].address)
    assert other.read_only and other.account == deployed.trainers[0].address
    assert other.status().name == "ADMITTED"
    with pytest.raises(ConfigError, match="read-only"):
        other.leave()


def test_a_signing_ledger_never_switches_to_another_account(deployed: Deployed) -> None:
    ledger = deployed.ledger(deployed.manager)
    assert not ledger.read_only and ledger.account == deployed.manager.address
    assert ledger.as_account(deployed.manager.address.lower()).account == deployed.manager.address
    with pytest.raises(ConfigError, match=f"signs with the key of {deployed.manager.address}; it cannot send as"):
        ledger.as_account(deployed.trainers[0].address)


def test_an_account_that_is_not_the_signer_is_refused(deployed: Deployed, keys: KeyFactory) -> None:
    ledger = deployed.ledger()
    with pytest.raises(ConfigError, match="cannot send as"):
        Web3Ledger(ledger.w3, ledger.address, deployed.trainers[0].address, signer=deployed.manager.account)
