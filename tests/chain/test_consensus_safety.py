"""Known-answer tests: each attack on consensus that the first contract let
through (docs/decisions/0006-commit-reveal-rounds.md), tried again on both
chain backends, and defeated.

Selective voting, update theft (copied commitments, late commitments,
reveals of someone else's blob, replayed blobs and models), a grindable
election seed, double finality during a multi-transaction close, tiny and
even committees, and committee rewards to a blacklisted member.
"""

from __future__ import annotations

import pytest

from bflc.chain import ElectionMode, NodeStatus, Phase, ProtocolParams, to_fixed
from bflc.chain.web3_ledger import deploy_contract
from bflc.errors import ContractRevert
from bflc.protocol import commitment, elect_random, election_seed, lower_median
from tests.chain.attackers import (
    commit_to,
    contract_params,
    eligible,
    entropy_of,
    events,
    honest_medians,
    reference_qualified,
    reference_random_committee,
    send,
    snapshot,
)
from tests.chain.conftest import GENESIS, Network

pytestmark = pytest.mark.slow

MODEL_A = b"\xaa" * 32
MODEL_B = b"\xbb" * 32


def fixed(scores: list[float]) -> list[int]:
    return [to_fixed(s) for s in scores]


def play_round(net: Network, trainers: list[str], scores: list[float], model: bytes) -> list[int]:
    """The trainers submit, every member scores, the committee accepts ``model``."""
    ids = net.submit(trainers)
    net.score_all(ids, scores)
    net.propose_all(model)
    return ids


# ---------------------------------------------------------------- selective voting

# Every honest member gives update i the score HONEST[i]; the selective member
# sinks its rivals 0 and 1, pushes its friends 2 and 3, never scores update 4.
HONEST = [0.9, 0.8, 0.3, 0.2, 0.7]
SELECTIVE = {0: 0.0, 1: 0.0, 2: 1.0, 3: 1.0}


@pytest.mark.parametrize("selective_first", [True, False], ids=["selective-first", "selective-last"])
def test_a_selective_voter_neither_triggers_aggregation_nor_chooses_the_qualified(make_network, selective_first):
    # K = 5, M = 5; the top 2 of 5 qualify. A long scoring deadline: no vote can pass it.
    net = make_network(updates_per_round=5, qualify_top_fraction=0.4, score_deadline_blocks=50, round_deadline_blocks=60)
    ids = net.submit(net.trainers[:5])
    assert net.ledger.phase() == Phase.SCORING
    selective, honest = net.committee[0], net.committee[1:]
    ballots = [(m, ids, fixed(HONEST)) for m in honest]
    selective_ballot = (selective, [ids[i] for i in SELECTIVE], fixed(list(SELECTIVE.values())))
    ballots = [selective_ballot, *ballots] if selective_first else [*ballots, selective_ballot]
    for member, uids, scores in ballots:
        for result in net.at(member).submit_scores(0, uids, scores):
            assert result.events_named("AggregationTriggered") == []
        assert net.ledger.phase() == Phase.SCORING
    # Updates 0-3 have every vote, update 4 one short: nothing is final before scoring closes.
    assert [(u.num_votes, u.final) for u in net.ledger.round_updates(0)] == [(5, False)] * 4 + [(4, False)]
    assert net.ledger.qualified(0) == []
    with pytest.raises(ContractRevert, match="phase deadline not reached"):
        net.at(selective).close_phase(0)

    net.close_after_deadline(selective)
    assert net.ledger.phase() == Phase.AGGREGATING
    updates = net.ledger.round_updates(0)
    assert [u.median for u in updates] == fixed(HONEST)  # the lower median absorbs the outlier
    assert [u.num_votes for u in updates] == [5, 5, 5, 5, 4]
    honest_only = honest_medians({uid: [to_fixed(HONEST[i])] * len(honest) for i, uid in enumerate(ids)})
    assert net.ledger.qualified(0) == [ids[0], ids[1]]
    assert net.ledger.qualified(0) == reference_qualified(net.ledger, 0, net.params)
    assert net.ledger.qualified(0) == reference_qualified(net.ledger, 0, net.params, honest_only)


# ---------------------------------------------------------------- update theft


