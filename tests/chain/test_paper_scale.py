"""The paper's sizes on chain: a round of K = 270 updates (900 devices, 30%
trainers) scored by a committee of M = 181, on both backends (the fast
in-process EVM and an anvil node of its own).

Every transaction the client sends must fit a 30M block; the medians must
be the lower medians of the votes, the qualified set the protocol's, and the
accepting proposal must seat the next committee from the qualified
providers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bflc.chain import Phase, ProtocolParams, TxResult, to_fixed
from bflc.chain.anvil import AnvilChain
from bflc.chain.devchain import DevChain
from bflc.chain.fast import FastChain
from bflc.chain.types import MAX_COMMITTEE, MAX_UPDATES
from bflc.protocol import commitment, elected_size, lower_median
from tests.chain.attackers import reference_qualified

pytestmark = pytest.mark.slow

K, M = 270, 181
BLOCK_GAS = 30_000_000
GENESIS = b"\x01" * 32
MODEL = b"\x0a" * 32


@pytest.fixture(params=["in-process", "anvil"])
def chain(request: pytest.FixtureRequest) -> Iterator[DevChain]:
    accounts = 1 + M + K
    if request.param == "in-process":
        yield FastChain(accounts)
        return
    with AnvilChain(accounts) as node:
        yield node


def score(update: int, member: int) -> int:
    """Member ``member``'s score of the round's ``update``-th update: spread, with ties."""
    return to_fixed(0.3 + ((update * 37 + member * 11) % 600) / 1000)


def test_a_round_of_270_updates_and_a_committee_of_181_fits_the_block(chain: DevChain) -> None:
    assert K <= MAX_UPDATES and M <= MAX_COMMITTEE
    manager, committee, trainers = chain.accounts[0], chain.accounts[1 : 1 + M], chain.accounts[1 + M : 1 + M + K]
    params = ProtocolParams(committee_size=M, min_committee_size=3, updates_per_round=K, qualify_top_fraction=0.8)
    ledger = chain.deploy([manager], committee, GENESIS, "file:///genesis", params)
    results: list[TxResult] = [ledger.admit(*trainers[i : i + 64]) for i in range(0, K, 64)]
    sealed = []
    for j, trainer in enumerate(trainers):
        blob, salt = (5000 + j).to_bytes(32, "big"), (77 + j).to_bytes(32, "big")
        results.append(ledger.as_account(trainer).commit_update(0, commitment(trainer, 0, blob, 10, salt)))
        sealed.append((trainer, blob, salt))
    assert ledger.phase() == Phase.REVEAL
    for trainer, blob, salt in sealed:
        results.append(ledger.as_account(trainer)._transact("reveal_update", 0, blob, 10, salt))
    ids = ledger.round_update_ids(0)
    assert ids == list(range(K)) and ledger.phase() == Phase.SCORING

    for j, member in enumerate(committee):
        results += ledger.as_account(member).submit_scores(0, ids, [score(i, j) for i in range(K)])
    closes = [r for r in results if r.events_named("UpdateFinalized")]
    assert len(closes) >= 2  # the round closes over several transactions
    assert ledger.phase() == Phase.AGGREGATING
    updates = ledger.round_updates(0, with_votes=False)
    assert [u.median for u in updates] == [lower_median([score(i, j) for j in range(M)]) for i in range(K)]
    assert all(u.final and u.num_votes == M for u in updates)
    qualified = ledger.qualified(0)
    assert qualified == reference_qualified(ledger, 0, params) and len(qualified) == 216  # ceil(0.8 * 270)

    for member in committee[: M // 2 + 1]:
        results.append(ledger.as_account(member).propose_model(0, MODEL, "file:///m"))
    assert ledger.current_round() == 1 and ledger.model(1).blob_hash == MODEL
    provider_of = {u.update_id: u.provider for u in updates}
    providers = [provider_of[uid] for uid in qualified]
    assert ledger.committee(1) == providers[: elected_size(len(providers), M, 3)]  # score election: the best M
    assert max(r.gas_used for r in results) < BLOCK_GAS
