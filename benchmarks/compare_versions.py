"""Baseline against new code version: contract gas and the simulator's chain seconds, in one run.

The baseline is git commit ``36c2672`` (the last code version before the gas
work; its compiled contract is also kept at ``benchmarks/baseline/BFLC-v1.json``);
the new version is the working tree (copied once at the start, so edits made
while the comparison runs do not change it) or, with ``--new REV``, any git
revision. Every git revision is checked out with ``git worktree add --detach``
into a temporary directory under /tmp, removed afterwards (also on failure);
no file of the checkout or of the baseline is changed. Each version's own code
runs in a subprocess of the same Python, with ``PYTHONPATH=<tree>/src`` (and
``<tree>/benchmarks`` for the gas table's ``common``), through a small driver:

1. Gas. The driver imports that version's ``benchmarks/gas_table.py`` and
   plays its rounds (``gas_table.run_rounds``; ``gas_table.py`` itself would
   also play every election mode, the chunked batches and the failure paths,
   13 minutes for the baseline alone) for K=10, M=5 and K=90, M=37 (score
   election, one batch) and, outside ``--quick``, K=270, M=181, which the
   baseline's contract refuses (committees of at most 64). The baseline's
   own ``gas_table.py`` predates its commit/reveal rounds (even committees,
   ``submit_update``) and cannot play a round of its code; the gas table of
   ``--baseline-gas-script`` (default ``5ca8ca2``, the next commit touching
   it, whose ``src/bflc/chain`` and contract are the baseline's) then plays
   the baseline's code instead, and the record says so.
2. Simulator. BFLC without attack in the Fig. 4 setting (that version's own
   ``bflc.experiments.fig4`` run of the score election at 0% malicious
   nodes: every bundled FEMNIST writer, 10% active, committee 20% of them)
   for a few rounds through ``bflc.sim.engine.simulate``, whose per-round
   phase timings give the chain seconds; both versions have the same
   ``simulate`` and ``fig4.runs`` API, so one driver serves both. Baseline
   and new take turns (``common.interleaved``); each figure is the best of
   the repeats.

Run: .venv/bin/python benchmarks/compare_versions.py [--quick] [--new REV]
Writes benchmarks/results/versions.json and benchmarks/results/versions.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from common import RESULTS, interleaved, machine, write_result

REPO = Path(__file__).resolve().parent.parent
BASELINE = "36c2672"
BASELINE_GAS_SCRIPT = "5ca8ca2"
ARTIFACT = Path("src/bflc/contracts/build/BFLC.json")
SHARED_SHAPES = ((10, 5), (90, 37))  # (K, M) both versions play
PAPER_SHAPE = (270, 181)
FUNCTIONS = ("commit_update", "reveal_update", "submit_scores", "close_phase", "propose_model", "accepting propose_model")
SUBPROCESS_TIMEOUT_S = 1500

GAS_DRIVER = '''\
"""Play rounds with this checkout's gas_table.py for each (K, M); write the summaries as JSON (argv: shapes, rounds, out)."""
import json
import sys

import bflc
import gas_table

shapes, rounds, out = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
summaries = {}
for k, m in shapes:
    try:
        summaries[f"{k},{m}"] = gas_table.run_rounds(gas_table.Config(k, m), rounds)
    except Exception as error:  # a shape this code cannot play: keep why
        summaries[f"{k},{m}"] = {"error": f"{type(error).__name__}: " + (str(error).splitlines() or [""])[0]}
with open(out, "w") as file:
    json.dump({"bflc": bflc.__file__, "script": gas_table.__file__, "shapes": summaries}, file)
'''

SIM_DRIVER = '''\
"""Play BFLC rounds in the Fig. 4 setting without attack; write their timings as JSON (argv: rounds, out)."""
import json
import sys
import time

import bflc
from bflc.experiments import fig4
from bflc.sim.engine import load_nodes_dataset, simulate

rounds, out = int(sys.argv[1]), sys.argv[2]
config = fig4.runs(False)[("gaussian", fig4.BFLC, 0.0)].config.replace(rounds=rounds)
dataset = load_nodes_dataset(config)
start = time.perf_counter()
result = simulate(config, dataset=dataset, progress=False)
record = {
    "bflc": bflc.__file__,
    "config": result["config"],
    "population": {k: v for k, v in result["population"].items() if k != "malicious"},
    "rounds": [{k: m[k] for k in ("seconds", "transactions", "gas", "accuracy")} for m in result["rounds"]],
    "simulate_s": time.perf_counter() - start,
}
with open(out, "w") as file:
    json.dump(record, file)
