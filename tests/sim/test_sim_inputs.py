"""Every attack, election mode and dataset kind runs through the simulator."""

import numpy as np
import pytest

from bflc.ml.data import load_femnist
from bflc.sim.config import SimConfig
from bflc.sim.engine import simulate
from tests.ml.ml_leaf_json import write_leaf_file

BASE = {"dataset": "digits", "model": "mlp", "nodes": 20, "active_fraction": 0.5, "rounds": 1, "lr": 0.1, "local_epochs": 2, "momentum": 0.0, "seed": 1}


@pytest.mark.parametrize("attack", ["gaussian", "sign-flip", "scale", "label-flip"])
def test_each_attack_runs_and_is_counted(attack):
    result = simulate(SimConfig.create(**BASE, malicious_fraction=0.3, attack=attack, collude=True), progress=False)
    [m] = result["rounds"]
    assert m["malicious_submitted"] == sum(1 for t in m["trainers"] if t in result["population"]["malicious"])


@pytest.mark.parametrize("election", ["score", "random", "multi-factor"])
def test_each_election_mode_elects_from_the_round_trainers(election):
    # every update qualifies: at least three candidates, so an election seats a committee of three
    config = SimConfig.create(**{**BASE, "rounds": 2}, election=election, relative_min_score=0.0)
    first, second = simulate(config, progress=False)["rounds"]
    assert first["accepted"] == first["updates"] == len(first["trainers"]) == 7
    assert len(second["committee"]) == 3 and set(second["committee"]) <= set(first["trainers"])


def test_leaf_json_directory_feeds_the_simulator(tmp_path):
    femnist = load_femnist()
    for split, shards in (("train", femnist.train), ("test", femnist.test)):
        users = {}
        for w in range(8):
            x, y = shards[w]
            # back to LEAF's convention: 1.0 = white background, 784 floats per image
            users[femnist.writers[w]] = ((1.0 - x.reshape(len(x), 784)).tolist(), y.tolist())
        write_leaf_file(tmp_path / "data" / split / f"all_data_0_{split}.json", users)
    config = SimConfig.create(dataset=f"leaf:{tmp_path / 'data'}", model="cnn", nodes=8, active_fraction=0.75, rounds=1, seed=0)
    result = simulate(config, progress=False)
    assert result["dataset"]["writers"] == 8
    expected = sum(len(femnist.test[w][1]) for w in range(8))
    assert result["dataset"]["test_samples"] == expected
    assert np.isfinite(result["rounds"][0]["loss"])
