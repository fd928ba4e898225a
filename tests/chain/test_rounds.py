"""A round from commitment to the next committee: medians, qualification,
model acceptance, election, rewards, deadlines and failback."""

import functools

import pytest

from bflc.chain import ElectionMode, ModelOrigin, Phase, to_fixed
from bflc.errors import ContractRevert
from bflc.protocol import Candidate, elect_random, elected_size, election_seed, mix_entropy, share_reward, stored_commitment

pytestmark = pytest.mark.slow

MODEL_A = b"\xaa" * 32
MODEL_B = b"\xbb" * 32
MODEL_C = b"\xcc" * 32


def _vote(net, member, ids, scores):
    net.at(member).submit_scores(net.ledger.current_round(), ids, [to_fixed(s) for s in scores])


def test_median_odd_committee(make_network):
    net = make_network(num_committee=3, updates_per_round=1)
    [uid] = net.submit(net.trainers[:1])
    for member, score in zip(net.committee, [0.9, 0.1, 0.4], strict=True):
        _vote(net, member, [uid], [score])
    u = net.ledger.update(uid)
    assert u.final and u.median == 400_000  # sorted 0.1, 0.4, 0.9
    assert u.voters == tuple(net.committee) and u.scores == (900_000, 100_000, 400_000)


def test_an_even_quorum_after_the_deadline_takes_the_lower_middle(net):
    [uid] = net.submit(net.trainers[:1])
    for member, score in zip(net.committee[:4], [0.9, 0.2, 0.6, 0.3], strict=True):
        _vote(net, member, [uid], [score])
    net.close_after_deadline()
    # 4 of 5 members voted; sorted 0.2, 0.3, 0.6, 0.9: the lower middle value is 0.3
    assert net.ledger.update(uid).median == 300_000


def test_update_is_final_only_when_every_member_voted(net):
    [uid] = net.submit(net.trainers[:1])
    for member in net.committee[:4]:
        _vote(net, member, [uid], [0.5])
    assert not net.ledger.update(uid).final  # 4 of 5: a quorum, but before the deadline
    _vote(net, net.committee[4], [uid], [0.5])
    assert net.ledger.update(uid).final


def test_commitments_close_at_k_and_aggregation_waits_for_every_revealed_update(make_network):
    net = make_network(updates_per_round=4)
    sealed = net.commit(net.trainers[:4])
    assert net.ledger.phase() == Phase.REVEAL  # the K-th commitment closed the phase
    with pytest.raises(ContractRevert, match="not this phase of the round"):
        net.commit(net.trainers[4:5])
    ids = net.reveal(sealed)
    assert net.ledger.phase() == Phase.SCORING  # every commitment revealed
    net.score_all(ids[:2], [0.6, 0.5])
    assert net.ledger.phase() == Phase.SCORING and net.ledger.round_state().num_final == 0
    assert [u.num_votes for u in net.ledger.round_updates(0)] == [5, 5, 0, 0]
    for member in net.committee[:-1]:
        [r] = net.at(member).submit_scores(0, ids[2:], [to_fixed(0.7), to_fixed(0.6)])
        assert r.events_named("ScoringComplete") == []
    # The last vote completes scoring; the same member closes it in a second transaction.
    vote, close = net.at(net.committee[-1]).submit_scores(0, ids[2:], [to_fixed(0.7), to_fixed(0.6)])
    assert vote.events_named("ScoringComplete")[0].args["num_votes"] == 4 * 5
    assert net.ledger.phase() == Phase.AGGREGATING
    [trig] = close.events_named("AggregationTriggered")
    assert trig.args["num_final"] == 4 and trig.args["num_qualified"] == 4
    # best median first, ties by update id
    assert net.ledger.qualified(0) == [ids[2], ids[0], ids[3], ids[1]]


def test_qualification_top_fraction_and_min_score(make_network):
    net = make_network(updates_per_round=5, qualify_top_fraction=0.6, min_score=0.5)
    ids = net.submit(net.trainers[:5])
    net.score_all(ids, [0.9, 0.4, 0.9, 0.45, 0.7])
    # top ceil(5 * 0.6) = 3 of the ranking [0, 2, 4, 3, 1]; all three are >= 0.5
    assert net.ledger.qualified(0) == [ids[0], ids[2], ids[4]]
    assert [u.qualified for u in net.ledger.round_updates(0)] == [True, False, True, False, True]


