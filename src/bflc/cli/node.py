"""``bflc node`` and ``bflc prune``.

Registered through :data:`COMMANDS`; heavy imports happen inside the handlers
so that ``bflc --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bflc.cli.commands import command
from bflc.cli.fields import add_settings_arguments, flags_of, in_flags, settings_values
from bflc.errors import ConfigError

COLLUDERS_ENV = "BFLC_COLLUDERS"


# ---------------------------------------------------------------- node


def _add_node(commands: Any) -> None:
    from bflc.attacks import ATTACKS, BackdoorSettings
    from bflc.ml.shards import DATA_SPECS

    sub = command(
        commands,
        "node",
        _run_node,
        "run a node daemon: train, score and aggregate as the chain assigns, until SIGTERM",
        "Runs one node of a network. Each pass reads the round from the chain and does what this "
        "node's role needs: a trainer trains and submits an update, a committee member scores the "
        "round's updates and proposes the aggregate, and every admitted node closes scoring or "
        "replaces the committee after a deadline. Without --data or --flower-client the node only "
        "does those deadline duties (a manager's watcher). SIGTERM or Ctrl-C stops it cleanly; a "
        "restart resumes from --state-dir. See docs/node.md.",
    )
    sub.add_argument("--network", type=Path, required=True, help="the network file (TOML) from `bflc chain deploy`")
    sub.add_argument("--key-file", type=Path, required=True, help="this node's key file (`bflc keys new`)")
    sub.add_argument("--password-file", type=Path, metavar="F", help="the keystore's password (default: $BFLC_KEY_PASSWORD)")
    sub.add_argument("--state-dir", type=Path, required=True, help="the node's own directory: state, log, blob cache, lock")
    source = sub.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="SPEC", help=f"this node's private data: {DATA_SPECS}")
    source.add_argument("--flower-client", metavar="MODULE:FACTORY", help="learn through a Flower NumPyClient instead (see docs/flower.md)")
    sub.add_argument("--store", metavar="URL", help="blob store (default: the network file's)")
    sub.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="URL",
        help="another blob store to fetch from when the store lacks a blob or serves a bad copy; "
        "repeatable, tried after the network file's mirrors",
    )
    sub.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="pause between passes (default: %(default)s)")
    sub.add_argument(
        "--max-backoff",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest pause between retries while the chain or the store fails; a node is at most this late "
        "once they answer again (default: %(default)s)",
    )
    sub.add_argument("--apply", action="store_true", help="if not admitted, pay the permission fee and apply, then wait for admission")
    sub.add_argument("--light", action="store_true", help="keep only the current model and round's updates in the blob cache")
    sub.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads (default: %(default)s)")
    sub.add_argument(
        "--seed",
        metavar="S[,I]",
        help="seed of this node's training and attack randomness (default: its account); "
        "S,I trains exactly as the simulator's node I of a run seeded S",
    )
    demo = sub.add_argument_group("malicious behaviour (demos and tests only)")
    demo.add_argument("--attack", metavar="ATTACK", help=f"poison every update this node trains: {', '.join(ATTACKS)} or module:function")
    demo.add_argument("--attack-scale", type=float, metavar="X", help="noise std or delta factor of the attack")
    demo.add_argument(
        "--collude",
        nargs="?",
        const="",
        metavar="FILE",
        help=f"as a committee member, score ~0.9 the updates of the addresses in FILE (one per line; without FILE: ${COLLUDERS_ENV}, comma-separated)",
    )
    backdoor = sub.add_argument_group(
        "backdoor (--attack backdoor)",
        "Stamp the trigger on a share of this node's training samples and relabel those to the target class; "
        "the samples are chosen with the S of --seed S[,I] (0 without --seed), as the simulator's node I does.",
    )
    sub.set_defaults(backdoor_settings=add_settings_arguments(backdoor, BackdoorSettings))


def _run_node(args: argparse.Namespace) -> int:
    import torch

    from bflc.attacks import BackdoorSettings, Misbehaviour, load_attack
    from bflc.cli.net import signer_from_args
    from bflc.net.connect import connect
    from bflc.net.network import load_network
    from bflc.node.daemon import NodeDaemon
    from bflc.storage import open_store

    if args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    if args.poll <= 0:
        raise ConfigError("--poll must be positive")
    if args.max_backoff < args.poll:
        raise ConfigError(f"--max-backoff ({args.max_backoff}) must be at least --poll ({args.poll})")
    torch.set_num_threads(args.threads)
    if args.attack_scale is not None and args.attack_scale <= 0:
        raise ConfigError("--attack-scale must be positive")
    seeds = _seeds(args.seed) if args.seed is not None else None
    try:
        backdoor = BackdoorSettings(**settings_values(args, args.backdoor_settings))
    except ConfigError as error:
        raise in_flags(error, flags_of(BackdoorSettings)) from None
    if args.attack != "backdoor" and backdoor != BackdoorSettings():
        raise ConfigError("--trigger-*, --target-class and --poisoned-share apply to --attack backdoor only")
    network = load_network(args.network)
    misbehaviour = Misbehaviour(
        attack=load_attack(args.attack, args.attack_scale, backdoor, seeds.key[0] if seeds else 0) if args.attack is not None else None,
        colluders=frozenset(_colluders(args.collude)) if args.collude is not None else frozenset(),
    )
    ledger = connect(network, signer_from_args(args))
    store = open_store(args.store or network.store)
    mirrors = tuple(open_store(url) for url in (*network.mirrors, *args.mirror))
    learner = _learner(args, network, misbehaviour.attack)
    daemon = NodeDaemon(
        ledger,
        store,
        learner,
        args.state_dir,
        poll_seconds=args.poll,
        max_backoff_seconds=args.max_backoff,
        apply=args.apply,
        misbehaviour=misbehaviour,
        seeds=seeds,
        light=args.light,
        sample_cap=network.learning.training.sample_cap_or_none,
        max_loss_ratio=network.learning.training.max_loss_ratio,
        screen_similarity=network.learning.training.screen_similarity,
        screen_push=network.learning.training.screen_push,
        norm_clip=network.learning.training.norm_clip_or_none,
        mirrors=mirrors,
    )
    return daemon.run()


def _learner(args: argparse.Namespace, network: Any, attack: Any) -> Any:
    """The node's learner: a Flower client, bflc's TorchLearner on --data, or none (a watcher)."""
    if args.flower_client:
        from bflc.ml.flower import load_flower_learner

        if attack is not None and attack.poisons_data:
            raise ConfigError(f"--attack {args.attack} poisons training data, which a Flower client keeps to itself", "use an update attack")
        return load_flower_learner(args.flower_client)
    if not args.data:
        return None
    from bflc.ml.learner import TorchLearner
    from bflc.ml.shards import load_node_data
    from bflc.net.network import EXTERNAL_MODEL

    learning = network.learning
    if learning.model == EXTERNAL_MODEL:
        raise ConfigError(
            f"the network {network.name!r} runs a model of its own (model {EXTERNAL_MODEL!r}, deployed from a Flower client or a file), "
            "which bflc cannot build for --data",
            "start the node with --flower-client MODULE:FACTORY of that model (docs/flower.md)",
        )
    dataset = load_node_data(args.data)
    if tuple(dataset.input_shape) != learning.input_shape or dataset.num_classes != learning.num_classes:
        raise ConfigError(
            f"--data {args.data!r} has inputs {tuple(dataset.input_shape)} and {dataset.num_classes} classes, "
            f"but the network {network.name!r} learns {learning.input_shape} with {learning.num_classes} classes",
            "give this node data of the network's task",
        )
    return TorchLearner.from_dataset(dataset, learning.model, learning.training, learning.model_seed, attack)


def _seeds(text: str) -> Any:
    """``--seed S[,I]`` as the node's seeds."""
    from bflc.seeds import NodeSeeds

    parts = text.split(",")
    if not 1 <= len(parts) <= 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--seed {text!r} is not S or S,I", "give one or two non-negative integers, e.g. --seed 0,3")
    return NodeSeeds(tuple(int(p) for p in parts))


