"""End to end: `bflc cluster up` starts anvil (a block per second) and seven
real `bflc node` processes (six with FEMNIST writers, the manager's watcher);
the tests then kill, restart, add, blacklist and cheat against them.

The tests share one cluster and run in file order; together they take about
two minutes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bflc.chain import ModelOrigin, NodeStatus, Phase
from bflc.errors import ContractRevert
from bflc.ml.data import load_dataset
from bflc.ml.learner import TorchLearner
from bflc.net.connect import connect
from bflc.protocol import commitment
from bflc.storage import blob_hash, bytes32_to_hash, encode_model, get_model, hash_to_bytes32, model_spec
from tests.node.node_cluster import LiveCluster, bflc

NODES, COMMITTEE, WRITERS = 6, 3, 2
DEADLINES = {"commit": 10, "reveal": 10, "score": 20, "round": 60}  # blocks of a second; round 0 also waits for seven processes to start
ROUND_DEADLINE = DEADLINES["round"]

pytestmark = pytest.mark.slow  # a real cluster: anvil and seven node processes


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> LiveCluster:
    directory = tmp_path_factory.mktemp("cluster")
    started = bflc(
        "cluster", "up", "--no-watch", "--dir", str(directory),
        "--nodes", str(NODES), "--committee", str(COMMITTEE), "--writers-per-node", str(WRITERS),
        # every honest update qualifies (the committee stays at 3), a zero score never does
        "--min-score", "0.01", "--relative-min-score", "0",
        *(arg for phase, blocks in DEADLINES.items() for arg in (f"--{phase}-deadline", str(blocks))),
    )
    assert started.returncode == 0, started.stderr
    yield LiveCluster(directory)
    bflc("cluster", "down", "--dir", str(directory))


def test_a_second_up_on_a_running_cluster_is_refused(live):
    again = bflc("cluster", "up", "--no-watch", "--dir", str(live.dir))
    assert again.returncode == 2
    assert "a cluster is already running in" in again.stderr and "bflc cluster down" in again.stderr


def test_rounds_complete_and_accepted_models_improve(live):
    live.wait_round(3, timeout=240)
    records = [live.manager.model(r) for r in range(4)]
    assert [m.origin for m in records[1:]] == [ModelOrigin.AGGREGATED] * 3
    torch.set_num_threads(1)
    writers = load_dataset("femnist").select(range(NODES * WRITERS))
    judge = TorchLearner.from_dataset(writers, live.network.learning.model, live.network.learning.training, live.network.learning.model_seed)
    spec = model_spec(judge.initial_parameters())
    accuracy = [judge.evaluate(get_model(live.store, bytes32_to_hash(m.blob_hash), expected=spec))[1] for m in records]
    assert accuracy[3] > accuracy[0] + 0.1, accuracy
    for r in range(3):  # a late update may miss the round; the qualified ones were all scored
        updates = {u.update_id: u for u in live.manager.round_updates(r)}
        qualified = live.manager.qualified(r)
        assert qualified and all(updates[q].final and len(updates[q].voters) >= 2 for q in qualified)


def test_a_blob_that_does_not_match_its_hash_is_rejected_by_every_honest_member(live):
    rogue = live.new_account("rogue")
    live.manager.admit(rogue.address)
    ledger = connect(live.network, rogue)
    genesis = get_model(live.store, bytes32_to_hash(live.manager.model(0).blob_hash))
    other = encode_model({k: v - np.float32(0.01) for k, v in genesis.items()})
    salt = b"\x07" * 32
    for _attempt in range(3):  # the honest trainers may close the commitments first
        r = live.next_round()
        claimed = encode_model({k: v + np.float32(0.01 * r) for k, v in genesis.items()})
        claimed_hash = hash_to_bytes32(blob_hash(claimed))
        try:
            ledger.commit_update(r, commitment(rogue.address, r, claimed_hash, 100, salt))
        except ContractRevert as error:
            if error.reason != "not this phase of the round":
                raise
            continue
        live.wait(lambda r=r: live.manager.current_round() > r or live.manager.phase() is not Phase.COMMIT, ROUND_DEADLINE, "the commitments to close")
        stored = live.store.put(claimed)
        (live.store.root / stored[:2] / stored).write_bytes(other)  # other bytes under the claimed hash
        update_id = ledger.reveal_update(r, claimed_hash, 100, salt)
        live.wait_round(r + 1, timeout=ROUND_DEADLINE * 2)
        update = live.manager.update(update_id)
        break
    else:
        pytest.fail("the rogue never committed before the honest trainers closed the commitments")
    assert update.num_votes == len(live.manager.committee(r)) and set(update.scores) == {0}
    assert not update.qualified
    for member in live.manager.committee(r):
        messages = [e["message"] for e in live.journal(live.name_of(member), "update_rejected")]
        assert f"rejected update {update_id}: hash mismatch" in messages


def test_killed_trainer_and_member_the_round_completes_at_the_deadline_and_they_resume(live):
    r = live.next_round()
    state = live.manager.round_state()
    member = live.name_of(state.committee[0])
    trainer = next(n for n in live.info["nodes"] if n != "manager" and live.address(n) not in state.committee and live.info["nodes"][n]["data"])
    live.kill9(trainer)
    live.kill9(member)
    trainer_state = json.loads((live.dir / "nodes" / trainer / "state.json").read_text())
    submitted_before = live.manager.has_submitted(r, live.address(trainer))

    live.wait_round(r + 1, timeout=ROUND_DEADLINE * 2)
    assert live.manager.model(r + 1).origin is ModelOrigin.AGGREGATED
    closers = [n for n in live.info["nodes"] if any(e["round"] == r for e in live.journal(n, "phase_closed"))]
    assert closers, "nobody closed a phase after its deadline"
    assert live.address(member) not in set(_proposers(live, r))
    assert live.manager.has_submitted(r, live.address(trainer)) == submitted_before

    for name in (trainer, member):
        live.restart(name)
    live.wait_round(r + 3, timeout=180)
    for name in (trainer, member):
        assert live.running(name)
        assert len(live.journal(name, "started")) == 2
        assert not live.journal(name, "revert"), live.journal(name, "revert")
        acted = [e for e in live.journal(name) if e["event"] in ("update_committed", "scores_submitted") and e["round"] > r]
        assert acted, f"{name} did nothing after its restart"
    after = json.loads((live.dir / "nodes" / trainer / "state.json").read_text())
    assert all(after["rounds"][k] == v for k, v in trainer_state["rounds"].items())  # history intact
    for k, record in after["rounds"].items():  # each recorded update is its one update on chain
        if "update" not in record:
            continue
        if record["update"]["id"] is None:  # killed before revealing, or committed too late: never on chain
            assert all(u.provider != live.address(trainer) for u in live.manager.round_updates(int(k), with_votes=False))
        else:
            assert live.manager.update(record["update"]["id"]).provider == live.address(trainer)


def _proposers(live: LiveCluster, round: int) -> list[str]:
    return [m for m in live.manager.committee(round) if live.manager.proposal(round, m) != bytes(32)]


def test_a_trainer_killed_right_after_submitting_does_not_submit_again(live):
    r = live.next_round()
    committee = live.manager.committee(r)
    trainer = next(n for n in live.info["nodes"] if live.info["nodes"][n]["data"] and live.address(n) not in committee)
    live.wait(lambda: live.manager.has_submitted(r, live.address(trainer)), ROUND_DEADLINE, f"{trainer} to reveal")
    starts = len(live.journal(trainer, "started"))
    live.kill9(trainer)
    live.restart(trainer)

    def stepped_since_restart() -> bool:
        log = live.journal(trainer)
        starts_now = [i for i, e in enumerate(log) if e["event"] == "started"]
        return len(starts_now) > starts and any(e["event"] == "model_evaluated" for e in log[starts_now[-1] :])

    live.wait(stepped_since_restart, 60, f"{trainer} to restart and read the chain")
    live.wait_round(r + 1, timeout=ROUND_DEADLINE * 2)
    # killed just after its transaction was mined: it logged the submission, or adopted it on restart
    submits = [e for e in live.journal(trainer, "update_submitted") if e["round"] == r]
    adopted = [e for e in live.journal(trainer, "update_found") if e["round"] == r]
    assert len(submits) + len(adopted) >= 1 and len(submits) <= 1 and not live.journal(trainer, "revert")
    mine = [u for u in live.manager.round_updates(r, with_votes=False) if u.provider == live.address(trainer)]
    recorded = json.loads((live.dir / "nodes" / trainer / "state.json").read_text())["rounds"][str(r)]["update"]
    assert len(mine) == 1 and recorded["id"] == mine[0].update_id


def test_a_node_joins_mid_run_and_contributes(live):
    joiner = live.new_account("joiner")
    data = f"femnist:{NODES * WRITERS},{NODES * WRITERS + 1}"
    live.add_node("joiner", joiner.address, ["--data", data, "--apply"])
    live.wait(lambda: live.manager.status(joiner.address) is NodeStatus.APPLIED, 90, "the joiner to apply")
    admitted = bflc("admin", "admit", joiner.address, "--network", live.info["network"], "--key-file", str(live.dir / "keys" / "manager.key"))
    if admitted.returncode != 0:  # `bflc admin` comes from bflc.net; the ledger does the same
        live.manager.admit(joiner.address)
    assert live.manager.status(joiner.address) is NodeStatus.ADMITTED
    start = live.manager.current_round()

    def contributed():
        for r in range(start, live.manager.current_round()):
            for u in live.manager.round_updates(r, with_votes=False):
                if u.provider == joiner.address and u.final:
                    return u
        return None

    update = live.wait(contributed, 120, "an update of the joiner to be scored")
    assert update.num_votes == len(live.manager.committee(update.round))


def test_a_blacklisted_node_cannot_transact_and_its_daemon_idles(live):
    r = live.next_round()
    committee = live.manager.committee(r)
    victim = next(n for n in live.info["nodes"] if live.info["nodes"][n]["data"] and live.address(n) not in committee)
    starts = len(live.journal(victim, "started"))
    live.manager.blacklist(live.address(victim))
    live.wait(lambda: live.journal(victim, "idle"), 30, f"{victim} to notice")
    ledger = connect(live.network, live.key(victim))
    with pytest.raises(ContractRevert, match="node is not admitted"):
        ledger.commit_update(live.manager.current_round(), b"\x07" * 32)
    live.wait_round(live.manager.current_round() + 2, timeout=180)  # the others go on
    assert live.running(victim)
    assert [e["status"] for e in live.journal(victim, "idle")] == ["blacklisted"]
    assert len(live.journal(victim, "revert")) <= 1  # at most the step that was under way
    assert len(live.journal(victim, "started")) == starts  # no crash, no restart
    assert not any(e["level"] == "error" for e in live.journal(victim))


def test_cluster_down_stops_every_process_with_sigterm(live):
    stopped = bflc("cluster", "down", "--dir", str(live.dir))
    assert stopped.returncode == 0, stopped.stderr
    lines = [line.split() for line in stopped.stdout.splitlines() if " pid " in line]
    outcomes = {line[0]: line[-1] for line in lines}
    assert set(outcomes) == {*live.info["nodes"], "anvil"}
    assert set(outcomes.values()) == {"stopped"}, stopped.stdout
    for name in live.info["nodes"]:
        assert not live.running(name)
        assert live.journal(name)[-1]["event"] == "stopped"
