"""Safe defaults of new networks: `chain deploy` and `cluster up` filter as
the simulator does, filtering off takes --no-filter, committees are odd."""

from __future__ import annotations

from pathlib import Path

import pytest

from bflc.chain import ProtocolParams
from bflc.cli import build_parser, main
from bflc.cli.cluster import cluster_settings
from bflc.cluster.launch import ClusterSettings
from bflc.errors import ConfigError
from bflc.net.defaults import NO_FILTER, NO_FILTER_WARNING, SAFE_FILTER, Qualification, choose_qualification
from bflc.sim.config import SimConfig

NOTHING = {"qualify_top_fraction": None, "min_score": None, "relative_min_score": None}


def test_the_safe_filter_is_the_simulators() -> None:
    sim = SimConfig()
    assert Qualification(qualify_top_fraction=sim.qualify_top_fraction, min_score=sim.min_score, relative_min_score=sim.relative_min_score) == SAFE_FILTER
    assert SAFE_FILTER.params() == {"qualify_top_fraction": 1.0, "min_score": 0.001, "relative_min_score": 0.5}
    assert SAFE_FILTER.filters and not NO_FILTER.filters
    defaults = ProtocolParams()  # the contract's own defaults filter nothing: the CLI never deploys them as they are
    assert not Qualification(defaults.qualify_top_fraction, defaults.min_score, defaults.relative_min_score).filters


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, SAFE_FILTER),
        ({"min_score": 0.2}, Qualification(min_score=0.2)),
        ({"relative_min_score": 0.0, "min_score": 0.1}, Qualification(min_score=0.1, relative_min_score=0.0)),
        ({"relative_min_score": 0.0, "qualify_top_fraction": 0.5}, Qualification(qualify_top_fraction=0.5, relative_min_score=0.0)),
    ],
)
def test_given_values_replace_the_safe_ones(given: dict[str, float], expected: Qualification) -> None:
    assert choose_qualification({**NOTHING, **given}, no_filter=False) == expected


def test_values_that_filter_nothing_need_no_filter() -> None:
    with pytest.raises(ConfigError, match="filter nothing: every scored update would be aggregated") as info:
        choose_qualification({**NOTHING, "relative_min_score": 0.0, "min_score": 0.0}, no_filter=False)
    assert info.value.hint == "pass --no-filter if that is what you want"
    assert choose_qualification(NOTHING, no_filter=True) == NO_FILTER
    with pytest.raises(ConfigError, match="--no-filter and --relative-min-score both given"):
        choose_qualification({**NOTHING, "relative_min_score": 0.0}, no_filter=True)


def test_out_of_range_values_are_the_protocols_errors() -> None:
    with pytest.raises(ConfigError, match=r"invalid protocol parameter: qualify_top_fraction must be in \(0, 1\]"):
        Qualification(qualify_top_fraction=0.0)


# ---------------------------------------------------------------- cluster up


def up_settings(*argv: str) -> ClusterSettings:
    return cluster_settings(build_parser().parse_args(["cluster", "up", *argv]))


def test_cluster_up_filters_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    settings = up_settings()
    assert settings == ClusterSettings() and settings.qualification == SAFE_FILTER
    params = settings.params()
    assert (params.qualify_top_fraction, params.min_score, params.relative_min_score) == (1.0, 0.001, 0.5)
    assert (params.committee_size, params.min_committee_size, params.updates_per_round) == (3, 3, 3)
    assert (params.commit_deadline_blocks, params.reveal_deadline_blocks, params.score_deadline_blocks, params.round_deadline_blocks) == (10, 10, 20, 60)
    assert capsys.readouterr().err == ""


def test_cluster_up_flags_reach_the_protocol_parameters() -> None:
    params = up_settings(
        "--nodes", "9", "--committee", "5", "--min-committee", "1", "--commit-deadline", "4", "--reveal-deadline", "5",
        "--score-deadline", "6", "--round-deadline", "15", "--min-score", "0.01", "--relative-min-score", "0",
    ).params()
    assert (params.committee_size, params.min_committee_size, params.updates_per_round) == (5, 1, 4)
    assert (params.commit_deadline_blocks, params.reveal_deadline_blocks, params.score_deadline_blocks, params.round_deadline_blocks) == (4, 5, 6, 15)
    assert (params.qualify_top_fraction, params.min_score, params.relative_min_score) == (1.0, 0.01, 0.0)


def test_cluster_up_no_filter_warns(capsys: pytest.CaptureFixture[str]) -> None:
    assert up_settings("--no-filter").params().relative_min_score == 0.0
    assert capsys.readouterr().err == NO_FILTER_WARNING + "\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--committee", "4"], "invalid cluster setting: --committee must be odd, e.g. 3 or 5: half of an even committee could veto any update"),
        (["--relative-min-score", "0", "--min-score", "0"], "filter nothing"),
        (["--round-deadline", "39"], "round_deadline_blocks must be at least the phase deadlines together (40)"),
        (["--min-committee", "2"], "min_committee_size must be odd"),
    ],
)
def test_a_bad_cluster_up_is_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["cluster", "up", "--dir", str(tmp_path), "--no-watch", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bflc: error: ") and message in err
    assert list(tmp_path.iterdir()) == []