def _colluders(source: str) -> list[str]:
    """Addresses from a file (one per line, # comments) or, for "", from $BFLC_COLLUDERS."""
    if source:
        try:
            lines = Path(source).read_text().splitlines()
        except OSError as error:
            raise ConfigError(f"cannot read --collude file {source}: {error}") from error
        entries = [line.split("#")[0].strip() for line in lines]
    else:
        entries = [a.strip() for a in os.environ.get(COLLUDERS_ENV, "").split(",")]
    addresses = [a for a in entries if a]
    bad = [a for a in addresses if not (a.startswith("0x") and len(a) == 42)]
    if bad or not addresses:
        raise ConfigError(f"--collude: {bad[0]!r} is not an address" if bad else "--collude names no address", "list 0x-prefixed 20-byte addresses")
    return addresses


# ---------------------------------------------------------------- prune


def _add_prune(commands: Any) -> None:
    sub = command(
        commands,
        "prune",
        _run_prune,
        "light node: drop cached blobs except the latest model and the current round's updates",
        "Deletes from a stopped node's blob cache (STATE_DIR/blobs) every blob except the latest "
        "global model and the current round's updates. With --network the chain says what is "
        "current; without it, the node's own state and status files do.",
    )
    sub.add_argument("--state-dir", type=Path, required=True, help="the node's state directory")
    sub.add_argument("--network", type=Path, help="the network file, to read the current round from the chain")


def _run_prune(args: argparse.Namespace) -> int:
    from bflc.node.prune import prune_cache
    from bflc.node.state import StateDir

    if not args.state_dir.is_dir():
        raise ConfigError(f"state directory {args.state_dir} does not exist")
    state_dir = StateDir(args.state_dir)
    ledger = None
    if args.network is not None:
        from bflc.net.connect import connect
        from bflc.net.network import load_network

        ledger = connect(load_network(args.network))
    with state_dir.lock():
        before = len(state_dir.blobs.list())
        removed = prune_cache(state_dir, ledger)
    print(f"pruned {len(removed)} of {before} cached blobs in {state_dir.blobs.root}; kept {before - len(removed)}")
    return 0


# The commands this module adds to ``bflc``, in --help order.
COMMANDS = (_add_node, _add_prune)