def test_min_score_drops_low_updates_inside_the_top(make_network):
    net = make_network(updates_per_round=4, qualify_top_fraction=1.0, min_score=0.5)
    ids = net.submit(net.trainers[:4])
    net.score_all(ids, [0.49, 0.5, 0.8, 0.1])
    assert net.ledger.qualified(0) == [ids[2], ids[1]]


def test_no_qualified_update_skips_the_round(make_network):
    net = make_network(min_score=0.99)
    ids = net.submit(net.trainers[:3])
    for member in net.committee:
        *_, r = net.at(member).submit_scores(0, ids, [to_fixed(0.5)] * 3)
    assert r.events_named("RoundSkipped")
    assert (net.ledger.current_round(), net.ledger.phase()) == (1, Phase.COMMIT)
    assert net.ledger.model(1).blob_hash == net.ledger.model(0).blob_hash
    assert net.ledger.model(1).origin == ModelOrigin.CARRIED_OVER
    assert net.ledger.committee(1) == net.committee


def test_model_needs_a_majority_on_one_hash(net):
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    c = net.committee
    for member, h in zip(c[:4], [MODEL_A, MODEL_B, MODEL_A, MODEL_B], strict=True):
        net.at(member).propose_model(0, h, f"file:///{h.hex()[:2]}{c.index(member)}")
    assert net.ledger.current_round() == 0  # 2 of 5 is not more than half
    with pytest.raises(ContractRevert, match="member already proposed a model"):
        net.at(c[1]).propose_model(0, MODEL_A, "file:///a")
    r = net.at(c[4]).propose_model(0, MODEL_A, "file:///a4")
    [accepted] = r.events_named("ModelAccepted")
    assert accepted.args["blob_hash"] == MODEL_A and accepted.args["uri"] == "file:///aa0"  # the first proposer's URI
    m = net.ledger.model(1)
    assert (m.blob_hash, m.uri, m.origin) == (MODEL_A, "file:///aa0", ModelOrigin.AGGREGATED)
    assert net.ledger.proposal_count(0, MODEL_A) == 3 and net.ledger.proposal_count(0, MODEL_B) == 2
    assert net.ledger.blob_used(MODEL_A)


def test_hash_disagreement_stalls_until_the_deadline(make_network):
    net = make_network(round_deadline_blocks=60)
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.8, 0.7])
    for member, h in zip(net.committee, [MODEL_A, MODEL_A, MODEL_B, MODEL_B, MODEL_C], strict=True):
        net.at(member).propose_model(0, h, "")
    assert net.ledger.current_round() == 0
    with pytest.raises(ContractRevert, match="round deadline not reached"):
        net.ledger.replace_committee(0, net.trainers[3:8])
    net.chain.mine(60)
    net.ledger.replace_committee(0, net.trainers[3:8])
    assert net.ledger.current_round() == 1
    assert net.ledger.committee(1) == net.trainers[3:8]
    assert net.ledger.model(1).blob_hash == net.ledger.model(0).blob_hash


def test_election_by_score_takes_the_best_providers(make_network):
    net = make_network(updates_per_round=7)
    ids = net.submit(net.trainers[:7])
    net.score_all(ids, [0.3, 0.9, 0.5, 0.9, 0.8, 0.1, 0.4])
    net.propose_all(MODEL_A)
    t = net.trainers
    # ranking: ids 1 and 3 (0.9, id order), 4 (0.8), 2 (0.5), 6 (0.4); M = 5
    assert net.ledger.committee(1) == [t[1], t[3], t[4], t[2], t[6]]


@pytest.mark.parametrize(("qualified", "seats"), [(4, 3), (2, 0)])
def test_election_seats_an_odd_number_of_members_or_carries_over(make_network, qualified, seats):
    net = make_network(updates_per_round=4, min_score=0.5)
    ids = net.submit(net.trainers[:4])
    net.score_all(ids, [0.9, 0.8, 0.7, 0.6][:qualified] + [0.1] * (4 - qualified))
    assert len(net.ledger.qualified(0)) == qualified
    net.propose_all(MODEL_A)
    assert elected_size(qualified, 5, 3) == seats
    # 4 candidates seat 3 (never an even committee); 2 are below the minimum of 3: the committee serves again
    expected = net.trainers[:seats] if seats else net.committee
    assert net.ledger.committee(1) == expected


