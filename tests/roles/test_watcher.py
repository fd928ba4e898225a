"""The watcher's deadline duties: close a phase only when closing keeps something; seat odd committees."""

from __future__ import annotations

import pytest

from bflc.chain import Phase, ProtocolParams
from bflc.chain.fast import FastChain
from bflc.protocol import commitment
from bflc.roles import Duty, Watcher

PARAMS = ProtocolParams(committee_size=5, min_committee_size=3, updates_per_round=2, commit_deadline_blocks=4, reveal_deadline_blocks=4, score_deadline_blocks=4, round_deadline_blocks=30)
SALT = b"\x05" * 32
BLOB = b"\x09" * 32


@pytest.fixture
def net():
    chain = FastChain(9)
    manager, members, trainers = chain.accounts[0], chain.accounts[1:6], chain.accounts[6:9]
    ledger = chain.deploy([manager], members, b"\x01" * 32, "mem://genesis", PARAMS)
    for t in trainers:
        ledger.admit(t)
    return chain, ledger, trainers


@pytest.mark.parametrize(("candidates", "seated"), [(1, 0), (2, 0), (3, 3), (4, 3), (5, 5), (6, 5)])
def test_a_committee_is_odd_at_least_the_minimum_and_at_most_m(net, candidates, seated):
    _, ledger, _ = net
    names = [f"0x{i:040x}" for i in range(candidates)]
    assert Watcher(ledger, PARAMS).committee_of(names) == names[:seated]


def test_commitments_close_after_the_deadline_only_if_one_arrived(net):
    chain, ledger, trainers = net
    watcher = Watcher(ledger.as_account(trainers[2]), PARAMS)
    chain.mine(PARAMS.commit_deadline_blocks)
    assert watcher.next_duty(ledger.round_state()) == (Duty.NOTHING, [])  # nothing committed: nothing to close
    ledger.as_account(trainers[0]).commit_update(0, commitment(trainers[0], 0, BLOB, 10, SALT))
    state = ledger.round_state()
    assert watcher.next_duty(state) == (Duty.CLOSED_PHASE, [])
    watcher.perform(0, Duty.CLOSED_PHASE)
    assert ledger.phase() is Phase.REVEAL
    state = ledger.round_state()
    assert not watcher.phase_overdue(state, ledger.block_number())  # the reveal phase starts its own deadline
    ledger.as_account(trainers[0]).reveal_update(0, BLOB, 10, SALT)
    assert ledger.phase() is Phase.SCORING  # every commitment revealed
