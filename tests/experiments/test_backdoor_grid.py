"""`bflc experiment backdoor`: its grid of runs and the check of the issue's targets (no simulation here)."""

from __future__ import annotations

from bflc.experiments import backdoor
from bflc.experiments.backdoor import BFLC, BFLC_UNDEFENDED, COLLUDING, FEDAVG, HONEST, runs, targets
from bflc.sim.config import SimConfig


def test_the_full_grid_runs_every_method_at_every_share_with_three_seeds():
    planned = runs(quick=False)
    assert len({run.id for run in planned.values()}) == len(planned) == 2 * 3 + 2 * 2 * 4 * 3 + 4 * 5 * 3
    assert {key[2] for key in planned} == {0.0, 0.1, 0.2, 0.3, 0.4} and {key[3] for key in planned} == {0, 1, 2}
    assert next(iter(planned))[0] == BFLC  # the defended runs come first: the targets are theirs
    for (method, committee, q, _), run in planned.items():
        config = run.config
        assert (config.active_fraction, config.committee_fraction, config.rounds, config.attack) == (0.1, 0.2, 30, "backdoor")
        assert config.malicious_fraction == q and config.collude == (committee == COLLUDING)
        assert config.aggregator == backdoor.METHODS[method]["aggregator"]
    defended = planned[(BFLC, HONEST, 0.3, 0)].config.training
    assert (defended.screen_similarity, defended.screen_push, defended.norm_clip) == (0.25, 0.2, 1.0)
    undefended = planned[(BFLC_UNDEFENDED, COLLUDING, 0.3, 0)].config.training
    assert (undefended.screen_similarity, undefended.screen_push, undefended.norm_clip) == (0.0, 0.0, 0.0)


def test_the_defended_runs_keep_their_ids_whatever_the_defaults():
    """Every row states its defence settings, so turning the defence on by default changes none of their ids."""
    config = runs(quick=False)[(BFLC, HONEST, 0.1, 0)].config
    assert {"screen_similarity", "screen_push", "norm_clip"} <= set(config.to_dict())
    assert isinstance(config, SimConfig)


def _row(method, committee, q, seed, backdoor_success, drop):
    return {"method": method, "committee": committee, "malicious_fraction": q, "seed": seed,
            "backdoor_success": backdoor_success, "accuracy_drop": drop}  # fmt: skip


def test_targets_hold_only_when_every_run_up_to_30_percent_meets_both():
    rows = [
        _row(BFLC, HONEST, 0.0, 0, 5.0, 0.0),  # without attack: not judged
        _row(BFLC, HONEST, 0.1, 0, 3.0, 1.5),
        _row(BFLC, HONEST, 0.3, 0, 10.0, 2.0),  # at both limits: met
        _row(BFLC, HONEST, 0.4, 0, 100.0, 9.0),  # above 30%: not judged
        _row(BFLC, COLLUDING, 0.2, 0, 10.5, 0.0),
        _row(FEDAVG, None, 0.1, 0, 99.0, 0.1),
        _row(FEDAVG, None, 0.2, 0, 1.0, None),  # its attack-free run is missing
    ]
    verdicts = targets(rows)
    assert verdicts[f"{BFLC}, honest committee"] == {"runs": 2, "worst_backdoor_success": 10.0, "worst_accuracy_drop": 2.0, "met": True}
    assert verdicts[f"{BFLC}, colluding committee"]["met"] is False
    assert verdicts[FEDAVG] == {"runs": 2, "worst_backdoor_success": None, "worst_accuracy_drop": None, "met": None}