@pytest.mark.parametrize("thief_first", [True, False], ids=["thief-reveals-first", "victim-reveals-first"])
def test_a_copied_commitment_cannot_be_revealed(net, thief_first):
    victim, thief, other = net.trainers[:3]
    [sealed] = net.commit([victim])
    stolen = net.ledger.commitment(0, victim)
    net.at(thief).commit_update(0, stolen)  # the same bytes: accepted, but bound to the victim
    net.commit([other])
    assert net.ledger.phase() == Phase.REVEAL
    _, blob, samples, salt = sealed
    if not thief_first:
        net.reveal([sealed])
    with pytest.raises(ContractRevert, match="reveal does not match this node's commitment"):
        net.at(thief).reveal_update(0, blob, samples, salt)  # the victim's whole preimage, from its transaction
    if thief_first:
        net.reveal([sealed])
    assert [(u.provider, u.blob_hash) for u in net.ledger.round_updates(0)] == [(victim, blob)]
    assert not net.ledger.has_submitted(0, thief)


def test_a_blob_seen_after_commitments_closed_cannot_be_committed(net):
    sealed = net.commit(net.trainers[:3])  # K = 3: commitments close
    net.reveal(sealed[:1])
    late = net.trainers[3]
    blob = sealed[0][1]
    with pytest.raises(ContractRevert, match="not this phase of the round"):
        net.at(late).commit_update(0, commitment(late, 0, blob, 10, net.salt()))
    assert net.ledger.commitment(0, late) == bytes(32)


def test_a_commitment_made_before_the_blob_was_known_cannot_reveal_it(net):
    victim, thief, other = net.trainers[:3]
    guess = commit_to(net, thief, b"\x99" * 32)  # the victim's hash is unknown at commit time
    [sealed] = net.commit([victim])
    net.commit([other])
    net.reveal([sealed])
    _, blob, samples, victim_salt = sealed
    for salt in (guess[3], victim_salt):
        with pytest.raises(ContractRevert, match="reveal does not match this node's commitment"):
            net.at(thief).reveal_update(0, blob, samples, salt)
    with pytest.raises(ContractRevert, match="reveal does not match this node's commitment"):
        net.at(thief).reveal_update(0, blob, guess[2], guess[3])
    [guessed] = net.reveal([guess])  # only its own guess opens its commitment
    assert {(u.provider, u.blob_hash) for u in net.ledger.round_updates(0)} == {(victim, blob), (thief, b"\x99" * 32)}
    assert guessed == 1


def test_a_blob_of_an_earlier_round_cannot_be_revealed_again(make_network):
    # K = 2: too few candidates to elect a committee of at least 3, so the
    # committee serves again and both providers may train in round 1.
    net = make_network(updates_per_round=2)
    first = play_round(net, net.trainers[:2], [0.9, 0.8], MODEL_A)
    assert net.ledger.committee(1) == net.committee
    old = [net.ledger.update(uid).blob_hash for uid in first]
    replays = [commit_to(net, net.trainers[0], old[0]), commit_to(net, net.trainers[2], old[1])]  # its own; another's
    assert net.ledger.phase() == Phase.REVEAL
    for trainer, blob, samples, salt in replays:
        with pytest.raises(ContractRevert, match="blob already used"):
            net.at(trainer).reveal_update(1, blob, samples, salt)
    assert net.ledger.round_update_ids(1) == []


def test_a_global_model_cannot_be_revealed_as_an_update(net):
    genesis = commit_to(net, net.trainers[0], GENESIS)
    honest = net.commit(net.trainers[1:3])
    with pytest.raises(ContractRevert, match="blob already used"):
        net.reveal([genesis])
    ids = net.reveal(honest)
    net.close_after_deadline()  # the genesis copy never opens: reveals close by deadline
    assert net.ledger.round_update_ids(0) == ids
    net.score_all(ids, [0.9, 0.8])
    net.propose_all(MODEL_A)
    assert (net.ledger.current_round(), net.ledger.model(1).blob_hash) == (1, MODEL_A)
    trainer = next(t for t in net.trainers if not net.ledger.is_committee_member(1, t))
    accepted = commit_to(net, trainer, MODEL_A)
    net.close_after_deadline()
    with pytest.raises(ContractRevert, match="blob already used"):
        net.reveal([accepted])


# ---------------------------------------------------------------- grindable seed


