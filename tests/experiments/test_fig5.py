"""`bflc experiment fig5 --quick` on a tiny LEAF folder: every method's transfers as recorded by its run, the
broadcast row from a broadcast run of its own, and run records that name the package versions."""

import json

import pytest

from bflc.cli import main
from bflc.experiments import fig4, fig5
from bflc.experiments.fig5 import BROADCAST, COUNTING_RULES
from bflc.experiments.setups import Setup, check
from bflc.machine import RESULT_PACKAGES, package_versions
from bflc.sim.transfers import bflc_round, broadcast_round, server_round
from tests.ml.ml_leaf_json import write_random_leaf_folder

WRITERS = 40  # 10% active: 4 nodes, a committee of 1 and 3 trainers
ROUNDS = 2


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    leaf = write_random_leaf_folder(tmp_path_factory.mktemp("leaf") / "data", WRITERS)
    return check(Setup(dataset=f"leaf:{leaf}", model="mlp", rounds=ROUNDS))


@pytest.fixture(scope="module")
def out(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("fig5")
    argv = ["experiment", "fig5", "--quick", "--dataset", setup.dataset, "--model", "mlp", "--rounds", str(ROUNDS), "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out


def expected_transfers(method: str, m: dict) -> dict[str, int]:
    """The transfers of a round by the rules of COUNTING_RULES (a majority of the committee proposes an accepted model)."""
    active = len(m["trainers"])
    if method == fig4.BFLC:
        proposals = len(m["committee"]) // 2 + 1 if m["model_accepted"] else 0
        return bflc_round(active, len(m["committee"]), m["updates"], proposals)
    if method == BROADCAST:
        return broadcast_round(active, m["updates"])
    return server_round(active, m["updates"])


def test_every_row_counts_the_transfers_its_run_recorded(out, setup):
    summary = json.loads((out / "fig5.json").read_text())
    planned = fig5.runs(quick=True, setup=setup)
    assert list(planned) == [fig4.BFLC, fig4.FEDAVG, fig4.CWMED, BROADCAST] and summary["missing_runs"] == []
    assert planned[BROADCAST].config.aggregator == "broadcast"
    assert summary["counting_rules"] == COUNTING_RULES and set(COUNTING_RULES) >= {fig4.BFLC, BROADCAST}
    for method, run in planned.items():
        result = json.loads((out / "runs" / f"{run.id}.json").read_text())
        rows = [r for r in summary["rows"] if r["method"] == method]
        assert [r["round"] for r in rows] == list(range(ROUNDS))
        cumulative = 0
        for row, m in zip(rows, result["rounds"], strict=True):
            assert m["transfers"] == expected_transfers(method, m)
            cumulative += m["transmission_units"]
            assert row["units"] == m["transmission_units"] == sum(m["transfers"].values()) > 0
            assert row["cumulative_units"] == cumulative
            assert row["accuracy"] == round(100 * m["accuracy"], 3) and row["diverged"] is m["diverged"]
        assert summary["totals"][method]["units"] == cumulative
        assert summary["totals"][method]["transfers"] == result["totals"]["transfers"]
    assert summary["totals"][BROADCAST]["units"] > summary["totals"][fig4.FEDAVG]["units"]


def test_run_records_name_the_versions_of_the_packages_behind_the_results(out, setup):
    run = fig5.runs(quick=True, setup=setup)[BROADCAST]
    record = json.loads((out / "runs" / f"{run.id}.json").read_text())["run"]
    assert record["id"] == run.id and record["packages"] == package_versions()
    assert set(record["packages"]) == set(RESULT_PACKAGES) and record["packages"]["torch"] and record["packages"]["bflc"]


def test_package_versions_names_a_missing_distribution_none():
    assert package_versions(("numpy", "no-such-distribution-bflc")) == {"numpy": package_versions()["numpy"], "no-such-distribution-bflc": None}

