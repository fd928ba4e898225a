"""What must hold on a BFLC contract after anything any party did.

Shared by the contract tests (``test_adversarial.py``, on a test ``Network``)
and the chaos run of a real cluster (``tests/chaos``, on a ``Web3Ledger``
and the cluster's addresses).
"""

from __future__ import annotations

from collections.abc import Iterable

from bflc.chain import Ledger
from bflc.protocol import is_quorum, lower_median


def assert_contract_invariants(ledger: Ledger, accounts: Iterable[str], contract_value: int, first_committee: int) -> None:
    """The contract's value equals what it owes (balances, escrowed fees,
    reward pool) to the wei, every round has exactly one model, committees
    are odd and within their bounds, no update is counted twice, no blob is
    used twice, and every final median is the lower median of its votes.

    Parameters
    ----------
    ledger:
        The contract (any account; only views are called).
    accounts:
        Every account that ever paid into the contract or was paid by it.
    contract_value:
        The contract's native balance in wei.
    first_committee:
        Size of the committee it was deployed with.
    """
    params = ledger.params()
    owed = sum(ledger.balance(a) + ledger.escrow(a) for a in accounts) + ledger.reward_pool()
    assert contract_value == owed, f"the contract's value {contract_value} differs from what it owes {owed}"

    current = ledger.current_round()
    history = ledger.model_history()
    assert [m.round for m in history] == list(range(current + 1)), "not exactly one model per round"
    assert all(m.blob_hash != bytes(32) and ledger.blob_used(m.blob_hash) for m in history), "a round without a used model"
    assert len(ledger.committee(0)) == first_committee

    seen_updates: set[int] = set()
    seen_blobs: set[bytes] = set()
    for r in range(current + 1):
        committee = ledger.committee(r)
        size = len(committee)
        assert params.min_committee_size <= size <= params.committee_size and size % 2 == 1, f"round {r}: a committee of {size}"
        assert len(set(committee)) == size, f"round {r}: a member sits twice"
        updates = ledger.round_updates(r)
        assert len(updates) <= params.updates_per_round, f"round {r}: more updates than K"
        earlier_models = {m.blob_hash for m in history[: r + 1]}
        for u in updates:
            assert u.update_id not in seen_updates, f"update {u.update_id} listed twice"
            seen_updates.add(u.update_id)
            assert u.blob_hash not in seen_blobs | earlier_models, f"update {u.update_id}: a blob used before"
            seen_blobs.add(u.blob_hash)
            assert u.round == r and u.provider not in committee
            assert len(set(u.voters)) == len(u.voters) == u.num_votes <= size
            assert set(u.voters) <= set(committee), f"update {u.update_id}: a vote from outside the committee"
            if u.final:
                assert is_quorum(u.num_votes, size) and u.median == lower_median(u.scores), f"update {u.update_id}: a wrong median"
            assert u.final or not u.qualified
        assert len({u.provider for u in updates}) == len(updates), f"round {r}: a node revealed twice"
        assert len(set(ledger.qualified(r))) == len(ledger.qualified(r))
    revealed = ledger.round_update_ids(current)
    state = ledger.round_state()
    if state.round == current:  # (a live network may have started the next round in between)
        assert len(revealed) <= state.num_commits <= params.updates_per_round, "more reveals than commitments"
    for r in range(1, current + 1):
        before, after = ledger.committee(r - 1), ledger.committee(r)
        if ledger.model(r).origin.name == "AGGREGATED" and after != before:  # equal: too few candidates, carried over
            assert not set(after) & set(before), f"round {r}: a consecutive term"
