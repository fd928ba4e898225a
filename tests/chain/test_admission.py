"""Admission, blacklist, leave/rejoin and the permission fee, to the wei."""

import pytest

from bflc.chain import NodeStatus
from bflc.errors import ContractRevert
from bflc.protocol import share_fee


def test_founders_are_admitted(net):
    for node in net.managers + net.committee + net.trainers:
        assert net.ledger.status(node) == NodeStatus.ADMITTED
    assert net.ledger.status(net.outsiders[0]) == NodeStatus.NONE
    assert net.ledger.managers() == net.managers


def test_fee_is_shared_among_managers_to_the_wei(make_network):
    net = make_network(num_managers=3, num_trainers=0, permission_fee=1000)
    newcomer = net.outsiders[0]
    net.at(newcomer).apply(1000)
    assert net.ledger.status(newcomer) == NodeStatus.APPLIED
    assert net.ledger.escrow(newcomer) == 1000
    result = net.ledger.admit(newcomer)
    assert [net.ledger.balance(m) for m in net.managers] == [334, 333, 333] == share_fee(1000, 3)
    assert [e.args["amount"] for e in result.events_named("FeeShared")] == [334, 333, 333]
    assert net.ledger.escrow(newcomer) == 0
    assert net.contract_value() == 1000


def test_apply_needs_the_exact_fee(make_network):
    net = make_network(num_trainers=0, permission_fee=50)
    with pytest.raises(ContractRevert, match="value must equal the permission fee"):
        net.at(net.outsiders[0]).apply(49)


def test_admit_without_application_when_fee_is_due(make_network):
    net = make_network(num_trainers=0, permission_fee=50)
    with pytest.raises(ContractRevert, match="node has not applied and paid the fee"):
        net.ledger.admit(net.outsiders[0])


def test_withdraw_application_refunds_and_withdraw_pays_out(make_network):
    net = make_network(num_trainers=0, permission_fee=700)
    node = net.outsiders[0]
    net.at(node).apply(700)
    net.at(node).withdraw_application()
    assert net.ledger.status(node) == NodeStatus.NONE
    assert net.ledger.balance(node) == 700
    before = net.chain.native_balance(node)
    result = net.at(node).withdraw()
    assert net.ledger.balance(node) == 0
    assert net.contract_value() == 0
    gas_price = net.chain.w3.eth.get_transaction(result.tx_hash)["gasPrice"]
    assert net.chain.native_balance(node) == before + 700 - result.gas_used * gas_price


def test_blacklisted_node_cannot_apply_or_be_admitted(net):
    bad = net.outsiders[0]
    net.ledger.blacklist(bad)
    assert net.ledger.status(bad) == NodeStatus.BLACKLISTED
    with pytest.raises(ContractRevert, match="node is blacklisted"):
        net.ledger.admit(bad)
    with pytest.raises(ContractRevert, match="node is blacklisted"):
        net.at(bad).apply(0)
    with pytest.raises(ContractRevert, match="node already blacklisted"):
        net.ledger.blacklist(bad)


def test_blacklisting_an_applicant_refunds_its_fee(make_network):
    net = make_network(num_trainers=0, permission_fee=10)
    node = net.outsiders[0]
    net.at(node).apply(10)
    net.ledger.blacklist(node)
    assert net.ledger.balance(node) == 10 and net.ledger.escrow(node) == 0


def test_blacklisted_trainer_cannot_commit_or_reveal(net):
    bad, late = net.trainers[:2]
    net.ledger.blacklist(bad)
    with pytest.raises(ContractRevert, match="node is not admitted"):
        net.submit([bad])
    sealed = net.commit([late])
    net.ledger.blacklist(late)  # between its commitment and its reveal
    net.close_after_deadline()
    with pytest.raises(ContractRevert, match="node is not admitted"):
        net.reveal(sealed)


def test_a_managers_node_is_a_node_like_any_other(net):
    # Only the council says who manages: the managers' own nodes can leave
    # and be blacklisted, and stay managers of the council.
    net.ledger.leave()
    assert net.ledger.status(net.managers[0]) == NodeStatus.LEFT
    net.ledger.blacklist(net.managers[1])
    assert net.ledger.status(net.managers[1]) == NodeStatus.BLACKLISTED
    assert net.ledger.managers() == net.managers


def test_leave_and_rejoin(net):
    node = net.trainers[0]
    net.at(node).leave()
    assert net.ledger.status(node) == NodeStatus.LEFT
    with pytest.raises(ContractRevert, match="node is not admitted"):
        net.submit([node])
    with pytest.raises(ContractRevert, match="node already admitted"):
        net.ledger.admit(node)
    net.at(node).rejoin()
    assert net.ledger.status(node) == NodeStatus.ADMITTED
    assert len(net.submit([node])) == 1


def test_leaving_committee_member_cannot_vote_but_round_survives(net):
    ids = net.submit(net.trainers[:3])
    member = net.committee[0]
    net.at(member).leave()
    with pytest.raises(ContractRevert, match="node is not admitted"):
        net.at(member).submit_scores(0, ids, [1, 1, 1])
    net.score_all(ids, [0.5, 0.6, 0.7], members=net.committee[1:])
    assert not any(u.final for u in net.ledger.round_updates(0))  # 4 of 5 members voted
    net.close_after_deadline(net.trainers[5])
    assert all(u.final for u in net.ledger.round_updates(0))


def test_attested_factor_bounds(net):
    node = net.trainers[0]
    net.ledger.attest_factors({node: 1_000_000})
    assert net.ledger.factor(node) == 1_000_000
    with pytest.raises(ContractRevert, match=r"factor above 1.0"):
        net.ledger.attest_factors({node: 1_000_001})
    with pytest.raises(ContractRevert, match="node is not admitted"):
        net.ledger.attest_factors({net.outsiders[0]: 1})
    with pytest.raises(ContractRevert, match="one factor per node"):
        net.ledger.decide("attest_factors", [node], [])


def test_fund_and_withdraw_need_value(net):
    with pytest.raises(ContractRevert, match="nothing to fund"):
        net.ledger.fund(0)
    with pytest.raises(ContractRevert, match="nothing to withdraw"):
        net.at(net.trainers[0]).withdraw()
