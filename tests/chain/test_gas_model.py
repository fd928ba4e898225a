"""The client's worst-case gas model (``bflc.chain.ledger``) against the
contract at its largest sizes, on the fast in-process backend.

The worst case: every vote of a batch completes its update's votes, each
update's scores arrive in descending order (the insertion sort of the lower
median moves every score to the front), the medians rise with the update id
(the insertion sort of qualification moves every update to the front), and
the batch that completes the last update qualifies all of them. Batches
sized by ``score_batch_size`` must fit ``TX_GAS_BUDGET``; the model's terms
must bound what the contract spent.
"""

from __future__ import annotations

import pytest

from bflc.chain import Phase, ProtocolParams, TxResult
from bflc.chain.fast import FastChain, FastLedger
from bflc.chain.ledger import TX_GAS_BUDGET, VOTE_GAS, median_gas, qualify_gas, score_batch_size
from bflc.chain.types import MAX_COMMITTEE, MAX_UPDATES
from bflc.protocol import commitment

pytestmark = pytest.mark.slow

LARGEST_COMMITTEE = MAX_COMMITTEE - 1  # the largest odd size
GENESIS = b"\x01" * 32


def open_round(committee_size: int, num_updates: int) -> tuple[FastLedger, list[str], list[int]]:
    """A deployment whose round 0 is scoring ``num_updates`` revealed updates."""
    chain = FastChain(1 + committee_size + num_updates)
    manager, committee = chain.accounts[0], chain.accounts[1 : 1 + committee_size]
    trainers = chain.accounts[1 + committee_size :]
    params = ProtocolParams(committee_size=committee_size, updates_per_round=num_updates)
    ledger = chain.deploy([manager], committee, GENESIS, "file:///genesis", params)
    sealed = []
    for j, trainer in enumerate(trainers):
        ledger.admit(trainer)
        blob, salt = (1000 + j).to_bytes(32, "big"), (7 + j).to_bytes(32, "big")
        ledger.as_account(trainer).commit_update(0, commitment(trainer, 0, blob, 10, salt))
        sealed.append((trainer, blob, salt))
    ids = [ledger.as_account(t).reveal_update(0, blob, 10, salt) for t, blob, salt in sealed]
    assert ledger.phase() == Phase.SCORING
    return ledger, committee, ids


def worst_scores(member: int, committee_size: int, num_updates: int) -> list[int]:
    """Member ``member``'s scores: descending in vote order per update, medians rising with the update id."""
    return [j * committee_size + (committee_size - member) for j in range(num_updates)]


def test_the_worst_vote_order_fits_the_budget_and_the_model():
    m, k = LARGEST_COMMITTEE, MAX_UPDATES
    ledger, committee, ids = open_round(m, k)
    size = score_batch_size(m, k)
    assert size >= 1 and k % size == 0  # every batch has `size` votes
    results: list[TxResult] = []
    for i, member in enumerate(committee[:-1]):  # no vote completes an update yet
        for result in ledger.as_account(member).submit_scores(0, ids, worst_scores(i, m, k)):
            assert result.gas_used <= size * VOTE_GAS <= TX_GAS_BUDGET
    results = ledger.as_account(committee[-1]).submit_scores(0, ids, worst_scores(m - 1, m, k))
    assert len(results) == k // size

    per_batch = size * (VOTE_GAS + median_gas(m))
    assert all(r.gas_used <= per_batch for r in results[:-1])  # each vote computes a median over m votes
    *completing, last = results
    assert last.events_named("AggregationTriggered") and last.gas_used <= min(TX_GAS_BUDGET, per_batch + qualify_gas(k))
    qualification = last.gas_used - completing[-1].gas_used  # the same votes, plus ranking all k updates
    assert 0 < qualification <= qualify_gas(k)
    # The worst case did happen: scores fell in vote order, and the last update ranks first.
    assert list(ledger.update(ids[0]).scores) == sorted(ledger.update(ids[0]).scores, reverse=True)
    assert ledger.qualified(0) == ids[::-1]


def test_the_worst_scoring_close_fits_the_budget_and_the_model():
    # All members but one voted: the close finalizes every update, each
    # median over m - 1 descending scores, then qualifies all k updates.
    m, k = 31, MAX_UPDATES
    ledger, committee, ids = open_round(m, k)
    for i, member in enumerate(committee[:-1]):
        ledger.as_account(member).submit_scores(0, ids, worst_scores(i, m, k))
    ledger.chain.mine(ledger.params().score_deadline_blocks)
    size = score_batch_size(m, k)
    results = ledger.close_phase(0)
    assert len(results) == -(-k // size)
    examined = [min(size, k - i * size) for i in range(len(results))]
    for n, result in zip(examined, results, strict=True):
        bound = n * (VOTE_GAS + median_gas(m)) + (qualify_gas(k) if result is results[-1] else 0)
        assert result.gas_used <= min(bound, TX_GAS_BUDGET)
    assert results[-1].events_named("AggregationTriggered") and ledger.qualified(0) == ids[::-1]
