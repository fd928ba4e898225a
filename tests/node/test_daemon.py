"""NodeDaemon.step() on the in-process chain: each role, the deadline paths,
restarts between commit and reveal, bad blobs and reverts (fast and deterministic)."""

from __future__ import annotations

import json
import shutil
import threading
import time

import numpy as np
import pytest
import safetensors.numpy

from bflc.attacks import Misbehaviour, load_attack
from bflc.chain import ModelOrigin, NodeStatus, Phase, from_fixed
from bflc.errors import ConfigError, ContractRevert, UnverifiedBlob
from bflc.ml.models import Score
from bflc.node.daemon import NodeDaemon, Role, StopRequested
from bflc.node.journal import read_journal
from bflc.node.state import StateDir
from bflc.protocol import commitment, stored_commitment
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


def recorded_update(net: Net, account: str, round: int = 0) -> dict:
    return json.loads((net.root / account / "state.json").read_text())["rounds"][str(round)]["update"]


def sent(net: Net, function: str) -> int:
    return net.chain.stats.by_function[function]


def update_events(net: Net, account: str, round: int = 0) -> list[str]:
    """The trainer's update events of ``round``, in order."""
    return [e["event"] for e in read_journal(net.root / account / "node.log") if e["event"].startswith("update_") and e.get("round") == round]


def test_a_round_commits_reveals_scores_aggregates_and_elects(net):
    committee, trainers = net.members, net.trainers
    assert net.daemons[committee[0]].step() is Role.COMMITTEE
    for trainer in trainers:
        assert net.daemons[trainer].step() is Role.TRAINER
    # K commitments closed the commit phase; no update is in the shared store before its reveal
    assert net.ledger.phase() is Phase.REVEAL and not net.ledger.round_updates(0)
    for trainer in trainers:
        update = recorded_update(net, trainer)
        assert update["id"] is None and len(bytes.fromhex(update["salt"])) == 32
        assert not net.store.has(update["blob"]) and net.daemons[trainer].blobs.has_local(update["blob"])
        assert net.ledger.commitment(0, trainer) == stored_commitment(commitment(trainer, 0, hash_to_bytes32(update["blob"]), update["n_samples"], bytes.fromhex(update["salt"])))
    assert net.play_round() == 1

    record = net.ledger.model(1)
    assert record.origin is ModelOrigin.AGGREGATED
    qualified = net.ledger.qualified(0)
    updates = {u.update_id: u for u in net.ledger.round_updates(0)}
    params = {uid: get_model(net.store, bytes32_to_hash(updates[uid].blob_hash)) for uid in qualified}
    expected = aggregate_qualified(qualified, updates, params)
    assert bytes32_to_hash(record.blob_hash) == net.store.put(encode_model(expected))
    for member in committee:  # every member scored every update; a majority (the first two) proposed the same bytes
        state = json.loads((net.root / member / "state.json").read_text())["rounds"]["0"]
        assert sorted(int(k) for k in state["scored"]) == sorted(updates)
        proposed = record.blob_hash if member in committee[:2] else bytes(32)
        assert net.ledger.proposal(0, member) == proposed and state.get("proposed") == (bytes32_to_hash(proposed) if any(proposed) else None)
    for trainer in trainers:
        update = recorded_update(net, trainer)
        assert update["id"] in updates and updates[update["id"]].provider == trainer
        assert bytes32_to_hash(updates[update["id"]].blob_hash) == update["blob"] and net.store.has(update["blob"])
        assert update_events(net, trainer) == ["update_committed", "update_submitted"]
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
    assert net.ledger.commitment(0, outsider) != bytes(32)


# --- restarts between training, commit and reveal ------------------------------------------------


