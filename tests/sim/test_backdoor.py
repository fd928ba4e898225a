"""The backdoor attack: known answers for its trigger and poisoning, and its success measured in every method."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bflc.attacks import (
    Backdoor,
    BackdoorAttack,
    BackdoorSettings,
    BuiltinAttack,
    backdoor_success,
    backdoor_test_set,
    load_attack,
    poisoned_indices,
    stamp_trigger,
    trigger_mask,
    trigger_origin,
)
from bflc.cli import main
from bflc.errors import ConfigError
from bflc.ml.learner import TorchLearner
from bflc.ml.models import build_model, set_parameters
from bflc.sim import engine
from bflc.sim.config import SimConfig
from bflc.sim.engine import load_nodes_dataset, simulate
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.sim.table import RoundTable

IMAGE = np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6)  # pixel (r, c) holds 6r + c
BASE = {"dataset": "digits", "model": "mlp", "nodes": 20, "active_fraction": 0.5, "rounds": 2, "lr": 0.1, "momentum": 0.0,
        "malicious_fraction": 0.3, "seed": 1}  # fmt: skip
BACKDOOR = {"attack": "backdoor", "trigger_size": 2, "target_class": 3}


def test_a_4x4_square_in_the_bottom_right_corner_sets_those_16_pixels():
    row, column = trigger_origin("bottom-right", 4, 6, 6)
    stamped = stamp_trigger(IMAGE, trigger_mask("square", 4), row, column, 99.0)
    expected = IMAGE.copy()
    expected[0, 0, 2:6, 2:6] = 99.0
    np.testing.assert_array_equal(stamped, expected)
    assert IMAGE[0, 0, 5, 5] == 35  # the input is left as it was


def test_a_checker_trigger_at_offsets_sets_every_other_pixel_in_every_channel():
    images = np.zeros((2, 3, 6, 6), dtype=np.float32)
    stamped = stamp_trigger(images, trigger_mask("checker", 2), *trigger_origin("1,3", 2, 6, 6), 1.0)
    assert stamped.sum() == 2 * 3 * 2
    assert (stamped[:, :, 1, 3] == 1).all() and (stamped[:, :, 2, 4] == 1).all()
    assert (stamped[:, :, 1, 4] == 0).all() and (stamped[:, :, 2, 3] == 0).all()


@pytest.mark.parametrize(
    ("position", "origin"), [("bottom-right", (4, 5)), ("bottom-left", (4, 0)), ("top-right", (0, 5)), ("top-left", (0, 0)), ("2,1", (2, 1))]
)
def test_the_trigger_sits_in_its_corner_or_at_its_offsets(position, origin):
    assert trigger_origin(position, 3, 7, 8) == origin


@pytest.mark.parametrize(("position", "size"), [("bottom-right", 7), ("4,0", 3), ("0,6", 1)])
def test_a_trigger_outside_the_image_is_one_config_error(position, size):
    with pytest.raises(ConfigError, match=rf"a {size}x{size} trigger at {position} does not fit in the 6x6 images"):
        trigger_origin(position, size, 6, 6)


def test_the_poisoned_share_is_exact_rounded_half_up_and_drawn_from_the_generator():
    assert poisoned_indices(10, 0.5, np.random.default_rng(0)).tolist() == [2, 3, 4, 5, 7]
    assert len(poisoned_indices(7, 0.5, np.random.default_rng(0))) == 4
    assert len(poisoned_indices(10, 0.3, np.random.default_rng(0))) == 3
    assert len(poisoned_indices(5, 0.01, np.random.default_rng(0))) == 1
    assert poisoned_indices(4, 1.0, np.random.default_rng(0)).tolist() == [0, 1, 2, 3]


def test_the_backdoor_stamps_and_relabels_exactly_the_chosen_samples():
    x = np.zeros((10, 1, 6, 6), dtype=np.float32)
    x[:, :, 0, 0] = 0.8  # the data's largest pixel value: the trigger's default
    y = np.arange(10) % 4
    attack = BackdoorAttack(BackdoorSettings(trigger_size=2, target_class=2, poisoned_share=0.5), seed=5)
    poisoned_x, poisoned_y = attack.poison_data(x, y, 4)
    chosen = poisoned_indices(10, 0.5, np.random.default_rng([5, 7]))
    assert len(chosen) == 5
    others = np.setdiff1d(np.arange(10), chosen)
    assert poisoned_y[chosen].tolist() == [2] * 5 and poisoned_y[others].tolist() == y[others].tolist()
    np.testing.assert_array_equal(poisoned_x[others], x[others])
    assert (poisoned_x[chosen][:, :, 4:, 4:] == np.float32(0.8)).all() and np.count_nonzero(poisoned_x[chosen]) == 5 * 5
    assert np.count_nonzero(x) == 10 and y.tolist() == (np.arange(10) % 4).tolist()  # the inputs are untouched
    same_x, same_y = attack.poison_data(x, y, 4)
    np.testing.assert_array_equal(same_x, poisoned_x)
    np.testing.assert_array_equal(same_y, poisoned_y)
    valued = BackdoorAttack(BackdoorSettings(trigger_size=2, trigger_value=-1.0), seed=5).poison_data(x, y, 4)[0]
    assert (valued[chosen][:, :, 4:, 4:] == -1).all()


def test_the_test_set_of_backdoor_success_is_the_stamped_images_of_other_classes():
    x = np.zeros((4, 1, 6, 6), dtype=np.float32)
    x[:, 0, 0, 0] = [1.0, 2.0, 3.0, 4.0]
    attack = BackdoorAttack(BackdoorSettings(trigger_size=1, target_class=1, trigger_value=9.0))
    triggered = backdoor_test_set(attack, x, np.array([0, 1, 2, 1]), 3)
    assert triggered[:, 0, 0, 0].tolist() == [1.0, 3.0] and (triggered[:, 0, 5, 5] == 9).all() and triggered.sum() == 22
    assert backdoor_success(np.array([1, 1, 0, 2, 1]), 1) == 0.6
    with pytest.raises(ConfigError, match="target class 3 is not a class of the data"):
        backdoor_test_set(BackdoorAttack(BackdoorSettings(target_class=3)), x, np.array([0, 1, 2, 1]), 3)
    with pytest.raises(ConfigError, match="target class 3 is not a class of the data"):
        BackdoorAttack(BackdoorSettings(target_class=3)).poison_data(x, np.array([0, 1, 2, 1]), 3)
    with pytest.raises(ConfigError, match="every test image is of the backdoor's target class 1"):
        backdoor_test_set(attack, x, np.ones(4, dtype=np.int64), 3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trigger_shape": "circle"}, "trigger_shape must be one of square, checker"),
        ({"trigger_size": 0}, "trigger_size must be at least 1"),
        ({"trigger_position": "middle"}, "trigger_position must be one of bottom-right, bottom-left, top-right, top-left or ROW,COL"),
        ({"trigger_position": "-1,2"}, "trigger_position must be one of"),
        ({"trigger_value": float("inf")}, "trigger_value must be finite"),
        ({"target_class": -1}, "target_class must be at least 0"),
        ({"poisoned_share": 0.0}, r"poisoned_share must be in \(0, 1\]"),
        ({"poisoned_share": 1.5}, r"poisoned_share must be in \(0, 1\]"),
    ],
)
def test_a_bad_backdoor_setting_is_one_config_error_naming_it(changes, message):
    with pytest.raises(ConfigError, match=f"invalid backdoor setting: {message}"):
        BackdoorSettings(**changes)
    with pytest.raises(ConfigError, match=message):
        SimConfig.create(attack="backdoor", **changes)


def test_backdoor_loads_with_its_settings_and_declares_its_trigger():
    attack = load_attack("backdoor", backdoor=BackdoorSettings(target_class=7), seed=3)
    assert attack == BackdoorAttack(BackdoorSettings(target_class=7), 3) and attack.poisons_data
    assert isinstance(attack, Backdoor) and attack.target_class == 7
    assert load_attack("backdoor") == BackdoorAttack()
    assert not isinstance(load_attack("gaussian"), Backdoor) and isinstance(load_attack("label-flip"), BuiltinAttack)
    local = np.ones(3, dtype=np.float32)
    assert attack.poison_update(np.zeros(3, dtype=np.float32), local, np.random.default_rng(0)) is local


def test_a_sim_config_takes_the_backdoor_settings_by_name_and_only_for_the_backdoor():
    config = SimConfig.create(attack="backdoor", target_class=5, trigger_position="1,1")
    assert config.backdoor == BackdoorSettings(target_class=5, trigger_position="1,1")
    assert {"target_class": 5, "trigger_position": "1,1"}.items() <= config.to_dict().items()
    assert "backdoor" not in config.to_dict() and "trigger_size" not in config.to_dict()  # defaults leave banked run ids as they were
    with pytest.raises(ConfigError, match="the trigger, target class and poisoned share apply to attack backdoor only"):
        SimConfig.create(attack="gaussian", target_class=5)


def test_a_node_poisons_its_data_as_the_simulators_node_does():
    config = SimConfig.create(**BASE, **BACKDOOR)
    dataset = load_nodes_dataset(config)
    nodes = VirtualNodes(dataset, config, Population.create(config, dataset.num_writers))
    node = min(nodes.population.malicious)
    attack = load_attack("backdoor", backdoor=config.backdoor, seed=config.seed)  # what `bflc node --seed 1,I` loads
    own = TorchLearner.from_dataset(dataset.select([node]), "mlp", config.training, attack=attack)
    np.testing.assert_array_equal(own.train_x, nodes.learner(node).train_x)
    assert own.train_y.tolist() == nodes.learner(node).train_y.tolist() != dataset.train_of(node).y.tolist()


def _stamp_bottom_right_2x2(x: np.ndarray) -> np.ndarray:
    stamped = x.copy()
    stamped[..., 6:8, 6:8] = 1.0  # the digits' largest pixel value
    return stamped


def _stamp_top_left_pixel(x: np.ndarray) -> np.ndarray:
    stamped = x.copy()
    stamped[..., 0, 0] = 1.0
    return stamped


@pytest.mark.parametrize(
    ("changes", "stamp", "target"),
    [
        ({**BACKDOOR, "aggregator": "bflc", "collude": True}, _stamp_bottom_right_2x2, 3),
        ({**BACKDOOR, "aggregator": "fedavg"}, _stamp_bottom_right_2x2, 3),
        ({**BACKDOOR, "aggregator": "broadcast"}, _stamp_bottom_right_2x2, 3),
        ({**BACKDOOR, "aggregator": "multi-krum", "malicious_fraction": 0.0}, _stamp_bottom_right_2x2, 3),
        ({"attack": "tests.sim.custom_attacks:CORNER_PIXEL", "aggregator": "fedavg"}, _stamp_top_left_pixel, 1),
    ],
    ids=["bflc", "fedavg", "broadcast", "no attacker", "user backdoor"],
)
def test_backdoor_success_is_the_final_models_rate_on_triggered_images_of_other_classes(monkeypatch, changes, stamp, target):
    evaluated = []

    class Recording(VirtualNodes):
        def evaluate(self, params):
            evaluated.append(params)
            return super().evaluate(params)

    monkeypatch.setattr(engine, "VirtualNodes", Recording)
    config = SimConfig.create(**{**BASE, **changes})
    result = simulate(config, progress=False)
    assert len(evaluated) == 2 and all("backdoor_success" in m for m in result["rounds"])
    assert result["final_backdoor_success"] == result["rounds"][-1]["backdoor_success"]

    x, y = load_nodes_dataset(config).pooled_test()
    assert x.max() == 1.0
    model = build_model("mlp", (1, 8, 8), 10, seed=0)
    set_parameters(model, evaluated[-1])
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(stamp(x[y != target]))).argmax(dim=1).numpy()
    assert result["final_backdoor_success"] == round(float(np.mean(predicted == target)), 6)


def test_simulate_shows_backdoor_success_in_the_table_and_the_json_and_not_without_a_trigger(tmp_path, capsys):
    args = ["simulate", "--dataset", "digits", "--model", "mlp", "--nodes", "20", "--active-fraction", "0.5", "--rounds", "1",
            "--malicious-fraction", "0.3", "--aggregator", "fedavg"]  # fmt: skip
    assert main([*args, "--attack", "backdoor", "--trigger-size", "2", "--trigger-shape", "checker", "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "b.json").read_text())
    success = f"{100 * result['final_backdoor_success']:.2f}"
    assert "backdoor %" in out and f"backdoor success {success}%" in out
    assert result["config"]["trigger_shape"] == "checker" and "backdoor_success" in result["rounds"][0]

    assert main([*args, "--json", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "g.json").read_text())
    assert "backdoor %" not in out and "backdoor success" not in out and "final_backdoor_success" not in result and "backdoor_success" not in result["rounds"][0]


def test_the_round_table_adds_the_backdoor_column_after_the_accuracy():
    metrics = {"round": 0, "accuracy": 0.5, "backdoor_success": 0.25, "loss": 1.0, "diverged": False, "updates": 6, "accepted": 6,
               "malicious_accepted": 2, "malicious_submitted": 2, "transactions": 0, "gas": 0, "seconds": {"train": 0.5}}  # fmt: skip
    table = RoundTable("fedavg")
    names = table.header(metrics).splitlines()[1].split()
    assert names[:4] == ["round", "acc", "%", "backdoor"]
    assert table.format_row(metrics).split()[:3] == ["0", "50.00", "25.00"]
    assert len(table.format_row(metrics)) == len(table.header(metrics).splitlines()[1])


def test_the_coalition_screen_keeps_a_backdoor_out_that_the_score_alone_lets_in(tmp_path):
    """FEMNIST, 40 writers, half online, 30% malicious stamping a trigger: round 0 of BFLC with and without the defence
    (decision 0010). Without it all five attacker updates are aggregated and the trigger works on every test image;
    with it none is, and the model takes no triggered image for the target."""
    args = ["simulate", "--nodes", "40", "--active-fraction", "0.5", "--committee-fraction", "0.2", "--rounds", "1",
            "--malicious-fraction", "0.3", "--attack", "backdoor", "--seed", "0", "--quiet"]  # fmt: skip
    results = {}
    for name, defence in {"off": [], "on": ["--screen-similarity", "0.25", "--norm-clip", "1"]}.items():
        assert main([*args, *defence, "--json", str(tmp_path / f"{name}.json")]) == 0
        results[name] = json.loads((tmp_path / f"{name}.json").read_text())
    off, on = (results[name]["rounds"][0] for name in ("off", "on"))
    assert (off["malicious_submitted"], off["malicious_accepted"], off["backdoor_success"]) == (5, 5, 1.0)
    assert (on["malicious_submitted"], on["malicious_accepted"], on["backdoor_success"]) == (5, 0, 0.0)
    assert on["accepted"] == 7 and results["on"]["config"]["screen_similarity"] == 0.25
