"""The dashboard's JSON API against a real anvil chain with a known history:
every value is compared with what the Ledger reads from the chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bflc.chain import from_fixed
from bflc.storage import bytes32_to_hash
from tests.dashboard.dashboard_net import FEE, MODEL_1, MODEL_2, PARAMS, Scenario, dashboard_app, get, serve, write_node_log

H1, H2 = MODEL_1.hex(), MODEL_2.hex()


@pytest.fixture(scope="module")
def nodes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nodes")
    write_node_log(root, "node0", {"event": "model_evaluated", "blob": H1, "accuracy": 0.5}, {"event": "update_submitted", "round": 1})
    write_node_log(root, "node1", {"event": "model_evaluated", "blob": H1, "accuracy": 0.7}, {"event": "model_evaluated", "blob": H2, "accuracy": 0.8})
    write_node_log(root, "node2", partial='{"event": "model_evaluated", "blob": "' + H2)
    (root / "node3").mkdir()
    (root / "node3" / "node.log").write_text("not json\n{\"event\": \"model_evaluated\"}\n")
    return root


@pytest.fixture(scope="module")
def url(scenario: Scenario, anvil, nodes_dir: Path) -> Iterator[str]:
    with serve(dashboard_app(anvil.url, scenario.ledger.address, nodes_dir=nodes_dir)) as base:
        yield base


def api(url: str, path: str) -> dict:
    status, body = get(url + path)
    assert status == 200, body
    return body


def test_overview_is_the_chains_current_round(url: str, scenario: Scenario) -> None:
    o = api(url, "/api/overview")
    state, who = scenario.ledger.round_state(), scenario.who
    assert (o["round"], o["phase"], o["round_start_block"], o["phase_start_block"]) == (3, "scoring", state.start_block, state.phase_start_block)
    assert o["block"] == scenario.ledger.block_number()
    phase_deadline = state.phase_start_block + PARAMS.score_deadline_blocks
    assert o["deadlines"]["phase"] == {"block": phase_deadline, "blocks_left": phase_deadline - o["block"], "passed": False}
    assert o["deadlines"]["round"]["block"] == state.start_block + PARAMS.round_deadline_blocks
    assert o["updates"] == {"commitments": 2, "revealed": 2, "final": 0, "needed": PARAMS.updates_per_round}  # final only once scoring closes
    assert o["committee"] == [{"address": who["t2"], "manager": False, "votes": 1, "proposal": None}]
    assert o["model"] == {"round": 3, "hash": H1, "uri": "file:///model-1", "origin": "failback", "block": state.model.block}
    assert o["managers"] == [who["m0"]]
    assert o["reward_pool_wei"] == str(scenario.ledger.reward_pool())
    assert o["params"]["qualify_top_fraction"] == 0.4 and o["params"]["permission_fee_wei"] == str(FEE)
    assert (o["params"]["min_committee_size"], o["params"]["commit_deadline_blocks"], o["params"]["reveal_deadline_blocks"]) == (1, 5, 5)


def _updates_by_provider(url: str, round: int, scenario: Scenario) -> dict[str, dict]:
    names = {address: name for name, address in scenario.who.items()}
    return {names[u["provider"]]: u for u in api(url, f"/api/rounds/{round}")["updates"]}


def test_round_scores_and_medians_equal_the_chain(url: str, scenario: Scenario) -> None:
    for round in range(4):
        body = api(url, f"/api/rounds/{round}")
        chain = scenario.ledger.round_updates(round)
        assert [u["id"] for u in body["updates"]] == [u.update_id for u in chain]
        assert body["qualified"] == scenario.ledger.qualified(round)
        assert [m["address"] for m in body["committee"]] == scenario.ledger.committee(round)
        for shown, record in zip(body["updates"], chain, strict=False):
            assert shown["median"] == (from_fixed(record.median) if record.final else None)
            assert shown["scores"] == {m: from_fixed(s) for m, s in zip(record.voters, record.scores, strict=False)}
            assert shown["blob_hash"] == bytes32_to_hash(record.blob_hash)
            assert (shown["n_samples"], shown["num_votes"], shown["final"]) == (record.n_samples, record.num_votes, record.final)
            assert (shown["verdict"] == "qualified") == record.qualified


def test_round0_shows_why_each_update_was_rejected(url: str, scenario: Scenario) -> None:
    body = api(url, "/api/rounds/0")
    assert (body["status"], body["current"], body["next_model"]["hash"]) == ("aggregated", False, H1)
    verdicts = {name: (u["verdict"], u["reason"]) for name, u in _updates_by_provider(url, 0, scenario).items()}
    assert verdicts == {
        "t0": ("qualified", None),
        "t1": ("qualified", None),
        "t2": ("rejected", "below_min_score"),
        "t3": ("rejected", "outside_top_fraction"),
        "t4": ("rejected", "not_final"),
        "t5": ("rejected", "below_relative_score"),
    }
    medians = {name: u["median"] for name, u in _updates_by_provider(url, 0, scenario).items()}
    assert medians == {"t0": 0.9, "t1": 0.7, "t2": 0.15, "t3": 0.6, "t4": None, "t5": 0.3}
    proposals = {m["address"]: m["proposal"] for m in body["committee"]}
    who = scenario.who
    assert proposals == {who["c0"]: H1, who["c1"]: H1, who["c2"]: None}


def test_later_rounds_show_blacklisting_abandonment_and_pending(url: str, scenario: Scenario) -> None:
    round1 = {n: (u["verdict"], u["reason"]) for n, u in _updates_by_provider(url, 1, scenario).items()}
    assert round1 == {"t2": ("qualified", None), "t3": ("rejected", "outside_top_fraction"), "t5": ("rejected", "provider_blacklisted")}
    assert api(url, "/api/rounds/2")["status"] == "failback"
    round2 = {n: (u["verdict"], u["reason"]) for n, u in _updates_by_provider(url, 2, scenario).items()}
    assert round2 == {"c0": ("rejected", "round_abandoned"), "c1": ("rejected", "not_final")}
    current = api(url, "/api/rounds/3")
    assert (current["status"], current["current"], current["next_model"]) == ("scoring", True, None)
    round3 = {n: (u["verdict"], u["reason"]) for n, u in _updates_by_provider(url, 3, scenario).items()}
    assert round3 == {"t3": ("pending", "awaiting_aggregation"), "t1": ("pending", "not_final")}
    assert all(u["detail"] for u in current["updates"])


@pytest.mark.parametrize("path", ["/api/rounds/4", "/api/nodes/0x" + "ab" * 20])
def test_unknown_rounds_and_nodes_are_404(url: str, path: str) -> None:
    status, body = get(url + path)
    assert status == 404 and body["code"] == "not_found"


def test_model_history_with_node_reported_accuracy(url: str, scenario: Scenario, nodes_dir: Path) -> None:
    body = api(url, "/api/models")
    history = scenario.ledger.model_history()
    assert body["accuracy_source"] == "node-reports"
    assert [m["hash"] for m in body["models"]] == [bytes32_to_hash(m.blob_hash) for m in history]
    assert [m["origin"] for m in body["models"]] == ["genesis", "aggregated", "aggregated", "failback"]
    assert [m["block"] for m in body["models"]] == [m.block for m in history]
    assert [(m["accuracy"], m["reports"]) for m in body["models"]] == [(None, 0), (0.6, 2), (0.8, 1), (0.6, 2)]
    write_node_log(nodes_dir, "node2", partial='", "accuracy": 0.6}\n')
    assert [(m["accuracy"], m["reports"]) for m in api(url, "/api/models")["models"]][2] == (pytest.approx(0.7), 2)


def test_nodes_balances_rewards_statuses_and_terms(url: str, scenario: Scenario) -> None:
    ledger, who = scenario.ledger, scenario.who
    nodes = {n["address"]: n for n in api(url, "/api/nodes")["nodes"]}
    assert set(nodes) == set(who.values())
    assert next(iter(nodes)) == who["m0"]
    for name, address in who.items():
        n = nodes[address]
        assert n["balance_wei"] == str(ledger.balance(address)), name
        assert n["escrow_wei"] == str(ledger.escrow(address)), name
        assert n["status"] == ledger.status(address).name.lower(), name
        assert n["committee_terms"] == [r for r in range(4) if address in ledger.committee(r)], name
    assert nodes[who["m0"]]["manager"] and nodes[who["m0"]]["balance_wei"] == str(6 * FEE)
    assert (nodes[who["t5"]]["status"], nodes[who["t4"]]["status"]) == ("blacklisted", "left")
    rewards = {name: int(nodes[who[name]]["rewards_wei"]) for name in ["c0", "c1", "t0", "t1", "t2", "t3"]}
    assert rewards == {"c0": 10**17, "c1": 10**17, "t0": 45 * 10**16 + 2 * 10**17, "t1": 35 * 10**16, "t2": 8 * 10**17, "t3": 0}
    assert rewards["t0"] == ledger.balance(who["t0"])
    assert nodes[who["t3"]]["submission_count"] == 3


def test_node_page_data(url: str, scenario: Scenario) -> None:
    who = scenario.who
    t1 = api(url, f"/api/nodes/{who['t1'].lower()}")
    assert t1["address"] == who["t1"]
    assert [(u["round"], u["verdict"]) for u in t1["submissions"]] == [(0, "qualified"), (3, "pending")]
    assert t1["submissions"][0]["scores"] == {who["c0"]: 0.7, who["c1"]: 0.75, who["c2"]: 0.1}
    assert t1["terms"] == [] and t1["rewards"] == [{"round": 0, "amount_wei": str(35 * 10**16), "for_committee": False}]
    assert [e["name"] for e in t1["events"]] == ["NodeApplied", "NodeAdmitted"]
    t0 = api(url, f"/api/nodes/{who['t0']}")
    assert t0["terms"] == [{"round": 1, "votes": 3, "proposal": H2}]
    assert t0["rewards"] == [
        {"round": 0, "amount_wei": str(45 * 10**16), "for_committee": False},
        {"round": 1, "amount_wei": str(2 * 10**17), "for_committee": True},
    ]
    t5 = api(url, f"/api/nodes/{who['t5']}")
    assert [e["name"] for e in t5["events"]] == ["NodeApplied", "NodeAdmitted", "NodeBlacklisted"]


def test_events_newest_first(url: str, scenario: Scenario) -> None:
    who = scenario.who
    events = api(url, "/api/events")["events"]
    # A failback is a decision of the council (a threshold of 1: it runs when proposed).
    assert [e["name"] for e in events[:6]] == [
        "NodeLeft",
        "DecisionExecuted",
        "Failback",
        "DecisionApproved",
        "DecisionProposed",
        "DecisionExecuted",
    ]
    assert events[0]["args"] == {"node": who["t4"]}
    assert events[2]["args"] == {"from_round": 2, "to_round": 1, "blob_hash": H1, "by": scenario.ledger.council()}
    assert (events[1]["args"]["by"], events[3]["args"]["manager"], events[4]["args"]["proposer"]) == (who["m0"],) * 3
    assert events[1]["args"]["id"] == events[3]["args"]["id"] == events[4]["args"]["id"] == events[5]["args"]["id"] + 1
    assert sum(e["name"] == "NodeAdmitted" for e in events) == 6
    assert [b["block"] for b in events] == sorted((b["block"] for b in events), reverse=True)
    everything = api(url, "/api/events?all=1&limit=1000")["events"]
    assert {"RewardPaid", "CommitteeElected", "ModelAccepted", "UpdateCommitted", "UpdateSubmitted"} <= {e["name"] for e in everything}
    committed = [e["args"] for e in reversed(everything) if e["name"] == "UpdateCommitted"]
    assert committed[:2] == [{"round": 0, "provider": who["t0"]}, {"round": 0, "provider": who["t1"]}] and len(committed) == 13
    phases = [(e["args"]["round"], e["args"]["phase"]) for e in reversed(everything) if e["name"] == "PhaseStarted"]
    assert phases == [(r, phase) for r in range(4) for phase in ("reveal", "scoring")]  # aggregation logs AggregationTriggered
    assert len(api(url, "/api/events?limit=2")["events"]) == 2


def test_page_and_static_files_are_served(url: str, scenario: Scenario) -> None:
    import urllib.request

    for path in ["/", f"/node/{scenario.who['t0']}"]:
        with urllib.request.urlopen(url + path) as response:
            assert b'<script src="/static/dashboard.js">' in response.read()
    for path in ["/static/dashboard.js", "/static/dashboard.css"]:
        with urllib.request.urlopen(url + path) as response:
            assert response.status == 200


def test_event_log_reads_bounded_ranges_incrementally(scenario: Scenario, anvil) -> None:
    from bflc.chain.web3_ledger import Web3Ledger
    from bflc.dashboard.events import EventLog

    ledger = Web3Ledger(anvil.w3, scenario.ledger.address)
    head = ledger.block_number()
    whole = EventLog(ledger, 0, chunk_blocks=head + 1)
    whole.sync(head)
    stepwise = EventLog(ledger, 0, chunk_blocks=3)
    stepwise.sync(head // 2)
    assert stepwise.next_block == head // 2 + 1
    stepwise.sync(head)
    stepwise.sync(head)
    assert stepwise.events == whole.events
    assert [(e.block, e.log_index) for e in whole.events] == sorted((e.block, e.log_index) for e in whole.events)


def test_snapshot_is_every_panel_at_one_block(url: str) -> None:
    snap = api(url, "/api/snapshot?round=1")
    assert snap == {
        "overview": api(url, "/api/overview"),
        "round": api(url, "/api/rounds/1"),
        "models": api(url, "/api/models"),
        "nodes": api(url, "/api/nodes"),
        "decisions": api(url, "/api/decisions"),
        "events": api(url, "/api/events?limit=50"),
    }
    assert api(url, "/api/snapshot")["round"]["round"] == 3
    assert api(url, "/api/snapshot?round=99")["round"]["round"] == 3
