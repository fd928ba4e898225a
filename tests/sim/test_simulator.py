"""The simulator on digits: determinism, the protocol's defence, baselines."""

import json

import pytest

from bflc.sim.config import SimConfig
from bflc.sim.engine import simulate, without_timings
from bflc.sim.transfers import bflc_round

SMALL = SimConfig.create(dataset="digits", model="mlp", nodes=20, active_fraction=0.5, rounds=3, lr=0.1, local_epochs=5, momentum=0.0, sample_cap=0.0, seed=3)


def test_same_seed_same_result_bit_for_bit():
    first = without_timings(simulate(SMALL, progress=False))
    second = without_timings(simulate(SMALL, progress=False))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_protocol_round_metrics_come_from_the_chain():
    result = simulate(SMALL, progress=False)
    for m in result["rounds"]:
        assert m["updates"] == m["accepted"] + m["rejected"]
        # a commitment and a reveal per update, one batch of scores per member, the scoring close, a majority of proposals
        assert m["transactions"] == 2 * m["updates"] + len(m["committee"]) + 1 + len(m["committee"]) // 2 + 1
        # a majority of the committee proposes the aggregate: the first uploads it, the others read it back
        assert m["transfers"] == bflc_round(len(m["trainers"]), len(m["committee"]), m["updates"], len(m["committee"]) // 2 + 1)
        assert m["transmission_units"] == sum(m["transfers"].values())
        assert set(m["committee"]).isdisjoint(m["trainers"])
    # no consecutive terms: a committee elected from round r's trainers never repeats round r's committee
    for before, after in zip(result["rounds"], result["rounds"][1:], strict=False):
        assert set(after["committee"]) <= set(before["trainers"]) or after["committee"] == before["committee"]
    assert result["rounds"][-1]["accuracy"] > 0.4  # learns far above chance (0.1) on digits


def test_honest_committee_keeps_gaussian_updates_out():
    config = SMALL.replace(malicious_fraction=0.3, attack="gaussian", collude=True)
    result = simulate(config, progress=False)
    assert result["totals"]["malicious_accepted"] == 0
    assert sum(m["malicious_submitted"] for m in result["rounds"]) > 0


@pytest.mark.parametrize("aggregator", ["fedavg", "cwmed", "trimmed-mean", "krum", "multi-krum", "broadcast"])
def test_baselines_run_on_the_same_clients(aggregator):
    result = simulate(SMALL.replace(aggregator=aggregator, rounds=2), progress=False)
    assert len(result["rounds"]) == 2
    assert all(m["transactions"] == 0 and m["updates"] == 10 for m in result["rounds"])


def test_fedavg_lets_every_malicious_update_in():
    config = SMALL.replace(aggregator="fedavg", malicious_fraction=0.3, rounds=2)
    result = simulate(config, progress=False)
    assert result["totals"]["malicious_accepted"] == sum(m["malicious_submitted"] for m in result["rounds"]) > 0


def test_json_is_written(tmp_path):
    path = tmp_path / "out" / "run.json"
    simulate(SMALL.replace(rounds=1), json_path=path, progress=False)
    data = json.loads(path.read_text())
    assert data["config"]["dataset"] == "digits" and len(data["rounds"]) == 1
    assert set(data["rounds"][0]["seconds"]) >= {"train", "score", "chain", "storage"}


def test_updates_per_round_sets_k_trainers():
    result = simulate(SMALL.replace(updates_per_round=3, rounds=2), progress=False)
    assert all(m["updates"] == 3 and len(m["trainers"]) == 3 for m in result["rounds"])


def test_sample_cap_runs_and_is_recorded():
    result = simulate(SMALL.replace(rounds=1, sample_cap=2.0), progress=False)
    assert result["config"]["sample_cap"] == 2.0 and len(result["rounds"]) == 1