def test_reelection_seats_the_same_committee_whoever_calls_and_whenever(make_network):
    net = make_network(updates_per_round=11, election=ElectionMode.RANDOM)
    # Round 0: 11 qualified providers; the random election seeds with their salts.
    sealed0 = net.commit(net.trainers[:11])
    ids = net.reveal(sealed0)
    net.score_all(ids, [0.5 + i / 100 for i in range(11)])
    net.propose_all(MODEL_A)
    assert net.ledger.entropy(0) == entropy_of([s[3] for s in sealed0])
    elected = net.ledger.committee(1)
    assert elected == reference_random_committee(net.ledger, 0, 0, 0) and len(elected) == 5

    # Round 1: three trainers reveal; the committee never scores.
    trainers1 = [t for t in net.trainers + net.committee if t not in elected][:3]
    sealed1 = net.commit(trainers1)
    net.close_after_deadline()
    net.reveal(sealed1)
    assert net.ledger.entropy(1) == entropy_of([s[3] for s in sealed1])
    start = net.ledger.round_state().start_block
    net.chain.mine(max(0, start + net.params.round_deadline_blocks - net.ledger.block_number()))

    expected = reference_random_committee(net.ledger, 0, 1, 1)
    assert len(expected) == 5  # 6 eligible providers: round 0's 11 minus the failed committee
    callers = [trainers1[0], net.managers[1], elected[0], net.committee[0]]
    seated = []
    for caller, wait in zip(callers, [0, 0, 0, 7], strict=True):
        with snapshot(net.chain):
            if wait:
                net.chain.mine(wait)
            net.at(caller).reelect_committee(1)
            seated.append(net.ledger.committee(2))
    assert seated == [expected] * len(callers)
    # The check has teeth: seeds that mixed in the caller would seat different committees.
    by_caller = {tuple(elect_random(eligible(net.ledger, 0, 1), 5, election_seed(int(c, 16), 1))) for c in callers}
    assert len(by_caller) > 1


# ---------------------------------------------------------------- double finality

# Votes per member (update index -> score). A: all five (final by votes);
# B: three and D: four (quorums); C: two (no quorum).
A, B, C, D = range(4)
BALLOTS = [
    {A: 0.5, B: 0.3, D: 0.9},
    {A: 0.6, B: 0.1, D: 0.4},
    {A: 0.7, B: 0.2, D: 0.6},
    {A: 0.8, C: 0.9, D: 0.8},
    {A: 0.9, C: 0.95},
]


