"""Operator commands for real networks: ``bflc keys``, ``chain deploy``, ``status``, ``model get`` and ``admin``.

Only argparse is imported here; each handler imports what it needs, so
``bflc --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bflc.cli.commands import command
from bflc.cli.fields import add_settings_arguments, flags_of, in_flags, settings_values
from bflc.errors import ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from bflc.chain.types import TxResult
    from bflc.chain.web3_ledger import Web3Ledger
    from bflc.settings import TrainingSettings


def _group(commands: Any, name: str, help: str, description: str | None = None) -> Any:
    parser = commands.add_parser(name, help=help, description=description or help)
    return parser.add_subparsers(title="actions", metavar="ACTION")


def _add_network(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--network", type=Path, required=True, metavar="FILE", help="the network file `bflc chain deploy` wrote")


def _add_key(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--key-file", type=Path, required=True, metavar="F", help="raw hex private key (chmod 600) or V3 keystore JSON")
    sub.add_argument("--password-file", type=Path, metavar="F", help="the keystore's password (default: $BFLC_KEY_PASSWORD)")


def _add_json(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print the result as JSON")


def _emit(args: argparse.Namespace, data: dict[str, Any] | list[Any], text: str) -> int:
    print(json.dumps(data, indent=1) if args.json else text)
    return 0


def _password(args: argparse.Namespace) -> str | None:
    from bflc.net.keys import read_password_file

    return read_password_file(args.password_file) if args.password_file else None


def signer_from_args(args: argparse.Namespace) -> LocalAccount:
    """The key in ``--key-file`` (with ``--password-file`` for a keystore)."""
    from bflc.net.keys import load_key

    return load_key(args.key_file, _password(args))


def _ledger(args: argparse.Namespace, signed: bool) -> Web3Ledger:
    from bflc.net.connect import connect
    from bflc.net.network import load_network

    net = load_network(args.network)
    return connect(net, signer_from_args(args), dry_run_first=True) if signed else connect(net)


# ---------------------------------------------------------------- keys


def _add_keys(commands: Any) -> None:
    actions = _group(commands, "keys", "create or inspect the key files nodes and operators sign with")
    sub = command(actions, "new", _run_keys_new, "create a new key file (mode 0600) and print its address")
    sub.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the key; never overwritten")
    sub.add_argument("--password-file", type=Path, metavar="F", help="encrypt as a V3 keystore with this password (default: raw hex key)")
    _add_json(sub)
    sub = command(actions, "address", _run_keys_address, "print the address of a key file")
    _add_key(sub)
    _add_json(sub)


def _run_keys_new(args: argparse.Namespace) -> int:
    from bflc.net.keys import new_key_file

    address = new_key_file(args.out, _password(args))
    return _emit(args, {"address": address, "key_file": str(args.out)}, address)


def _run_keys_address(args: argparse.Namespace) -> int:
    address = signer_from_args(args).address
    return _emit(args, {"address": address}, address)


# ---------------------------------------------------------------- chain deploy


def _add_chain(commands: Any) -> None:
    from bflc.chain.types import DEFAULT_DECISION_LIFETIME, ProtocolParams
    from bflc.net.defaults import DEADLINE_HELP, MIN_COMMITTEE_HELP, ROUNDS_HELP, add_filter_arguments
    from bflc.net.network import EXTERNAL_MODEL, LearningSettings
    from bflc.settings import TrainingSettings

    p, s = ProtocolParams(), LearningSettings()
    actions = _group(commands, "chain", "deploy a BFLC network on an EVM chain")
    sub = command(
        actions,
        "deploy",
        _run_deploy,
        "deploy the BFLC contract with a genesis model and write the network file",
        "Builds the genesis model (or takes --genesis), puts it in the blob store, deploys the managers' council "
        "and the contract with the key in --key-file (dry run first) and writes the network file every node needs. "
        "The managers admit, blacklist, replace committees and fail back by decisions of the council, each run "
        "once --threshold of them approve it (bflc admin). Every input is checked before anything is sent.",
    )
    add = sub.add_argument
    add("--rpc", required=True, metavar="URL", help="the chain's JSON-RPC URL")
    _add_key(sub)
    add("--store", required=True, metavar="URL", help="blob store: file:///dir, s3://bucket/prefix, or a directory path")
    add("--out", type=Path, required=True, metavar="FILE", help="the network file to write (must not exist)")
    add("--name", help="the network's name (default: the --out file name without extension)")
    add("--committee", required=True, metavar="ADDR,...", help="the first committee (trusted founders), an odd number of them")
    add("--managers", metavar="ADDR,...", help="the managers, who decide through the network's council (default: the deployer)")
    add("--threshold", type=int, metavar="T", help="how many managers must approve a decision (default: a majority of them)")
    add(
        "--decision-lifetime",
        type=int,
        default=DEFAULT_DECISION_LIFETIME,
        metavar="BLOCKS",
        help="blocks a proposed decision stays open for approvals (default: %(default)s)",
    )
    add(
        "--model",
        help=f"mlp, cnn, leaf-cnn or alexnet; {EXTERNAL_MODEL} for a model of your own, from --flower-client or --genesis, "
        f"which every node then runs as a Flower client (default: {s.model}, or {EXTERNAL_MODEL} with --flower-client)",
    )
    add("--dataset", choices=["femnist", "digits"], help="take the input shape and classes from this dataset (default: femnist)")
    add("--input-shape", metavar="C,H,W", help="input shape of one sample, e.g. 1,28,28 (with --num-classes)")
    add("--num-classes", type=int, metavar="N", help="number of classes (with --input-shape)")
    genesis = sub.add_mutually_exclusive_group()
    genesis.add_argument("--genesis", type=Path, metavar="FILE", help="a .safetensors genesis model to use instead of fresh weights")
    genesis.add_argument(
        "--flower-client",
        metavar="MODULE:FACTORY",
        help="take the genesis model from this Flower NumPyClient's get_parameters (implies --model external; see docs/flower.md)",
    )
    add("--committee-size", type=int, metavar="N", help="M, committee members per round, odd (default: the first committee's size)")
    add("--min-committee-size", type=int, metavar="N", help=MIN_COMMITTEE_HELP)
    add(
        "--updates-per-round",
        type=int,
        default=p.updates_per_round,
        metavar="N",
        help="K, commitments that end the commit phase (default: %(default)s)",
    )
    add_filter_arguments(sub)
    add("--election", default="score", choices=["score", "random", "multi-factor"], help="committee election (default: %(default)s)")
    add(
        "--factor-weight",
        type=float,
        default=p.factor_weight,
        metavar="X",
        help="weight of the factor the managers attest (bflc admin attest-factor) in multi-factor election (default: %(default)s)",
    )
    rounds = sub.add_argument_group("round deadlines (commit, reveal, scoring)", ROUNDS_HELP)
    for phase in ("commit", "reveal", "score", "round"):
        default = getattr(p, f"{phase}_deadline_blocks")
        rounds.add_argument(
            f"--{phase}-deadline-blocks", type=int, default=default, metavar="N", help=f"{DEADLINE_HELP[phase]} (default: {default})"
        )
    add("--permission-fee", type=int, default=p.permission_fee, metavar="WEI", help="fee to join (default: %(default)s)")
    add("--round-reward", type=int, default=p.round_reward, metavar="WEI", help="reward per accepted model (default: %(default)s)")
    add(
        "--committee-share",
        type=float,
        default=p.committee_share,
        metavar="X",
        help="committee's share of the round reward (default: %(default)s)",
    )
    add("--model-seed", type=int, default=s.model_seed, metavar="N", help="seed of the genesis weights (default: %(default)s)")
    training = sub.add_argument_group("training (how every node trains and scores)")
    sub.set_defaults(training_settings=add_settings_arguments(training, TrainingSettings))
    _add_json(sub)


def _run_deploy(args: argparse.Namespace) -> int:
    from bflc.chain.types import ElectionMode, ProtocolParams
    from bflc.net.connect import connect
    from bflc.net.defaults import default_min_committee_size, filter_from_args
    from bflc.net.deploy import check_founders, deploy_network, parse_addresses
    from bflc.net.network import LearningSettings, write_network

    out: Path = args.out
    if out.exists() or not out.parent.is_dir():
        raise ConfigError(f"cannot write the network file {out}: it exists or its directory does not", "choose a new --out path")
    committee = parse_addresses(args.committee, "committee member")
    managers = parse_addresses(args.managers, "manager") if args.managers else None
    shape, classes = _model_shape(args)
    if args.committee_size is not None and args.committee_size > 0 and args.committee_size % 2 == 0:
        raise ConfigError(
            f"--committee-size {args.committee_size} is even: half of an even committee could veto any update",
            f"pass an odd size, e.g. {args.committee_size + 1}",
        )
    check_founders(len(committee))
    committee_size = len(committee) if args.committee_size is None else args.committee_size
    min_size = default_min_committee_size(committee_size) if args.min_committee_size is None else args.min_committee_size
    params = ProtocolParams(
        committee_size=committee_size,
        min_committee_size=min_size,
        updates_per_round=args.updates_per_round,
        **filter_from_args(args).params(),
        election=ElectionMode.parse(args.election),
        score_weight=1.0 - args.factor_weight,
        factor_weight=args.factor_weight,
        commit_deadline_blocks=args.commit_deadline_blocks,
        reveal_deadline_blocks=args.reveal_deadline_blocks,
        score_deadline_blocks=args.score_deadline_blocks,
        round_deadline_blocks=args.round_deadline_blocks,
        permission_fee=args.permission_fee,
        round_reward=args.round_reward,
        committee_share=args.committee_share,
    )
    model, genesis = _genesis(args)
    learning = LearningSettings(
        model=model,
        input_shape=shape,
        num_classes=classes,
        model_seed=args.model_seed,
        training=_training(args),
    )
    net = deploy_network(
        args.rpc,
        signer_from_args(args),
        name=args.name or out.stem,
        store=args.store,
        committee=committee,
        managers=managers,
        threshold=args.threshold,
        decision_lifetime=args.decision_lifetime,
        params=params,
        learning=learning,
        genesis=genesis,
    )
    write_network(out, net)
    ledger = connect(net)
    council, threshold, deployed_managers = ledger.council(), ledger.threshold(), ledger.managers()
    data = {
        "contract": net.contract,
        "council": council,
        "managers": deployed_managers,
        "threshold": threshold,
        "decision_lifetime": args.decision_lifetime,
        "chain_id": net.chain_id,
        "deployed_block": net.deployed_block,
        "network_file": str(out),
    }
    text = (
        f"deployed BFLC at {net.contract} and its council at {council}: a decision runs once {threshold} of "
        f"{len(deployed_managers)} managers approve it (chain {net.chain_id}, block {net.deployed_block}); wrote {out}"
    )
    return _emit(args, data, text)


def _genesis(args: argparse.Namespace) -> tuple[str, Path | bytes | None]:
    """The network's model name and its genesis: --genesis, a Flower client's parameters, or none (fresh weights)."""
    from bflc.net.network import EXTERNAL_MODEL, LearningSettings

    if not args.flower_client:
        return args.model or LearningSettings.model, args.genesis
    if args.model not in (None, EXTERNAL_MODEL):
        raise ConfigError(
            f"--model {args.model} and --flower-client both given: the client brings its own model",
            f"leave out --model (it is {EXTERNAL_MODEL} with --flower-client)",
        )
    from bflc.ml.flower import load_flower_learner
    from bflc.storage import encode_model

    return EXTERNAL_MODEL, encode_model(load_flower_learner(args.flower_client).initial_parameters())


def _training(args: argparse.Namespace) -> TrainingSettings:
    from bflc.settings import TrainingSettings

    try:
        return TrainingSettings(**settings_values(args, args.training_settings))
    except ConfigError as error:
        raise in_flags(error, flags_of(TrainingSettings)) from None


def _model_shape(args: argparse.Namespace) -> tuple[tuple[int, ...], int]:
    from bflc.net.deploy import DATASET_SHAPES

    if args.input_shape is None and args.num_classes is None:
        return DATASET_SHAPES[args.dataset or "femnist"]
    if args.dataset:
        raise ConfigError("--dataset and --input-shape/--num-classes both given", "give one of them")
    if args.input_shape is None or args.num_classes is None:
        raise ConfigError("--input-shape and --num-classes go together", "give both, e.g. --input-shape 1,28,28 --num-classes 62")
    try:
        shape = tuple(int(size) for size in args.input_shape.split(","))
    except ValueError:
        raise ConfigError(f"--input-shape {args.input_shape!r} is not comma-separated integers", "write it like 1,28,28") from None
    return shape, args.num_classes


# ---------------------------------------------------------------- status


def _add_status(commands: Any) -> None:
    sub = command(
        commands,
        "status",
        _run_status,
        "show a network's round, model, committee, updates and balances",
        "Reads the network's state from the chain (no key needed): the current round and its deadlines, "
        "the model, the committee, this round's updates with their votes, medians and qualification, "
        "and the balances of managers, committee members and any --account.",
    )
    _add_network(sub)
    sub.add_argument("--account", action="append", default=[], metavar="ADDR", help="also show this address's balances (repeatable)")
    _add_json(sub)


def _run_status(args: argparse.Namespace) -> int:
    from bflc.net.connect import connect
    from bflc.net.network import checksum_address, load_network
    from bflc.net.status import format_status, network_status

    net = load_network(args.network)
    accounts = [checksum_address(a, "--account") for a in args.account]
    status = network_status(connect(net), net, accounts)
    return _emit(args, status, format_status(status))


# ---------------------------------------------------------------- model get


def _add_model(commands: Any) -> None:
    actions = _group(commands, "model", "fetch a round's global model")
    sub = command(
        actions,
        "get",
        _run_model_get,
        "fetch a round's global model from the blob store, checked against its on-chain hash",
    )
    _add_network(sub)
    sub.add_argument("--round", type=int, required=True, metavar="R", help="the round whose model to fetch")
    sub.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the .safetensors file")
    _add_json(sub)


def _run_model_get(args: argparse.Namespace) -> int:
    from bflc.files import write_atomically
    from bflc.net.connect import connect
    from bflc.net.network import load_network
    from bflc.storage import decode_model, open_store

    net = load_network(args.network)
    ledger = connect(net)
    current = ledger.current_round()
    if not 0 <= args.round <= current:
        raise ConfigError(f"round {args.round} has no model: the current round is {current}", f"pass a round from 0 to {current}")
    record = ledger.model(args.round)
    blob_hash = record.blob_hash.hex()
    data = open_store(net.store).get(blob_hash)
    decode_model(data)
    try:
        write_atomically(args.out, data)
    except OSError as error:
        raise ConfigError(f"cannot write {args.out}: {error}", "check that its directory exists and is writable") from None
    info = {"round": args.round, "hash": blob_hash, "origin": record.origin.name.lower(), "bytes": len(data), "out": str(args.out)}
    return _emit(args, info, f"wrote the round {args.round} model {blob_hash} ({len(data)} bytes) to {args.out}")


# ---------------------------------------------------------------- admin

ADMIN_HELP = (
    "The managers decide through the network's council. Each command below up to set-threshold proposes one "
    "decision, a call to the contract or to the council, and counts as this manager's approval; the call runs once "
    "the council's threshold of managers approve it (at once with a threshold of 1), and the others approve with "
    "`bflc admin approve ID`. A decision not run within the network's decision lifetime expires. "
    "`bflc admin decisions` lists the open ones. Funding the reward pool needs no decision."
)


def _add_admin(commands: Any) -> None:
    actions = _group(
        commands, "admin", "managers' decisions (admit, blacklist, committees, failback, factors, the council); fund the pool", ADMIN_HELP
    )
    proposals = [
        command(
            actions, "admit", _run_admit, "propose admitting nodes (applicants, or anyone when the permission fee is 0), in one decision"
        ),
        command(actions, "blacklist", _run_blacklist, "propose blacklisting a node: it can no longer submit, vote or be elected"),
        command(
            actions,
            "replace-committee",
            _run_replace_committee,
            "propose replacing a round's unfinished committee after the round deadline",
            "Proposes that the committee of ROUND, which did not finish by the round deadline, be replaced: the round "
            "is abandoned and the next one starts with the same model and the given members (admitted nodes, none of "
            "whom served in the failed committee). It can run only after the round deadline.",
        ),
        command(
            actions,
            "failback",
            _run_failback,
            "propose rolling the model back to an earlier round's, with a new committee if given",
            "Proposes that the current round be abandoned and the next start from the model of ROUND, with the "
            "committee of --committee (admitted nodes) or else the current one: recovering a captured network is one decision.",
        ),
        command(
            actions,
            "attest-factor",
            _run_attest_factor,
            "propose the factor of nodes for multi-factor election, each from 0 to 1 (e.g. normalised bandwidth)",
        ),
        command(actions, "add-manager", _run_add_manager, "propose adding a manager to the council"),
        command(
            actions,
            "remove-manager",
            _run_remove_manager,
            "propose removing a manager from the council (the threshold must stay at most the managers left)",
        ),
        command(actions, "set-threshold", _run_set_threshold, "propose how many managers' approvals a decision needs"),
    ]
    proposals[0].add_argument("addresses", nargs="+", metavar="ADDRESS", help="the nodes' addresses")
    proposals[1].add_argument("address", help="the node's address")
    proposals[2].add_argument("round", type=int, metavar="ROUND", help="the round whose committee did not finish")
    proposals[2].add_argument("members", nargs="+", metavar="ADDRESS", help="the new committee: an odd number of admitted nodes")
    proposals[3].add_argument("round", type=int, metavar="ROUND", help="the round whose model to restore")
    proposals[3].add_argument(
        "--committee",
        nargs="+",
        metavar="ADDRESS",
        help="the next round's committee: an odd number of admitted nodes (default: the current committee)",
    )
    proposals[4].add_argument(
        "factors", nargs="+", metavar="ADDRESS=X", help="an admitted node and its factor from 0 to 1, e.g. 0xAb...=0.8"
    )
    proposals[5].add_argument("address", help="the new manager's address")
    proposals[6].add_argument("address", help="the manager's address")
    proposals[7].add_argument("threshold", type=int, metavar="T", help="from 1 to the number of managers")
    listing = command(
        actions,
        "decisions",
        _run_decisions,
        "list the open decisions: their calls, approvals and expiry",
        "Reads the council (no key needed): each open decision's id, status (pending, or ready: approved by enough "
        "managers but not run, see `bflc admin execute`), call with its arguments decoded, approvals and expiry block.",
    )
    listing.add_argument("--all", action="store_true", help="every decision ever proposed, executed and expired ones too")
    _add_network(listing)
    _add_json(listing)
    decided = [
        command(
            actions,
            "approve",
            _run_decision_action,
            "approve a decision; the approval that reaches the threshold runs its call",
            "Approves decision ID, sending its call again as read from its proposal, so the approval holds for exactly that call.",
        ),
        command(actions, "revoke", _run_decision_action, "take back this manager's approval of a decision that has not run"),
        command(actions, "execute", _run_decision_action, "run a decision that has enough approvals but has not run (anyone may)"),
        command(actions, "expire", _run_decision_action, "mark a decision past its expiry block as expired (anyone may)"),
    ]
    for sub, action in zip(decided, DECISION_ACTIONS, strict=True):
        sub.add_argument("id", type=int, metavar="ID", help="the decision's id (bflc admin decisions)")
        sub.set_defaults(decision_action=action)
    fund = command(actions, "fund", _run_fund, "pay native value into the reward pool (anyone may; no decision)")
    fund.add_argument("--amount", type=int, required=True, metavar="WEI", help="how much to pay, in wei")
    for sub in (*proposals, *decided, fund):
        _add_network(sub)
        _add_key(sub)
        _add_json(sub)


def _run_admit(args: argparse.Namespace) -> int:
    nodes = _addresses(args.addresses, "node")
    return _propose(args, lambda ledger: ledger.admit(*nodes))


def _run_blacklist(args: argparse.Namespace) -> int:
    node = _address(args.address)
    return _propose(args, lambda ledger: ledger.blacklist(node))


def _run_replace_committee(args: argparse.Namespace) -> int:
    members = _addresses(args.members, "committee member")

    def replace(ledger: Web3Ledger) -> TxResult:
        _check_round(ledger, args.round)
        return ledger.replace_committee(args.round, members)

    return _propose(args, replace)


def _run_failback(args: argparse.Namespace) -> int:
    members = _addresses(args.committee, "committee member") if args.committee else None

    def failback(ledger: Web3Ledger) -> TxResult:
        _check_round(ledger, args.round)
        return ledger.failback(args.round, members)

    return _propose(args, failback)


def _run_attest_factor(args: argparse.Namespace) -> int:
    factors = _factors(args.factors)
    return _propose(args, lambda ledger: ledger.attest_factors(factors))


def _run_add_manager(args: argparse.Namespace) -> int:
    manager = _address(args.address)

    def add(ledger: Web3Ledger) -> TxResult:
        from bflc.chain.artifact import COUNCIL_NAME

        if manager in ledger.managers():
            raise ConfigError(f"{manager} is already a manager", "list the managers with `bflc status`")
        return ledger.decide("add_manager", manager, target=COUNCIL_NAME)

    return _propose(args, add)


def _run_remove_manager(args: argparse.Namespace) -> int:
    manager = _address(args.address)

    def remove(ledger: Web3Ledger) -> TxResult:
        from bflc.chain.artifact import COUNCIL_NAME

        if manager not in ledger.managers():
            raise ConfigError(f"{manager} is not a manager", "list the managers with `bflc status`")
        return ledger.decide("remove_manager", manager, target=COUNCIL_NAME)

    return _propose(args, remove)


def _run_set_threshold(args: argparse.Namespace) -> int:
    def set_threshold(ledger: Web3Ledger) -> TxResult:
        from bflc.chain.artifact import COUNCIL_NAME

        count = len(ledger.managers())
        if not 1 <= args.threshold <= count:
            raise ConfigError(f"threshold {args.threshold} with {count} managers", f"give a threshold from 1 to {count}")
        return ledger.decide("set_threshold", args.threshold, target=COUNCIL_NAME)

    return _propose(args, set_threshold)


def _run_decisions(args: argparse.Namespace) -> int:
    from bflc.net.connect import connect
    from bflc.net.network import load_network
    from bflc.net.status import format_decisions

    decisions = connect(load_network(args.network)).decisions(open_only=not args.all)
    none = "no decisions yet" if args.all else "no open decisions (--all lists every decision)"
    return _emit(args, [d.to_json() for d in decisions], format_decisions(decisions) or none)


# What `bflc admin approve|revoke|execute|expire ID` did to the decision, by action (a Ledger method of the same name).
DECISION_ACTIONS = {"approve": "approved", "revoke": "revoked this account's approval of", "execute": "executed", "expire": "expired"}


def _run_decision_action(args: argparse.Namespace) -> int:
    ledger = _ledger(args, signed=True)
    act: Callable[[int], TxResult] = getattr(ledger, args.decision_action)
    return _decided(args, ledger, args.id, DECISION_ACTIONS[args.decision_action], act(args.id))


def _run_fund(args: argparse.Namespace) -> int:
    if args.amount <= 0:
        raise ConfigError(f"--amount {args.amount} is not positive", "pay at least 1 wei")
    return _send(args, f"funded the reward pool with {args.amount} wei", lambda ledger: ledger.fund(args.amount))


def _address(text: str) -> str:
    from bflc.net.network import checksum_address

    return checksum_address(text, "address")


def _addresses(texts: list[str], what: str) -> list[str]:
    """``texts`` checksummed, each named once; nodes (``what``) at most as many as one decision takes."""
    from bflc.chain.types import MAX_NODES_PER_DECISION
    from bflc.net.network import checksum_address

    addresses = [checksum_address(text, what) for text in texts]
    twice = next((a for i, a in enumerate(addresses) if a in addresses[:i]), None)
    if twice is not None:
        raise ConfigError(f"{what} {twice} is named twice", "name each address once")
    if what == "node" and len(addresses) > MAX_NODES_PER_DECISION:
        raise ConfigError(
            f"{len(addresses)} nodes in one decision; the contract takes at most {MAX_NODES_PER_DECISION}",
            "split them into several decisions",
        )
    return addresses


def _factors(texts: list[str]) -> dict[str, int]:
    """``ADDRESS=X`` pairs as ``{address: fixed-point factor}``."""
    from bflc.chain.types import to_fixed

    pairs = [text.partition("=") for text in texts]
    for text, (_, sep, value) in zip(texts, pairs, strict=True):
        if not sep or not 0.0 <= _number(value) <= 1.0:
            raise ConfigError(
                f"factor {text!r} is not ADDRESS=X with X from 0 to 1", "write it like 0xAb...=0.8 (e.g. 80% of the best bandwidth)"
            )
    nodes = _addresses([address for address, _, _ in pairs], "node")
    return {node: to_fixed(_number(value)) for node, (_, _, value) in zip(nodes, pairs, strict=True)}


def _number(text: str) -> float:
    """``text`` as a float; NaN if it is not a number (so that no range holds it)."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _check_round(ledger: Web3Ledger, round: int) -> None:
    """Refuse a round that has not started yet: no decision about it could run."""
    current = ledger.current_round()
    if not 0 <= round <= current:
        raise ConfigError(f"round {round} has not started: the current round is {current}", f"give a round from 0 to {current}")


