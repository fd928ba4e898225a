"""Property tests of the managers' council on both chain backends: fewer
than t managers change nothing that governance controls, t managers change
exactly what they decided.

Each example deploys a network whose council has 3 to 5 managers and a drawn
threshold, draws one governance decision (blacklisting, committee
replacement after the round deadline, failback with a new committee,
admission, attested factors, adding or removing a manager, lowering the
threshold) and a coalition of managers who propose and approve it, in a
drawn order, and then try to run it. Below the threshold the chain must end
exactly as it began; at or above it, the decision must have run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflc.chain import Ledger, NodeStatus
from bflc.chain.artifact import COUNCIL_NAME
from bflc.errors import ContractRevert

from .conftest import Network

pytestmark = pytest.mark.slow

# Examples per backend: every example deploys a council and a contract.
EXAMPLES = {"in-process": 12, "anvil": 5}
ACTIONS = ["blacklist", "replace_committee", "failback", "admit", "attest_factors", "add_manager", "remove_manager", "set_threshold"]


@dataclass
class Case:
    num_managers: int
    threshold: int
    action: str
    coalition: list[int]  # manager indices: the first proposes, the others approve, in this order
    also_execute: bool  # the coalition also tries `execute` and the shorthand of the call sent directly


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(3, 5))
    t = draw(st.integers(2, n))
    size = draw(st.integers(1, n))
    coalition = draw(st.permutations(range(n)))[:size]
    return Case(n, t, draw(st.sampled_from(ACTIONS)), coalition, draw(st.booleans()))


def snapshot(net: Network) -> dict[str, Any]:
    """Everything governance controls, as read from the chain."""
    ledger = net.ledger
    everyone = net.managers + net.committee + net.trainers + net.outsiders
    return {
        "round": ledger.current_round(),
        "committee": ledger.committee(ledger.current_round()),
        "models": [(m.round, m.blob_hash, m.origin) for m in ledger.model_history()],
        "status": [ledger.status(a) for a in everyone],
        "factor": [ledger.factor(a) for a in everyone],
        "managers": ledger.managers(),
        "threshold": ledger.threshold(),
    }


def call_of(net: Network, action: str) -> tuple[str, tuple[Any, ...], str]:
    """The drawn action as (function, arguments, target contract)."""
    r = net.ledger.current_round()
    fresh = net.trainers[:3]
    return {
        "blacklist": ("blacklist", (net.committee[0],), "BFLC"),
        "replace_committee": ("replace_committee", (r, fresh), "BFLC"),
        "failback": ("failback", (0, fresh), "BFLC"),
        "admit": ("admit", ([net.outsiders[0]],), "BFLC"),
        "attest_factors": ("attest_factors", ([net.trainers[0]], [700_000]), "BFLC"),
        "add_manager": ("add_manager", (net.outsiders[1],), COUNCIL_NAME),
        "remove_manager": ("remove_manager", (net.managers[-1],), COUNCIL_NAME),
        "set_threshold": ("set_threshold", (1,), COUNCIL_NAME),
    }[action]


def alone(net: Network, managers: list[str]) -> list[Ledger]:
    """Each manager's ledger, approving nothing on the others' behalf (as on a real network)."""
    ledgers = [net.at(a) for a in managers]
    for ledger in ledgers:
        ledger.co_managers = ()
    return ledgers


def attempt(ledger: Ledger, function: str, args: tuple[Any, ...], target: str) -> None:
    """What a coalition member may try besides approving: send the call directly, or run the decision."""
    try:
        ledger._transact(function, *args, contract=target)
    except ContractRevert:
        pass
    else:
        raise AssertionError(f"{function} ran when sent directly by a manager")


def play(make_network: Any, case: Case) -> None:
    net = make_network(num_managers=case.num_managers, threshold=case.threshold, updates_per_round=3)
    if case.action == "remove_manager" and case.threshold == case.num_managers:
        net.ledger.decide("set_threshold", case.num_managers - 1, target=COUNCIL_NAME)  # else removing is refused outright
    net.chain.mine(net.params.round_deadline_blocks)  # round 0 is past its deadline: its committee may be replaced
    before = snapshot(net)
    function, args, target = call_of(net, case.action)
    managers = alone(net, [net.managers[i] for i in case.coalition])
    decision_id, result = managers[0].propose(function, *args, target=target)
    for m in managers[1:]:
        if result.events_named("DecisionExecuted"):
            break
        result = m.approve(decision_id)
    ran = bool(result.events_named("DecisionExecuted"))
    threshold = before["threshold"]
    if len(case.coalition) < threshold:
        assert not ran
        if case.also_execute:
            for m in managers:
                with pytest.raises(ContractRevert, match="not enough approvals"):
                    m.execute(decision_id)
                attempt(m, function, args, target)
        assert snapshot(net) == before
        assert net.ledger.decision(decision_id).status == "pending"
        return
    assert ran and net.ledger.decision(decision_id).status == "executed"
    after = snapshot(net)
    changed = {k for k in before if before[k] != after[k]}
    expected = {
        "blacklist": {"status"},
        "replace_committee": {"round", "committee", "models"},
        "failback": {"round", "committee", "models"},
        "admit": {"status"},
        "attest_factors": {"factor"},
        "add_manager": {"managers"},
        "remove_manager": {"managers"},
        "set_threshold": {"threshold"},
    }[case.action]
    assert changed == expected
    if case.action in ("replace_committee", "failback"):
        assert after["committee"] == net.trainers[:3]


def test_fewer_than_t_managers_change_nothing_and_t_managers_change_what_they_decided(make_network, examples):
    @settings(max_examples=examples, deadline=None)
    @given(case=cases())
    def check(case: Case) -> None:
        play(make_network, case)

    check()




def test_an_approval_must_resend_the_proposed_call(make_network):
    net = make_network(num_managers=3, threshold=2)
    first, second = net.at(net.managers[0]), net.at(net.managers[1])
    decision_id, _ = first.propose("blacklist", net.trainers[0])
    with pytest.raises(ContractRevert, match="call differs from the proposed one"):
        second._transact("approve", decision_id, b"\x00" * 36, contract=COUNCIL_NAME)
    with pytest.raises(ContractRevert, match="caller is not a manager"):
        net.at(net.trainers[1]).approve(decision_id)
    with pytest.raises(ContractRevert, match="already approved"):
        first.approve(decision_id)
    assert net.ledger.status(net.trainers[0]) == NodeStatus.ADMITTED
    second.approve(decision_id)
    assert net.ledger.status(net.trainers[0]) == NodeStatus.BLACKLISTED
    with pytest.raises(ContractRevert, match="decision already executed"):
        net.at(net.managers[2]).approve(decision_id)


def test_a_revoked_or_removed_managers_approval_no_longer_counts(make_network):
    net = make_network(num_managers=4, threshold=3)
    m = alone(net, net.managers)
    blacklist, _ = m[0].propose("blacklist", net.trainers[0])
    m[1].approve(blacklist)
    m[1].revoke(blacklist)
    assert net.ledger.decision(blacklist).approvals == (net.managers[0],)
    m[1].approve(blacklist)
    # managers 1, 2 and 3 remove manager 0: its approval of the blacklisting is void
    removal, _ = m[1].propose("remove_manager", net.managers[0], target=COUNCIL_NAME)
    m[2].approve(removal)
    m[3].approve(removal)
    assert net.ledger.managers() == net.managers[1:]
    assert net.ledger.decision(blacklist).approvals == (net.managers[1],)
    with pytest.raises(ContractRevert, match="caller is not a manager"):
        m[0].approve(blacklist)
    m[2].approve(blacklist)
    assert net.ledger.status(net.trainers[0]) == NodeStatus.ADMITTED  # 2 of a threshold of 3
    m[3].approve(blacklist)
    assert net.ledger.status(net.trainers[0]) == NodeStatus.BLACKLISTED


def test_an_expired_decision_never_runs(make_network):
    net = make_network(num_managers=3, threshold=2, decision_lifetime=5)
    first, second = net.at(net.managers[0]), net.at(net.managers[1])
    decision_id, _ = first.propose("blacklist", net.trainers[0])
    with pytest.raises(ContractRevert, match="decision has not expired"):
        first.expire(decision_id)
    net.chain.mine(5)
    assert net.ledger.decision(decision_id).status == "expired"
    with pytest.raises(ContractRevert, match="decision expired"):
        second.approve(decision_id)
    expired = second.expire(decision_id)
    assert [e.args["id"] for e in expired.events_named("DecisionExpired")] == [decision_id]
    assert net.ledger.status(net.trainers[0]) == NodeStatus.ADMITTED
    assert net.ledger.decisions(open_only=True) == []


def test_a_decision_whose_call_fails_reverts_with_the_calls_reason(make_network):
    net = make_network(num_managers=3, threshold=2)
    first, second = net.at(net.managers[0]), net.at(net.managers[1])
    decision_id, _ = first.propose("replace_committee", 0, net.trainers[:3])  # before the round deadline
    with pytest.raises(ContractRevert, match="round deadline not reached") as raised:
        second.approve(decision_id)
    assert raised.value.function == "approve (replace_committee)"
    assert net.ledger.decision(decision_id).approvals == (net.managers[0],)  # the failed approval was undone
    net.chain.mine(net.params.round_deadline_blocks)
    second.approve(decision_id)
    assert net.ledger.committee(1) == net.trainers[:3]


def test_lowering_the_threshold_lets_collected_approvals_run(make_network):
    net = make_network(num_managers=3, threshold=3)
    m = alone(net, net.managers)
    blacklist, _ = m[0].propose("blacklist", net.trainers[0])
    m[1].approve(blacklist)
    lower, _ = m[0].propose("set_threshold", 2, target=COUNCIL_NAME)
    m[1].approve(lower)
    m[2].approve(lower)
    assert net.ledger.threshold() == 2
    assert net.ledger.decision(blacklist).status == "ready"
    net.at(net.outsiders[0]).execute(blacklist)  # anyone may run it
    assert net.ledger.status(net.trainers[0]) == NodeStatus.BLACKLISTED
