"""A run whose model diverges finishes: the round table, the summary line and the JSON say so."""

import json

from bflc.cli import main
from bflc.sim.metrics import diverged, model_quality
from bflc.sim.table import RoundTable

# 5 of 10 nodes malicious, scaling their change 1e30-fold: FedAvg's model
# overflows in round 0 (finite parameters, infinite loss) and every node
# training from it diverges in round 1, which keeps it.
DIVERGING = ["simulate", "--dataset", "digits", "--model", "mlp", "--nodes", "10", "--active-fraction", "0.6", "--rounds", "2",
             "--malicious-fraction", "0.5", "--attack", "scale", "--attack-scale", "1e30", "--aggregator", "fedavg"]  # fmt: skip


def test_a_diverging_simulation_finishes_and_says_its_model_diverged(tmp_path, capsys):
    path = tmp_path / "diverged.json"
    assert main([*DIVERGING, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["0"], ["1"])]
    assert [row[2] for row in rows] == ["diverged", "diverged"]
    assert "(the model diverged)" in out.splitlines()[-1]
    result = json.loads(path.read_text())
    json.dumps(result, allow_nan=False)  # valid JSON: no infinite or NaN loss
    assert [(m["diverged"], m["loss"]) for m in result["rounds"]] == [(True, None), (True, None)]
    assert result["totals"]["diverged_rounds"] == 2


def test_model_quality_marks_a_non_finite_loss_diverged():
    assert model_quality(1.23456789, 0.87654321) == (0.876543, 1.234568, False)
    assert model_quality(float("inf"), 0.1142) == (0.1142, None, True)
    assert model_quality(float("nan"), 0.0) == (0.0, None, True)


def test_results_saved_before_the_flag_tell_divergence_by_their_loss():
    assert diverged({"loss": None}) and diverged({"loss": float("nan")}) and diverged({"loss": float("inf")})
    assert not diverged({"loss": 0.5})
    assert diverged({"diverged": True, "loss": None}) and not diverged({"diverged": False, "loss": 0.5})


def test_the_round_table_keeps_its_columns_for_a_diverged_model():
    table = RoundTable("fedavg")
    metrics = {"round": 3, "accuracy": float("nan"), "loss": None, "diverged": True, "updates": 6, "accepted": 6,
               "malicious_accepted": 4, "malicious_submitted": 4, "transactions": 0, "gas": 0, "seconds": {"train": 0.5}}  # fmt: skip
    row, names = table.format_row(metrics), table.header().splitlines()[1]
    assert len(row) == len(names)
    assert row.split() == ["3", "nan", "diverged", "-", "6", "6", "4/4", "0", "0", "0.5"]
