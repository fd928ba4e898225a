"""`bflc experiment all --quick` on the bundled FEMNIST: the files it writes,
the paper's qualitative claims, and resuming without redoing finished runs."""

import csv
import json
import math

import pytest
from scipy.stats import hypergeom

from bflc.cli import main
from bflc.experiments import EXPERIMENTS, backdoor, fig4, fig5
from bflc.experiments.fig5 import BROADCAST
from bflc.sim.engine import without_timings
from bflc.sim.transfers import bflc_round, broadcast_round, server_round

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("experiments")
    assert main(["experiment", "all", "--quick", "--quiet", "--jobs", "2", "--out", str(out)]) == 0
    return out


def summary(out, name):
    return json.loads((out / f"{name}.json").read_text())


def row(rows, **match):
    [found] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return found


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_experiment_writes_csv_json_and_png(out, name):
    data = summary(out, name)
    assert data["experiment"] == name and data["variant"] == "quick"
    with (out / f"{name}.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(data["rows"]) > 0
    assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC


def test_fig4_bflc_resists_colluding_committee_members(out):
    rows = summary(out, "fig4")["rows"]
    bflc = row(rows, method=fig4.BFLC, malicious_fraction=0.3)
    fedavg = row(rows, method=fig4.FEDAVG, malicious_fraction=0.3)
    assert bflc["final_accuracy"] >= fedavg["final_accuracy"] + 10
    assert bflc["malicious_accepted"] == 0 < bflc["malicious_submitted"]
    assert fedavg["malicious_accepted"] == fedavg["malicious_submitted"] > 0
    assert bflc["rounds_with_malicious_committee_majority"] == 0
    assert summary(out, "fig4")["setup"]["max_loss_ratio"] == 4.0  # the reference rule (decision 0008) is on


def test_fig4_bflc_matches_fedavg_without_attack(out):
    rows = summary(out, "fig4")["rows"]
    bflc = row(rows, method=fig4.BFLC, malicious_fraction=0.0)
    fedavg = row(rows, method=fig4.FEDAVG, malicious_fraction=0.0)
    assert abs(bflc["final_accuracy"] - fedavg["final_accuracy"]) <= 3


def test_fig3_matches_scipy_hypergeometric(out):
    rows = summary(out, "fig3")["rows"]
    assert {r["nodes"] for r in rows} == {1000}
    for r in rows:
        seats, malicious = r["seats"], r["malicious_nodes"]
        expected = sum(hypergeom.pmf(x, 1000, malicious, seats) for x in range(seats // 2 + 1, seats + 1))
        assert abs(r["probability"] - expected) <= 1e-9
        if r["mc_probability"] is not None:
            p = r["probability"]
            assert abs(r["mc_probability"] - p) <= 4 * math.sqrt(p * (1 - p) / r["mc_trials"]) + 1e-12


def test_table1_has_every_framework_above_chance(out):
    rows = summary(out, "table1")["rows"]
    assert {r["framework"] for r in rows} == {"BFLC", "Basic FL (FedAvg)", "Stand-alone", "Stand-alone (lr 0.01)"}
    assert all(r["mean_accuracy"] > 20 for r in rows)  # 62 classes: chance is under 2%


def test_fig5_counts_units_by_the_stated_rules(out):
    data = summary(out, "fig5")
    rows = data["rows"]
    runs = {method: json.loads((out / "runs" / f"{run.id}.json").read_text()) for method, run in fig5.runs(quick=True).items()}
    for m in runs[fig4.BFLC]["rounds"]:
        proposals = len(m["committee"]) // 2 + 1 if m["model_accepted"] else 0
        assert m["transfers"] == bflc_round(len(m["trainers"]), len(m["committee"]), m["updates"], proposals)
    for m in runs[fig4.FEDAVG]["rounds"]:
        assert m["transfers"] == server_round(len(m["trainers"]), m["updates"])
    for m in runs[BROADCAST]["rounds"]:
        assert m["transfers"] == broadcast_round(len(m["trainers"]), m["updates"])
    for method, result in runs.items():
        for m in result["rounds"]:
            found = row(rows, method=method, round=m["round"])
            assert found["units"] == m["transmission_units"] and found["accuracy"] == round(100 * m["accuracy"], 3)
    assert data["totals"][BROADCAST]["units"] > data["totals"][fig4.BFLC]["units"] > data["totals"][fig4.FEDAVG]["units"]


def test_second_invocation_reuses_finished_runs(out, monkeypatch):
    run_files = sorted((out / "runs").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in run_files}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr("bflc.experiments.registry.simulate", must_not_run)
    monkeypatch.setattr("bflc.experiments.registry.train_stand_alone", must_not_run)
    assert main(["experiment", "all", "--quick", "--quiet", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in sorted((out / "runs").glob("*.json"))} == stamps


def test_only_missing_runs_are_run(out, monkeypatch):
    lost = out / "runs" / f"{fig5.runs(quick=True)[fig4.FEDAVG].id}.json"
    result = json.loads(lost.read_text())
    lost.unlink()
    calls = []

    def replay(config, *args, **kwargs):
        calls.append(config)
        return {k: v for k, v in result.items() if k != "run"}

    monkeypatch.setattr("bflc.experiments.registry.simulate", replay)
    monkeypatch.setattr("bflc.experiments.registry.train_stand_alone", replay)
    assert main(["experiment", "fig5", "--quick", "--quiet", "--out", str(out)]) == 0
    assert len(calls) == 1 and calls[0].to_dict() == result["config"]
    redone = json.loads(lost.read_text())
    assert redone["run"]["id"] == result["run"]["id"]
    assert {k: v for k, v in redone.items() if k != "run"} == {k: v for k, v in result.items() if k != "run"}


def test_a_run_done_in_a_worker_process_equals_one_done_in_process(out):
    """The fixture ran with --jobs 2; redoing one of its runs here gives the same result."""
    from bflc.experiments.registry import Registry

    run = fig5.runs(quick=True)[fig4.FEDAVG]
    pooled = json.loads((out / "runs" / f"{run.id}.json").read_text())
    again = Registry(out / "again", progress=False)
    again.run(run)
    redone = json.loads(again.path(run).read_text())
    assert pooled["run"]["machine"]["cores"] >= 1
    for result in (pooled, redone):
        del result["run"]["started"], result["run"]["wall_seconds"]
    assert without_timings(redone) == without_timings(pooled)


def test_jobs_below_one_is_refused(tmp_path, capsys):
    assert main(["experiment", "fig5", "--quick", "--jobs", "0", "--out", str(tmp_path)]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_run_ids_of_banked_full_size_runs_are_stable():
    """results/runs holds full-size runs by id; a new config field at its
    default must not change the ids (SimConfig.to_dict leaves it out). A BFLC
    run's id also covers the protocol version (3: the reference rule), so
    runs of the earlier rules (2abfcb425d98, 91cf8e98c977) are not reused.
    The reference rule's settings (max_loss_ratio, min_score) changed every
    id once, the baselines' too (their runs were redone on one commit)."""
    from bflc.experiments import table1

    federated, _ = table1.runs(quick=False)
    assert [federated[0].id, federated[1].id] == ["c7dd908f4f59", "4260dfd8d7c0"]
    planned = fig4.runs(quick=False)
    assert planned[("gaussian", fig4.BFLC, 0.3, 0)].id == "eb7a0c236404"
    assert planned[("gaussian", fig4.FEDAVG, 0.1, 0)].id == "3e0ebdbb3893"
    assert "sample_cap" not in federated[0].config.to_dict()
    assert federated[0].config.replace(sample_cap=4.0).to_dict()["sample_cap"] == 4.0


def test_finished_only_writes_outputs_from_finished_runs_and_runs_nothing(out, tmp_path, monkeypatch):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(out / "runs", partial / "runs")
    lost = fig5.runs(quick=True)[fig4.CWMED]
    (partial / "runs" / f"{lost.id}.json").unlink()

    def must_not_run(*args, **kwargs):
        raise AssertionError("--finished-only ran a simulation")

    monkeypatch.setattr("bflc.experiments.registry.simulate", must_not_run)
    assert main(["experiment", "fig5", "--quick", "--quiet", "--finished-only", "--out", str(partial)]) == 0
    data = summary(partial, "fig5")
    assert data["missing_runs"] == [lost.label]
    assert fig4.CWMED not in {r["method"] for r in data["rows"]} and BROADCAST in {r["method"] for r in data["rows"]}
    assert (partial / "fig5.png").read_bytes()[:8] == PNG_MAGIC


def test_finished_only_without_any_finished_run_is_one_clear_error(tmp_path, capsys):
    assert main(["experiment", "fig4", "--quick", "--finished-only", "--out", str(tmp_path)]) == 2
    assert "no fig4 run has finished" in capsys.readouterr().err


def test_a_failing_run_is_named_and_the_other_runs_still_finish(out, tmp_path, monkeypatch, capsys):
    import shutil

    partial = tmp_path / "failing"
    shutil.copytree(out / "runs", partial / "runs")
    planned = fig5.runs(quick=True)
    broken, lost = planned[fig4.FEDAVG], planned[fig4.CWMED]
    for run in (broken, lost):
        (partial / "runs" / f"{run.id}.json").unlink()
    kept = json.loads((out / "runs" / f"{lost.id}.json").read_text())

    def replay_or_fail(config, *args, **kwargs):
        if config == broken.config:
            raise ValueError("the model blew up")
        return {k: v for k, v in kept.items() if k != "run"}

    monkeypatch.setattr("bflc.experiments.registry.simulate", replay_or_fail)
    assert main(["experiment", "fig5", "--quick", "--quiet", "--out", str(partial)]) == 2
    err = capsys.readouterr().err
    assert f"1 of {len({r.id for r in planned.values()})} fig5 runs failed" in err
    assert f"{broken.label}: ValueError: the model blew up" in err and "--finished-only" in err
    assert (partial / "runs" / f"{lost.id}.json").exists()  # the run after the failure was still done
    assert not (partial / "runs" / f"{broken.id}.json").exists()
    error_file = partial / "runs" / f"{broken.id}.error.txt"
    assert broken.label in error_file.read_text() and "ValueError: the model blew up" in error_file.read_text()

    monkeypatch.setattr("bflc.experiments.registry.simulate", lambda config, *a, **k: {k2: v for k2, v in kept.items() if k2 != "run"})
    assert main(["experiment", "fig5", "--quick", "--quiet", "--out", str(partial)]) == 0
    assert not error_file.exists()  # retried, succeeded, traceback gone


def test_backdoor_bflc_keeps_out_the_attackers_that_fedavg_takes_in(out):
    """Three rounds at 30% backdoor attackers: the committee's defence rejects every attacker update, FedAvg takes each."""
    rows = summary(out, "backdoor")["rows"]
    bflc = row(rows, method=backdoor.BFLC, malicious_fraction=0.3)
    fedavg = row(rows, method=backdoor.FEDAVG, malicious_fraction=0.3)
    assert bflc["malicious_accepted"] == 0 < bflc["malicious_submitted"]
    assert fedavg["malicious_accepted"] == fedavg["malicious_submitted"] > 0
    assert fedavg["backdoor_success"] == 100.0 > bflc["backdoor_success"] + 90
    assert bflc["attack_free_accuracy"] == row(rows, method=backdoor.BFLC, malicious_fraction=0.0)["clean_accuracy"]
