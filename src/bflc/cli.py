"""The ``bflc`` command. Heavy imports happen inside each command so that
``bflc --help`` answers at once."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from bflc import __version__
from bflc.errors import BflcError

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except BflcError as exc:
        if args.debug:
            raise
        print(f"bflc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bflc: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bflc",
        description="Decentralized federated learning with committee consensus on an EVM chain (BFLC).",
        epilog="Start with `bflc demo`. Every command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"bflc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_demo(commands)
    _add_simulate(commands)
    _add_contract(commands)
    _add_experiment(commands)
    _add_attack_probability(commands)
    # The network commands live beside their code; these modules import
    # nothing heavy at the top, so `bflc --help` stays instant.
    from bflc.dashboard import cli as dashboard_cli
    from bflc.net import cli as net_cli
    from bflc.node import cli as node_cli

    for module in (net_cli, node_cli, dashboard_cli):
        module.add_commands(commands, _command)
    return parser


def _command(commands: Any, name: str, handler: Handler, help: str, description: str | None = None) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help, description=description or help)
    # SUPPRESS keeps a --debug given before the command from being reset here.
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks instead of one-line errors")
    sub.set_defaults(handler=handler)
    return sub


# ---------------------------------------------------------------- demo


def _add_demo(commands: Any) -> None:
    sub = _command(
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

    summary = run_demo(out_dir=args.out, rounds=args.rounds, seed=args.seed, quick=args.quick, quiet=args.json)
    if args.json:
        print(json.dumps(summary, indent=1))
    return 0


# ---------------------------------------------------------------- simulate


def _add_simulate(commands: Any) -> None:
    from bflc.sim.config import AGGREGATORS, ATTACKS, SimConfig

    d = SimConfig()
    sub = _command(
        commands,
        "simulate",
        _run_simulate,
        "simulate many nodes in one process (BFLC through the contract, or a baseline)",
        "Simulates N nodes with real data shards. --aggregator bflc drives the real contract on the "
        "in-process chain; the other aggregators are basic federated learning on the same clients.",
    )
    def add(*names: str, **kw: Any) -> None:
        if kw.get("type") in (int, float) and "metavar" not in kw:
            kw["metavar"] = "N" if kw["type"] is int else "X"
        sub.add_argument(*names, **kw)

    add("--dataset", default=d.dataset, help="femnist (bundled), digits, or leaf:DIR (default: %(default)s)")
    add("--model", default=d.model, help="mlp, cnn, leaf-cnn or alexnet (default: %(default)s)")
    add("--nodes", type=int, default=d.nodes, help="number of nodes, one writer each; 0 = all (default: %(default)s)")
    add("--active-fraction", type=float, default=d.active_fraction, help="nodes online per round (default: %(default)s)")
    add("--committee-fraction", type=float, default=d.committee_fraction, help="committee share of the active nodes (default: %(default)s)")
    add("--updates-per-round", type=int, default=d.updates_per_round, help="K: updates that trigger aggregation; 0 = every active trainer (default: %(default)s)")
    add("--rounds", type=int, default=d.rounds, help="rounds (default: %(default)s)")
    add("--local-epochs", type=int, default=d.local_epochs, help="local epochs per update (default: %(default)s)")
    add("--batch-size", type=int, default=d.batch_size, help="local batch size (default: %(default)s)")
    add("--lr", type=float, default=d.lr, help="local learning rate (default: %(default)s)")
    add("--momentum", type=float, default=d.momentum, help="local SGD momentum (default: %(default)s)")
    add("--election", default=d.election, choices=["score", "random", "multi-factor"], help="committee election (default: %(default)s)")
    add("--factor-weight", type=float, default=d.factor_weight, help="weight of the declared factor in multi-factor election (default: %(default)s)")
    add("--aggregator", default=d.aggregator, choices=AGGREGATORS, help="bflc or a baseline (default: %(default)s)")
    add("--qualify-top", dest="qualify_top_fraction", type=float, default=d.qualify_top_fraction, help="top fraction of scored updates that may qualify (default: %(default)s)")
    add("--relative-min-score", type=float, default=d.relative_min_score, help="an update needs this fraction of the round's best median (default: %(default)s)")
    add("--malicious-fraction", type=float, default=d.malicious_fraction, help="share of malicious nodes (default: %(default)s)")
    add("--attack", default=d.attack, choices=ATTACKS, help="what malicious updates do (default: %(default)s)")
    add("--attack-scale", type=float, default=None, help="noise std or delta factor of the attack (default: per attack)")
    add("--collude", action="store_true", help="malicious committee members score malicious updates ~0.9")
    add("--max-validation-samples", type=int, default=d.max_validation_samples, help="samples a committee member scores on (default: %(default)s)")
    add("--sample-cap", type=float, default=d.sample_cap, help="BFLC clips each claimed sample count to this multiple of the round's median claim (default: no clipping)")
    add("--trim-beta", type=float, default=d.trim_beta, help="trimmed-mean cut at each end (default: %(default)s)")
    add("--threads", type=int, default=d.threads, help="torch CPU threads (default: %(default)s)")
    add("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    add("--json", type=Path, default=None, metavar="PATH", help="write the full result here")
    add("--quiet", action="store_true", help="no progress bar or round table")


def _run_simulate(args: argparse.Namespace) -> int:
    from bflc.sim.config import SimConfig
    from bflc.sim.engine import simulate
    from bflc.sim.table import RoundTable

    fields = SimConfig.__dataclass_fields__
    config = SimConfig(**{k: v for k, v in vars(args).items() if k in fields})
    table = RoundTable(config.aggregator)
    result = simulate(config, json_path=args.json, progress=not args.quiet, on_round=None if args.quiet else table.print_row)
    print(f"final accuracy {100 * result['final_accuracy']:.2f}% after {config.rounds} rounds "
          f"({result['seconds']['total']:.1f} s)" + (f"; results in {args.json}" if args.json else ""))
    return 0


# ---------------------------------------------------------------- contract


def _add_contract(commands: Any) -> None:
    sub = commands.add_parser("contract", help="compile or verify the BFLC contract artifact", description="The Vyper contract and its committed artifact.")
    actions = sub.add_subparsers(title="actions", metavar="ACTION")
    _command(actions, "compile", _run_compile, "recompile contracts/BFLC.vy into contracts/build/BFLC.json")
    _command(actions, "verify", _run_verify, "check that the committed artifact matches the source")


def _run_compile(args: argparse.Namespace) -> int:
    from bflc.chain.artifact import write_artifact

    print(f"wrote {write_artifact()}")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from bflc.chain.artifact import artifact_path, compile_contract, load_artifact

    fresh, committed = compile_contract(), load_artifact()
    if fresh != committed:
        print(f"bflc: error: {artifact_path()} does not match the source (run `bflc contract compile`)", file=sys.stderr)
        return 1
    print(f"{artifact_path()} matches contracts/BFLC.vy ({fresh['compiler']}, evm {fresh['evmVersion']})")
    return 0


# ---------------------------------------------------------------- experiment


def _add_experiment(commands: Any) -> None:
    sub = _command(
        commands,
        "experiment",
        _run_experiment,
        "reproduce the paper's Table 1, Fig. 3, Fig. 4 or Fig. 5 (CSV, JSON and PNG)",
        "Runs the simulations behind one experiment (or all) and writes NAME.csv, NAME.json and "
        "NAME.png into --out. Finished runs are kept under OUT/runs and not redone, so an "
        "interrupted experiment resumes where it stopped.",
    )
    sub.add_argument("name", choices=["table1", "fig3", "fig4", "fig5", "all"], help="which experiment")
    sub.add_argument("--out", type=Path, default=Path("results"), help="output directory (default: results)")
    sub.add_argument("--quick", action="store_true", help="a small variant that finishes in minutes")
    sub.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs done at once, one process each with one torch thread (default: 1; up to the number of cores)",
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

    summaries = run_experiments(
        args.name,
        args.out,
        quick=args.quick,
        progress=not (args.quiet or args.json),
        jobs=args.jobs,
        finished_only=args.finished_only,
    )
    if args.json:
        print(json.dumps({name: {k: v for k, v in s.items() if k != "rows"} for name, s in summaries.items()}, indent=1))
    else:
        for name, summary in summaries.items():
            print(f"{name}: " + ", ".join(summary["paths"].values()))
    return 0


# ---------------------------------------------------------------- attack-probability


def _add_attack_probability(commands: Any) -> None:
    sub = _command(
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


if __name__ == "__main__":
    sys.exit(main())