@pytest.mark.parametrize("max_updates", [1, 3])
def test_a_close_in_several_transactions_finalizes_each_quorum_update_once(make_network, max_updates):
    net = make_network(updates_per_round=4)
    ids = net.submit(net.trainers[:4])
    for member, ballot in zip(net.committee, BALLOTS, strict=True):
        net.at(member).submit_scores(0, [ids[i] for i in ballot], fixed(list(ballot.values())))
    assert [(u.num_votes, u.final) for u in net.ledger.round_updates(0)] == [(5, False), (3, False), (2, False), (4, False)]
    state = net.ledger.round_state()
    net.chain.mine(max(0, state.phase_start_block + net.params.score_deadline_blocks - net.ledger.block_number()))

    closers = [net.managers[0], net.trainers[5], net.committee[2]]
    late = [(net.committee[4], ids[D]), (net.committee[2], ids[C]), (net.committee[0], ids[C])]
    closes = 0
    while net.ledger.phase() == Phase.SCORING:
        cursor = int(net.ledger._call("close_cursor"))
        send(net.at(closers[closes % len(closers)]), "close_phase", 0, net.ledger.scoring_claims(0)[cursor : cursor + max_updates])
        closes += 1
        if net.ledger.phase() == Phase.SCORING:  # a late vote would finalize C or D a second time
            member, uid = late[closes % len(late)]
            with pytest.raises(ContractRevert, match="scoring is closing"):
                net.at(member).submit_scores(0, [uid], [to_fixed(1.0)])
    assert closes == -(-4 // max_updates)
    with pytest.raises(ContractRevert, match="round is aggregating"):
        net.at(net.managers[0]).close_phase(0)

    finalized = [(e["update_id"], e["median"], e["num_votes"]) for e in events(net.ledger, "UpdateFinalized")]
    votes = {u: [b[u] for b in BALLOTS if u in b] for u in (A, B, D)}
    assert finalized == [(ids[u], to_fixed(lower_median(votes[u])), len(votes[u])) for u in (A, B, D)]
    updates = net.ledger.round_updates(0)
    assert [u.final for u in updates] == [True, True, False, True]
    assert net.ledger.round_state().num_final == sum(u.final for u in updates) == 3
    [trigger] = events(net.ledger, "AggregationTriggered")
    assert (trigger["num_final"], trigger["num_qualified"]) == (3, 3)
    assert net.ledger.qualified(0) == [ids[A], ids[D], ids[B]]  # medians 0.7, 0.6, 0.2


# ---------------------------------------------------------------- tiny and even committees


@pytest.mark.parametrize(
    ("overrides", "first_committee", "reason"),
    [
        ({"committee_size": 4}, 3, "committee size must be odd"),
        ({"min_committee_size": 2}, 3, "minimum committee size must be odd"),
        ({"min_committee_size": 7}, 5, "minimum committee size above committee size"),
        ({}, 4, "committee size must be odd"),
        ({}, 1, "committee smaller than the minimum committee size"),
        ({}, 7, "committee larger than committee size"),
    ],
    ids=["even-M", "even-minimum", "minimum-above-M", "even-first", "first-below-minimum", "first-above-M"],
)
def test_deployment_refuses_even_and_undersized_committees(chain_factory, overrides, first_committee, reason):
    chain = chain_factory(10)
    raw = contract_params(ProtocolParams(committee_size=5, min_committee_size=3), **overrides)
    with pytest.raises(ContractRevert, match=reason):
        deploy_contract(chain.w3, chain.accounts[0], chain.accounts[:1], chain.accounts[1 : 1 + first_committee], GENESIS, "", raw)


@pytest.mark.parametrize(("candidates", "seated"), [(1, 0), (2, 0), (3, 3), (4, 3), (5, 5), (6, 5)])
def test_election_seats_an_odd_committee_never_below_the_minimum(make_network, candidates, seated):
    net = make_network(updates_per_round=candidates)  # M = 5, minimum 3; election by score
    trainers = net.trainers[:candidates]
    play_round(net, trainers, [0.9 - i / 10 for i in range(candidates)], MODEL_A)
    [elected] = [e for e in events(net.ledger, "CommitteeElected") if e["round"] == 1]
    expected = trainers[:seated] if seated else net.committee  # best medians first; else the committee serves again
    assert net.ledger.committee(1) == list(elected["members"]) == expected
    assert elected["carried_over"] == (seated == 0)


def test_replacement_refuses_even_and_undersized_committees(net):
    net.chain.mine(net.params.round_deadline_blocks)
    manager, pool = net.at(net.managers[0]), net.trainers
    for members, reason in [
        (pool[:1], "committee smaller than the minimum committee size"),
        (pool[:2], "committee smaller than the minimum committee size"),
        (pool[:4], "committee size must be odd"),
        (pool[:7], "committee larger than committee size"),
    ]:
        with pytest.raises(ContractRevert, match=reason):
            manager.replace_committee(0, members)
    manager.replace_committee(0, pool[:3])
    assert net.ledger.committee(1) == pool[:3]


def test_reelection_refuses_to_seat_fewer_than_the_minimum(make_network):
    net = make_network(updates_per_round=2)
    play_round(net, net.trainers[:2], [0.9, 0.8], MODEL_A)  # two candidates: the committee served again
    net.chain.mine(net.params.round_deadline_blocks)
    with pytest.raises(ContractRevert, match="too few eligible candidates: a manager must replace the committee"):
        net.at(net.trainers[0]).reelect_committee(1)
    assert net.ledger.current_round() == 1


# ---------------------------------------------------------------- rewards


def test_a_blacklisted_member_earns_no_committee_share(make_network):
    reward, funding = 1_000_000, 5_000_000
    net = make_network(round_reward=reward, committee_share=0.3)
    net.ledger.fund(funding)
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.5, 0.5, 0.5])
    bad, *agreeing = net.committee[:3]
    net.at(bad).propose_model(0, MODEL_A, "")
    net.ledger.blacklist(bad)  # after proposing, before the model is accepted
    net.propose_all(MODEL_A, agreeing)
    assert net.ledger.status(bad) == NodeStatus.BLACKLISTED
    assert (net.ledger.current_round(), net.ledger.proposal_count(0, MODEL_A)) == (1, 3)

    # 300,000 wei for the committee, 100,000 to each of the three who proposed
    # MODEL_A except the blacklisted one; 700,000 to three equal providers.
    assert [net.ledger.balance(m) for m in net.committee] == [0, 100_000, 100_000, 0, 0]
    assert [net.ledger.balance(t) for t in net.trainers[:3]] == [233_333] * 3
    assert net.ledger.reward_pool() == funding - 200_000 - 3 * 233_333
    paid = [(e["node"], e["amount"], e["for_committee"]) for e in events(net.ledger, "RewardPaid")]
    assert [p for p in paid if p[2]] == [(m, 100_000, True) for m in agreeing]
    owed = sum(net.ledger.balance(a) for a in net.managers + net.committee + net.trainers) + net.ledger.reward_pool()
    assert net.contract_value() == owed
