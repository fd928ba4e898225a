"""`bflc experiment` at the paper's settings on a LEAF folder: --preset paper,
--dataset leaf:DIR, --model, --rounds, their input checks, and --ray (a local
Ray cluster on 127.0.0.1 gives the runs --jobs 1 gives, bit for bit)."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from bflc.cli import main
from bflc.experiments import fig4, fig5, table1
from bflc.experiments.setups import FULL, PRESETS, Setup, base
from bflc.machine import head_commit
from bflc.ml.models import build_model
from bflc.sim.engine import without_timings
from tests.ml.ml_leaf_json import write_random_leaf_folder

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WRITERS = 20  # 10% active: 2 nodes, a committee of 1 and a trainer
ROUNDS = 2
OUTPUTS = ("table1.csv", "table1.json", "table1.png")


def paper_command(leaf: Path, out: Path) -> list[str]:
    """The first rounds of the paper's Table 1 (its quick grid) on the LEAF folder."""
    return ["experiment", "table1", "--quick", "--preset", "paper", "--dataset", f"leaf:{leaf}", "--rounds", str(ROUNDS), "--quiet", "--out", str(out)]


@pytest.fixture(scope="module")
def leaf(tmp_path_factory) -> Path:
    """A LEAF data folder of 20 writers with 4 train and 2 test samples each."""
    return write_random_leaf_folder(tmp_path_factory.mktemp("leaf") / "data", WRITERS)


@pytest.fixture(scope="module")
def paper_out(leaf, tmp_path_factory) -> Path:
    """``bflc experiment table1 --quick --preset paper --dataset leaf:DIR --rounds 2``, one run at a time."""
    out = tmp_path_factory.mktemp("paper")
    assert main(paper_command(leaf, out)) == 0
    return out


def test_the_paper_preset_plays_its_first_rounds_on_a_leaf_folder(paper_out, leaf):
    summary = json.loads((paper_out / "table1.json").read_text())
    assert (paper_out / "table1.png").read_bytes()[:8] == PNG_MAGIC
    assert (paper_out / "table1.csv").read_text().count("\n") == 1 + len(summary["rows"]) == 1 + 2 * 2 + 2
    assert summary["preset"] == "paper" and summary["missing_runs"] == []
    setup = summary["setup"]
    assert setup["dataset"] == f"leaf:{leaf.resolve()}" and setup["writers"] == WRITERS
    assert setup["model"] == "alexnet" and setup["nodes"] == WRITERS  # 900 asked, capped at the folder's writers
    assert setup["committee_fraction"] == table1.COMMITTEE_FRACTION == 0.4 and setup["rounds"] == ROUNDS
    runs = [json.loads(p.read_text()) for p in sorted((paper_out / "runs").glob("*.json"))]
    assert sorted(r["run"]["id"] for r in runs) == sorted(summary["runs"]) and len(runs) == 4 + 2
    for result in runs:
        assert result["run"]["commit"] == head_commit()
        if result["run"]["kind"] == "simulate":
            assert [m["round"] for m in result["rounds"]] == list(range(ROUNDS))
            assert result["dataset"]["writers"] == WRITERS and result["config"]["model"] == "alexnet"
        else:  # stand-alone: round(rounds x local epochs x largest k) epochs, at least one
            assert len(result["rounds"]) == max(1, round(ROUNDS * 2 * 0.2))


def test_the_paper_preset_is_the_papers_settings():
    big = Setup(preset="paper", writers=3550)  # LEAF's full FEMNIST
    federated, stand_alone = table1.runs(False, big)
    every = federated + [r for variant in stand_alone.values() for r in variant]
    assert {(r.config.nodes, r.config.model, r.config.committee_fraction) for r in every} == {(900, "alexnet", 0.4)}
    assert sorted({r.config.active_fraction for r in federated}) == [0.1, 0.2, 0.3, 0.4, 0.5]
    for run in [*fig4.runs(False, big).values(), *fig5.runs(False, big).values()]:
        assert (run.config.nodes, run.config.model, run.config.active_fraction, run.config.committee_fraction) == (900, "alexnet", 0.1, 0.2)
    # --quick shrinks the preset; 0 nodes in a quick size keeps the preset's 900.
    assert base(True, table1.QUICK["size"], big).nodes == 50 and base(True, fig4.QUICK["size"], big).nodes == 900
    # Explicit settings win over the preset; nothing given is FULL as it was.
    assert base(False, {}, Setup(preset="paper", model="cnn", rounds=3, writers=167)).to_dict() == FULL.replace(nodes=167, rounds=3).to_dict()
    assert base(False, {}) == FULL and PRESETS["paper"] == {"nodes": 900, "model": "alexnet"}