'''


class VersionError(Exception):
    """A revision, checkout or measurement failed; the message is one line for the user."""


@dataclass(frozen=True)
class Version:
    """One code version, checked out in ``tree``."""

    role: str  # "baseline" or "new"
    rev: str  # as given: a git revision, or "working tree"
    commit: str
    uncommitted_changes: bool
    tree: Path

    def record(self) -> dict[str, Any]:
        """What names this version in the results."""
        return {
            "revision": self.rev,
            "commit": self.commit,
            "includes_uncommitted_changes": self.uncommitted_changes,
            "contract_artifact_sha256": hashlib.sha256((self.tree / ARTIFACT).read_bytes()).hexdigest(),
        }


# ---------------------------------------------------------------- checkouts


def git(*args: str) -> str:
    """Run ``git args`` in the repository; its stdout.

    Raises
    ------
    VersionError
        If git fails (its last line of stderr).
    """
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise VersionError(f"git {' '.join(args)}: {last_line(done.stderr)}")
    return done.stdout


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (``"no output"`` if none)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def resolve(rev: str) -> str:
    """The full commit id ``rev`` names.

    Raises
    ------
    VersionError
        If ``rev`` names no commit.
    """
    try:
        return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except VersionError:
        raise VersionError(f"unknown git revision {rev!r}") from None


def changed_paths() -> list[str]:
    """Paths where the working tree differs from HEAD: changed, deleted or untracked (not ignored) files."""
    tracked = git("diff", "--name-only", "--no-renames", "-z", "HEAD").split("\0")
    untracked = git("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return sorted({path for path in tracked + untracked if path})


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached worktree of ``rev`` in a fresh directory under /tmp, removed on exit."""
    parent = Path(tempfile.mkdtemp(prefix="bflc-version-", dir="/tmp"))
    tree = parent / "tree"
    try:
        git("worktree", "add", "--detach", str(tree), rev)
        yield tree
    finally:
        with contextlib.suppress(VersionError):
            git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        with contextlib.suppress(VersionError):
            git("worktree", "prune")


def overlay_working_tree(tree: Path, paths: Sequence[str]) -> None:
    """Copy the working tree's version of each path into ``tree`` (a path gone from the working tree is removed there)."""
    for path in paths:
        source, target = REPO / path, tree / path
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            target.unlink(missing_ok=True)


def check_out(stack: contextlib.ExitStack, role: str, rev: str | None, dirty: Sequence[str]) -> Version:
    """Check out ``rev`` (``None``: the working tree as it is now, HEAD plus ``dirty``) for the duration of ``stack``."""
    commit = resolve(rev or "HEAD")
    tree = stack.enter_context(worktree(commit))
    if rev is None:
        overlay_working_tree(tree, dirty)
    return Version(role, rev or "working tree", commit, rev is None and bool(dirty), tree)


# ---------------------------------------------------------------- drivers


def run_driver(source: str, args: Sequence[str], version: Version, extra_path: Path | None, workdir: Path) -> dict[str, Any]:
    """Run a driver script on ``version``'s code (its ``src``, then ``extra_path``, first on the path); the JSON it writes.

    Raises
    ------
    VersionError
        If the driver fails (its stderr's tail goes to stderr first) or times
        out, or imported ``bflc`` from elsewhere.
    """
    script, out, src = workdir / "driver.py", workdir / "out.json", version.tree / "src"
    script.write_text(source)
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (src, extra_path) if p)}
    try:
        done = subprocess.run(
            [sys.executable, str(script), *args, str(out)],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise VersionError(f"the {version.role} version ({version.rev}) ran past {SUBPROCESS_TIMEOUT_S} s") from None
    if done.returncode:
        print("\n".join(done.stderr.splitlines()[-15:]), file=sys.stderr)
        raise VersionError(f"the {version.role} version ({version.rev}) failed: {last_line(done.stderr)}")
    result: dict[str, Any] = json.loads(out.read_text())
    if not Path(result["bflc"]).is_relative_to(src):
        raise VersionError(f"the {version.role} version's driver imported bflc from {result['bflc']}, not from {src}")
    return result


# ---------------------------------------------------------------- gas


def key(shape: tuple[int, int]) -> str:
    """A shape's key in the gas driver's output."""
    return f"{shape[0]},{shape[1]}"


def same_chain_code(a: str, b: str) -> bool:
    """Whether commits ``a`` and ``b`` have the same chain layer and contract."""
    return not git("diff", "--name-only", a, b, "--", "src/bflc/chain", "src/bflc/contracts").strip()


def play_gas(version: Version, script_tree: Path, script_rev: str, shapes: Sequence[tuple[int, int]], rounds: int, workdir: Path) -> dict[str, Any]:
    """Rounds of each (K, M) on ``version``'s code, played by the gas_table.py in ``script_tree``."""
    print(f"  gas: {version.role} ({version.rev}) played by the gas table of {script_rev}", flush=True)
    return run_driver(GAS_DRIVER, [json.dumps(shapes), str(rounds)], version, script_tree / "benchmarks", workdir)


def measure_gas(
    version: Version, shapes: Sequence[tuple[int, int]], rounds: int, fallback_rev: str | None, stack: contextlib.ExitStack, workdir: Path
) -> dict[str, Any]:
    """Gas by shape, played by the version's own gas table, or by ``fallback_rev``'s where the own plays no shared shape."""
    played = play_gas(version, version.tree, version.rev, shapes, rounds, workdir)
    script: dict[str, Any] = {"revision": version.rev, "commit": version.commit}
    own_errors = [played["shapes"][key(shape)].get("error") for shape in SHARED_SHAPES]
    if fallback_rev is not None and all(own_errors):
        commit = resolve(fallback_rev)
        script = {
            "revision": fallback_rev,
            "commit": commit,
            "own_script_error": own_errors[0],
            "same_chain_code_and_contract": same_chain_code(version.commit, commit),
        }
        played = play_gas(version, stack.enter_context(worktree(commit)), fallback_rev, shapes, rounds, workdir)
    return {"script": script, "shapes": {name: gas_metrics(summary) for name, summary in played["shapes"].items()}}


def mean_gas(functions: dict[str, dict[str, Any]], name: str) -> float | None:
    """Mean gas of the calls of ``name`` (``close_phase`` includes its labelled kinds, e.g. ``close_phase (scoring)``)."""
    rows = [f for label, f in functions.items() if label == name or label.startswith(f"{name} (")]
    calls = sum(f["calls"] for f in rows)
    return sum(f["calls"] * f["mean"] for f in rows) / calls if calls else None


def gas_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The compared figures of one gas_table.py summary (``run_rounds``'s), or its error."""
    if "error" in summary:
        return {"error": summary["error"]}
    rounds, functions = summary["rounds"], summary["functions"]
    values: dict[str, float | None] = {name: mean_gas(functions, name) for name in FUNCTIONS[:-1]}
    accepting = [r["milestones"].get("accepts the model") for r in rounds]
    values["accepting propose_model"] = statistics.fmean(accepting) if all(accepting) else None
    scoring = [f["calls"] * f["mean"] for label, f in functions.items() if label.startswith(("submit_scores", "close_phase"))]
    values["scoring gas per round (submit_scores + close_phase)"] = sum(scoring) / len(rounds)
    values["gas per round"] = statistics.fmean(r["gas"] for r in rounds)
    values["transactions per round"] = statistics.fmean(r["transactions"] for r in rounds)
    values["heaviest transaction"] = summary["heaviest"]["gas"]
    return {
        "config": summary["config"]["name"],
        "rounds": len(rounds),
        "values": values,
        "heaviest_function": summary["heaviest"]["function"],
        "fits_block": summary["fits_block"],
        "wall_s": summary["wall_s"],
    }


def ratio(baseline: float | None, new: float | None) -> float | None:
    """new / baseline, or ``None`` where either is missing or the baseline is 0."""
    return new / baseline if baseline and new is not None else None


def ratios(baseline: Mapping[str, float | None], new: Mapping[str, float | None]) -> dict[str, float | None]:
    """new / baseline for every figure of ``new``."""
    return {name: ratio(baseline.get(name), value) for name, value in new.items()}


def compare_gas(gas: dict[str, dict[str, Any]], shapes: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per shape: each version's figures (or error) and new / baseline."""
    rows = []
    for shape in shapes:
        base, new = gas["baseline"]["shapes"][key(shape)], gas["new"]["shapes"][key(shape)]
        both = "values" in base and "values" in new
        rows.append(
            {"k": shape[0], "m": shape[1], "baseline": base, "new": new, "ratio": ratios(base["values"], new["values"]) if both else None}
        )
    return rows


# ---------------------------------------------------------------- simulator


SIM_METRICS = ("chain_s_per_round", "round_s_per_round", "transactions_per_round", "gas_per_round", "simulate_s")


def sim_summary(run: dict[str, Any]) -> dict[str, float]:
    """Mean chain seconds, seconds (all timed phases), transactions and gas per round of one run."""
    rounds = run["rounds"]
    return {
        "chain_s_per_round": statistics.fmean(r["seconds"].get("chain", 0.0) for r in rounds),
        "round_s_per_round": statistics.fmean(sum(r["seconds"].values()) for r in rounds),
        "transactions_per_round": statistics.fmean(r["transactions"] for r in rounds),
        "gas_per_round": statistics.fmean(r["gas"] for r in rounds),
        "simulate_s": run["simulate_s"],
    }


def measure_sim(versions: Sequence[Version], rounds: int, repeats: int, workdir: Path) -> dict[str, Any]:
    """Each version's simulator, alternating, ``repeats`` times; best of the repeats per figure, and new / baseline."""
    runs: dict[str, list[dict[str, Any]]] = {v.role: [] for v in versions}

    def play(version: Version) -> None:
        print(f"  simulator: {version.role} ({version.rev}), {rounds} rounds", flush=True)
        runs[version.role].append(run_driver(SIM_DRIVER, [str(rounds)], version, None, workdir))

    timing = interleaved({v.role: functools.partial(play, v) for v in versions}, repeats)
    summaries = {role: [sim_summary(run) for run in played] for role, played in runs.items()}
    best = {role: {m: min(s[m] for s in played) for m in SIM_METRICS} for role, played in summaries.items()}
    base, new = runs["baseline"][0], runs["new"][0]
    return {
        "setting": {"config": base["config"], "population": base["population"]},
        "same_setting": base["config"] == new["config"],
        "new_setting": None if base["config"] == new["config"] else new["config"],
        "rounds": rounds,
        "repeats": repeats,
        "runs": summaries,
        "process_s": {role: t["times_s"] for role, t in timing.items()},
        "load_before_repeats": timing["baseline"]["load_before"],
        "best": best,
        "ratio": ratios(best["baseline"], best["new"]),
    }


# ---------------------------------------------------------------- markdown


def number(x: float | None) -> str:
    """Gas or a count: thousands separated; one decimal for a count below 1,000 that is not whole."""
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 or abs(x - round(x)) < 0.05 else f"{x:,.1f}"


def times(x: float | None) -> str:
    """A ratio new / baseline."""
    return "n/a" if x is None else f"{x:.3f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table."""
    return [f"| {' | '.join(header)} |", f"|{'|'.join('---' for _ in header)}|", *(f"| {' | '.join(row)} |" for row in rows)]


def script_note(script: dict[str, Any]) -> str:
    """Which gas table played a version's rounds."""
    if "own_script_error" not in script:
        return "its own gas_table.py"
    same = "same" if script["same_chain_code_and_contract"] else "DIFFERENT"
    return (
        f"gas_table.py of {script['revision']} ({script['commit'][:7]}; {same} src/bflc/chain and contract): "
        f"its own cannot play a round (`{script['own_script_error']}`)"
    )


def versions_lines(report: dict[str, Any]) -> list[str]:
    """Who was compared: revision, commit, uncommitted changes, artifact hash, gas script."""
    rows = []
    for role, v in report["versions"].items():
        changes = "yes (measured)" if v["includes_uncommitted_changes"] else "no"
        if v["revision"] != "working tree" and report["working_tree"]["uncommitted_changes"] and role == "new":
            changes = f"no (the working tree had {len(report['working_tree']['changed_paths'])} changed paths, not measured)"
        rows.append([role, f"`{v['revision']}`", f"`{v['commit'][:12]}`", changes, f"`{v['contract_artifact_sha256'][:16]}…`", script_note(report["gas"][role]["script"])])
    return md_table(["version", "revision", "commit", "uncommitted changes", "contract artifact sha256", "gas rounds played by"], rows)


def shape_lines(row: dict[str, Any]) -> list[str]:
    """One (K, M): each version's figures side by side, or why a version has none."""
    sides = {role: row[role] for role in ("baseline", "new")}
    played = {role: side for role, side in sides.items() if "values" in side}
    name = next((side["config"] for side in played.values()), f"K={row['k']}, M={row['m']}")
    errors = [f"- {role} cannot play it: `{side['error']}`." for role, side in sides.items() if "error" in side]
    lines = [f"### {name}", "", *errors, *([""] if errors else [])]
    if not played:
        return lines
    header = ["mean gas (or count)", *(f"{role} ({side['rounds']} rounds)" for role, side in played.items())]
    rows = []
    for label in next(iter(played.values()))["values"]:
        cells = [number(side["values"][label]) for side in played.values()]
        if label == "heaviest transaction":
            cells = [f"{side['heaviest_function']} {cell}" for side, cell in zip(played.values(), cells, strict=True)]
        rows.append([label, *cells, *([times(row["ratio"][label])] if row["ratio"] else [])])
    lines += md_table([*header, *(["new / baseline"] if row["ratio"] else [])], rows)
    if any(side["values"]["close_phase"] is None for side in played.values()):
        lines += ["", "close_phase n/a: no such transaction in that version's rounds (the baseline's last vote computes the medians and qualification inside submit_scores)."]
    return [*lines, ""]


def sim_lines(sim: dict[str, Any]) -> list[str]:
    """The simulator's seconds per round, best of the repeats, and new / baseline."""
    c, p = sim["setting"]["config"], sim["setting"]["population"]
    best, ratio_of = sim["best"], sim["ratio"]
    lines = [
        f"BFLC ({c['election']} election) without attack in the Fig. 4 setting: {c['dataset']} with {p['nodes']} nodes, "
        f"{p['active_per_round']} active a round ({c['active_fraction']:.0%}), committee {p['committee_size']} "
        f"({c['committee_fraction']:.0%} of them), model {c['model']}, {c['local_epochs']} local epochs, seed {c['seed']}; "
        f"{sim['rounds']} rounds per run through `bflc.sim.engine.simulate`, baseline and new alternating, best of {sim['repeats']} "
        "for each figure. Total = every timed phase of a round (train, score, chain, storage, aggregate, evaluate).",
        "",
    ]
    if not sim["same_setting"]:
        lines += ["**The two versions' Fig. 4 settings differ**; the new one's: `" + json.dumps(sim["new_setting"]) + "`.", ""]
    rows = [
        [role, *(f"{best[role][m]:.3f}" for m in ("chain_s_per_round", "round_s_per_round")), number(best[role]["transactions_per_round"]),
         number(best[role]["gas_per_round"]), f"{best[role]['simulate_s']:.1f}", ", ".join(f"{s:.1f}" for s in sim["process_s"][role])]
        for role in ("baseline", "new")
    ]
    rows.append(["new / baseline", *(times(ratio_of[m]) for m in SIM_METRICS), ""])
    lines += md_table(["version", "chain s/round", "total s/round", "transactions/round", "gas/round", "simulate s", "process s (each repeat)"], rows)
    per_run = "; ".join(f"{role}: " + ", ".join(f"{r['chain_s_per_round']:.3f}" for r in runs) for role, runs in sim["runs"].items())
    loads = ", ".join(f"{x:.2f}" for x in sim["load_before_repeats"])
    return [*lines, "", f"Chain s/round of each repeat: {per_run}. 1-minute load average before each repeat: {loads}."]


def markdown(report: dict[str, Any]) -> str:
    """versions.md: who was compared, the gas by shape, the simulator's seconds."""
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v and k in ("torch", "py-evm", "eth-tester", "web3", "vyper"))
    lines = [
        "# Baseline against new code version",
        "",
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}; {versions}. {m['date']}"
        + (" (`--quick`)" if report["quick"] else "")
        + f". 1-minute load average at start {report['load_average_1min_at_start']:.2f}; whole run {report['wall_s']:.0f} s.",
        "",
        *versions_lines(report),
        "",
        "## Gas per function and per round",
        "",
        f"In-process EVM, each version's gas_table.py rounds ({report['gas']['rounds']} consecutive rounds per shape, score "
        "election, every member's scores in one batch; round 0's committee is the deployed one). Gas is deterministic: "
        "it depends on the contract and the inputs, not on the machine.",
        "",
    ]
    for row in report["gas"]["comparison"]:
        lines += shape_lines(row)
    if report["quick"]:
        lines += [f"### K={PAPER_SHAPE[0]}, M={PAPER_SHAPE[1]}", "", "Not played with `--quick` (the new version's rounds take minutes).", ""]
    lines += ["## Simulator: chain seconds per round", "", *sim_lines(report["simulator"])]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; numbers checked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--new", metavar="REV", help="git revision of the new version (default: the working tree as it is at the start)")
    parser.add_argument("--baseline", metavar="REV", default=BASELINE, help=f"git revision of the baseline (default {BASELINE})")
    parser.add_argument(
        "--baseline-gas-script", metavar="REV", default=BASELINE_GAS_SCRIPT,
        help=f"revision whose gas_table.py plays the baseline's rounds when its own cannot (default {BASELINE_GAS_SCRIPT})",
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds everywhere and no K=270, M=181 round (a few minutes)")
    parser.add_argument("--rounds", type=int, help="simulator rounds per run (default 5, --quick 2)")
    parser.add_argument("--repeats", type=int, default=2, help="simulator runs per version, alternating; best of them (default 2)")
    parser.add_argument("--gas-rounds", type=int, help="gas table rounds per shape, at least 2 (default 3, --quick 2)")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.gas_rounds is None:
        args.gas_rounds = 2 if args.quick else 3
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    if args.gas_rounds < 2:
        parser.error("--gas-rounds must be at least 2 (round 2's committee comes from the election)")
    return args


def compare(args: argparse.Namespace, load_at_start: float, started: float) -> dict[str, Any]:
    """Check out both versions, measure gas and then the simulator, and assemble the report."""
    facts, dirty = machine_facts(), changed_paths()
    shapes = [*SHARED_SHAPES, *([] if args.quick else [PAPER_SHAPE])]
    fallback = {"baseline": args.baseline_gas_script, "new": None}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bflc-compare-", dir="/tmp")))
        versions = [check_out(stack, "baseline", args.baseline, dirty), check_out(stack, "new", args.new, dirty)]
        print(f"baseline {versions[0].commit[:12]}, new {versions[1].commit[:12]}" + (" + uncommitted changes" if versions[1].uncommitted_changes else ""), flush=True)
        gas = {v.role: measure_gas(v, shapes, args.gas_rounds, fallback[v.role], stack, workdir) for v in versions}
        sim = measure_sim(versions, args.rounds, args.repeats, workdir)
        records = {v.role: v.record() for v in versions}
    return {
        "machine": facts,
        "load_average_1min_at_start": load_at_start,
        "quick": args.quick,
        "working_tree": {"uncommitted_changes": bool(dirty), "changed_paths": dirty},
        "versions": records,
        "gas": {**gas, "rounds": args.gas_rounds, "comparison": compare_gas(gas, shapes)},
        "simulator": sim,
        "wall_s": time.perf_counter() - started,
    }


def machine_facts() -> dict[str, Any]:
    """``common.machine()`` without the commit and artifact hash of the checkout running this script: each version names its own."""
    return {name: value for name, value in machine().items() if name not in ("commit", "contract_artifact_sha256")}


def missing_shapes(report: dict[str, Any]) -> list[str]:
    """The shared shapes a version could not play."""
    return [
        f"{role} K={row['k']}, M={row['m']}"
        for row in report["gas"]["comparison"]
        if (row["k"], row["m"]) in SHARED_SHAPES
        for role in ("baseline", "new")
        if "error" in row[role]
    ]


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Leave through ``SystemExit`` so that the worktrees are removed."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Compare, write versions.json and versions.md and print the markdown; on failure one error line and exit status 1."""
    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    args = parse(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        for rev in (args.baseline, args.new or "HEAD", args.baseline_gas_script):
            resolve(rev)
    except VersionError as error:
        sys.exit(f"compare_versions.py: error: {error}")
    try:
        report = compare(args, load_at_start, started)
    except VersionError as error:
        sys.exit(f"compare_versions.py: error: {error}")
    write_result("versions", report)
    text = markdown(report)
    (RESULTS / "versions.md").write_text(text)
    print(text)
    if missing := missing_shapes(report):
        sys.exit(f"compare_versions.py: error: no gas for {', '.join(missing)} (see versions.md)")
    return report


if __name__ == "__main__":
    main()
