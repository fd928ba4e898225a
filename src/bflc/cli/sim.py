"""``bflc demo``, ``simulate``, ``experiment``, ``attack-probability`` and ``contract``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bflc.cli.commands import command
from bflc.cli.fields import add_settings_arguments, flags_of, in_flags, settings_values
from bflc.errors import ConfigError

# ---------------------------------------------------------------- demo


def _add_demo(commands: Any) -> None:
    sub = command(
        commands,
        "demo",
        _run_demo,
        "BFLC on the bundled FEMNIST next to plain FedAvg, with a round table and a plot",
        "Runs BFLC through the real contract on the in-process chain with the bundled FEMNIST "
        "writers, then plain FedAvg on the same clients and data, and writes results JSON and an "
        "accuracy-per-round PNG.",
    )
    sub.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default: runs/demo)")
    sub.add_argument("--rounds", type=int, default=None, help="rounds to play (default: the demo's setting)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sub.add_argument("--quick", action="store_true", help="a small digits run that finishes in seconds")
    sub.add_argument("--json", action="store_true", help="print the summary as JSON")


def _run_demo(args: argparse.Namespace) -> int:
    from bflc.demo import run_demo

    if args.rounds is not None and args.rounds < 1:
        raise ConfigError(f"--rounds {args.rounds} must be at least 1")
    summary = run_demo(out_dir=args.out, rounds=args.rounds, seed=args.seed, quick=args.quick, quiet=args.json)
    if args.json:
        print(json.dumps(summary, indent=1))
    return 0


# ---------------------------------------------------------------- simulate


def _add_simulate(commands: Any) -> None:
    from bflc.attacks import BackdoorSettings
    from bflc.settings import TrainingSettings
    from bflc.sim.config import SimConfig

    sub = command(
        commands,
        "simulate",
        _run_simulate,
        "simulate many nodes in one process (BFLC through the contract, or a baseline)",
        "Simulates N nodes with real data shards. --aggregator bflc drives the real contract on the "
        "in-process chain with the node daemon's own round steps; the other aggregators are basic "
        "federated learning on the same clients. A malicious node's --attack is a built-in one or "
        "your own function, module:function (docs/simulator.md). With --attack backdoor (or your own "
        "attack that declares a trigger) the round table and the JSON add the backdoor success: the "
        "share of triggered test images of other classes that the model classifies as the target.",
    )
    names = add_settings_arguments(sub, SimConfig)
    names += add_settings_arguments(sub.add_argument_group("training (every node, every aggregator)"), TrainingSettings)
    names += add_settings_arguments(
        sub.add_argument_group(
            "backdoor (--attack backdoor)",
            "Malicious nodes stamp the trigger on a share of their training samples and relabel those to the target class.",
        ),
        BackdoorSettings,
    )
    sub.set_defaults(settings=names)
    sub.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the full result here")
    sub.add_argument("--quiet", action="store_true", help="no progress bar or round table")


def _run_simulate(args: argparse.Namespace) -> int:
    from bflc.attacks import BackdoorSettings
    from bflc.settings import TrainingSettings
    from bflc.sim.config import SimConfig
    from bflc.sim.engine import simulate
    from bflc.sim.table import RoundTable

    try:
        config = SimConfig.create(**settings_values(args, args.settings))
    except ConfigError as error:
        raise in_flags(error, flags_of(SimConfig, TrainingSettings, BackdoorSettings)) from None
    table = RoundTable(config.aggregator)
    result = simulate(config, json_path=args.json, progress=not args.quiet, on_round=None if args.quiet else table.print_row)
    diverged = " (the model diverged)" if result["rounds"][-1]["diverged"] else ""
    backdoor = f", backdoor success {100 * result['final_backdoor_success']:.2f}%" if "final_backdoor_success" in result else ""
    print(
        f"final accuracy {100 * result['final_accuracy']:.2f}%{diverged}{backdoor} after {config.rounds} rounds "
        f"({result['seconds']['total']:.1f} s)" + (f"; results in {args.json}" if args.json else "")
    )
    return 0


# ---------------------------------------------------------------- contract


def _add_contract(commands: Any) -> None:
    sub = commands.add_parser(
        "contract",
        help="compile or verify the contract artifacts",
        description="The Vyper contracts (BFLC and its managers' Council) and their committed artifacts.",
    )
    actions = sub.add_subparsers(title="actions", metavar="ACTION")
    command(actions, "compile", _run_compile, "recompile contracts/BFLC.vy and contracts/Council.vy into contracts/build/*.json")
    command(actions, "verify", _run_verify, "check that the committed artifacts match the sources")


def _run_compile(args: argparse.Namespace) -> int:
    from bflc.chain.artifact import CONTRACT_NAMES, write_artifact

    for name in CONTRACT_NAMES:
        print(f"wrote {write_artifact(name)}")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from bflc.chain.artifact import CONTRACT_NAMES, artifact_path, compile_contract, load_artifact

    for name in CONTRACT_NAMES:
        fresh, committed = compile_contract(name), load_artifact(name)
        if fresh != committed:
            print(f"bflc: error: {artifact_path(name)} does not match the source (run `bflc contract compile`)", file=sys.stderr)
            return 1
        print(f"{artifact_path(name)} matches contracts/{name}.vy ({fresh['compiler']}, evm {fresh['evmVersion']})")
    return 0


# ---------------------------------------------------------------- experiment


def _add_experiment(commands: Any) -> None:
    sub = command(
        commands,
        "experiment",
        _run_experiment,
        "reproduce the paper's Table 1, Fig. 3, Fig. 4 or Fig. 5, or run the backdoor experiment (CSV, JSON and PNG)",
        "Runs the simulations behind one experiment (or all) and writes NAME.csv, NAME.json and "
        "NAME.png into --out. Finished runs are kept under OUT/runs and not redone, so an "
        "interrupted experiment resumes where it stopped. By default the runs use the bundled "
        "FEMNIST writers and the demo's CNN; --preset, --dataset, --model and --rounds change "
        "that (fig3 is computed, not simulated, and does not depend on them). Same settings and "
        "seeds, same results, however the runs are spread (--jobs or --ray).",
    )
    sub.add_argument(
        "name",
        choices=["table1", "fig3", "fig4", "fig5", "backdoor", "all"],
        help="which experiment; backdoor: clean accuracy and backdoor success of BFLC with and without its defence, "
        "honest and colluding committees, and the baselines, at 10-40%% malicious nodes (30 rounds)",
    )
    sub.add_argument("--out", type=Path, default=Path("results"), help="output directory (default: results)")
    sub.add_argument(
        "--quick", action="store_true", help="a small variant that finishes in minutes (with --preset: the preset's small variant)"
    )
    sub.add_argument(
        "--preset",
        choices=["paper"],
        default=None,
        help="paper: the paper's settings, 900 nodes (capped at the dataset's writers: give the full LEAF FEMNIST "
        "with --dataset) and the AlexNet-style model; the committee is 40%% of the active nodes in table1 and 20%% in "
        "fig4 and fig5, as without a preset",
    )
    sub.add_argument(
        "--dataset",
        metavar="SPEC",
        default=None,
        help="the runs' data: femnist (the bundled writers, the default) or leaf:DIR, a LEAF FEMNIST data folder "
        "(train/ and test/ with *.json files); no run has more nodes than it has writers",
    )
    sub.add_argument(
        "--model",
        metavar="NAME",
        default=None,
        help="the runs' model: mlp, cnn, leaf-cnn or alexnet (default: cnn, or the preset's: alexnet for paper)",
    )
    sub.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        default=None,
        help="rounds every run plays, e.g. 2 for a first look (default: 40, fewer with --quick); stand-alone epochs follow",
    )
    sub.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs done at once, one process each with one torch thread (default: 1; up to the number of cores)",
    )
    sub.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="do the runs on the running Ray cluster at ADDRESS (HOST:PORT of its head, or auto), one CPU each, "
        "instead of local processes: same results as --jobs, finished runs kept and skipped as with --jobs; every "
        "cluster node needs bflc and the --dataset folder at the same path (needs pip install 'bflc[ray]')",
    )
    sub.add_argument(
        "--finished-only",
        action="store_true",
        help="run nothing: write the outputs from the runs finished so far (the JSON lists the missing ones)",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_argument("--json", action="store_true", help="print the summary as JSON")


def _run_experiment(args: argparse.Namespace) -> int:
    from bflc.experiments import run_experiments
    from bflc.experiments.setups import Setup

    summaries = run_experiments(
        args.name,
        args.out,
        quick=args.quick,
        progress=not (args.quiet or args.json),
        jobs=args.jobs,
        finished_only=args.finished_only,
        setup=Setup(preset=args.preset, dataset=args.dataset, model=args.model, rounds=args.rounds),
        ray=args.ray,
    )
    if args.json:
        print(json.dumps({name: {k: v for k, v in s.items() if k != "rows"} for name, s in summaries.items()}, indent=1))
    else:
        for name, summary in summaries.items():
            print(f"{name}: " + ", ".join(summary["paths"].values()))
    return 0


# ---------------------------------------------------------------- attack-probability


def _add_attack_probability(commands: Any) -> None:
    sub = command(
        commands,
        "attack-probability",
        _run_attack_probability,
        "exact probability that colluding malicious nodes hold more than half of the committee",
        "P[X > A*p/2] with X ~ Hypergeometric(A, round(A*q), round(A*p)): the chance that a uniformly "
        "drawn committee of round(A*p) of A nodes has more than half malicious members (paper, Fig. 3).",
    )
    sub.add_argument("--nodes", type=int, default=1000, help="A, participating nodes (default: %(default)s)")
    sub.add_argument("--committee-fraction", type=float, required=True, help="p, the committee's share of A")
    sub.add_argument("--malicious-fraction", type=float, required=True, help="q, the malicious share of A")
    sub.add_argument("--json", action="store_true", help='print {"probability": ...}')


def _run_attack_probability(args: argparse.Namespace) -> int:
    from bflc.security import attack_probability

    probability = attack_probability(args.nodes, args.committee_fraction, args.malicious_fraction)
    if args.json:
        print(json.dumps({"probability": probability}))
    else:
        print(f"P[malicious nodes hold more than half of the committee] = {probability:.6g}")
    return 0


# The commands this module adds to ``bflc``, in --help order.
COMMANDS = (_add_demo, _add_simulate, _add_contract, _add_experiment, _add_attack_probability)
