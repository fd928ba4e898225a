"""What must hold on a BFLC contract after anything any party did.

Shared by the contract tests (``test_adversarial.py``, on a test ``Network``)
and the chaos run of a real cluster (``tests/chaos``, on a ``Web3Ledger``
and the cluster's addresses).
"""

from __future__ import annotations

from collections.abc import Iterable

from bflc.chain import Ledger


def assert_contract_invariants(ledger: Ledger, accounts: Iterable[str], contract_value: int, first_committee: int) -> None:
    """The contract's value equals what it owes (balances, escrowed fees,
    reward pool) to the wei, every round has exactly one model, committees
    are well formed, and no update is counted twice.

    Parameters
    ----------
    ledger:
        The contract (any account; only views are called).
    accounts:
        Every account that ever paid into the contract or was paid by it.
    contract_value:
        The contract's native balance in wei.
    first_committee:
        Size of the committee it was deployed with (it may exceed ``committee_size``).
    """
    params = ledger.params()
    owed = sum(ledger.balance(a) + ledger.escrow(a) for a in accounts) + ledger.reward_pool()
    assert contract_value == owed, f"the contract's value {contract_value} differs from what it owes {owed}"

    current = ledger.current_round()
    history = ledger.model_history()
    assert [m.round for m in history] == list(range(current + 1)), "not exactly one model per round"
    assert all(m.blob_hash != bytes(32) for m in history), "a round without a model"

    seen_updates: set[int] = set()
    for r in range(current + 1):
        committee = ledger.committee(r)
        assert 0 < len(committee) <= max(params.committee_size, first_committee)
        assert len(set(committee)) == len(committee), f"round {r}: a member sits twice"
        providers = []
        for u in ledger.round_updates(r):
            assert u.update_id not in seen_updates, f"update {u.update_id} listed twice"
            seen_updates.add(u.update_id)
            assert u.round == r and u.provider not in committee
            assert len(set(u.voters)) == len(u.voters) == u.num_votes <= len(committee)
            assert set(u.voters) <= set(committee), f"update {u.update_id}: a vote from outside the committee"
            providers.append(u.provider)
        assert len(set(providers)) == len(providers), f"round {r}: a node submitted twice"
        assert len(set(ledger.qualified(r))) == len(ledger.qualified(r))
    for r in range(1, current + 1):
        if ledger.model(r).origin.name == "AGGREGATED":
            assert not set(ledger.committee(r)) & set(ledger.committee(r - 1)), f"round {r}: a consecutive term"
