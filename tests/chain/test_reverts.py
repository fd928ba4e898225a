"""Every state-changing function called by a caller who may not call it."""

import pytest

from bflc.chain import Phase, ProtocolParams
from bflc.chain.artifact import load_artifact
from bflc.chain.inprocess import InProcessChain
from bflc.chain.web3_ledger import deploy_contract
from bflc.errors import ConfigError, ContractRevert
from bflc.protocol import stored_commitment
from tests.chain.conftest import GENESIS

pytestmark = pytest.mark.slow

MODEL = b"\x05" * 32


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
        ("commit_update by outsider", outsider, lambda ledger: ledger.commit_update(0, blob), "node is not admitted"),
        ("reveal_update by outsider", outsider, lambda ledger: ledger.reveal_update(0, blob, 1, blob), "node is not admitted"),
        ("submit_scores by outsider", outsider, lambda ledger: ledger.submit_scores(0, [0], [1]), "node is not admitted"),
        ("submit_scores by non-member", trainer, lambda ledger: ledger.submit_scores(0, [0], [1]), "caller is not a committee member"),
        ("propose_model by outsider", outsider, lambda ledger: ledger.propose_model(0, blob, ""), "node is not admitted"),
        ("propose_model by non-member", trainer, lambda ledger: ledger.propose_model(0, blob, ""), "caller is not a committee member"),
        ("close_phase by outsider", outsider, lambda ledger: ledger.close_phase(0), "node is not admitted"),
        ("reelect_committee by outsider", outsider, lambda ledger: ledger.reelect_committee(0), "node is not admitted"),
        ("attest_factors by non-manager", trainer, lambda ledger: ledger.attest_factors({trainer: 1}), "caller is not a manager"),
        ("blacklist past the council", member, lambda ledger: ledger._transact("blacklist", outsider), "caller is not the council"),
        ("admit past the council", trainer, lambda ledger: ledger._transact("admit", [outsider]), "caller is not the council"),
        ("failback past the council", member, lambda ledger: ledger._transact("failback", 0, [member]), "caller is not the council"),
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
    net.propose_all(MODEL)
    assert net.ledger.current_round() == 1
    trainer = net.seal(net.trainers[6])
    for round, reason in [(0, "stale round"), (2, "future round")]:
        with pytest.raises(ContractRevert, match=reason):
            net.at(trainer.trainer).commit_update(round, trainer.commitment(round))
        with pytest.raises(ContractRevert, match=reason):
            net.reveal([trainer], round)
        with pytest.raises(ContractRevert, match=reason):
            net.at(trainer.trainer).close_phase(round)
    assert net.ledger.round_state().num_commits == 0


def test_one_commitment_per_node_and_round(net):
    t0 = net.trainers[0]
    [sealed] = net.commit([t0])
    with pytest.raises(ContractRevert, match="node already committed an update this round"):
        net.commit([t0])
    with pytest.raises(ContractRevert, match="commitment is empty"):
        net.at(net.trainers[1]).commit_update(0, b"\x00" * 32)
    assert net.ledger.commitment(0, t0) == stored_commitment(sealed.commitment(0))
    assert net.ledger.commitment(0, net.trainers[1]) == b"\x00" * 32
    assert net.ledger.round_state().num_commits == 1


def test_a_reveal_must_open_the_senders_own_commitment(make_network):
    net = make_network(updates_per_round=4)
    t = net.trainers
    mine, other = net.commit(t[:2])
    zero_blob, zero_samples = net.seal(t[2])._replace(blob=bytes(32)), net.seal(t[3], samples=0)
    for s in (zero_blob, zero_samples):
        net.at(s.trainer).commit_update(0, s.commitment(0))
    assert net.ledger.phase() == Phase.REVEAL
    for wrong in (
        mine._replace(salt=other.salt),  # another salt
        mine._replace(samples=11),  # another sample count than committed
        mine._replace(trainer=other.trainer),  # someone else opening this commitment
        mine._replace(trainer=t[5]),  # a node that never committed
    ):
        with pytest.raises(ContractRevert, match="reveal does not match this node's commitment"):
            net.reveal([wrong])
    with pytest.raises(ContractRevert, match="blob hash is empty"):
        net.reveal([zero_blob])
    with pytest.raises(ContractRevert, match="sample count must be positive"):
        net.reveal([zero_samples])
    [uid] = net.reveal([mine])
    with pytest.raises(ContractRevert, match="node already revealed its update this round"):
        net.reveal([mine])
    assert net.ledger.round_update_ids(0) == [uid] and net.ledger.update(uid).provider == mine.trainer


