"""Every state-changing function called by a caller who may not call it."""

import pytest

from bflc.errors import ConfigError, ContractRevert

pytestmark = pytest.mark.slow


def _calls(net):
    outsider = net.outsiders[0]
    trainer = net.trainers[0]
    member = net.committee[0]
    blob = b"\x77" * 32
    return [
        ("admit by non-manager", trainer, lambda ledger: ledger.admit(outsider), "caller is not a manager"),
        ("blacklist by non-manager", trainer, lambda ledger: ledger.blacklist(outsider), "caller is not a manager"),
        ("failback by non-manager", member, lambda ledger: ledger.failback(0), "caller is not a manager"),
        ("replace_committee by non-manager", trainer, lambda ledger: ledger.replace_committee(0, [trainer]), "caller is not a manager"),
        ("submit_update by outsider", outsider, lambda ledger: ledger.submit_update(0, blob, 1), "node is not admitted"),
        ("submit_scores by outsider", outsider, lambda ledger: ledger.submit_scores(0, [0], [1]), "node is not admitted"),
        ("submit_scores by non-member", trainer, lambda ledger: ledger.submit_scores(0, [0], [1]), "caller is not a committee member"),
        ("propose_model by outsider", outsider, lambda ledger: ledger.propose_model(0, blob, ""), "node is not admitted"),
        ("propose_model by non-member", trainer, lambda ledger: ledger.propose_model(0, blob, ""), "caller is not a committee member"),
        ("close_scoring by outsider", outsider, lambda ledger: ledger.close_scoring(0), "node is not admitted"),
        ("close_scoring of nothing", trainer, lambda ledger: ledger.close_scoring(0, 0), "max_updates must be positive"),
        ("reelect_committee by outsider", outsider, lambda ledger: ledger.reelect_committee(0), "node is not admitted"),
        ("declare_factor by outsider", outsider, lambda ledger: ledger.declare_factor(1), "node is not admitted"),
        ("leave by outsider", outsider, lambda ledger: ledger.leave(), "node is not admitted"),
        ("rejoin by admitted node", trainer, lambda ledger: ledger.rejoin(), "node has not left"),
        ("withdraw_application without one", outsider, lambda ledger: ledger.withdraw_application(), "no pending application"),
        ("apply when admitted", trainer, lambda ledger: ledger.apply(0), "node already applied or admitted"),
    ]


CASES = [c[0] for c in _calls(type("N", (), {"outsiders": [None], "trainers": [None], "committee": [None]})())]


@pytest.mark.parametrize("case", CASES)
def test_unauthorized_caller_reverts_with_reason(net, case):
    _, caller, action, reason = next(c for c in _calls(net) if c[0] == case)
    ids = net.submit(net.trainers[1:2])
    assert ids == [0]
    before = (net.ledger.current_round(), net.ledger.round_state(), net.ledger.update(0))
    with pytest.raises(ContractRevert) as err:
        action(net.at(caller))
    assert err.value.reason == reason
    assert (net.ledger.current_round(), net.ledger.round_state(), net.ledger.update(0)) == before


def test_stale_and_future_round(net):
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    net.propose_all(b"\x05" * 32)
    assert net.ledger.current_round() == 1
    with pytest.raises(ContractRevert, match="stale round"):
        net.at(net.trainers[6]).submit_update(0, net.blob(), 1)
    with pytest.raises(ContractRevert, match="future round"):
        net.at(net.trainers[6]).submit_update(2, net.blob(), 1)


def test_second_update_and_duplicate_blob(net):
    t0, t1 = net.trainers[:2]
    blob = net.blob()
    net.at(t0).submit_update(0, blob, 5)
    with pytest.raises(ContractRevert, match="node already submitted an update this round"):
        net.at(t0).submit_update(0, net.blob(), 5)
    with pytest.raises(ContractRevert, match="blob already submitted this round"):
        net.at(t1).submit_update(0, blob, 5)
    with pytest.raises(ContractRevert, match="blob hash is empty"):
        net.at(t1).submit_update(0, b"\x00" * 32, 5)
    with pytest.raises(ContractRevert, match="sample count must be positive"):
        net.at(t1).submit_update(0, net.blob(), 0)


def test_committee_member_cannot_submit_an_update(net):
    with pytest.raises(ContractRevert, match="committee members do not train in their round"):
        net.submit([net.committee[0]])


def test_vote_rules(net):
    ids = net.submit(net.trainers[:2])
    member = net.at(net.committee[0])
    with pytest.raises(ContractRevert, match="score out of range"):
        member.submit_scores(0, ids, [1_000_001, 5])
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        member.submit_scores(0, [99], [5])
    with pytest.raises(ConfigError, match="2 update ids but 1 scores"):
        member.submit_scores(0, ids, [5])
    with pytest.raises(ContractRevert, match="update_ids and scores differ in length"):
        member._transact("submit_scores", 0, ids, [5])
    with pytest.raises(ContractRevert, match="empty batch"):
        member.submit_scores(0, [], [])
    with pytest.raises(ContractRevert, match="member already voted on this update"):
        member.submit_scores(0, [ids[0], ids[0]], [5, 6])
    member.submit_scores(0, ids, [1_000_000, 0])
    with pytest.raises(ContractRevert, match="member already voted on this update"):
        member.submit_scores(0, ids[:1], [5])
    assert net.ledger.update(ids[0]).scores == (1_000_000,)


def test_vote_on_an_update_of_another_round(net):
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    net.propose_all(b"\x05" * 32)
    new_member = net.ledger.committee(1)[0]
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        net.at(new_member).submit_scores(1, [ids[0]], [5])


def test_no_submissions_or_votes_while_aggregating(net):
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    with pytest.raises(ContractRevert, match="round is aggregating"):
        net.submit(net.trainers[4:5])
    with pytest.raises(ContractRevert, match="scoring is closed for this round"):
        net.at(net.committee[0]).submit_scores(0, ids, [1, 1, 1])


def test_proposal_before_aggregation_reverts(net):
    with pytest.raises(ContractRevert, match="round is not aggregating yet"):
        net.at(net.committee[0]).propose_model(0, b"\x05" * 32, "")


def test_constructor_validation(make_network):
    from bflc.chain.inprocess import InProcessChain
    from bflc.chain.types import ProtocolParams

    chain = InProcessChain(5)
    a = chain.accounts
    with pytest.raises(ContractRevert, match="first committee larger than committee size"):
        chain.deploy([a[0]], a[1:4], b"\x01" * 32, "", ProtocolParams(committee_size=2))
    with pytest.raises(ContractRevert, match="genesis hash is empty"):
        chain.deploy([a[0]], a[1:2], b"\x00" * 32, "", ProtocolParams())
    with pytest.raises(ContractRevert, match="duplicate manager"):
        chain.deploy([a[0], a[0]], a[1:2], b"\x01" * 32, "", ProtocolParams())