def test_trainer_stopped_after_journalling_its_salt_commits_the_same_update_once(net):
    trainer = net.trainers[0]
    daemon = net.daemons[trainer]
    daemon.request_stop()
    with pytest.raises(StopRequested):
        daemon.step()
    prepared = recorded_update(net, trainer)
    assert prepared["id"] is None and prepared["salt"] and net.ledger.commitment(0, trainer) == bytes(32)
    learner = TinyLearner()
    net.daemon(trainer, learner)
    assert net.play_round() == 1
    assert learner.fits == 0 and update_events(net, trainer) == ["update_reused", "update_committed", "update_submitted"]
    on_chain = next(u for u in net.ledger.round_updates(0) if u.provider == trainer)
    assert bytes32_to_hash(on_chain.blob_hash) == prepared["blob"]
    assert recorded_update(net, trainer) == {**prepared, "id": on_chain.update_id}


def test_trainer_restarted_after_committing_reveals_once(net):
    trainer = net.trainers[0]
    net.daemons[trainer].step()
    committed = recorded_update(net, trainer)
    learner = TinyLearner()
    restarted = net.daemon(trainer, learner)
    restarted.step()  # still committing: nothing to do
    assert sent(net, "commit_update") == 1 and net.ledger.phase() is Phase.COMMIT
    assert net.play_round() == 1
    assert learner.fits == 0 and update_events(net, trainer) == ["update_committed", "update_submitted"]
    assert recorded_update(net, trainer)["blob"] == committed["blob"] and net.ledger.has_submitted(0, trainer)


class Killed(Exception):
    """The process died here."""


