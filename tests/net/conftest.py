"""Real-network fixtures: an anvil node (127.0.0.1, stopped by PID), fresh
keys funded from its dev accounts, and a network deployed with a local signer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from bflc.chain import ProtocolParams
from bflc.chain.anvil import AnvilChain
from bflc.chain.web3_ledger import Web3Ledger
from bflc.net.connect import connect
from bflc.net.deploy import deploy_network
from bflc.net.keys import load_key, new_key_file
from bflc.net.network import LearningSettings, NetworkFile, write_network
from bflc.protocol import commitment

FUNDING = 10**20
# A small model so that deployments and blobs stay cheap.
LEARNING = LearningSettings(model="mlp", input_shape=(1, 8, 8), num_classes=10)


@dataclass
class Key:
    path: Path
    account: LocalAccount

    @property
    def address(self) -> str:
        return self.account.address


KeyFactory = Callable[..., Key]


def make_key(chain: AnvilChain, directory: Path, name: str, funded: bool = True) -> Key:
    """A new raw key file in ``directory``, funded from anvil's first dev account."""
    path = directory / f"{name}.key"
    new_key_file(path)
    key = Key(path, load_key(path))
    if funded:
        chain.w3.eth.wait_for_transaction_receipt(
            chain.w3.eth.send_transaction({"from": chain.accounts[0], "to": key.address, "value": FUNDING})
        )
    return key


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilChain]:
    with AnvilChain(2) as chain:
        yield chain


@pytest.fixture
def fresh_anvil() -> Iterator[AnvilChain]:
    """An anvil node of this test's own (for tests that stop its mining)."""
    with AnvilChain(2) as chain:
        yield chain


@pytest.fixture
def keys(anvil: AnvilChain, tmp_path: Path) -> KeyFactory:
    counter = iter(range(10**6))
    return lambda name=None, funded=True: make_key(anvil, tmp_path, name or f"key{next(counter)}", funded)


def submit(ledger: Web3Ledger, blob: bytes, samples: int) -> int:
    """Commit to an update in the current round and reveal it (K = 1: the commitment ends the commit phase)."""
    r, salt = ledger.current_round(), keccak(blob)
    ledger.commit_update(r, commitment(ledger.account, r, blob, samples, salt))
    return ledger.reveal_update(r, blob, samples, salt)


@dataclass
class Deployed:
    """A network on the session's anvil: one manager, a committee of three, three trainers."""

    net: NetworkFile
    path: Path
    manager: Key
    committee: list[Key]
    trainers: list[Key]

    def ledger(self, key: Key | None = None) -> Web3Ledger:
        return connect(self.net, key.account if key else None)


def deploy_test_network(chain: AnvilChain, directory: Path, **params: int) -> Deployed:
    manager = make_key(chain, directory, "manager")
    committee = [make_key(chain, directory, f"member{i}") for i in range(3)]
    trainers = [make_key(chain, directory, f"trainer{i}") for i in range(3)]
    settings = {
        "committee_size": 3,
        "min_committee_size": 1,
        "updates_per_round": 1,
        "commit_deadline_blocks": 5,
        "reveal_deadline_blocks": 5,
        "score_deadline_blocks": 5,
        "round_deadline_blocks": 20,
    }
    net = deploy_network(
        chain.url,
        manager.account,
        name="test",
        store=str(directory / "store"),
        committee=[k.address for k in committee],
        params=ProtocolParams(**{**settings, **params}),
        learning=LEARNING,
    )
    path = write_network(directory / "network.toml", net)
    deployed = Deployed(net, path, manager, committee, trainers)
    admin = deployed.ledger(manager)
    if net_fee := params.get("permission_fee", 0):
        for trainer in trainers:
            deployed.ledger(trainer).apply(net_fee)
    admin.admit(*(trainer.address for trainer in trainers))
    return deployed


@pytest.fixture
def deployed(anvil: AnvilChain, tmp_path: Path) -> Deployed:
    return deploy_test_network(anvil, tmp_path)
