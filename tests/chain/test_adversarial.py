"""Parties that do not follow the protocol, on both chain backends.

Every case ends with :func:`assert_invariants`: the contract's value equals
what it owes (balances, escrowed fees, reward pool) to the wei, every round
has exactly one model, committees are well formed, and no update is counted
twice. Unauthorized callers of each function are in ``test_reverts.py``.
"""

from __future__ import annotations

import pytest

from bflc.chain import NodeStatus, Phase, to_fixed
from bflc.chain.web3_ledger import Web3Ledger
from bflc.errors import ConfigError, ContractRevert
from bflc.protocol import stored_commitment
from tests.chain.conftest import Network, build_network
from tests.chain.invariants import assert_contract_invariants

pytestmark = pytest.mark.slow

MODEL_A = b"\xaa" * 32
MODEL_B = b"\xbb" * 32


def everyone(net: Network) -> list[str]:
    return net.managers + net.committee + net.trainers + net.outsiders


def assert_invariants(net: Network) -> None:
    """What must hold after anything any party did (see :mod:`invariants`)."""
    assert_contract_invariants(net.ledger, everyone(net), net.contract_value(), len(net.committee))


def play_round(net: Network, scores: list[float], model: bytes) -> list[int]:
    """Trainers outside the committee submit, every member scores, all propose ``model``."""
    r = net.ledger.current_round()
    members = net.ledger.committee(r)
    trainers = [t for t in net.trainers if t not in members][: len(scores)]
    ids = net.submit(trainers)
    net.score_all(ids, scores)
    net.propose_all(model)
    return ids


@pytest.fixture
def checked(net: Network):
    yield net
    assert_invariants(net)


def test_every_wrong_role_in_a_row_leaves_the_state_consistent(checked):
    net = checked
    sealed = net.commit(net.trainers[:1])
    outsider, trainer, manager = net.outsiders[0], net.trainers[1], net.managers[0]
    t0, blob, samples, salt = sealed[0]
    early = [
        (net.committee[0], lambda ledger: ledger.commit_update(0, b"\x06" * 32)),
        (t0, lambda ledger: ledger.reveal_update(0, blob, samples, salt)),
    ]
    for caller, action in early:
        with pytest.raises(ContractRevert):
            action(net.at(caller))
    net.close_after_deadline()
    ids = net.reveal(sealed)
    attempts = [
        (outsider, lambda ledger: ledger.commit_update(0, b"\x05" * 32)),
        (trainer, lambda ledger: ledger.reveal_update(0, blob, samples, salt)),
        (trainer, lambda ledger: ledger.submit_scores(0, ids, [to_fixed(1.0)])),
        (trainer, lambda ledger: ledger.propose_model(0, MODEL_A, "")),
        (manager, lambda ledger: ledger.submit_scores(0, ids, [to_fixed(1.0)])),
        (trainer, lambda ledger: ledger.failback(0)),
        (trainer, lambda ledger: ledger.admit(outsider)),
        (trainer, lambda ledger: ledger.blacklist(net.trainers[2])),
        (net.committee[0], lambda ledger: ledger.commit_update(0, b"\x06" * 32)),
        (outsider, lambda ledger: ledger.withdraw()),
    ]
    for caller, action in attempts:
        with pytest.raises(ContractRevert):
            action(net.at(caller))


def test_duplicated_submissions_and_votes_are_refused(checked):
    net = checked
    sealed = net.commit(net.trainers[:2])
    with pytest.raises(ContractRevert, match="node already committed an update this round"):
        net.commit(net.trainers[:1])
    net.close_after_deadline()
    [uid] = net.reveal(sealed[:1])
    with pytest.raises(ContractRevert, match="node already revealed its update this round"):
        net.reveal(sealed[:1])
    net.reveal(sealed[1:])
    member = net.at(net.committee[0])
    member.submit_scores(0, [uid], [to_fixed(0.5)])
    with pytest.raises(ContractRevert, match="member already voted on this update"):
        member.submit_scores(0, [uid], [to_fixed(0.9)])
    with pytest.raises(ConfigError, match="an update appears twice"):
        net.at(net.committee[1]).submit_scores(0, [uid, uid], [to_fixed(0.1), to_fixed(0.9)])
    second = net.at(net.committee[1])
    second.submit_scores(0, [uid], [to_fixed(0.1)])
    with pytest.raises(ContractRevert, match="member already voted on this update"):  # the packed field, sent by hand
        second._transact("submit_scores", 0, 0, [1 + to_fixed(0.9)])
    assert net.ledger.update(uid).scores == (500_000, 100_000)


def test_votes_on_unknown_finished_and_past_updates(checked):
    net = checked
    past = play_round(net, [0.9, 0.8, 0.7], MODEL_A)
    assert net.ledger.current_round() == 1
    members = net.ledger.committee(1)
    net.submit([t for t in net.trainers if t not in members][:3])
    member = net.at(members[0])
    with pytest.raises(ConfigError, match="an update of an earlier round"):
        member.submit_scores(1, past[:1], [to_fixed(1.0)])
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        member.submit_scores(1, [10_000], [to_fixed(1.0)])
    with pytest.raises(ContractRevert, match="stale round"):
        member.submit_scores(0, past[:1], [to_fixed(1.0)])
    assert [net.ledger.update(u).num_votes for u in past] == [len(net.committee)] * 3