def test_election_random_matches_reference(make_network):
    net = make_network(election=ElectionMode.RANDOM, updates_per_round=6)
    sealed = net.commit(net.trainers[:6])
    ids = net.reveal(sealed)
    scores = [0.3, 0.9, 0.5, 0.95, 0.8, 0.1]
    net.score_all(ids, scores)
    net.propose_all(MODEL_A)
    entropy = functools.reduce(mix_entropy, [salt for *_, salt in sealed], 0)
    assert net.ledger.entropy(0) == entropy != 0
    ranked = sorted(
        [Candidate(i, net.trainers[i], to_fixed(s)) for i, s in enumerate(scores)], key=lambda c: (-c.median, c.update_id)
    )
    assert net.ledger.committee(1) == elect_random(ranked, 5, election_seed(entropy, 0))


def test_election_multi_factor_uses_attested_factors(make_network):
    net = make_network(election=ElectionMode.MULTI_FACTOR, score_weight=0.5, factor_weight=0.5, updates_per_round=6)
    t = net.trainers
    net.ledger.attest_factors({node: to_fixed(f) for node, f in zip(t[:6], [1.0, 0.0, 0.2, 0.9, 0.0, 0.0], strict=True)})
    ids = net.submit(t[:6])
    net.score_all(ids, [0.5, 0.9, 0.8, 0.6, 0.7, 0.2])
    net.propose_all(MODEL_A)
    # 0.5*s + 0.5*f: t0 0.75, t1 0.45, t2 0.5, t3 0.75, t4 0.35, t5 0.1 -> ties keep median order (t3 before t0)
    assert net.ledger.committee(1) == [t[3], t[0], t[2], t[1], t[4]]


def test_no_consecutive_terms_on_reelection(make_network):
    net = make_network(updates_per_round=8)
    ids = net.submit(net.trainers[:8], samples=10)
    net.score_all(ids, [0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55])
    net.propose_all(MODEL_A)
    c1 = net.ledger.committee(1)
    assert c1 == net.trainers[:5]
    net.chain.mine(20)  # round 1's committee does nothing
    with pytest.raises(ContractRevert, match="member served in the failed committee"):
        net.ledger.replace_committee(1, [net.trainers[8], c1[0], net.trainers[9]])
    net.at(net.trainers[9]).reelect_committee(1)
    c2 = net.ledger.committee(2)
    # the 3 qualified providers of round 0 outside round 1's committee
    assert c2 == net.trainers[5:8] and not set(c2) & set(c1)
    assert net.ledger.model(2).blob_hash == MODEL_A