def _propose(args: argparse.Namespace, propose: Callable[[Web3Ledger], TxResult]) -> int:
    ledger = _ledger(args, signed=True)
    result = propose(ledger)  # without co-managers a decision is one proposal: its event is in the result
    return _decided(args, ledger, int(result.events_named("DecisionProposed")[0].args["id"]), "proposed", result)


def _decided(args: argparse.Namespace, ledger: Web3Ledger, decision_id: int, verb: str, result: TxResult) -> int:
    """Report what a council transaction did to decision ``decision_id``: ran its call, or where its approvals stand."""
    from bflc.net.status import call_text
    from bflc.redact import printable

    decision = ledger.decision(decision_id)
    call = call_text(decision)
    where = f"block {result.block}, tx 0x{result.tx_hash}, gas {result.gas_used}"
    if result.events_named("DecisionExecuted"):
        done, where = f"ran: {call}", f"decision {decision_id}, {where}"
    elif decision.status == "pending":
        done = f"{verb} decision {decision_id}: {call}: {len(decision.approvals)} of {decision.threshold} approvals"
        done += f"; other managers run `bflc admin approve {decision_id}`" if verb in ("proposed", "approved") else ""
    elif decision.status == "ready":
        done = f"{verb} decision {decision_id}: {call}: approved by enough managers; run it with `bflc admin execute {decision_id}`"
    else:
        done = f"{verb} decision {decision_id}: {call}"
    data = {
        "result": done,
        "decision": decision_id,
        "status": decision.status,
        "function": decision.function,
        "approvals": list(decision.approvals),
        "threshold": decision.threshold,
        "tx_hash": "0x" + result.tx_hash,
        "block": result.block,
        "gas_used": result.gas_used,
    }
    return _emit(args, data, printable(f"{done} ({where})"))  # a rogue manager may propose a call with control characters


