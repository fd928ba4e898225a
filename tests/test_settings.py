"""One settings model: TrainingSettings in the simulator, the network file and the CLI."""

from __future__ import annotations

import dataclasses

import pytest

from bflc.cli import build_parser
from bflc.cli.fields import flags_of, in_flags
from bflc.errors import ConfigError
from bflc.net.network import LearningSettings
from bflc.settings import TrainingSettings
from bflc.sim.config import LATER_FIELDS, SimConfig

TRAINING_FIELDS = [f.name for f in dataclasses.fields(TrainingSettings)]


def test_the_defaults_are_the_settings_that_learn():
    assert TrainingSettings() == TrainingSettings(local_epochs=2, batch_size=10, lr=0.05, momentum=0.9, max_validation_samples=200, sample_cap=4.0)
    assert SimConfig().training == LearningSettings().training == TrainingSettings()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"local_epochs": 0}, "local_epochs must be at least 1"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"sample_cap": 0.5}, r"sample_cap must be 0 \(off\) or at least 1"),
        ({"max_loss_ratio": 0.5}, r"max_loss_ratio must be 0 \(off\) or at least 1"),
        ({"screen_similarity": 1.5}, r"screen_similarity must be 0 \(off\) or in \(0, 1\]"),
        ({"screen_similarity": -0.1}, r"screen_similarity must be 0 \(off\) or in \(0, 1\]"),
        ({"screen_push": -0.1}, r"screen_push must be 0 \(off\) or positive"),
        ({"norm_clip": 0.5}, r"norm_clip must be 0 \(off\) or at least 1"),
    ],
)
def test_an_error_from_the_python_api_names_the_field(changes, message):
    with pytest.raises(ConfigError, match=f"invalid training setting: {message}"):
        TrainingSettings(**changes)
    with pytest.raises(ConfigError, match=message):
        SimConfig.create(**changes)


def test_sample_cap_zero_is_off():
    assert TrainingSettings(sample_cap=0).sample_cap_or_none is None
    assert TrainingSettings(sample_cap=2.5).sample_cap_or_none == 2.5
    assert TrainingSettings(norm_clip=0).norm_clip_or_none is None
    assert TrainingSettings(norm_clip=1.5).norm_clip_or_none == 1.5


def test_the_backdoor_defence_is_part_of_a_runs_id_only_when_on():
    """Runs banked before the defence existed (it off) keep their ids; a run with it on is another run."""
    off = SimConfig.create().to_dict()
    assert not {"screen_similarity", "screen_push", "norm_clip"} & set(off)
    on = SimConfig.create(screen_similarity=0.35, screen_push=0.2, norm_clip=1).to_dict()
    assert (on["screen_similarity"], on["screen_push"], on["norm_clip"]) == (0.35, 0.2, 1)


def test_a_sim_config_takes_training_settings_by_name():
    config = SimConfig.create(nodes=5, lr=0.1, momentum=0.0)
    assert config.nodes == 5 and config.training == TrainingSettings(lr=0.1, momentum=0.0)
    changed = config.replace(rounds=3, local_epochs=4)
    assert changed.rounds == 3 and changed.training == TrainingSettings(lr=0.1, momentum=0.0, local_epochs=4)
    with pytest.raises(ConfigError, match="'learning_rate' is not a simulation setting"):
        config.replace(learning_rate=0.1)


def test_to_dict_is_flat_and_leaves_out_later_fields_at_their_banked_value():
    values = SimConfig.create(sample_cap=0).to_dict()
    assert "training" not in values and "sample_cap" not in values
    assert {name: values[name] for name in TRAINING_FIELDS if name not in LATER_FIELDS} == {
        "local_epochs": 2, "batch_size": 10, "lr": 0.05, "momentum": 0.9, "max_validation_samples": 200, "max_loss_ratio": 4.0
    }
    assert SimConfig.create(sample_cap=4).to_dict()["sample_cap"] == 4


DEPLOY = ["chain", "deploy", "--rpc", "http://127.0.0.1:1", "--key-file", "k", "--store", "s", "--out", "o", "--committee", "0x1"]


@pytest.mark.parametrize("command", [["simulate"], DEPLOY], ids=["simulate", "chain deploy"])
def test_every_training_setting_is_a_flag_with_the_dataclass_default(command):
    parsed = vars(build_parser().parse_args(command))
    assert {name: parsed[name] for name in TRAINING_FIELDS} == dataclasses.asdict(TrainingSettings())
    flags = ["--" + name.replace("_", "-") for name in TRAINING_FIELDS]
    assert vars(build_parser().parse_args([*command, flags[2], "0.5"]))["lr"] == 0.5


def test_the_cli_shows_the_flag_for_the_field_an_error_names():
    error = ConfigError("invalid simulation setting: active_fraction must be in (0, 1]", "a hint")
    translated = in_flags(error, flags_of(SimConfig, TrainingSettings))
    assert translated.message == "invalid simulation setting: --active-fraction must be in (0, 1]" and translated.hint == "a hint"
    assert flags_of(SimConfig)["qualify_top_fraction"] == "--qualify-top"
    untouched = ConfigError("something else")
    assert in_flags(untouched, {}) is untouched
