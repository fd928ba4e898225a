"""Property tests: the deployed contract against the pure-Python rules of
``bflc.protocol``.

Each example deploys a fresh network on a fresh in-process chain, plays the
part of a round the property is about with drawn parameters, and compares
what the chain recorded with the reference function fed the same integers
the contract received (``ProtocolParams.to_contract()``, fixed-point scores).
Example counts are sized so the whole file runs in well under a minute.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bflc.chain import SCORE_ONE, ElectionMode, ModelOrigin, NodeStatus, Phase
from bflc.chain.artifact import load_artifact
from bflc.protocol import (
    BPS,
    Candidate,
    elect_by_score,
    elect_multi_factor,
    elect_random,
    elected_size,
    election_seed,
    lower_median,
    mix_entropy,
    qualify,
    rank_updates,
    share_fee,
    share_reward,
)

pytestmark = pytest.mark.slow

# `make_network` returns a plain factory: calling it inside each example builds
# an independent chain, so the function-scoped fixture is safe to reuse.
PROPERTY = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}

MODEL_B = b"\xbb" * 32

# Scores: anything in [0, SCORE_ONE], with the extremes and a few common values
# drawn often so that duplicates and ties are frequent.
EDGE_SCORES = [0, 1, SCORE_ONE // 2, SCORE_ONE - 1, SCORE_ONE]
scores = st.sampled_from(EDGE_SCORES) | st.integers(0, SCORE_ONE)
model_hashes = st.binary(min_size=32, max_size=32).filter(lambda h: any(h) and h != MODEL_B)


def on_shallow_stack(test):
    """Run each example in a fresh worker thread.

    CPython 3.11 maps and unmaps a 16 KiB frame-stack chunk each time a hot
    call path crosses a chunk boundary. Under Hypothesis's extra stack depth
    py-evm's interpreter loop sits right on such a boundary: hundreds of
    thousands of mmap/munmap calls, about twice the runtime. A new thread
    starts from a shallow stack. Failures propagate unchanged.
    """

    @functools.wraps(test)
    def run(*args, **kwargs):
        with ThreadPoolExecutor(max_workers=1) as worker:
            return worker.submit(test, *args, **kwargs).result()

    return run


def run_property(request: pytest.FixtureRequest, examples: dict[str, int], check, **strategy) -> None:
    """Try ``check`` on ``examples[backend]`` Hypothesis examples drawn from ``strategy``.

    Anvil replays the same properties with fewer examples: every example
    deploys a network over JSON-RPC, and the contract's bytecode is the one
    the in-process EVM runs through all of them.
    """
    backend = request.node.callspec.params["chain_factory"]
    settings(max_examples=examples[backend], **PROPERTY)(given(**strategy)(on_shallow_stack(check)))()


def contract_ints(net) -> dict[str, int]:
    """The integers the contract was deployed with, by the contract's own
    ``Params`` field names (read from the ABI, so the order cannot drift)."""
    ctor = next(item for item in load_artifact()["abi"] if item["type"] == "constructor")
    names = [field["name"] for field in ctor["inputs"][-1]["components"]]
    return dict(zip(names, net.params.to_contract(), strict=True))


def qualify_as_contract(candidates: list[Candidate], ints: dict[str, int]) -> list[Candidate]:
    return qualify(candidates, ints["qualify_top_bps"], ints["min_score"], ints["relative_score_bps"])


def score_batches(net, ids: list[int], rows: list[list[int]]) -> None:
    """Committee member i records rows[i][j] for update ids[j], in one batch."""
    r = net.ledger.current_round()
    for member, row in zip(net.committee, rows, strict=False):
        net.at(member).submit_scores(r, ids, row)


def majority(size: int) -> int:
    return size // 2 + 1


# ---------------------------------------------------------------- medians


# An odd committee of 1..9 members (even committees are refused at deployment).
odd_sizes = st.integers(0, 4).map(lambda half: 2 * half + 1)


def test_median_of_all_votes_matches_reference(make_network, request):
    def check(votes):
        net = make_network(num_managers=1, num_committee=len(votes), num_trainers=1, updates_per_round=1)
        [uid] = net.submit(net.trainers)
        score_batches(net, [uid], [[v] for v in votes])
        u = net.ledger.update(uid)
        assert u.final and u.num_votes == len(votes)
        assert u.median == lower_median(votes)
        assert u.voters == tuple(net.committee) and u.scores == tuple(votes)
        assert net.ledger.phase() == Phase.AGGREGATING  # the only revealed update is final: aggregation triggers

    run_property(request, {"in-process": 40, "anvil": 15}, check, votes=odd_sizes.flatmap(lambda n: st.lists(scores, min_size=n, max_size=n)))


@st.composite
def quorum_cases(draw):
    """Odd committee of 3..9; a quorum (not everyone, often an even number
    of voters) votes on update A, a minority of them also on update B."""
    size = draw(odd_sizes.filter(lambda n: n >= 3))
    votes = draw(st.lists(scores, min_size=size, max_size=size))
    quorum = draw(st.integers(majority(size), size - 1))
    minority = draw(st.integers(1, size // 2))
    b_votes = draw(st.lists(scores, min_size=minority, max_size=minority))
    return size, votes[:quorum], b_votes


def test_median_of_a_quorum_after_the_deadline_matches_reference(make_network, request):
    def check(case):
        size, a_votes, b_votes = case
        net = make_network(num_managers=1, num_committee=size, num_trainers=2, updates_per_round=2)
        a, b = net.submit(net.trainers)
        rows = [[va, b_votes[i]] if i < len(b_votes) else [va] for i, va in enumerate(a_votes)]
        r = net.ledger.current_round()
        for member, row in zip(net.committee, rows, strict=False):
            net.at(member).submit_scores(r, [a, b][: len(row)], row)
        assert not net.ledger.update(a, with_votes=False).final
        net.chain.mine(net.params.score_deadline_blocks)
        net.at(net.trainers[0]).close_phase(r)
        ua, ub = net.ledger.update(a, with_votes=False), net.ledger.update(b, with_votes=False)
        assert ua.final and ua.median == lower_median(a_votes)
        assert not ub.final  # at most half of the committee voted on B
        assert net.ledger.qualified(r) == [a]

    run_property(request, {"in-process": 15, "anvil": 8}, check, case=quorum_cases())


# ---------------------------------------------------------------- qualification


@st.composite
def qualification_cases(draw):
    k = draw(st.integers(1, 12))
    # Medians from a small pool make ties (and ties at the threshold) common.
    pool = draw(st.lists(scores, min_size=1, max_size=4))
    medians = draw(st.lists(st.sampled_from(pool) | scores, min_size=k, max_size=k))
    top_bps = draw(st.sampled_from([1, 2500, 3333, 5000, 6667, BPS]) | st.integers(1, BPS))
    min_score = draw(st.just(0) | st.sampled_from(medians) | scores)
    relative_bps = draw(st.just(0) | st.sampled_from([5000, 9000, BPS]) | st.integers(0, BPS))
    blacklisted = draw(st.sets(st.integers(0, k - 1), max_size=k // 3))
    order = draw(st.permutations(range(k)))
    return medians, top_bps, min_score, relative_bps, blacklisted, order


def test_qualified_set_matches_reference(make_network, request):
    def check(case):
        medians, top_bps, min_score, relative_bps, blacklisted, order = case
        k = len(medians)
        net = make_network(
            num_managers=1,
            num_committee=1,  # one member: its score is the median
            num_trainers=k,
            updates_per_round=k,
            qualify_top_fraction=top_bps / BPS,
            min_score=min_score / SCORE_ONE,
            relative_min_score=relative_bps / BPS,
        )
        ints = contract_ints(net)
        ids = net.submit(net.trainers)
        for i in blacklisted:  # blacklisted after submitting: the update never qualifies
            net.ledger.blacklist(net.trainers[i])
        # One batch in a drawn order: vote order must not matter.
        *_, result = net.at(net.committee[0]).submit_scores(0, [ids[i] for i in order], [medians[i] for i in order])

        candidates = [Candidate(ids[i], net.trainers[i], medians[i]) for i in range(k) if i not in blacklisted]
        expected = [c.update_id for c in qualify_as_contract(candidates, ints)]
        assert net.ledger.qualified(0) == expected
        assert [u.qualified for u in net.ledger.round_updates(0, with_votes=False)] == [u in expected for u in ids]
        [trigger] = result.events_named("AggregationTriggered")
        assert (trigger.args["num_final"], trigger.args["num_qualified"]) == (k, len(expected))
        if expected:
            assert (net.ledger.current_round(), net.ledger.phase()) == (0, Phase.AGGREGATING)
        else:  # nothing qualified: the round is skipped with the same model and committee
            assert result.events_named("RoundSkipped")
            assert (net.ledger.current_round(), net.ledger.phase()) == (1, Phase.COMMIT)
            assert net.ledger.model(1).origin == ModelOrigin.CARRIED_OVER
            assert net.ledger.committee(1) == net.committee

    run_property(request, {"in-process": 25, "anvil": 10}, check, case=qualification_cases())


# ---------------------------------------------------------------- election

# What happens to a trainer during the round: it stays; it leaves or is
# blacklisted right after submitting (before scoring); or it leaves or is
# blacklisted after qualification (before the model is accepted).
FATES = ["stay", "stay", "stay", "leave_early", "blacklist_early", "leave_late", "blacklist_late"]


@dataclass
class ElectionCase:
    committee_size: int
    min_committee_size: int
    rows: list[list[int]]  # rows[member][update]
    fates: list[str]
    factors: list[int]
    score_bps: int
    top_bps: int
    min_score: int
    relative_bps: int
    model_hash: bytes


@st.composite
def election_cases(draw):
    committee_size = draw(st.sampled_from([1, 3, 5]))
    first = draw(st.sampled_from([n for n in (1, 3, 5) if n <= committee_size]))
    minimum = draw(st.sampled_from([n for n in (1, 3, 5) if n <= first]))
    k = draw(st.integers(1, 8))
    rows = draw(st.lists(st.lists(scores, min_size=k, max_size=k), min_size=first, max_size=first))
    return ElectionCase(
        committee_size=committee_size,
        min_committee_size=minimum,
        rows=rows,
        fates=draw(st.lists(st.sampled_from(FATES), min_size=k, max_size=k)),
        factors=draw(st.lists(st.sampled_from([0, SCORE_ONE // 2, SCORE_ONE]) | scores, min_size=k, max_size=k)),
        score_bps=draw(st.sampled_from([0, BPS // 2, BPS]) | st.integers(0, BPS)),
        top_bps=draw(st.just(BPS) | st.integers(1, BPS)),
        min_score=draw(st.just(0) | scores),
        relative_bps=draw(st.just(0) | st.integers(0, BPS)),
        model_hash=draw(model_hashes),
    )


def _set_fates(net, trainers: list[str], fates: list[str], when: str) -> None:
    for node, fate in zip(trainers, fates, strict=False):
        if fate == f"leave_{when}":
            net.at(node).leave()
        elif fate == f"blacklist_{when}":
            net.ledger.blacklist(node)


def _expected_committee(mode, case, net, qualified: list[Candidate], ints, entropy: int) -> list[str]:
    """The reference election; empty when it seats nobody (below the minimum committee size)."""
    eligible = [c for c in qualified if case.fates[net.trainers.index(c.provider)] == "stay"]
    eligible = [c for c in eligible if c.provider not in net.committee]  # no consecutive terms
    size = elected_size(len(eligible), case.committee_size, case.min_committee_size)
    if mode == ElectionMode.SCORE:
        return elect_by_score(eligible, size)
    if mode == ElectionMode.RANDOM:
        return elect_random(eligible, size, election_seed(entropy, 0))
    return elect_multi_factor(eligible, size, ints["score_weight_bps"], ints["factor_weight_bps"])


@pytest.mark.parametrize("mode", list(ElectionMode), ids=lambda m: m.name.lower())
def test_next_committee_matches_reference(make_network, mode, request):
    def check(case):
        k = len(case.fates)
        net = make_network(
            num_managers=1,
            num_committee=len(case.rows),
            num_trainers=k,
            committee_size=case.committee_size,
            min_committee_size=case.min_committee_size,
            updates_per_round=k,
            election=mode,
            qualify_top_fraction=case.top_bps / BPS,
            min_score=case.min_score / SCORE_ONE,
            relative_min_score=case.relative_bps / BPS,
            score_weight=case.score_bps / BPS,
            factor_weight=(BPS - case.score_bps) / BPS,
        )
        ints = contract_ints(net)
        if mode == ElectionMode.MULTI_FACTOR:
            net.ledger.attest_factors(dict(zip(net.trainers, case.factors, strict=False)))
        factors = case.factors if mode == ElectionMode.MULTI_FACTOR else [0] * k
        sealed = net.commit(net.trainers)  # K commitments: the reveals follow at once
        ids = net.reveal(sealed)
        entropy = functools.reduce(mix_entropy, [s.salt for s in sealed], 0)
        assert net.ledger.entropy(0) == entropy
        _set_fates(net, net.trainers, case.fates, "early")
        score_batches(net, ids, case.rows)

        medians = [lower_median([row[j] for row in case.rows]) for j in range(k)]
        candidates = [
            Candidate(ids[j], net.trainers[j], medians[j], factors[j])
            for j in range(k)
            if case.fates[j] != "blacklist_early"
        ]
        qualified = qualify_as_contract(candidates, ints)
        assert net.ledger.qualified(0) == [c.update_id for c in qualified]
        if not qualified:  # skipped round: no election, the committee carries over
            assert net.ledger.current_round() == 1 and net.ledger.committee(1) == net.committee
            return

        _set_fates(net, net.trainers, case.fates, "late")
        results = [net.at(m).propose_model(0, case.model_hash, "file:///m") for m in net.committee[: majority(len(case.rows))]]
        assert net.ledger.current_round() == 1 and net.ledger.model(1).blob_hash == case.model_hash

        expected = _expected_committee(mode, case, net, qualified, ints, entropy)
        carried = not expected
        if carried:  # too few eligible candidates: the old committee serves again
            expected = net.committee
        assert net.ledger.committee(1) == expected
        [elected] = results[-1].events_named("CommitteeElected")
        assert list(elected.args["members"]) == expected and elected.args["carried_over"] == carried
        assert all(net.ledger.is_committee_member(1, m) for m in expected)

    run_property(request, {"in-process": 12, "anvil": 6}, check, case=election_cases())


# ---------------------------------------------------------------- fees and rewards

APPLICANT_FATES = ["pending", "withdrawn", "blacklisted"]


@dataclass
class RewardCase:
    num_managers: int
    fee: int
    applicants: list[str]
    medians: list[int]
    committee: int
    dissenters: int
    round_reward: int
    share_bps: int
    funding: int
    blacklisted: set[int]
    blacklisted_members: set[int]
    withdraw: bool


@st.composite
def reward_cases(draw):
    k = draw(st.integers(1, 5))
    committee = draw(st.sampled_from([1, 3]))
    wei = st.sampled_from([0, 1, 7, 10**18]) | st.integers(0, 10**21)
    return RewardCase(
        num_managers=draw(st.integers(1, 6)),
        fee=draw(wei),
        applicants=draw(st.lists(st.sampled_from(APPLICANT_FATES), max_size=3)),
        medians=draw(st.lists(st.just(0) | scores, min_size=k, max_size=k)),
        committee=committee,
        dissenters=draw(st.integers(0, committee - majority(committee))),
        round_reward=draw(wei),
        share_bps=draw(st.sampled_from([0, 1, 1000, BPS]) | st.integers(0, BPS)),
        funding=draw(wei),
        blacklisted=draw(st.sets(st.integers(0, k - 1), max_size=k // 2)),
        # agreeing members blacklisted after their proposal, before the one that accepts the model
        blacklisted_members=draw(st.sets(st.integers(0, majority(committee) - 2), max_size=1) if committee > 1 else st.just(set())),
        withdraw=draw(st.booleans()),
    )


def test_fees_and_rewards_match_reference_and_conserve_value(make_network, request):
    def check(case):
        k = len(case.medians)
        net = make_network(
            num_managers=case.num_managers,
            num_committee=case.committee,
            num_trainers=k,  # each applies with the fee and is admitted
            permission_fee=case.fee,
            updates_per_round=k,
            round_reward=case.round_reward,
            committee_share=case.share_bps / BPS,
        )
        ints = contract_ints(net)
        applicants = net.outsiders[: len(case.applicants)]
        expected = dict.fromkeys(net.managers + net.committee + net.trainers + applicants, 0)
        escrow = dict.fromkeys(expected, 0)
        for m, part in zip(net.managers, share_fee(case.fee, case.num_managers), strict=False):
            expected[m] += part * (k if case.fee else 0)  # no fee: admitted without applying
        for node, fate in zip(applicants, case.applicants, strict=False):
            net.at(node).apply(case.fee)
            if fate == "withdrawn":
                net.at(node).withdraw_application()
            elif fate == "blacklisted":
                net.ledger.blacklist(node)
            if fate == "pending":
                escrow[node] = case.fee
                assert net.ledger.status(node) == NodeStatus.APPLIED
            else:
                expected[node] = case.fee  # refunded to its balance
        if case.funding:
            net.ledger.fund(case.funding)

        ids = net.submit(net.trainers)
        score_batches(net, ids, [case.medians] * case.committee)
        for i in case.blacklisted:  # qualified, then blacklisted: its reward is withheld
            net.ledger.blacklist(net.trainers[i])
        agreeing = net.committee[case.dissenters : case.dissenters + majority(case.committee)]
        for m in net.committee[: case.dissenters]:
            net.at(m).propose_model(0, MODEL_B, "")
        for i, m in enumerate(agreeing):
            net.at(m).propose_model(0, b"\xaa" * 32, "")
            if i in case.blacklisted_members:  # its committee share is withheld
                net.ledger.blacklist(m)
        assert net.ledger.current_round() == 1

        ranked = rank_updates([Candidate(ids[i], net.trainers[i], case.medians[i]) for i in range(k)])
        reward = min(case.round_reward, case.funding)
        shares, member_share = share_reward(reward, ints["committee_share_bps"], [c.median for c in ranked], len(agreeing))
        paid = 0
        for c, share in zip(ranked, shares, strict=False):
            if net.trainers.index(c.provider) not in case.blacklisted:
                expected[c.provider] += share
                paid += share
        for i, m in enumerate(agreeing):
            if i not in case.blacklisted_members:
                expected[m] += member_share
                paid += member_share
        balances = {a: net.ledger.balance(a) for a in expected}
        escrows = {a: net.ledger.escrow(a) for a in expected}
        pool = net.ledger.reward_pool()
        assert balances == expected and escrows == escrow
        assert pool == case.funding - paid
        # Conservation: the contract holds exactly what it owes (no other account
        # can have a balance or escrow: only these ever applied, trained or served).
        assert net.contract_value() == sum(balances.values()) + sum(escrows.values()) + pool

        rich = max(expected, key=expected.get)
        if case.withdraw and expected[rich]:
            before = net.contract_value()
            net.at(rich).withdraw()
            assert net.ledger.balance(rich) == 0 and net.contract_value() == before - expected[rich]

    run_property(request, {"in-process": 25, "anvil": 10}, check, case=reward_cases())