def _send(args: argparse.Namespace, done: str, action: Callable[[Web3Ledger], TxResult]) -> int:
    return _report(args, done, action(_ledger(args, signed=True)))


def _report(args: argparse.Namespace, done: str, result: TxResult) -> int:
    data = {"result": done, "tx_hash": "0x" + result.tx_hash, "block": result.block, "gas_used": result.gas_used}
    return _emit(args, data, f"{done} in block {result.block} (tx 0x{result.tx_hash}, gas {result.gas_used})")


# ---------------------------------------------------------------- account


def _add_account(commands: Any) -> None:
    actions = _group(commands, "account", "a node's own actions: apply, withdraw its rewards, leave, rejoin; show its standing")
    show = command(
        actions,
        "show",
        _run_account_show,
        "show an account's status, withdrawable balance, escrowed fee, factor and roles",
        "Reads the chain (nothing is sent): the account of --key-file, or any --address. The factor of "
        "multi-factor election is attested by the managers (bflc admin attest-factor); a manager also sees "
        "the open decisions awaiting its approval.",
    )
    _add_network(show)
    who = show.add_mutually_exclusive_group(required=True)
    who.add_argument("--key-file", type=Path, metavar="F", help="the node's key file (raw hex or V3 keystore JSON)")
    who.add_argument("--address", metavar="ADDR", help="any account, instead of a key")
    show.add_argument("--password-file", type=Path, metavar="F", help="the keystore's password (default: $BFLC_KEY_PASSWORD)")
    _add_json(show)
    apply = command(
        actions, "apply", _run_apply, "ask to join: pay the network's permission fee, held in escrow until the managers admit this node"
    )
    unapply = command(
        actions, "withdraw-application", _run_withdraw_application, "take back an application not yet admitted; the fee goes to the balance"
    )
    withdraw = command(
        actions, "withdraw", _run_withdraw, "withdraw this account's whole balance (rewards, fee shares, refunds) to it or to --to"
    )
    withdraw.add_argument("--to", metavar="ADDRESS", help="pay this address instead of the account itself (a cold wallet, a treasury)")
    leave = command(actions, "leave", _run_leave, "leave the network: no more rounds for this node until it rejoins (no new fee)")
    rejoin = command(actions, "rejoin", _run_rejoin, "come back after leaving")
    for sub in (apply, unapply, withdraw, leave, rejoin):
        _add_network(sub)
        _add_key(sub)
        _add_json(sub)