def test_reelection_needs_a_previous_round_and_enough_candidates(make_network):
    net = make_network(updates_per_round=6)
    net.chain.mine(20)
    with pytest.raises(ContractRevert, match="no previous round to elect from"):
        net.at(net.trainers[0]).reelect_committee(0)
    net.ledger.replace_committee(0, net.trainers[:3])
    ids = net.submit(net.trainers[3:9])
    net.score_all(ids, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    net.propose_all(MODEL_A)  # round 2's committee: 5 of the 6 providers of round 1
    net.chain.mine(20)
    with pytest.raises(ContractRevert, match="too few eligible candidates: a manager must replace the committee"):
        net.at(net.trainers[0]).reelect_committee(2)


def test_close_phase_deadline_and_quorum(make_network):
    net = make_network(score_deadline_blocks=50, round_deadline_blocks=100)
    ids = net.submit(net.trainers[:3])
    c = net.committee
    for member in c[:3]:
        _vote(net, member, ids[:2], [0.8, 0.6])
    _vote(net, c[0], ids[2:], [0.9])
    closer = net.at(net.trainers[5])
    with pytest.raises(ContractRevert, match="phase deadline not reached"):
        closer.close_phase(0)
    net.chain.mine(50)
    _vote(net, c[1], ids[2:], [0.7])  # the deadline alone does not end voting
    [r] = closer.close_phase(0)
    finalized = {e.args["update_id"]: e.args["num_votes"] for e in r.events_named("UpdateFinalized")}
    assert finalized == {ids[0]: 3, ids[1]: 3}  # update 2 had 2 votes of 5: no quorum
    assert net.ledger.qualified(0) == [ids[0], ids[1]]
    assert not net.ledger.update(ids[2]).final and net.ledger.update(ids[2]).num_votes == 2


def test_close_phase_without_any_quorum_reverts(net):
    ids = net.submit(net.trainers[:1])
    _vote(net, net.committee[0], ids, [0.9])
    _vote(net, net.committee[1], ids, [0.9])
    net.chain.mine(5)
    with pytest.raises(ContractRevert, match="no update reached a quorum of votes"):
        net.at(net.trainers[5]).close_phase(0)
    assert net.ledger.phase() == Phase.SCORING


def test_commit_and_reveal_close_after_their_deadlines(make_network):
    net = make_network(commit_deadline_blocks=30, round_deadline_blocks=40)  # admitting the trainers took 12 blocks
    t = net.trainers
    sealed = net.commit(t[:2])
    with pytest.raises(ContractRevert, match="phase deadline not reached"):
        net.at(t[5]).close_phase(0)
    net.close_after_deadline(t[5])
    assert (net.ledger.phase(), net.ledger.round_state().num_commits) == (Phase.REVEAL, 2)
    [uid] = net.reveal(sealed[:1])
    with pytest.raises(ContractRevert, match="phase deadline not reached"):
        net.at(t[5]).close_phase(0)
    net.close_after_deadline(t[5])
    assert net.ledger.phase() == Phase.SCORING and net.ledger.round_update_ids(0) == [uid]
    with pytest.raises(ContractRevert, match="not this phase of the round"):  # the unrevealed commitment is dropped
        net.reveal(sealed[1:])
    assert net.ledger.has_submitted(0, t[0]) and not net.ledger.has_submitted(0, t[1])
    assert net.ledger.commitment(0, t[1]) == stored_commitment(sealed[1].commitment(0))


def test_failback_to_any_historical_model(net):
    for h in (MODEL_A, MODEL_B):
        r = net.ledger.current_round()
        members = net.ledger.committee(r)
        trainers = [t for t in net.trainers if t not in members][:3]
        ids = net.submit(trainers)
        net.score_all(ids, [0.9, 0.8, 0.7])
        net.propose_all(h)
    assert net.ledger.current_round() == 2
    with pytest.raises(ContractRevert, match="no model for that round yet"):
        net.ledger.failback(3)
    committee_before = net.ledger.committee(2)
    r = net.ledger.failback(1)
    [fb] = r.events_named("Failback")
    assert (fb.args["from_round"], fb.args["to_round"], fb.args["blob_hash"]) == (2, 1, MODEL_A)
    m = net.ledger.model(3)
    assert (m.blob_hash, m.origin) == (MODEL_A, ModelOrigin.FAILBACK)
    assert net.ledger.committee(3) == committee_before
    assert [x.blob_hash for x in net.ledger.model_history()] == [b"\x01" * 32, MODEL_A, MODEL_B, MODEL_A]


def test_rewards_to_the_last_wei(make_network):
    net = make_network(round_reward=1_000_003, committee_share=0.1)
    net.ledger.fund(5_000_000)
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.9, 0.6, 0.3])
    c = net.committee
    net.at(c[0]).propose_model(0, MODEL_B, "")
    for member in c[1:4]:
        net.at(member).propose_model(0, MODEL_A, "")
    # committee part 1_000_003 * 1000 // 10000 = 100_000 over 3 agreeing members = 33_333 each
    # providers share 900_003 by medians 900000:600000:300000 (total 1_800_000)
    providers, member_share = share_reward(1_000_003, 1000, [900_000, 600_000, 300_000], 3)
    assert providers == [450_001, 300_001, 150_000] and member_share == 33_333
    assert [net.ledger.balance(t) for t in net.trainers[:3]] == providers
    assert [net.ledger.balance(m) for m in c] == [0, 33_333, 33_333, 33_333, 0]  # c4 never proposed
    paid = sum(providers) + 3 * member_share
    assert paid == 1_000_001  # 2 wei of the round reward are not paid out
    assert net.ledger.reward_pool() == 5_000_000 - paid == 3_999_999
    balances = sum(net.ledger.balance(a) for a in net.managers + net.committee + net.trainers)
    assert net.contract_value() == balances + net.ledger.reward_pool()


