"""The council on the dashboard: its open decisions with their approvals, k of
t, and the council's events in the feed, against a council of three managers
with a threshold of two on anvil."""

from __future__ import annotations

from dataclasses import replace

from bflc.chain import to_fixed
from bflc.chain.anvil import AnvilChain
from bflc.chain.web3_ledger import NodeAccountSender, Web3Ledger, deploy
from tests.dashboard.dashboard_net import GENESIS, PARAMS, dashboard_app, get, serve

LIFETIME = 30  # blocks a decision stays open


def test_open_decisions_and_the_councils_events(anvil: AnvilChain) -> None:
    managers, committee, node = anvil.accounts[:3], anvil.accounts[3:6], anvil.accounts[6]
    params = replace(PARAMS, permission_fee=0).to_contract()
    address = deploy(anvil.w3, NodeAccountSender(managers[0]), managers, committee, GENESIS, "file:///genesis", params, 2, LIFETIME).address
    ledger = Web3Ledger(anvil.w3, address, managers[0])
    ledger.co_managers = tuple(managers)  # the node signs for every manager
    ledger.admit(node)  # proposed, approved by a second manager: it runs
    blacklist, _ = ledger.propose("blacklist", node)
    attest, _ = ledger.as_account(managers[1]).propose("attest_factors", [node], [to_fixed(0.5)])
    council = ledger.council()

    with serve(dashboard_app(anvil.url, ledger.address)) as url:
        status, body = get(url + "/api/decisions")
        assert status == 200 and (body["council"], body["managers"], body["threshold"]) == (council, managers, 2)
        head = ledger.block_number()
        expected = []
        for decision, call in (
            (ledger.decision(blacklist), f"blacklist(node={node})"),
            (ledger.decision(attest), f"attest_factors({node}=0.5)"),
        ):
            deadline = {"block": decision.expiry_block, "blocks_left": decision.expiry_block - head, "passed": False}
            expected.append({**decision.to_json(), "call": call, "expiry": deadline})
        assert body["decisions"] == expected
        assert [(d["status"], d["approvals"], d["proposer"]) for d in body["decisions"]] == [
            ("pending", [managers[0]], managers[0]),
            ("pending", [managers[1]], managers[1]),
        ]
        assert get(url + "/api/snapshot")[1]["decisions"] == body

        ledger.as_account(managers[2]).approve(blacklist)
        assert [d["id"] for d in get(url + "/api/decisions")[1]["decisions"]] == [attest]
        events = get(url + "/api/events")[1]["events"]
        assert [e["name"] for e in events[:3]] == ["DecisionExecuted", "NodeBlacklisted", "DecisionApproved"]
        assert events[1]["args"]["by"] == council and events[2]["args"] == {"id": blacklist, "manager": managers[2], "approvals": 2}
        proposed = [e["args"] for e in events if e["name"] == "DecisionProposed"]
        assert [(a["id"], a["proposer"], a["target"]) for a in proposed] == [
            (attest, managers[1], ledger.address),
            (blacklist, managers[0], ledger.address),
            (0, managers[0], ledger.address),  # the admission
        ]
        mine = [e["name"] for e in get(url + f"/api/nodes/{managers[1]}")[1]["events"]]
        # it became a manager, approved (and so ran) the admission, proposed the factor
        assert mine == ["ManagerAdded", "DecisionApproved", "DecisionExecuted", "DecisionProposed", "DecisionApproved"]

        anvil.mine(LIFETIME)
        assert get(url + "/api/decisions")[1]["decisions"] == []
        ledger.expire(attest)
        latest = get(url + "/api/events")[1]["events"][0]
        assert (latest["name"], latest["args"]) == ("DecisionExpired", {"id": attest})