def _run_account_show(args: argparse.Namespace) -> int:
    from bflc.net.connect import connect
    from bflc.net.network import checksum_address, load_network
    from bflc.net.status import account_status, format_account

    address = checksum_address(args.address, "--address") if args.address else signer_from_args(args).address
    account = account_status(connect(load_network(args.network)), address)
    return _emit(args, account, format_account(account))


def _run_apply(args: argparse.Namespace) -> int:
    ledger = _ledger(args, signed=True)
    fee = ledger.params().permission_fee
    return _report(
        args, f"applied with the permission fee of {fee} wei (in escrow until the managers admit {ledger.account})", ledger.apply(fee)
    )


def _run_withdraw_application(args: argparse.Namespace) -> int:
    return _send(
        args,
        "withdrew the application; its fee is in this account's balance (bflc account withdraw)",
        lambda ledger: ledger.withdraw_application(),
    )


def _run_withdraw(args: argparse.Namespace) -> int:
    from bflc.chain.web3_ledger import ZERO_ADDRESS
    from bflc.net.network import checksum_address

    recipient = checksum_address(args.to, "--to") if args.to else None
    if recipient == ZERO_ADDRESS:
        raise ConfigError("--to is the zero address: the payment would be burnt", "name an address whose key someone holds")
    ledger = _ledger(args, signed=True)
    amount = ledger.balance()
    if amount == 0:
        raise ConfigError(
            f"nothing to withdraw: {ledger.account} has a balance of 0 wei",
            "rewards arrive when this node's updates qualify or it serves on a committee whose model is accepted",
        )
    return _report(args, f"withdrew {amount} wei to {recipient or ledger.account}", ledger.withdraw(recipient))


def _run_leave(args: argparse.Namespace) -> int:
    return _send(args, "left the network (bflc account rejoin to come back)", lambda ledger: ledger.leave())


def _run_rejoin(args: argparse.Namespace) -> int:
    return _send(args, "rejoined the network", lambda ledger: ledger.rejoin())


# The commands this module adds to ``bflc``, in --help order.
COMMANDS = (_add_keys, _add_chain, _add_status, _add_model, _add_admin, _add_account)
