"""Nodes that cannot produce a usable blob: their training diverged, their
attack overflowed float32, or they send the global model back unchanged (a
blob is used once ever). They commit to nothing; the round goes on by the
contract's deadline paths, and every method refuses non-finite parameters."""

import itertools
import json

import pytest

from bflc.sim.config import SimConfig
from bflc.sim.engine import simulate

SMALL = SimConfig.create(dataset="digits", model="mlp", nodes=20, active_fraction=0.5, rounds=3, lr=0.1, local_epochs=5, momentum=0.0, sample_cap=0.0, seed=3)
# a sign-flip this strong overflows float32: every malicious update is infinite
OVERFLOWING = {"malicious_fraction": 0.3, "attack": "sign-flip", "attack_scale": 1e39, "collude": True}


def run(aggregator: str, **changes) -> dict:
    return simulate(SMALL.replace(aggregator=aggregator, **changes), progress=False)


@pytest.mark.parametrize("aggregator", ["bflc", "fedavg", "cwmed"])
def test_malicious_nodes_with_infinite_updates_submit_nothing(aggregator):
    result = run(aggregator, **OVERFLOWING)
    malicious = set(result["population"]["malicious"])
    for m in result["rounds"]:
        scheduled_malicious = len(malicious & set(m["trainers"]))
        assert m["unusable_updates"] == scheduled_malicious
        assert m["updates"] == len(m["trainers"]) - scheduled_malicious
        assert m["malicious_submitted"] == m["malicious_accepted"] == 0
    assert sum(m["unusable_updates"] for m in result["rounds"]) > 0
    assert result["final_accuracy"] > 0.4  # the honest updates still train the model


def test_bflc_closes_the_commitments_after_the_deadline_when_updates_are_missing():
    result = run("bflc", **OVERFLOWING)
    for m in result["rounds"]:
        short = m["updates"] < len(m["trainers"])
        assert m["deadline"] == ("commitments closed" if short else None)
        assert m["model_accepted"] == (m["accepted"] > 0)
    assert any(m["deadline"] for m in result["rounds"])


def test_bflc_free_riders_sending_the_global_model_back_sit_out():
    result = run("bflc", malicious_fraction=0.3, attack="tests.sim.custom_attacks:free_ride")
    malicious = set(result["population"]["malicious"])
    for m in result["rounds"]:
        riders = len(malicious & set(m["trainers"]))
        assert m["unusable_updates"] == riders and m["malicious_submitted"] == 0
        assert m["deadline"] == ("commitments closed" if riders else None)
    assert sum(m["unusable_updates"] for m in result["rounds"]) > 0


@pytest.mark.parametrize("aggregator", ["bflc", "fedavg"])
def test_rounds_where_every_training_diverges_keep_the_model(aggregator):
    result = run(aggregator, lr=1e30)  # every node's training blows up
    accuracies = {m["accuracy"] for m in result["rounds"]}
    assert len(accuracies) == 1  # the initial model, every round
    for m in result["rounds"]:
        assert m["updates"] == m["accepted"] == 0 and m["unusable_updates"] == len(m["trainers"])
    json.dumps(result, allow_nan=False)  # valid JSON: no NaN loss


def test_bflc_replaces_a_committee_that_had_nothing_to_aggregate():
    rounds = run("bflc", lr=1e30)["rounds"]
    for before, after in itertools.pairwise(rounds):
        assert before["deadline"] == "committee replaced" and not before["model_accepted"]
        # the manager's new committee: the failed round's trainers, who are alive
        assert after["committee"] == before["trainers"][: len(after["committee"])]


def test_bflc_restarts_a_round_when_too_few_trainers_are_alive_for_a_new_committee():
    """5 nodes, a committee of 3: the 2 trainers could not form a committee of
    the minimum size (3), so the manager restarts the round instead."""
    result = simulate(SMALL.replace(nodes=5, active_fraction=1.0, committee_fraction=0.6, lr=1e30, rounds=2), progress=False)
    committees = {tuple(m["committee"]) for m in result["rounds"]}
    assert len(committees) == 1 and len(next(iter(committees))) == 3
    assert [m["deadline"] for m in result["rounds"]] == ["round restarted", "round restarted"]
    assert not any(m["model_accepted"] for m in result["rounds"])
