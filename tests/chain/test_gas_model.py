"""The client's worst-case gas model (``bflc.chain.ledger``) against the
contract at its largest sizes (255 members, 320 updates), on the fast
in-process backend.

The worst case for votes: a member's whole round (320 votes, 30 words) in
one transaction, every word in a storage slot never written before.
For a scoring close: every member's vote word read cold, every update
with a quorum (a verdict, an event and a claim checked over 255 votes),
and medians rising with the update id, so that ranking the updates moves
each one to the front (the heapsort has no worse order). Every transaction the ledger sizes must fit
``TX_GAS_BUDGET`` and the model's terms must bound what the contract spent.
"""

from __future__ import annotations

import pytest

from bflc.chain import Phase, ProtocolParams
from bflc.chain.fast import FastChain, FastLedger
from bflc.chain.ledger import TX_GAS_BUDGET, VOTE_WORD_GAS, close_gas, qualify_gas
from bflc.chain.types import MAX_COMMITTEE, MAX_UPDATES, VOTES_PER_WORD, vote_words
from bflc.protocol import commitment

pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module")
def largest() -> tuple[FastLedger, list[str], list[int]]:
    return open_round(MAX_COMMITTEE, MAX_UPDATES)


def test_the_worst_vote_order_and_the_worst_close_fit_the_budget_and_the_model(largest):
    ledger, committee, ids = largest
    m, k = len(committee), len(ids)
    # Votes: ids in any order (here interleaved across words); update j's median rises with j.
    order = sorted(range(k), key=lambda j: (j % VOTES_PER_WORD, j))
    for i, member in enumerate(committee):
        results = ledger.as_account(member).submit_scores(0, [ids[j] for j in order], [j * 1000 + i for j in order])
        votes = [r for r in results if r.events_named("ScoresSubmitted")]
        assert len(votes) == 1 and votes[0].gas_used <= vote_words(k) * VOTE_WORD_GAS <= TX_GAS_BUDGET
    closes = [r for r in results if not r.events_named("ScoresSubmitted")]
    assert closes and all(r.gas_used <= TX_GAS_BUDGET for r in closes)
    examined = [len(r.events_named("UpdateFinalized")) for r in closes]
    assert sum(examined) == k
    for n, result in zip(examined, closes, strict=True):
        bound = close_gas(m, n) + (qualify_gas(k) if result is closes[-1] else 0)
        assert result.gas_used <= bound
    # The worst case did happen: the last update ranks first.
    assert ledger.phase() == Phase.AGGREGATING and ledger.qualified(0) == ids[::-1]
    print("votes", votes[0].gas_used, "closes", [(n, r.gas_used) for n, r in zip(examined, closes, strict=True)])
