"""FastChain against InProcessChain: the same script gives the same chain.

Every transaction's result (hash, gas, block, events) or revert reason, every
view after each step, and every native balance must be equal on both
backends; so must a simulation's output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bflc.chain import ElectionMode, ProtocolParams, to_fixed
from bflc.chain.artifact import load_artifact, source_path
from bflc.chain.fast import FastChain
from bflc.chain.inprocess import InProcessChain
from bflc.errors import ContractRevert
from bflc.protocol import commitment

pytestmark = pytest.mark.slow

GENESIS = b"\x01" * 32
MODEL_A = b"\xaa" * 32
MODEL_B = b"\xbb" * 32
FEE = 700


class Script:
    """Plays ledger operations on one chain and records every outcome.

    ``log`` holds, in order, each operation with its result (or its revert
    reason) and the block number after it, and the full view of the chain at
    each :meth:`check`.
    """

    def __init__(self, chain: Any, election: ElectionMode) -> None:
        self.chain = chain
        acc = chain.accounts
        self.managers, self.committee, self.trainers = acc[:2], acc[2:5], acc[5:19]
        self.outsiders = acc[19:]
        self.log: list[Any] = []
        factor_weight = 0.5 if election == ElectionMode.MULTI_FACTOR else 0.0
        params = ProtocolParams(
            committee_size=3,
            updates_per_round=6,
            election=election,
            score_weight=1.0 - factor_weight,
            factor_weight=factor_weight,
            commit_deadline_blocks=5,
            reveal_deadline_blocks=5,
            score_deadline_blocks=20,
            round_deadline_blocks=30,
            permission_fee=FEE,
            round_reward=1_000_003,
            committee_share=0.1,
        )
        self.ledger = chain.deploy(self.managers, self.committee, GENESIS, "file:///genesis", params)
        self.log.append(("deployed", self.ledger.address, self.ledger.block_number()))

    def do(self, account: str, operation: str, *args: Any, **kwargs: Any) -> Any:
        ledger = self.ledger.as_account(account)
        try:
            outcome = getattr(ledger, operation)(*args, **kwargs)
        except ContractRevert as exc:
            outcome = ("reverted", str(exc))
        self.log.append((operation, account, args, outcome, self.ledger.block_number()))
        return outcome

    def check(self, history: bool = False) -> None:
        """Record every view of the contract and every native balance.

        The views of a round are read for the current round and the one
        before it; with ``history``, for every round. A round's records do
        not change once the round has ended, so the last check, with
        ``history``, compares all of them (reading every round at every
        check made this test the slowest of the suite on the eth-tester chain).
        """
        ledger = self.ledger
        views: list[Callable[[], Any]] = [ledger.params, ledger.managers, ledger.round_state, ledger.reward_pool]
        r = ledger.current_round()
        views += [ledger.model_history]
        for past in range(0 if history else max(r - 1, 0), r + 1):
            views += [
                lambda p=past: ledger.entropy(p),
                lambda p=past: ledger.committee(p),
                lambda p=past: ledger.round_updates(p),
                lambda p=past: ledger.qualified(p),
                lambda p=past: ledger.proposals(p),  # every member's (one log query, not one per member)
                lambda p=past: [ledger.proposal_count(p, h) for h in (MODEL_A, MODEL_B)],
            ]
        for node in self.chain.accounts[:20]:
            views += [
                lambda n=node: (ledger.status(n), ledger.balance(n), ledger.escrow(n)),
                lambda n=node: (ledger.is_committee_member(r, n), ledger.has_submitted(r, n), ledger.commitment(r, n)),
            ]
        views += [lambda: [ledger.blob_used(h) for h in (GENESIS, MODEL_A, MODEL_B, _blob(0, 0))]]
        self.log.append(("views", [_outcome(view) for view in views]))
        accounts = [*self.chain.accounts, ledger.address]
        self.log.append(("native", [self.chain.native_balance(a) for a in accounts]))

    def commit(self, trainers: list[str]) -> list[tuple[str, bytes, int, bytes]]:
        """Each trainer commits to its update of this round; returns what it reveals with."""
        r = self.ledger.current_round()
        sealed = [(t, _blob(r, i), 10 + i, _blob(r, i)[::-1]) for i, t in enumerate(trainers)]
        for t, blob, samples, salt in sealed:
            self.do(t, "commit_update", r, commitment(t, r, blob, samples, salt))
        return sealed

    def reveal(self, sealed: list[tuple[str, bytes, int, bytes]]) -> list[int]:
        r = self.ledger.current_round()
        return [self.do(t, "reveal_update", r, blob, samples, salt) for t, blob, samples, salt in sealed]

    def submit(self, trainers: list[str]) -> list[int]:
        """K trainers commit (which closes commitments), then reveal."""
        return self.reveal(self.commit(trainers))

    def close(self, account: str, **kwargs: Any) -> None:
        self.do(account, "close_phase", self.ledger.current_round(), **kwargs)

    def score(self, ids: list[int], scores: list[float], members: list[str] | None = None, **kwargs: Any) -> None:
        r = self.ledger.current_round()
        for member in members or self.ledger.committee(r):
            self.do(member, "submit_scores", r, ids, [to_fixed(s) for s in scores], **kwargs)

    def propose(self, hashes: list[bytes]) -> None:
        r = self.ledger.current_round()
        for member, blob_hash in zip(self.ledger.committee(r), hashes, strict=False):
            if self.ledger.current_round() == r:
                self.do(member, "propose_model", r, blob_hash, f"file:///{blob_hash.hex()[:4]}")

    def outside(self, committee: list[str], count: int) -> list[str]:
        return [t for t in self.trainers if t not in committee][:count]


def _blob(round: int, index: int) -> bytes:
    """The blob hash of the index-th update of a round (never a model's hash)."""
    return (1000 * (round + 1) + index).to_bytes(32, "big")


def _outcome(view: Callable[[], Any]) -> Any:
    try:
        return view()
    except ContractRevert as exc:
        return ("reverted", str(exc))


def play(chain: Any, election: ElectionMode) -> list[Any]:
    """A multi-round life of the contract: admission with fees, scoring,
    deadlines, proposals, elections, re-election, replacement, failback,
    rewards and withdrawals, with wrong moves along the way."""
    s = Script(chain, election)
    manager, other_manager = s.managers
    t, outsider = s.trainers, s.outsiders
    ledger = s.ledger

    # admission: fees, refunds, blacklisting, wrong moves
    s.do(t[0], "apply", FEE - 1)
    for node in t:
        s.do(node, "apply", FEE)
    s.do(t[0], "admit", t[1])
    for node in t[:-2]:
        s.do(manager, "admit", node)
    s.do(t[-1], "withdraw_application")
    s.do(other_manager, "blacklist", t[-2])
    s.do(t[-2], "apply", FEE)
    s.do(manager, "fund", 5_000_000)
    s.do(outsider[0], "fund", 0)
    s.do(manager, "attest_factors", {node: to_fixed(i / 10) for i, node in enumerate(t[:10])})
    s.do(manager, "attest_factors", {t[0]: 2 * 10**6})
    s.do(t[0], "attest_factors", {t[0]: 1})
    s.check()

    # round 0: K commitments close the phase, every member votes, one dissenting proposal, rewards paid
    s.do(s.committee[0], "commit_update", 0, MODEL_A)
    s.do(t[0], "close_phase", 0)
    sealed = s.commit(t[:6])
    s.do(t[6], "commit_update", 0, MODEL_B)
    s.do(t[1], "reveal_update", 0, *sealed[0][1:])
    ids = s.reveal(sealed)
    s.do(t[0], "reveal_update", 0, *sealed[0][1:])
    s.score(ids, [0.9, 0.6, 0.3, 0.8, 0.5, 0.4])
    s.do(s.committee[0], "submit_scores", 0, ids, [1] * 6)
    s.propose([MODEL_B, MODEL_A, MODEL_A])
    s.check()

    # round 1: partial votes, closed after the scoring deadline in batches, scores in batches
    r, c = ledger.current_round(), ledger.committee(ledger.current_round())
    ids = s.submit(s.outside(c, 6))
    s.score(ids, [0.8, 0.7, 0.75, 0.6, 0.65, 0.9], members=c[:2], batch_size=4)
    s.score(ids[5:], [0.85], members=c[2:])
    s.close(t[5])
    chain.mine(20)
    s.do(t[5], "_transact", "close_phase", r, ledger.scoring_claims(r)[:2])
    s.score(ids[:1], [0.1], members=c[2:])
    s.close(t[5], batch_size=2)
    s.check()
    s.propose([MODEL_A] * 3)
    s.check()

    # round 2: the committee does nothing; re-election after the round deadline
    r, c = ledger.current_round(), ledger.committee(ledger.current_round())
    s.do(t[9], "reelect_committee", r)
    chain.mine(30)
    s.close(t[9])
    s.do(manager, "replace_committee", r, [c[0]])
    s.do(manager, "replace_committee", r, s.outside(c, 4))
    s.do(manager, "replace_committee", r, [t[0]] * 300)  # above MAX_COMMITTEE: the ABI decoder reverts without a reason
    s.do(t[9], "reelect_committee", r)
    s.check()

    # round 3: the re-elected committee; commitments and reveals closed after their deadlines
    r, c = ledger.current_round(), ledger.committee(ledger.current_round())
    s.close(other_manager)
    sealed = s.commit(s.outside(c, 5))
    chain.mine(5)
    s.close(other_manager)
    s.close(other_manager)
    ids = s.reveal(sealed[:4])
    chain.mine(5)
    s.close(other_manager)
    s.reveal(sealed[4:])
    s.score(ids, [0.5, 0.95, 0.4, 0.7])
    s.propose([MODEL_A] * 3)
    s.check()

    # round 4: no hash has a majority; the manager replaces the committee after the deadline
    r, c = ledger.current_round(), ledger.committee(ledger.current_round())
    ids = s.submit(s.outside(c, 6))
    s.score(ids, [0.7, 0.7, 0.2, 0.3, 0.9, 0.1])
    s.propose([MODEL_A, MODEL_B, GENESIS])
    s.do(manager, "replace_committee", r, s.outside(c, 3))
    chain.mine(30)
    s.do(manager, "replace_committee", r, s.outside(c, 3))
    s.check()

    # round 5, then failback to round 1's model
    r, c = ledger.current_round(), ledger.committee(ledger.current_round())
    ids = s.submit(s.outside(c, 6))
    s.score(ids, [0.6, 0.1, 0.8, 0.8, 0.3, 0.5])
    s.propose([MODEL_B] * 3)
    s.do(t[0], "failback", 1)
    s.do(manager, "failback", 99)
    s.do(manager, "failback", 1)
    s.check()

    # leaving, rejoining, withdrawing (native transfers out of the contract)
    s.do(t[7], "leave")
    s.do(t[7], "commit_update", ledger.current_round(), MODEL_A)
    s.do(t[7], "rejoin")
    s.do(manager, "leave")
    for node in [*s.managers, *s.committee, *t]:
        s.do(node, "withdraw")
    s.check(history=True)
    return s.log


@pytest.mark.parametrize("election", list(ElectionMode), ids=lambda e: e.name.lower())
def test_same_script_same_chain(election: ElectionMode) -> None:
    reference = play(InProcessChain(24), election)
    fast = play(FastChain(24), election)
    assert len(fast) == len(reference)
    for step, (expected, got) in enumerate(zip(reference, fast, strict=False)):
        assert got == expected, f"step {step} differs"
    # the script exercises what it claims to
    operations = [e for e in reference if len(e) == 5]
    reverted = [e for e in operations if isinstance(e[3], tuple) and e[3][0] == "reverted"]
    succeeded = {e[0] for e in operations if e not in reverted}
    assert succeeded >= {
        "apply",
        "admit",
        "withdraw_application",
        "blacklist",
        "fund",
        "attest_factors",
        "commit_update",
        "reveal_update",
        "submit_scores",
        "close_phase",
        "_transact",
        "propose_model",
        "reelect_committee",
        "replace_committee",
        "failback",
        "leave",
        "rejoin",
        "withdraw",
    }
    assert len(reverted) >= 25
    assert any("b''" in e[3][1] for e in reverted)  # a revert without a reason string


def test_the_committed_bytecode_is_deployed() -> None:
    chains = [InProcessChain(6), FastChain(6)]
    ledgers = [c.deploy(c.accounts[:1], c.accounts[1:4], GENESIS) for c in chains]
    expected = bytes.fromhex(load_artifact()["deployedBytecode"].removeprefix("0x"))
    assert bytes(chains[0].w3.eth.get_code(ledgers[0].address)) == expected
    assert chains[1].code(ledgers[1].address) == expected
    assert ledgers[0].address == ledgers[1].address


def test_the_contract_reads_only_the_block_number() -> None:
    """FastChain does not model timestamps, block hashes, prevrandao or the
    base fee's movement: the contract must not read them."""
    source = source_path().read_text()
    assert set(re.findall(r"\bblock\.(\w+)", source)) == {"number"}
    assert not re.search(r"\b(blockhash|blobhash)\(", source)


def test_sender_must_be_an_account_of_the_chain() -> None:
    from bflc.errors import ChainError

    chain = FastChain(6)
    ledger = chain.deploy(chain.accounts[:1], chain.accounts[1:4], GENESIS)
    stranger = "0x" + "12" * 20
    with pytest.raises(ChainError, match="not an account of this chain"):
        ledger.as_account(stranger).leave()
    assert ledger.as_account(stranger).status() == 0  # views need no key


def test_simulation_is_identical_on_both_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    from bflc.sim import protocol_runner
    from bflc.sim.config import SimConfig
    from bflc.sim.engine import simulate, without_timings

    config = SimConfig.create(dataset="femnist", model="mlp", nodes=30, active_fraction=0.3, rounds=3, seed=1)
    assert protocol_runner.FastChain is FastChain  # the simulator's default
    fast = without_timings(simulate(config, progress=False))
    monkeypatch.setattr(protocol_runner, "FastChain", InProcessChain)
    reference = without_timings(simulate(config, progress=False))
    assert json.dumps(fast, sort_keys=True) == json.dumps(reference, sort_keys=True)
    assert sum(m["transactions"] for m in fast["rounds"]) > 0
