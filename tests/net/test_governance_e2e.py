"""Governance end to end on anvil, every step through ``bflc``: a council of
three managers with a threshold of two. A rogue manager alone proposes to
blacklist the committee and to seat its own, and nothing changes on chain;
two managers together fail back with a new committee; a node withdraws the
rewards it earned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bflc.chain import ModelOrigin, NodeStatus
from bflc.chain.anvil import AnvilChain
from bflc.net.network import load_network

from .conftest import Deployed, Key, KeyFactory
from .test_net_cli import bflc, deploy_args, one_line_error
from .test_signing import MODEL, play_round

LIFETIME = 40  # blocks a decision stays open
REWARD = 10**15
SMALL_ROUNDS = (
    "--committee-size", 3, "--min-committee-size", 1, "--updates-per-round", 1, "--commit-deadline-blocks", 5,
    "--reveal-deadline-blocks", 5, "--score-deadline-blocks", 5, "--round-deadline-blocks", 20, "--round-reward", REWARD,
)  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], net: Deployed, key: Key | None, *argv: Any) -> Any:
    """``bflc ARGV --network ... [--key-file ...] --json``, which must succeed: its JSON."""
    signing = ("--key-file", key.path) if key else ()
    code, out, err = bflc(capsys, *argv, "--network", net.path, *signing, "--json")
    assert code == 0, err
    return json.loads(out)


def state(net: Deployed) -> tuple[Any, ...]:
    """What a decision could change: the round, its committee, the model history and every node's status."""
    ledger = net.ledger()
    current = ledger.current_round()
    nodes = [k.address for k in (*net.committee, *net.trainers)]
    return current, ledger.committee(current), [ledger.model(r) for r in range(current + 1)], [ledger.status(n) for n in nodes]


def test_a_rogue_manager_alone_changes_nothing_and_two_managers_recover(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    managers = [keys(f"manager{i}") for i in range(3)]
    committee = [keys(f"member{i}") for i in range(3)]
    trainers = [keys(f"trainer{i}") for i in range(3)]
    first, second, rogue = managers
    code, out, err = bflc(
        capsys,
        *deploy_args(anvil, first.path, tmp_path, [k.address for k in committee]),
        "--managers", ",".join(m.address for m in managers), "--threshold", 2, "--decision-lifetime", LIFETIME, *SMALL_ROUNDS, "--json",
    )  # fmt: skip
    assert code == 0, err
    deployed = json.loads(out)
    assert (deployed["managers"], deployed["threshold"], deployed["decision_lifetime"]) == ([m.address for m in managers], 2, LIFETIME)
    net = Deployed(load_network(tmp_path / "network.toml"), tmp_path / "network.toml", first, committee, trainers)
    ledger = net.ledger()
    assert ledger.council() == deployed["council"] and ledger.threshold() == 2

    # Admitting the trainers takes two managers: one decision for the three.
    proposed = run(capsys, net, first, "admin", "admit", *(t.address for t in trainers))
    assert proposed["result"].endswith(f": 1 of 2 approvals; other managers run `bflc admin approve {proposed['decision']}`")
    assert proposed["status"] == "pending" and ledger.status(trainers[0].address) == NodeStatus.NONE
    ran = run(capsys, net, second, "admin", "approve", proposed["decision"])
    assert ran["result"] == f"ran: admit(nodes=[{', '.join(t.address for t in trainers)}])" and ran["decision"] == 0
    assert ran["approvals"] == [first.address, second.address]
    assert all(ledger.status(t.address) == NodeStatus.ADMITTED for t in trainers)

    # A round pays trainer0, which the election seats as round 1's committee.
    run(capsys, net, first, "admin", "fund", "--amount", 10 * REWARD)
    play_round(net)
    assert ledger.current_round() == 1 and ledger.committee(1) == [trainers[0].address]

    # The rogue alone: blacklist the committee, fail back with itself as the committee, replace the committee.
    before = state(net)
    for argv in (
        ("blacklist", trainers[0].address),
        ("failback", 0, "--committee", rogue.address),
        ("replace-committee", 1, rogue.address),
    ):
        assert run(capsys, net, rogue, "admin", *argv)["status"] == "pending"
        assert state(net) == before
    code, _, err = bflc(capsys, "admin", "approve", 1, "--network", net.path, "--key-file", rogue.path)
    assert one_line_error(code, err) == "bflc: error: contract reverted in approve (blacklist): already approved"
    listed = run(capsys, net, None, "admin", "decisions")
    assert [(d["id"], d["function"], d["status"], d["proposer"], d["approvals"]) for d in listed] == [
        (1, "blacklist", "pending", rogue.address, [rogue.address]),
        (2, "failback", "pending", rogue.address, [rogue.address]),
        (3, "replace_committee", "pending", rogue.address, [rogue.address]),
    ]
    assert listed[1]["args"] == {"target_round": 0, "members": [rogue.address]}
    code, text, _ = bflc(capsys, "admin", "decisions", "--network", net.path)
    assert code == 0 and f"decision 1  pending  1 of 2 approvals ({rogue.address})\n  BFLC.blacklist(node={trainers[0].address})\n" in text
    assert run(capsys, net, None, "status")["council"]["open_decisions"] == 3
    revoked = run(capsys, net, rogue, "admin", "revoke", 3)
    assert (revoked["status"], revoked["approvals"]) == ("pending", [])
    assert state(net) == before

    # Two managers recover: back to the genesis model with a new committee.
    recovery = [trainers[1].address, trainers[2].address, committee[0].address]
    proposed = run(capsys, net, first, "admin", "failback", 0, "--committee", *recovery)
    assert state(net) == before
    assert run(capsys, net, second, "admin", "approve", proposed["decision"])["status"] == "executed"
    assert ledger.current_round() == 2 and ledger.committee(2) == recovery
    model = ledger.model(2)
    assert model.origin == ModelOrigin.FAILBACK and model.blob_hash == ledger.model(0).blob_hash != MODEL
    assert ledger.status(trainers[0].address) == NodeStatus.ADMITTED  # the rogue's blacklist never ran

    # The rogue's decisions expire unrun; anyone marks them.
    anvil.mine(LIFETIME)
    assert run(capsys, net, None, "admin", "decisions") == []
    assert run(capsys, net, trainers[1], "admin", "expire", 1)["result"] == f"expired decision 1: blacklist(node={trainers[0].address})"
    assert [d["status"] for d in run(capsys, net, None, "admin", "decisions", "--all")] == [
        "executed",
        "expired",
        "expired",
        "expired",
        "executed",
    ]

    # trainer0 withdraws what its qualified update earned.
    earned = run(capsys, net, None, "account", "show", "--address", trainers[0].address)["balance"]
    assert earned > 0
    withdrawn = run(capsys, net, trainers[0], "account", "withdraw")
    assert withdrawn["result"] == f"withdrew {earned} wei to {trainers[0].address}" and ledger.balance(trainers[0].address) == 0