def test_the_presets_model_is_the_alexnet_style_cnn():
    model = build_model(PRESETS["paper"]["model"], (1, 28, 28), 62, seed=0).eval()
    assert sum(p.numel() for p in model.parameters()) == 2_018_046
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 62)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "leaf:{tmp}/missing"], "--dataset leaf:{tmp}/missing: LEAF folder {tmp}/missing does not exist"),
        (["--dataset", "leaf:{tmp}"], "found no LEAF train and test *.json files in {tmp}"),
        (["--dataset", "leaf:{tmp}/json"], "{tmp}/json/train/x.json is not a LEAF data file"),
        (["--dataset", "mnist"], "--dataset 'mnist' is not a FEMNIST dataset (use femnist"),
        (["--model", "resnet"], "--model 'resnet' is not a model (use one of mlp, cnn, leaf-cnn, alexnet)"),
        (["--rounds", "0"], "--rounds 0 must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path, capsys):
    for split in ("train", "test"):
        (tmp_path / "json" / split).mkdir(parents=True)
        (tmp_path / "json" / split / "x.json").write_text('{"rows": []}')
    argv = ["experiment", "table1", "--quick", "--preset", "paper", "--out", str(tmp_path / "out"), *(a.format(tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bflc: error: ") and message.format(tmp=tmp_path) in err
    assert not (tmp_path / "out").exists()


def test_help_explains_the_new_flags(capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ["--preset {paper}", "900 nodes", "--dataset SPEC", "leaf:DIR", "--model NAME", "alexnet", "--rounds N", "--ray ADDRESS", "pip install 'bflc[ray]'"]:
        assert words in text


def test_ray_missing_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, installed or not
    assert main(["experiment", "fig5", "--quick", "--ray", "127.0.0.1:6379", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ray needs Ray, which is not installed" in err and "pip install 'bflc[ray]'" in err


def test_jobs_and_ray_together_are_refused(tmp_path, capsys):
    assert main(["experiment", "fig5", "--quick", "--jobs", "2", "--ray", "127.0.0.1:6379", "--out", str(tmp_path)]) == 2
    assert "give --jobs or --ray, not both" in capsys.readouterr().err


# ---------------------------------------------------------------- --ray on a local cluster

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'bflc[ray]')")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A Ray head of 2 CPUs on 127.0.0.1 (`ray start --head --block`), stopped at the end; yields its address and env."""
    # Ray binds to the machine's address unless told it is a one-machine cluster.
    # Its files (and the ray_current_cluster file that a later `ray.init()` with
    # no address would connect to) go to a directory of the test's own, short
    # enough for Ray's socket paths, removed at the end.
    temp = tempfile.mkdtemp(prefix="bflc-ray-")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": temp}
    port, client_port, dashboard_port = free_ports(3)
    log = tmp_path_factory.mktemp("ray") / "head.log"
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    command = [
        ray, "start", "--head", "--block", f"--port={port}", f"--ray-client-server-port={client_port}",
        f"--dashboard-port={dashboard_port}", "--dashboard-agent-listen-port=0", "--include-dashboard=false",
        "--num-cpus=2", "--object-store-memory=100000000", "--disable-usage-stats",
    ]  # fmt: skip
    with log.open("w") as output:
        head = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, f"the Ray head did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", env
    finally:
        head.terminate()  # `ray start --block` stops every process it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def bflc(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``bflc ARGS`` in its own process, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "bflc.cli", *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def comparable(path: Path) -> dict:
    """A run's result less what differs between two runs of it: timings, and the command that asked for it."""
    result = without_timings(json.loads(path.read_text()))
    for key in ("started", "wall_seconds", "command"):
        del result["run"][key]
    return result


@needs_ray
@pytest.mark.slow  # ~35 s on 2 cores: a Ray head, two `bflc` processes and their Ray workers
def test_ray_gives_the_results_of_jobs_1_bit_for_bit_and_resumes(ray_cluster, paper_out, leaf, tmp_path):
    address, env = ray_cluster
    out = tmp_path / "ray"
    bflc([*paper_command(leaf, out), "--ray", address], env)
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (paper_out / name).read_bytes(), name
    runs = sorted(p.name for p in (paper_out / "runs").glob("*.json"))
    assert sorted(p.name for p in (out / "runs").glob("*.json")) == runs
    for name in runs:
        assert comparable(out / "runs" / name) == comparable(paper_out / "runs" / name), name

    # Resumable: only the missing run is done again.
    lost = out / "runs" / runs[0]
    lost.unlink()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    bflc([*paper_command(leaf, out), "--ray", address], env)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert comparable(lost) == comparable(paper_out / "runs" / lost.name)
    assert (out / "table1.csv").read_bytes() == (paper_out / "table1.csv").read_bytes()


@needs_ray
def test_an_unreachable_ray_address_is_one_clear_line(tmp_path, capsys):
    [closed] = free_ports(1)
    assert main(["experiment", "fig5", "--quick", "--ray", f"127.0.0.1:{closed}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"no Ray cluster answers at 127.0.0.1:{closed}" in err
