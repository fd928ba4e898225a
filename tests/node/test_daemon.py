"""NodeDaemon.step() on the in-process chain: each role, the deadline paths,
restarts, bad blobs and reverts (fast and deterministic)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from bflc.attacks import Misbehaviour, load_attack
from bflc.chain import ModelOrigin, NodeStatus, Phase, from_fixed
from bflc.errors import ConfigError, ContractRevert
from bflc.node.daemon import NodeDaemon, Role, StopRequested
from bflc.node.journal import read_journal
from bflc.node.state import StateDir
from bflc.roles import aggregate_qualified
from bflc.storage import bytes32_to_hash, encode_model, get_model, hash_to_bytes32
from tests.node.daemon_net import Net, TinyLearner, build_net

pytestmark = pytest.mark.slow


@pytest.fixture
def net(tmp_path) -> Net:
    net = build_net(tmp_path)
    for node in net.nodes:
        net.daemon(node)
    return net


def events(net: Net, account: str, name: str) -> list[dict]:
    return [r for r in read_journal(net.root / account / "node.log") if r["event"] == name]


def test_a_round_trains_scores_aggregates_and_elects(net):
    committee, trainers = net.nodes[:2], net.nodes[2:]
    assert net.daemons[trainers[0]].step() is Role.TRAINER
    assert net.daemons[committee[0]].step() is Role.COMMITTEE
    assert net.play_round() == 1

    record = net.ledger.model(1)
    assert record.origin is ModelOrigin.AGGREGATED
    qualified = net.ledger.qualified(0)
    updates = {u.update_id: u for u in net.ledger.round_updates(0)}
    params = {uid: get_model(net.store, bytes32_to_hash(updates[uid].blob_hash)) for uid in qualified}
    expected = aggregate_qualified(qualified, updates, params)
    assert bytes32_to_hash(record.blob_hash) == net.store.put(encode_model(expected))
    for member in committee:  # every member proposed the same bytes
        assert net.ledger.proposal(0, member) == record.blob_hash
        state = json.loads((net.root / member / "state.json").read_text())["rounds"]["0"]
        assert sorted(int(k) for k in state["scored"]) == sorted(updates)
        assert state["proposed"] == bytes32_to_hash(record.blob_hash)
    for trainer in trainers:
        state = json.loads((net.root / trainer / "state.json").read_text())["rounds"]["0"]
        assert state["update"]["id"] in updates and net.ledger.has_submitted(0, trainer)
    # next committee comes from this round's qualified trainers
    assert set(net.ledger.committee(1)) <= set(trainers)
    net.step_all()
    for node in net.nodes:
        status = json.loads((net.root / node / "status.json").read_text())
        role = "committee" if node in net.ledger.committee(1) else "trainer"
        assert status["role"] == role and status["round"] == 1 and status["model"] == bytes32_to_hash(record.blob_hash)
        assert 0 < status["accuracy"] <= 1 and status["model_round"] == 1


def test_rounds_keep_going_and_accuracy_rises(net):
    for expected_round in (1, 2, 3):
        assert net.play_round() == expected_round
    accuracies = [TinyLearner().evaluate(get_model(net.store, bytes32_to_hash(net.ledger.model(r).blob_hash)))[1] for r in range(4)]
    assert accuracies == sorted(accuracies) and accuracies[-1] > accuracies[0]


def test_not_admitted_node_is_idle_and_applies_when_asked(net):
    outsider = net.chain.accounts[len(net.nodes) + 1]
    idle = net.daemon(outsider)
    assert idle.step() is Role.IDLE
    assert net.ledger.status(outsider) is NodeStatus.NONE
    applicant = net.daemon(outsider, apply=True)
    assert applicant.step() is Role.IDLE
    assert net.ledger.status(outsider) is NodeStatus.APPLIED
    applicant.step()  # waits, applies only once
    net.ledger.admit(outsider)
    assert applicant.step() is Role.TRAINER
    assert net.ledger.has_submitted(0, outsider)


def test_trainer_restart_after_submit_with_state_lost_never_resubmits(net):
    trainer = net.nodes[2]
    net.daemons[trainer].step()
    update_id = json.loads((net.root / trainer / "state.json").read_text())["rounds"]["0"]["update"]["id"]
    (net.root / trainer / "state.json").unlink()
    learner = TinyLearner()
    restarted = net.daemon(trainer, learner)
    tx_before = net.chain.stats.transactions
    restarted.step()
    assert net.chain.stats.transactions == tx_before and learner.fits == 0
    assert restarted.state.round(0)["update"]["id"] == update_id
    assert events(net, trainer, "update_found")


def test_restart_adopts_an_update_sent_just_before_a_crash_in_a_finished_round(net):
    trainer = net.nodes[2]
    assert net.play_round() == 1
    state_file = net.root / trainer / "state.json"
    document = json.loads(state_file.read_text())
    update_id = document["rounds"]["0"]["update"]["id"]
    document["rounds"]["0"]["update"]["id"] = None  # as if killed between the receipt and the save
    state_file.write_text(json.dumps(document))
    restarted = net.daemon(trainer)
    restarted.step()
    assert restarted.state.round(0)["update"]["id"] == update_id
    assert events(net, trainer, "update_found")[0]["round"] == 0


def test_trainer_stopped_before_the_transaction_reuses_its_blob(net):
    trainer = net.nodes[2]
    daemon = net.daemons[trainer]
    daemon.request_stop()
    with pytest.raises(StopRequested):
        daemon.step()
    prepared = daemon.state.round(0)["update"]
    assert prepared["id"] is None and not net.ledger.has_submitted(0, trainer)
    learner = TinyLearner()
    net.daemon(trainer, learner).step()
    assert learner.fits == 0 and net.ledger.has_submitted(0, trainer)
    on_chain = next(u for u in net.ledger.round_updates(0) if u.provider == trainer)
    assert bytes32_to_hash(on_chain.blob_hash) == prepared["blob"]


def test_member_restart_does_not_vote_twice(net):
    net.step_all(net.nodes[2:])
    member = net.nodes[0]
    net.daemons[member].step()
    (net.root / member / "state.json").unlink()
    restarted = net.daemon(member)
    tx_before = net.chain.stats.transactions
    assert restarted.step() is Role.COMMITTEE
    assert net.chain.stats.transactions == tx_before
    assert len(restarted.state.round(0)["scored"]) == 4


def test_member_waits_for_k_updates_until_half_the_scoring_window(net):
    net.daemons[net.nodes[2]].step()
    member = net.daemons[net.nodes[0]]
    member.step()
    assert not net.ledger.round_updates(0)[0].voters
    net.chain.mine(net.params.score_deadline_blocks // 2)
    member.step()
    assert net.ledger.round_updates(0)[0].voters == (net.nodes[0],)


def test_hash_mismatch_is_scored_zero_and_never_qualifies(net):
    rogue = net.nodes[2]
    claimed = encode_model({"b": np.ones(3, np.float32), "w": np.ones((2, 2), np.float32)})
    claimed_hash = net.store.put(claimed)
    other = encode_model({"b": np.full(3, 9, np.float32), "w": np.full((2, 2), 9, np.float32)})
    net.store._path(claimed_hash).write_bytes(other)  # other bytes under the claimed hash
    rogue_id = net.ledger.as_account(rogue).submit_update(0, hash_to_bytes32(claimed_hash), 10)
    honest = [n for n in net.nodes if n != rogue]
    net.play_round(honest)
    update = net.ledger.update(rogue_id)
    assert update.scores == (0, 0) and not update.qualified
    for member in net.nodes[:2]:
        assert [e["message"] for e in events(net, member, "update_rejected")] == [f"rejected update {rogue_id}: hash mismatch"]


def test_missing_blob_is_scored_zero(net):
    rogue = net.nodes[2]
    rogue_id = net.ledger.as_account(rogue).submit_update(0, b"\x42" * 32, 10)
    net.play_round([n for n in net.nodes if n != rogue])
    assert net.ledger.update(rogue_id).scores == (0, 0)
    assert events(net, net.nodes[0], "update_rejected")[0]["reason"] == "blob missing"


def test_dead_trainer_round_closes_after_the_scoring_deadline(net):
    dead = net.nodes[5]
    alive = [n for n in net.nodes if n != dead]
    net.step_all(alive, passes=3)
    assert net.ledger.current_round() == 0 and net.ledger.phase() is Phase.SCORING
    net.chain.mine(net.params.score_deadline_blocks)
    assert net.play_round(alive) == 1
    assert any(events(net, n, "scoring_closed") for n in alive)
    assert len(net.ledger.qualified(0)) <= 3 and net.ledger.model(1).origin is ModelOrigin.AGGREGATED


def test_dead_member_in_round_zero_is_replaced_by_a_manager(net):
    manager = net.daemon(net.manager, watcher=True)
    dead = net.nodes[0]
    alive = [n for n in net.nodes if n != dead]
    net.step_all(alive, passes=3)
    assert manager.step() is Role.WATCHER and net.ledger.current_round() == 0
    net.chain.mine(net.params.round_deadline_blocks)
    net.step_all(alive)  # round 0 has no earlier round to re-elect from: nodes wait for a manager
    assert net.ledger.current_round() == 0 and events(net, alive[0], "round_stuck")
    manager.step()
    assert net.ledger.current_round() == 1 and net.ledger.model(1).origin is ModelOrigin.CARRIED_OVER
    new = net.ledger.committee(1)
    assert dead not in new and net.nodes[1] not in new and set(new) <= set(net.nodes[2:])
    net.step_all(alive, passes=2)  # three trainers left for K = 4: the scoring deadline closes the round
    net.chain.mine(net.params.score_deadline_blocks)
    assert net.play_round([*alive, net.manager]) == 2


def test_dead_member_later_is_reelected_by_any_node(net):
    assert net.play_round() == 1
    committee = net.ledger.committee(1)
    dead = committee[0]
    alive = [n for n in net.nodes if n != dead]
    net.step_all(alive, passes=3)
    net.chain.mine(net.params.round_deadline_blocks)
    net.step_all(alive)
    assert net.ledger.current_round() == 2
    assert sum(len(events(net, n, "committee_reelected")) for n in alive) == 1
    assert dead not in net.ledger.committee(2)


def test_attacker_update_is_not_qualified_and_colluder_scores_it_high(tmp_path):
    net = build_net(tmp_path, committee=3, num_nodes=7)
    attacker, colluder = net.nodes[3], net.nodes[0]
    for node in net.nodes:
        options = {}
        if node == attacker:
            options = {"misbehaviour": Misbehaviour(attack=load_attack("scale"))}
        elif node == colluder:
            options = {"misbehaviour": Misbehaviour(colluders=frozenset({attacker}))}
        net.daemon(node, **options)
    net.play_round()
    bad = next(u for u in net.ledger.round_updates(0) if u.provider == attacker)
    votes = dict(zip(bad.voters, (from_fixed(s) for s in bad.scores), strict=False))
    assert 0.85 <= votes[colluder] <= 0.95
    assert all(v < 0.5 for m, v in votes.items() if m != colluder)
    assert not bad.qualified


def test_blacklisted_mid_step_logs_the_revert_once_and_goes_idle(net):
    trainer = net.nodes[2]
    learner = TinyLearner(on_fit=lambda: net.ledger.blacklist(trainer))
    daemon = net.daemon(trainer, learner, poll_seconds=0.01)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", daemon.run()))
    thread.start()
    deadline = time.monotonic() + 30
    while not events(net, trainer, "idle") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # many more passes
    daemon.request_stop()
    thread.join(30)
    assert result["code"] == 0
    reverts = events(net, trainer, "revert")
    assert [r["reason"] for r in reverts] == ["node is not admitted"]
    assert [e["status"] for e in events(net, trainer, "idle")] == ["blacklisted"]
    assert learner.fits == 1
    assert json.loads((net.root / trainer / "status.json").read_text())["last_action"] == "node stopped; state saved"


def test_a_second_daemon_on_the_same_state_dir_is_refused(tmp_path):
    first = StateDir(tmp_path)
    with first.lock(), pytest.raises(ConfigError, match="another bflc node"), StateDir(tmp_path).lock():
        pass
    with StateDir(tmp_path).lock():  # released
        pass


def test_state_dir_of_another_account_is_refused(net):
    net.daemons[net.nodes[2]].step()
    with pytest.raises(ConfigError, match="belongs to account"):
        NodeDaemon(net.ledger.as_account(net.nodes[3]), net.store, TinyLearner(), net.root / net.nodes[2], echo=None)


def test_the_loop_logs_a_race_and_keeps_going(net, monkeypatch):
    daemon = net.daemons[net.nodes[2]]
    daemon.poll_seconds = 0.01
    calls = []
    real_step = daemon.step

    def step():
        calls.append(1)
        if len(calls) == 1:
            raise ContractRevert("stale round", "submit_update")
        if len(calls) == 3:
            daemon.request_stop()
        return real_step()

    monkeypatch.setattr(daemon, "step", step)
    assert daemon.run() == 0
    assert len(calls) == 3 and net.ledger.has_submitted(0, net.nodes[2])
    race = events(net, net.nodes[2], "race")
    assert race[0]["level"] == "info" and "stale round" in race[0]["message"]


def test_committee_clips_an_inflated_sample_count_with_the_network_cap():
    """aggregate_qualified with the daemon's cap: a claim of a million samples
    weighs as 4x the median claim, not as a million."""
    import numpy as np

    from bflc.chain.types import UpdateRecord

    def record(uid: int, n: int) -> UpdateRecord:
        return UpdateRecord(uid, 0, "0x0", bytes(32), n, 3, 500_000, True, True)

    records = {0: record(0, 100), 1: record(1, 100), 2: record(2, 1_000_000)}
    updates = {0: {"w": np.zeros(2, np.float32)}, 1: {"w": np.zeros(2, np.float32)}, 2: {"w": np.full(2, 6.0, np.float32)}}
    assert aggregate_qualified([0, 1, 2], records, updates)["w"][0] > 5.99
    assert aggregate_qualified([0, 1, 2], records, updates, 4.0)["w"].tolist() == [6.0 * 400 / 600] * 2


class DivergingLearner(TinyLearner):
    """Training blows up: every parameter comes back NaN."""

    def fit(self, global_params, seed):
        params, samples = super().fit(global_params, seed)
        return {k: np.full_like(v, np.nan) for k, v in params.items()}, samples


def test_a_trainer_whose_training_diverges_sits_the_round_out(net):
    diverged = net.nodes[5]
    learner = DivergingLearner()
    daemon = net.daemon(diverged, learner)
    for _ in range(3):
        assert daemon.step() is Role.TRAINER
    assert learner.fits == 1  # not retrained on every pass
    assert not net.ledger.has_submitted(0, diverged)
    assert len(events(net, diverged, "training_diverged")) == 1
    others = [n for n in net.nodes if n != diverged]
    net.step_all(others, passes=3)
    net.chain.mine(net.params.score_deadline_blocks)  # three updates for K = 4: the deadline closes scoring
    assert net.play_round(others) == 1
    assert diverged not in [u.provider for u in net.ledger.round_updates(0)]