def test_a_blob_is_used_once_in_any_round(net):
    t = net.trainers
    first = net.seal(t[0])
    same_blob = net.seal(t[1])._replace(blob=first.blob)
    for s in (first, same_blob):
        net.at(s.trainer).commit_update(0, s.commitment(0))
    net.close_after_deadline()
    [uid] = net.reveal([first])
    assert net.ledger.blob_used(first.blob)
    with pytest.raises(ContractRevert, match="blob already used"):  # same round
        net.reveal([same_blob])
    net.close_after_deadline()
    net.score_all([uid], [0.9])
    net.propose_all(MODEL)
    assert net.ledger.current_round() == 1 and net.ledger.blob_used(MODEL)
    # an earlier round's update, the genesis model, an accepted model
    reused = [net.seal(trainer)._replace(blob=blob) for trainer, blob in zip(t[2:5], [first.blob, GENESIS, MODEL], strict=True)]
    for s in reused:
        net.at(s.trainer).commit_update(1, s.commitment(1))
    for s in reused:
        with pytest.raises(ContractRevert, match="blob already used"):
            net.reveal([s])
    assert net.ledger.round_update_ids(1) == []


def test_committee_member_cannot_commit_an_update(net):
    with pytest.raises(ContractRevert, match="committee members do not train in their round"):
        net.commit([net.committee[0]])


def test_vote_rules(net):
    ids = net.submit(net.trainers[:2])
    member = net.at(net.committee[0])
    with pytest.raises(ContractRevert, match="score out of range"):
        member.submit_scores(0, ids, [1_000_001, 5])
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        member.submit_scores(0, [ids[0] + 99], [5])
    with pytest.raises(ConfigError, match="2 update ids but 1 scores"):
        member.submit_scores(0, ids, [5])
    with pytest.raises(ConfigError, match="no scores to submit"):
        member.submit_scores(0, [], [])
    with pytest.raises(ConfigError, match="an update appears twice"):
        member.submit_scores(0, [ids[0], ids[0]], [5, 6])
    with pytest.raises(ConfigError, match="a score is outside"):
        member.submit_scores(0, ids, [2**20, 5])
    # What a hand-made call can send: no vote at all, a field beyond the round's
    # two updates, a word beyond them.
    with pytest.raises(ContractRevert, match="empty batch"):
        member._transact("submit_scores", 0, 0, [0])
    with pytest.raises(ContractRevert, match="empty batch"):
        member._transact("submit_scores", 0, 0, [])
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        member._transact("submit_scores", 0, 0, [1 << 40])
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        member._transact("submit_scores", 0, 1, [1])
    with pytest.raises(ContractRevert, match="unknown update for this round"):
        member._transact("submit_scores", 0, 0, [1 << 250])
    member.submit_scores(0, ids, [1_000_000, 0])
    with pytest.raises(ContractRevert, match="member already voted on this update"):
        member.submit_scores(0, ids[:1], [5])
    assert net.ledger.update(ids[0]).scores == (1_000_000,)


def test_vote_on_an_update_of_another_round(net):
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    net.propose_all(MODEL)
    new_committee = net.ledger.committee(1)
    net.submit([t for t in net.trainers if t not in new_committee][:3])
    with pytest.raises(ConfigError, match="an update of an earlier round"):
        net.at(new_committee[0]).submit_scores(1, [ids[0]], [5])


