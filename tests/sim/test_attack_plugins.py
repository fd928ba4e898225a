"""The pluggable malicious strategy: built-in and user-supplied attacks, collusion."""

from __future__ import annotations

import numpy as np
import pytest

from bflc.attacks import ATTACKS, BuiltinAttack, FunctionAttack, Misbehaviour, collude, load_attack, poison_update
from bflc.cli import main
from bflc.errors import ConfigError
from bflc.roles import poison

GLOBAL = {"b": np.array([1.0, 2.0], dtype=np.float32), "a": np.array([[3.0]], dtype=np.float32)}
LOCAL = {"a": np.array([[2.0]], dtype=np.float32), "b": np.array([1.5, 1.0], dtype=np.float32)}


@pytest.mark.parametrize("name", [a for a in ATTACKS if a != "backdoor"])  # the backdoor has a trigger instead (test_backdoor.py)
def test_a_built_in_name_loads_that_attack_with_its_default_strength(name):
    attack = load_attack(name)
    assert isinstance(attack, BuiltinAttack) and attack.name == name and attack.strength > 0
    assert load_attack(name, 2.5).strength == 2.5


def test_a_user_function_is_loaded_by_module_and_name():
    attack = load_attack("tests.sim.custom_attacks:backwards", 2.0)
    assert isinstance(attack, FunctionAttack) and not attack.poisons_data
    out = attack.poison_update(np.array([1.0, 1.0], np.float32), np.array([2.0, 0.0], np.float32), np.random.default_rng(0))
    np.testing.assert_array_equal(out, [-1.0, 3.0])
    assert out.dtype == np.float32
    assert load_attack("tests.sim.custom_attacks:backwards").strength == 1.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", "unknown attack 'nosuch'"),
        ("not a spec:x", "unknown attack"),
        ("tests.sim.no_such_module:f", "cannot import tests.sim.no_such_module"),
        ("tests.sim.custom_attacks:missing", "has no function missing"),
        ("tests.sim.custom_attacks:NOT_CALLABLE", "has no function NOT_CALLABLE"),
    ],
)
def test_a_bad_attack_spec_is_one_config_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        load_attack(spec)


def test_an_attack_returning_the_wrong_size_is_refused():
    attack = load_attack("tests.sim.custom_attacks:too_short")
    with pytest.raises(ConfigError, match=r"returned a float32 array of shape \(3,\)"):
        attack.poison_update(np.zeros(5, np.float32), np.ones(5, np.float32), np.random.default_rng(0))


def test_poison_flattens_in_the_local_update_order_and_keeps_its_names():
    out = poison(load_attack("sign-flip", 2.0), GLOBAL, LOCAL, seed=0)
    assert list(out) == ["a", "b"]
    # local order a, b: delta (-1, 0.5, -1) turned around twice
    np.testing.assert_array_equal(out["a"], [[5.0]])
    np.testing.assert_array_equal(out["b"], [0.0, 4.0])


def test_gaussian_poison_draws_its_noise_from_the_training_seed():
    out = poison(load_attack("gaussian", 0.5), GLOBAL, LOCAL, seed=11)
    expected = poison_update("gaussian", np.array([3.0, 1.0, 2.0], np.float32), np.zeros(3, np.float32), 0.5, np.random.default_rng(11))
    np.testing.assert_array_equal(np.concatenate([out["a"].ravel(), out["b"]]), expected)


def test_label_flip_poisons_the_data_and_nothing_else_does():
    y = np.array([0, 1, 9])
    assert load_attack("label-flip").poison_data(np.zeros(3), y, 10)[1].tolist() == [9, 8, 0]
    for name in ("gaussian", "sign-flip", "scale"):
        assert load_attack(name).poison_data(np.zeros(3), y, 10)[1] is y


def test_a_colluder_favours_the_listed_providers_whatever_their_case():
    misbehaviour = Misbehaviour(colluders=frozenset({"0xAbC0000000000000000000000000000000000001"}))
    assert misbehaviour.favours("0xabc0000000000000000000000000000000000001")
    assert not misbehaviour.favours("0x0000000000000000000000000000000000000002")
    scores = collude([0.1, 0.2], [True, False], np.random.default_rng(0))
    assert 0.85 <= scores[0] <= 0.95 and scores[1] == 0.2


def test_simulate_takes_a_user_attack(tmp_path, capsys):
    args = ["simulate", "--dataset", "digits", "--model", "mlp", "--nodes", "10", "--active-fraction", "0.6", "--rounds", "1",
            "--malicious-fraction", "0.3", "--quiet", "--json", str(tmp_path / "r.json")]
    assert main([*args, "--attack", "tests.sim.custom_attacks:backwards", "--attack-scale", "3"]) == 0
    assert main([*args, "--attack", "tests.sim.custom_attacks:too_short"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("bflc: error: attack tests.sim.custom_attacks:too_short returned")


def test_a_node_learner_trains_on_poisoned_data_and_scores_on_its_clean_data():
    from bflc.ml.data import load_dataset
    from bflc.ml.learner import TorchLearner
    from bflc.settings import TrainingSettings

    data = load_dataset("digits", num_writers=4, seed=0).select([1])
    _, clean = data.pooled_train()
    learner = TorchLearner.from_dataset(data, "mlp", TrainingSettings(max_validation_samples=5), attack=load_attack("label-flip"))
    assert learner.train_y.tolist() == (9 - clean).tolist()
    assert learner.validation_y.tolist() == clean[:5].tolist()
    assert TorchLearner.from_dataset(data, "mlp", TrainingSettings()).train_y.tolist() == clean.tolist()