def test_reward_is_capped_by_the_pool(make_network):
    net = make_network(round_reward=1000)
    net.ledger.fund(10)
    ids = net.submit(net.trainers[:3])
    net.score_all(ids, [0.5, 0.5, 0.5])
    net.propose_all(MODEL_A)
    assert [net.ledger.balance(t) for t in net.trainers[:3]] == [3, 3, 3]
    assert net.ledger.reward_pool() == 1


def test_events_trace_a_full_round(net):
    t, c = net.trainers, net.committee
    sealed = [net.seal(trainer) for trainer in t[:3]]
    commits = [e.name for s in sealed for e in net.at(s.trainer).commit_update(0, s.commitment(0)).events]
    assert commits == ["UpdateCommitted"] * 3 + ["PhaseStarted"]
    reveals = [net.at(s.trainer)._transact("reveal_update", 0, s.blob, s.samples, s.salt) for s in sealed]
    assert [e.name for r in reveals for e in r.events] == ["UpdateSubmitted"] * 3 + ["PhaseStarted"]
    [started] = reveals[-1].events_named("PhaseStarted")
    assert started.args["phase"] == Phase.SCORING
    ids = [r.events_named("UpdateSubmitted")[0].args["update_id"] for r in reveals]
    for member in c:
        *votes, last = net.at(member).submit_scores(0, ids, [to_fixed(s) for s in (0.9, 0.8, 0.7)])
    assert [e.name for e in votes[0].events] == ["ScoresSubmitted", "ScoringComplete"]
    assert [e.name for e in last.events] == ["UpdateFinalized"] * 3 + ["AggregationTriggered"]
    names = []
    for member in c[:3]:
        names += [e.name for e in net.at(member).propose_model(0, MODEL_A, "").events]
    assert names == ["ModelProposed", "ModelProposed", "ModelProposed", "ModelAccepted", "CommitteeElected", "RoundStarted"]


def test_relative_min_score_keeps_updates_near_the_best(make_network):
    net = make_network(updates_per_round=4, relative_min_score=0.5)
    ids = net.submit(net.trainers[:4])
    net.score_all(ids, [0.8, 0.02, 0.41, 0.39])
    # threshold = 0.8 * 5000 // 10000 = 0.4
    assert net.ledger.qualified(0) == [ids[0], ids[2]]


def test_scores_and_closing_go_in_batches(make_network):
    net = make_network(updates_per_round=5, num_trainers=6, score_deadline_blocks=60, round_deadline_blocks=100)
    ids = net.submit(net.trainers[:5])
    first, *rest = net.committee
    results = net.at(first).submit_scores(0, ids, [to_fixed(0.5)] * 5, batch_size=2)
    assert [len(r.events_named("ScoresSubmitted")) for r in results] == [1, 1, 1]
    for member in rest[:2]:
        net.at(member).submit_scores(0, ids[:3], [to_fixed(0.6)] * 3)
    net.chain.mine(60)
    closer = net.at(net.trainers[5])
    closing = [closer._transact("close_phase", 0, net.ledger.scoring_claims(0)[:2])]  # updates 0-1
    with pytest.raises(ContractRevert, match="scoring is closing"):  # no vote changes a close under way
        net.at(rest[2]).submit_scores(0, ids, [to_fixed(0.9)] * 5)
    closing += closer.close_phase(0, batch_size=2)
    assert len(closing) == 3  # updates 0-1, 2-3, then 4 and the trigger
    assert [e.args["update_id"] for r in closing for e in r.events_named("UpdateFinalized")] == ids[:3]
    assert closing[-1].events_named("AggregationTriggered")
    assert net.ledger.qualified(0) == ids[:3]
    assert [net.ledger.update(u).median for u in ids[:3]] == [600_000] * 3  # lower median of 0.5, 0.6, 0.6