def test_proposals_by_non_members_and_after_acceptance(checked):
    net = checked
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    for caller in (net.trainers[0], net.managers[0], net.outsiders[0]):
        with pytest.raises(ContractRevert):
            net.at(caller).propose_model(0, MODEL_B, "")
    net.propose_all(MODEL_A)
    with pytest.raises(ContractRevert, match="stale round"):
        net.at(net.committee[-1]).propose_model(0, MODEL_B, "")
    assert net.ledger.model(1).blob_hash == MODEL_A


def test_a_member_cannot_serve_two_terms_in_a_row(make_network):
    # Score election over just enough candidates: each round's providers
    # form the next committee, never the members who scored them.
    net = make_network(num_committee=3, num_trainers=6)
    play_round(net, [0.9, 0.8, 0.7], MODEL_A)
    assert net.ledger.committee(1) == net.trainers[:3]
    play_round(net, [0.7, 0.9, 0.8], MODEL_B)
    assert net.ledger.committee(2) == [net.trainers[4], net.trainers[5], net.trainers[3]]
    assert_invariants(net)


def test_zero_fee_zero_reward_and_empty_pool(make_network):
    net = make_network(permission_fee=0, round_reward=0)
    play_round(net, [0.9, 0.8, 0.7], MODEL_A)
    assert all(net.ledger.balance(a) == 0 for a in everyone(net))
    with pytest.raises(ContractRevert, match="nothing to withdraw"):
        net.at(net.trainers[0]).withdraw()
    assert_invariants(net)


def test_large_fee_and_reward_split_among_many_recipients(make_network):
    fee = 10**21 + 7  # 1000 ether and 7 wei, paid by 30 trainers to 3 managers
    net = make_network(
        num_managers=3, num_trainers=30, updates_per_round=30, permission_fee=fee, round_reward=10**20 + 1, committee_share=0.25
    )
    # fee % 3 == 2: the first two managers get one wei more per admission
    assert [net.ledger.balance(m) for m in net.managers] == [30 * (fee // 3 + 1)] * 2 + [30 * (fee // 3)]
    net.ledger.fund(10**21)
    ids = net.submit(net.trainers[:30])
    net.score_all(ids, [0.3 + 0.02 * i for i in range(30)])
    net.propose_all(MODEL_A)
    paid = sum(net.ledger.balance(t) for t in net.trainers)
    assert 0 < paid <= 10**20 + 1
    assert_invariants(net)


def test_a_flooded_round_stays_within_the_block_gas_limit(make_network):
    """128 updates, all needed to aggregate: each member's 128 scores fit one
    transaction, and the last member's close claims all 128 medians and ranks
    the updates in one more (the ledger's gas model sizes both)."""
    net = make_network(num_trainers=129, updates_per_round=128)
    sealed = net.commit(net.trainers[:128])
    with pytest.raises(ContractRevert, match="not this phase of the round"):  # commitments closed at K
        net.commit(net.trainers[128:])
    ids = net.reveal(sealed)
    scores = [to_fixed(0.5 + i / 1000) for i in range(len(ids))]
    receipts = []
    for member in net.committee:
        receipts += net.at(member).submit_scores(0, ids, scores)
    assert len(receipts) == 5 + 1 and receipts[-1].events_named("AggregationTriggered")
    assert net.ledger.phase() == Phase.AGGREGATING
    assert net.ledger.qualified(0) == ids[::-1]  # best median first
    for member in net.committee:
        if net.ledger.current_round() == 0:
            receipts.append(net.at(member).propose_model(0, MODEL_A, ""))
    assert net.ledger.current_round() == 1
    limit = int(net.chain.w3.eth.get_block("latest")["gasLimit"])
    assert max(r.gas_used for r in receipts) < limit
    assert_invariants(net)


def test_blacklisted_nodes_and_leavers_cannot_act(checked):
    net = checked
    bad, leaver = net.trainers[0], net.trainers[1]
    net.ledger.blacklist(bad)
    net.at(leaver).leave()
    for node in (bad, leaver):
        with pytest.raises(ContractRevert, match="node is not admitted"):
            net.commit([node])
    assert net.ledger.status(bad) == NodeStatus.BLACKLISTED
    with pytest.raises(ContractRevert):
        net.ledger.admit(bad)


def test_a_replayed_signed_transaction_is_executed_once(anvil):
    """The same signed bytes sent twice: the node refuses the copy (same nonce)."""
    from eth_account import Account

    net = build_network(chain_factory=lambda n: anvil)
    trainer = net.trainers[0]
    key = anvil_private_key(anvil, trainer)
    ledger: Web3Ledger = net.ledger  # type: ignore[assignment]
    w3 = anvil.w3
    tx = ledger.contract.functions.commit_update(0, b"\x31" * 32).build_transaction(
        {"from": trainer, "nonce": w3.eth.get_transaction_count(trainer, "pending"), "gas": 500_000, "chainId": w3.eth.chain_id}
    )
    raw = Account.sign_transaction(tx, key).raw_transaction
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    assert receipt["status"] == 1
    with pytest.raises(Exception, match=r"(?i)nonce|already"):
        w3.eth.send_raw_transaction(raw)
    assert net.ledger.round_state().num_commits == 1 and net.ledger.commitment(0, trainer) == stored_commitment(b"\x31" * 32)
    assert_invariants(net)


def anvil_private_key(anvil, address: str) -> bytes:
    """The dev key of one of anvil's accounts (its well-known test mnemonic)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    mnemonic = "test test test test test test test test test test test junk"
    index = anvil.accounts.index(address)
    return Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}").key