def test_trainer_killed_between_upload_and_reveal_reveals_once_after_restart(net, monkeypatch):
    trainer = net.trainers[0]
    net.step_all(net.trainers)  # every trainer commits
    daemon = net.daemons[trainer]

    def killed(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(daemon.ledger, "reveal_update", killed)
    with pytest.raises(Killed):
        daemon.step()
    blob = recorded_update(net, trainer)["blob"]
    assert net.store.has(blob) and not net.ledger.has_submitted(0, trainer)
    net.daemon(trainer)
    assert net.play_round() == 1
    assert update_events(net, trainer) == ["update_committed", "update_submitted"]
    on_chain = next(u for u in net.ledger.round_updates(0) if u.provider == trainer)
    assert bytes32_to_hash(on_chain.blob_hash) == blob and recorded_update(net, trainer)["id"] == on_chain.update_id


def test_trainer_that_lost_its_state_dir_after_committing_sits_the_round_out(net):
    lost = net.trainers[0]
    net.daemons[lost].step()
    shutil.rmtree(net.root / lost)
    learner = TinyLearner()
    restarted = net.daemon(lost, learner)
    net.step_all(passes=3)  # the others commit and reveal; the lost commitment cannot be opened
    assert learner.fits == 0 and sent(net, "commit_update") == len(net.trainers)
    assert net.ledger.phase() is Phase.REVEAL and not net.ledger.has_submitted(0, lost)
    assert [e["level"] for e in events(net, lost, "update_lost")] == ["warning"]  # said once
    assert restarted.state.round(0) == {}
    net.chain.mine(net.params.reveal_deadline_blocks)
    assert net.play_round() == 1
    assert sum(len(events(net, n, "phase_closed")) for n in net.nodes) == 1
    assert lost not in [u.provider for u in net.ledger.round_updates(0)] and len(net.ledger.round_updates(0)) == len(net.trainers) - 1


def test_trainer_restart_after_its_reveal_with_state_lost_never_resubmits(net):
    trainer = net.trainers[0]
    net.step_all(net.trainers, passes=2)
    update_id = recorded_update(net, trainer)["id"]
    (net.root / trainer / "state.json").unlink()
    learner = TinyLearner()
    restarted = net.daemon(trainer, learner)
    tx_before = net.chain.stats.transactions
    restarted.step()
    assert net.chain.stats.transactions == tx_before and learner.fits == 0
    assert restarted.state.round(0)["update"]["id"] == update_id
    assert events(net, trainer, "update_found")


def test_restart_adopts_an_update_sent_just_before_a_crash_in_a_finished_round(net):
    trainer = net.trainers[0]
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


def test_member_restart_does_not_vote_twice(net):
    net.step_all(net.trainers, passes=2)
    member = net.members[0]
    net.daemons[member].step()
    (net.root / member / "state.json").unlink()
    restarted = net.daemon(member)
    tx_before = net.chain.stats.transactions
    assert restarted.step() is Role.COMMITTEE
    assert net.chain.stats.transactions == tx_before
    assert len(restarted.state.round(0)["scored"]) == len(net.trainers)


def test_members_score_every_update_once_all_are_revealed(net):
    net.step_all(net.trainers)
    late = net.trainers[-1]
    net.step_all(net.trainers[:-1])
    member = net.daemons[net.members[0]]
    member.step()
    assert net.ledger.phase() is Phase.REVEAL and not any(u.voters for u in net.ledger.round_updates(0))
    net.daemons[late].step()
    member.step()
    assert [u.voters for u in net.ledger.round_updates(0)] == [(net.members[0],)] * len(net.trainers)
    assert sent(net, "submit_scores") == 1


# --- bad blobs -------------------------------------------------------------------------------------


def rogue_update(net: Net, rogue: str, blob: str) -> int:
    """``rogue`` commits to ``blob`` first and reveals it once the honest nodes closed the commitments."""
    ledger = net.ledger.as_account(rogue)
    salt = b"\x07" * 32
    ledger.commit_update(0, commitment(rogue, 0, hash_to_bytes32(blob), 10, salt))
    honest = [n for n in net.nodes if n != rogue]
    net.step_all(honest)
    assert net.ledger.phase() is Phase.REVEAL
    return ledger.reveal_update(0, hash_to_bytes32(blob), 10, salt)


def tampered(net: Net) -> str:
    """Other bytes under the hash of a model."""
    claimed = net.store.put(encode_model({"b": np.ones(3, np.float32), "w": np.ones((2, 2), np.float32)}))
    net.store._path(claimed).write_bytes(encode_model({"b": np.full(3, 9, np.float32), "w": np.full((2, 2), 9, np.float32)}))
    return claimed


def with_metadata(net: Net) -> str:
    """A valid model of the right shapes, but not in canonical form."""
    tensors = {"b": np.ones(3, np.float32), "w": np.ones((2, 2), np.float32)}
    return net.store.put(safetensors.numpy.save(tensors, metadata={"note": "another encoder"}))


@pytest.mark.parametrize(
    ("make_blob", "reason"),
    [
        (with_metadata, "malformed blob (model blob is not in canonical form (metadata, tensor order, padding or a negative zero differ))"),
        (lambda net: net.store.put(b"tiny"), "malformed blob (model blob is not valid safetensors: 4 bytes is too short for a header)"),
    ],
    ids=["not-canonical", "not-safetensors"],
)
def test_a_bad_blob_its_trainer_committed_to_is_scored_zero_at_once(net, make_blob, reason):
    rogue = net.trainers[0]
    rogue_id = rogue_update(net, rogue, make_blob(net))
    net.play_round([n for n in net.nodes if n != rogue])
    update = net.ledger.update(rogue_id)
    assert update.scores == (0,) * len(net.members) and not update.qualified
    assert net.ledger.model(1).origin is ModelOrigin.AGGREGATED
    for member in net.members:
        assert [(e["update_id"], e["reason"]) for e in events(net, member, "update_rejected")] == [(rogue_id, reason)]


@pytest.mark.parametrize(
    ("make_blob", "reason"),
    [(tampered, "hash mismatch"), (lambda net: (b"\x42" * 32).hex(), "blob missing")],
    ids=["hash-mismatch", "missing"],
)
def test_members_wait_half_the_scoring_window_for_a_verified_copy_then_score_zero(net, make_blob, reason):
    """Anyone who writes to the store can remove or change a copy: members wait for it before blaming the trainer."""
    rogue = net.trainers[0]
    honest = [n for n in net.nodes if n != rogue]
    rogue_id = rogue_update(net, rogue, make_blob(net))
    net.step_all(honest, passes=3)
    assert net.ledger.phase() is Phase.SCORING
    assert not net.ledger.update(rogue_id).voters  # the others are scored, the rogue one awaited
    assert all(u.num_votes == len(net.members) for u in net.ledger.round_updates(0) if u.update_id != rogue_id)
    grace_end = net.ledger.round_state().phase_start_block + net.params.score_deadline_blocks // 2
    for member in net.members:
        [awaited] = events(net, member, "blob_awaited")
        assert (awaited["update_id"], awaited["reason"]) == (rogue_id, reason)
        assert awaited["message"].endswith(f"waiting until block {grace_end} before scoring it 0")
    net.chain.mine(grace_end - net.ledger.block_number())
    net.play_round(honest)
    update = net.ledger.update(rogue_id)
    assert update.scores == (0,) * len(net.members) and not update.qualified
    for member in net.members:
        assert [(e["update_id"], e["reason"]) for e in events(net, member, "update_rejected")] == [(rogue_id, reason)]


def test_a_copy_put_back_during_the_wait_is_scored_as_usual(net):
    rogue = net.trainers[0]
    honest = [n for n in net.nodes if n != rogue]
    blob = tampered(net)
    rogue_id = rogue_update(net, rogue, blob)
    net.step_all(honest, passes=2)
    assert not net.ledger.update(rogue_id).voters
    net.store._path(blob).write_bytes(encode_model({"b": np.ones(3, np.float32), "w": np.ones((2, 2), np.float32)}))  # the trainer's copy again
    net.play_round(honest)
    update = net.ledger.update(rogue_id)
    assert update.num_votes == len(net.members) and all(score > 0 for score in update.scores)
    assert not any(events(net, member, "update_rejected") for member in net.members)


class Picky(TinyLearner):
    """Finds every trained model far worse in loss than the global model (the genesis zeros): a member with odd data."""

    def score(self, candidates):
        scores = super().score(candidates)
        return [Score(s.accuracy, 1e3) if np.any(c["b"] != 0) else s for s, c in zip(scores, candidates, strict=True)]


def test_a_member_whose_data_fails_every_update_by_the_reference_rule_is_overruled_by_the_median(net):
    """The reference rule is one member's judgement, logged as such, not a fault of the update (no warning)."""
    picky = net.members[0]
    net.daemon(picky, Picky())
    net.play_round()
    updates = net.ledger.round_updates(0)
    assert updates and all(u.qualified for u in updates)
    refused = events(net, picky, "reference_rule")
    assert sorted(e["update_id"] for e in refused) == sorted(u.update_id for u in updates)
    assert {e["level"] for e in refused} == {"info"}
    assert all("scores 0 here by the reference rule: loss 1e+03 on this node's data, above 4x" in e["message"] for e in refused)
    assert not any(events(net, member, "update_rejected") for member in net.members)


# --- deadlines -------------------------------------------------------------------------------------


def test_dead_trainer_commitments_close_after_the_commit_deadline(net):
    dead = net.trainers[-1]
    alive = [n for n in net.nodes if n != dead]
    net.step_all(alive, passes=3)
    assert net.ledger.phase() is Phase.COMMIT and net.ledger.round_state().num_commits == len(net.trainers) - 1
    net.chain.mine(net.params.commit_deadline_blocks)
    assert net.play_round(alive) == 1
    closed = [e for n in alive for e in events(net, n, "phase_closed")]
    assert [e["message"] for e in closed] == ["round 0: closed the commit phase after its deadline"]
    assert len(net.ledger.round_updates(0)) == len(net.trainers) - 1 and net.ledger.model(1).origin is ModelOrigin.AGGREGATED


def test_dead_member_scoring_closes_after_the_deadline_with_a_quorum(net):
    dead = net.members[0]
    alive = [n for n in net.nodes if n != dead]
    net.step_all(alive, passes=3)
    assert net.ledger.phase() is Phase.SCORING
    net.chain.mine(net.params.score_deadline_blocks)
    assert net.play_round(alive) == 1
    closed = [e for n in alive for e in events(net, n, "phase_closed")]
    assert [e["message"] for e in closed] == ["round 0: closed the scoring phase after its deadline"]
    assert all(u.final and u.num_votes == 2 for u in net.ledger.round_updates(0))
    assert net.ledger.model(1).origin is ModelOrigin.AGGREGATED and net.ledger.proposal(0, dead) == bytes(32)


def test_dead_majority_of_the_round_zero_committee_is_replaced_by_a_manager(net):
    manager = net.daemon(net.manager, watcher=True)
    dead = net.members[:2]
    alive = [n for n in net.nodes if n not in dead]
    net.step_all(alive, passes=3)
    assert manager.step() is Role.WATCHER and net.ledger.current_round() == 0
    net.chain.mine(net.params.round_deadline_blocks)
    net.step_all(alive)  # no quorum to close scoring, no earlier round to re-elect from: nodes wait for a manager
    assert net.ledger.current_round() == 0 and events(net, alive[0], "round_stuck")
    manager.step()
    assert net.ledger.current_round() == 1 and net.ledger.model(1).origin is ModelOrigin.CARRIED_OVER
    new = net.ledger.committee(1)
    assert new == net.trainers[:3]  # the round's trainers, alive, in the order of their updates
    net.step_all(alive, passes=2)  # two trainers left for K = 4: commitments close at the deadline
    net.chain.mine(net.params.commit_deadline_blocks)
    assert net.play_round([*alive, net.manager]) == 2


def test_dead_majority_of_a_later_committee_is_reelected_by_any_node(tmp_path):
    net = build_net(tmp_path, num_nodes=9)  # six qualified trainers: three left to elect after round 1's committee
    for node in net.nodes:
        net.daemon(node)
    assert net.play_round() == 1
    dead = net.ledger.committee(1)[:2]
    alive = [n for n in net.nodes if n not in dead]
    net.step_all(alive, passes=3)
    net.chain.mine(net.params.round_deadline_blocks)
    net.step_all(alive)
    assert net.ledger.current_round() == 2
    assert sum(len(events(net, n, "committee_reelected")) for n in alive) == 1
    qualified = {net.ledger.update(u).provider for u in net.ledger.qualified(0)}
    assert len(net.ledger.committee(2)) == 3 and set(net.ledger.committee(2)) == qualified - set(net.ledger.committee(1))


def test_attacker_update_is_not_qualified_and_colluder_scores_it_high(tmp_path):
    net = build_net(tmp_path)
    attacker, colluder = net.trainers[0], net.members[0]
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
    trainer = net.trainers[0]
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


class Wider(TinyLearner):
    """A model with a wider ``w`` than the network's genesis."""

    def initial_parameters(self):
        return {"b": np.zeros(3, np.float32), "w": np.zeros((2, 3), np.float32)}


def test_a_node_whose_model_does_not_fit_the_genesis_stops_with_one_clear_error(net):
    daemon = net.daemon(net.trainers[0], Wider())
    with pytest.raises(ConfigError, match=r"this node's model does not fit the network's genesis model [0-9a-f]{12}: tensor 'w' has shape \(2, 2\)"):
        daemon.step()
    assert net.ledger.commitment(0, net.trainers[0]) == bytes(32)  # nothing sent


def test_a_genesis_copy_the_store_lost_is_retried_not_blamed_on_the_node(net):
    genesis = bytes32_to_hash(net.ledger.model(0).blob_hash)
    daemon = net.daemon(net.trainers[0])
    original = net.store._path(genesis).read_bytes()
    net.store._path(genesis).write_bytes(b"not the genesis")
    with pytest.raises(UnverifiedBlob):  # a store failure: the daemon's loop retries it
        daemon.step()
    net.store._path(genesis).write_bytes(original)
    assert daemon.step() is Role.TRAINER


def test_a_second_daemon_on_the_same_state_dir_is_refused(tmp_path):
    first = StateDir(tmp_path)
    with first.lock(), pytest.raises(ConfigError, match="another bflc node"), StateDir(tmp_path).lock():
        pass
    with StateDir(tmp_path).lock():  # released
        pass


def test_state_dir_of_another_account_is_refused(net):
    net.daemons[net.trainers[0]].step()
    with pytest.raises(ConfigError, match="belongs to account"):
        NodeDaemon(net.ledger.as_account(net.trainers[1]), net.store, TinyLearner(), net.root / net.trainers[0], echo=None)


def test_the_loop_logs_a_race_and_keeps_going(net, monkeypatch):
    trainer = net.trainers[0]
    daemon = net.daemons[trainer]
    daemon.poll_seconds = 0.01
    calls = []
    real_step = daemon.step

    def step():
        calls.append(1)
        if len(calls) == 1:
            raise ContractRevert("stale round", "commit_update")
        if len(calls) == 3:
            daemon.request_stop()
        return real_step()

    monkeypatch.setattr(daemon, "step", step)
    assert daemon.run() == 0
    assert len(calls) == 3 and net.ledger.commitment(0, trainer) != bytes(32)
    race = events(net, trainer, "race")
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


def test_norm_clipping_scales_each_change_from_the_global_model_to_the_median_length():
    """Changes of length 5, 5 and 50 from the global model (1, 1): the long one counts as length 5, in its direction."""
    import numpy as np

    from bflc.chain.types import UpdateRecord

    records = {uid: UpdateRecord(uid, 0, "0x0", bytes(32), 100, 3, 500_000, True, True) for uid in range(3)}
    base = {"w": np.ones(2, np.float32)}
    updates = {0: {"w": np.array([4.0, 5.0], np.float32)}, 1: {"w": np.array([1.0, 6.0], np.float32)}, 2: {"w": np.array([31.0, 41.0], np.float32)}}
    # changes (3, 4), (0, 5), (30, 40) -> clipped (3, 4), (0, 5), (3, 4); mean (2, 13/3); plus the base
    clipped = aggregate_qualified([0, 1, 2], records, updates, None, 1.0, base)["w"]
    np.testing.assert_allclose(clipped, [3.0, 1 + 13 / 3], rtol=1e-6)
    np.testing.assert_allclose(aggregate_qualified([0, 1, 2], records, updates)["w"], [12.0, 52 / 3], rtol=1e-6)  # unclipped
    with pytest.raises(ValueError, match="needs the round's global model"):
        aggregate_qualified([0, 1, 2], records, updates, None, 1.0)


class DivergingLearner(TinyLearner):
    """Training blows up: every parameter comes back NaN."""

    def fit(self, global_params, seed):
        params, samples = super().fit(global_params, seed)
        return {k: np.full_like(v, np.nan) for k, v in params.items()}, samples


class FreeRider(TinyLearner):
    """Trains nothing: sends the global model back unchanged (its blob is used already)."""

    def fit(self, global_params, seed):
        super().fit(global_params, seed)
        return {k: v.copy() for k, v in global_params.items()}, self.samples


@pytest.mark.parametrize(("learner_class", "event"), [(DivergingLearner, "training_diverged"), (FreeRider, "update_unusable")])
def test_a_trainer_without_a_usable_update_sits_the_round_out(net, learner_class, event):
    idle = net.trainers[-1]
    learner = learner_class()
    daemon = net.daemon(idle, learner)
    for _ in range(3):
        assert daemon.step() is Role.TRAINER
    assert learner.fits == 1  # not retrained on every pass
    assert net.ledger.commitment(0, idle) == bytes(32) and "update" not in daemon.state.round(0)
    assert [e["level"] for e in events(net, idle, event)] == ["warning"]
    others = [n for n in net.nodes if n != idle]
    net.step_all(others, passes=3)
    net.chain.mine(net.params.commit_deadline_blocks)  # three commitments for K = 4: the deadline closes them
    assert net.play_round(others) == 1
    assert idle not in [u.provider for u in net.ledger.round_updates(0)]


def test_member_daemons_screen_with_memory_and_look_at_each_earlier_round_once(net):
    """The network file's screen settings reach the member, which is made once per daemon, so its memory lasts."""
    for account in net.nodes:
        net.daemon(account, screen_similarity=0.25, screen_push=0.2)
    assert net.play_round() == 1 and net.play_round() == 2
    for member in net.ledger.committee(1):
        daemon = net.daemons[member]
        assert daemon.member is not None and (daemon.member.screen_similarity, daemon.member.screen_push) == (0.25, 0.2)
        assert daemon.member.memory.get(0) is not None  # round 0 looked at while judging round 1
