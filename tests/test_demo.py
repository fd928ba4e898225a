"""`bflc demo --quick` as a user runs it: files written, both runs learn."""

import json

from bflc.cli import main


def test_quick_demo_writes_results_and_plot(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "BFLC" in out and "FEDAVG" in out and "final test accuracy" in out
    results = json.loads((tmp_path / "demo.json").read_text())
    assert set(results) == {"bflc", "fedavg"}
    assert results["bflc"]["config"]["dataset"] == "digits"
    assert results["bflc"]["final_accuracy"] > 0.5 and results["fedavg"]["final_accuracy"] > 0.5
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
