"""A small deployed network for contract tests, on each chain backend:
the in-process EVM and an anvil node over JSON-RPC (started once per test
session on a free 127.0.0.1 port, stopped by PID at the end)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest
from eth_utils.crypto import keccak

from bflc.chain import Ledger, Phase, ProtocolParams, to_fixed
from bflc.chain.anvil import AnvilChain
from bflc.chain.devchain import DevChain
from bflc.chain.inprocess import InProcessChain
from bflc.chain.types import DEFAULT_DECISION_LIFETIME, MAX_NODES_PER_DECISION
from bflc.protocol import commitment

GENESIS = b"\x01" * 32


class Sealed(NamedTuple):
    """A trainer's update before its reveal: what it commits to and later opens."""

    trainer: str
    blob: bytes
    samples: int
    salt: bytes

    def commitment(self, round: int) -> bytes:
        """The commitment of this update in ``round``."""
        return commitment(self.trainer, round, self.blob, self.samples, self.salt)


@dataclass
class Network:
    chain: DevChain
    ledger: Ledger
    managers: list[str]
    committee: list[str]
    trainers: list[str]
    outsiders: list[str]
    params: ProtocolParams
    _next_blob: int = field(default=100)
    _next_salt: int = field(default=0)

    def at(self, account: str) -> Ledger:
        return self.ledger.as_account(account)

    def blob(self) -> bytes:
        self._next_blob += 1
        return self._next_blob.to_bytes(32, "big")

    def seal(self, trainer: str, samples: int = 10) -> Sealed:
        """A fresh blob and salt for ``trainer`` (nothing is sent)."""
        return Sealed(trainer, self.blob(), samples, self.salt())

    def commit(self, trainers: list[str], round: int | None = None, samples: int = 10) -> list[Sealed]:
        """Each trainer commits to a fresh blob; returns (trainer, blob, samples, salt) to reveal with."""
        r = self.ledger.current_round() if round is None else round
        sealed = []
        for t in trainers:
            s = self.seal(t, samples)
            self.at(t).commit_update(r, s.commitment(r))
            sealed.append(s)
        return sealed

    def reveal(self, sealed: Sequence[tuple[str, bytes, int, bytes]], round: int | None = None) -> list[int]:
        r = self.ledger.current_round() if round is None else round
        return [self.at(t).reveal_update(r, blob, samples, salt) for t, blob, samples, salt in sealed]

    def submit(self, trainers: list[str], round: int | None = None, samples: int = 10) -> list[int]:
        """Commit then reveal an update from each trainer; closes commitments after the deadline if fewer than K."""
        r = self.ledger.current_round() if round is None else round
        sealed = self.commit(trainers, r, samples)
        if self.ledger.phase() == Phase.COMMIT:
            self.close_after_deadline()
        return self.reveal(sealed, r)

    def salt(self) -> bytes:
        self._next_salt += 1
        return keccak(self._next_salt.to_bytes(32, "big"))

    def close_after_deadline(self, account: str | None = None) -> None:
        """Mine to the current phase's deadline, then close the phase."""
        state = self.ledger.round_state()
        self.chain.mine(max(0, state.phase_start_block + self.params.deadline_blocks(state.phase) - self.ledger.block_number()))
        self.at(account or self.managers[0]).close_phase(state.round)

    def score_all(self, ids: list[int], scores: list[float], members: list[str] | None = None) -> None:
        """Every member gives update ids[i] the score scores[i]."""
        r = self.ledger.current_round()
        for m in members or self.ledger.committee(r):
            self.at(m).submit_scores(r, ids, [to_fixed(s) for s in scores])

    def propose_all(self, blob_hash: bytes, members: list[str] | None = None, uri: str = "file:///m") -> None:
        r = self.ledger.current_round()
        for m in members or self.ledger.committee(r):
            if self.ledger.current_round() != r:
                break
            self.at(m).propose_model(r, blob_hash, uri)

    def contract_value(self) -> int:
        return self.chain.native_balance(self.ledger.address)


ANVIL_ACCOUNTS = 150


ChainFactory = Callable[[int], DevChain]


def build_network(
    num_managers: int = 2,
    num_committee: int = 5,
    num_trainers: int = 12,
    *,
    chain_factory: ChainFactory = InProcessChain,
    threshold: int | None = None,
    decision_lifetime: int = DEFAULT_DECISION_LIFETIME,
    **params,
) -> Network:
    """Deploy a network (a council of ``num_managers``, by default a majority
    threshold) and admit its trainers in one decision."""
    defaults = {
        "committee_size": num_committee,
        "min_committee_size": min(3, num_committee),
        "updates_per_round": 3,
        "commit_deadline_blocks": 5,
        "reveal_deadline_blocks": 5,
        "score_deadline_blocks": 5,
        "round_deadline_blocks": 20,
    }
    defaults.update(params)
    p = ProtocolParams(**defaults)
    chain = chain_factory(num_managers + num_committee + num_trainers + 10)
    acc = chain.accounts
    managers = acc[:num_managers]
    committee = acc[num_managers : num_managers + num_committee]
    trainers = acc[num_managers + num_committee : num_managers + num_committee + num_trainers]
    outsiders = acc[num_managers + num_committee + num_trainers :]
    ledger = chain.deploy(managers, committee, GENESIS, "file:///genesis", p, threshold=threshold, decision_lifetime=decision_lifetime)
    if p.permission_fee:
        for t in trainers:
            ledger.as_account(t).apply(p.permission_fee)
    for i in range(0, len(trainers), MAX_NODES_PER_DECISION):
        ledger.admit(*trainers[i : i + MAX_NODES_PER_DECISION])
    return Network(chain, ledger, managers, committee, trainers, outsiders, p)


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilChain]:
    with AnvilChain(ANVIL_ACCOUNTS) as chain:
        yield chain


@pytest.fixture(params=["in-process", "anvil"])
def chain_factory(request: pytest.FixtureRequest) -> ChainFactory:
    """A new in-process chain per network, or the session's anvil node (each
    network deploys its own contract there, so tests stay independent)."""
    if request.param == "in-process":
        return InProcessChain
    node: AnvilChain = request.getfixturevalue("anvil")

    def shared(num_accounts: int) -> DevChain:
        assert num_accounts <= ANVIL_ACCOUNTS, f"the anvil node has {ANVIL_ACCOUNTS} accounts"
        return node

    return shared


@pytest.fixture
def examples(request: pytest.FixtureRequest) -> int:
    """Hypothesis examples per test on this backend: the test module's ``EXAMPLES[backend name]``."""
    return int(request.module.EXAMPLES[request.node.callspec.params["chain_factory"]])


@pytest.fixture
def make_network(chain_factory: ChainFactory) -> Callable[..., Network]:
    return functools.partial(build_network, chain_factory=chain_factory)


@pytest.fixture
def net(make_network: Callable[..., Network]) -> Network:
    return make_network()