def test_each_step_only_in_its_phase(net):
    t, member = net.trainers, net.at(net.committee[0])
    sealed = net.commit(t[:2])
    for wrong in (lambda: net.reveal(sealed[:1]), lambda: member.submit_scores(0, [0], [1])):  # COMMIT
        with pytest.raises(ContractRevert, match="not this phase of the round"):
            wrong()
    net.close_after_deadline()
    for wrong in (lambda: net.commit(t[2:3]), lambda: member.submit_scores(0, [0], [1])):  # REVEAL
        with pytest.raises(ContractRevert, match="not this phase of the round"):
            wrong()
    ids = net.reveal(sealed)
    with pytest.raises(ContractRevert, match="not this phase of the round"):  # SCORING
        net.commit(t[2:3])
    net.score_all(ids, [0.9, 0.8])
    assert net.ledger.phase() == Phase.AGGREGATING
    for wrong in (lambda: net.commit(t[2:3]), lambda: member.submit_scores(0, ids, [1, 1])):
        with pytest.raises(ContractRevert, match="not this phase of the round"):
            wrong()
    with pytest.raises(ContractRevert, match="round is aggregating"):
        net.at(t[5]).close_phase(0)


def test_close_phase_rules(make_network):
    net = make_network(commit_deadline_blocks=30, round_deadline_blocks=40)  # admitting the trainers took 12 blocks
    closer = net.at(net.trainers[5])
    with pytest.raises(ContractRevert, match="phase deadline not reached"):
        closer.close_phase(0)
    net.chain.mine(30)
    with pytest.raises(ContractRevert, match="no update was committed"):
        closer.close_phase(0)
    sealed = net.commit(net.trainers[:1])
    net.close_after_deadline()
    net.chain.mine(5)
    with pytest.raises(ContractRevert, match="no update was revealed"):
        closer.close_phase(0)
    net.reveal(sealed)  # after the deadline, before anyone closed: it counts
    assert net.ledger.phase() == Phase.SCORING
    net.chain.mine(5)
    with pytest.raises(ContractRevert, match="give the claimed median of at least one update"):
        closer._transact("close_phase", 0, [])


def test_proposal_before_aggregation_reverts(net):
    with pytest.raises(ContractRevert, match="round is not aggregating yet"):
        net.at(net.committee[0]).propose_model(0, MODEL, "")


def _params(**ints: int) -> tuple[int, ...]:
    """The default parameters as the constructor takes them, with some fields (by the contract's names) replaced."""
    ctor = next(item for item in load_artifact()["abi"] if item["type"] == "constructor")
    names = [f["name"] for f in ctor["inputs"][-1]["components"]]
    fields = dict(zip(names, ProtocolParams().to_contract(), strict=True)) | ints
    return tuple(fields.values())


@pytest.mark.parametrize(
    ("committee", "ints", "reason"),
    [
        (5, {"committee_size": 4}, "committee size must be odd"),
        (4, {}, "committee size must be odd"),
        (3, {"min_committee_size": 2}, "minimum committee size must be odd"),
        (3, {"min_committee_size": 7}, "minimum committee size above committee size"),
        (1, {}, "committee smaller than the minimum committee size"),
        (7, {}, "committee larger than committee size"),
        (3, {"commit_deadline_blocks": 0}, "phase deadlines must be positive"),
        (3, {"round_deadline_blocks": 89}, "round deadline before the phase deadlines add up"),
    ],
)
def test_constructor_refuses_bad_committees_and_deadlines(committee, ints, reason):
    chain = InProcessChain(8)
    a = chain.accounts
    with pytest.raises(ContractRevert, match=reason):
        deploy_contract(chain.w3, a[0], [a[0]], a[1 : 1 + committee], GENESIS, "", _params(**ints))


def test_constructor_validation():
    chain = InProcessChain(5)
    a = chain.accounts
    with pytest.raises(ConfigError, match="committee_size must be odd"):
        ProtocolParams(committee_size=4)
    with pytest.raises(ContractRevert, match="genesis hash is empty"):
        chain.deploy([a[0]], a[1:4], b"\x00" * 32, "", ProtocolParams())
    with pytest.raises(ContractRevert, match="already a manager"):
        chain.deploy([a[0], a[0]], a[1:4], GENESIS, "", ProtocolParams())
    ledger = chain.deploy([a[0]], a[1:4], GENESIS, "", ProtocolParams())
    assert ledger.committee(0) == a[1:4] and ledger.blob_used(GENESIS)
