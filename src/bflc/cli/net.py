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



def _group(commands: Any, name: str, help: str) -> Any:
    parser = commands.add_parser(name, help=help, description=help)
    return parser.add_subparsers(title="actions", metavar="ACTION")


def _add_network(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--network", type=Path, required=True, metavar="FILE", help="the network file `bflc chain deploy` wrote")


def _add_key(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--key-file", type=Path, required=True, metavar="F", help="raw hex private key (chmod 600) or V3 keystore JSON")
    sub.add_argument("--password-file", type=Path, metavar="F", help="the keystore's password (default: $BFLC_KEY_PASSWORD)")


def _add_json(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print the result as JSON")


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> int:
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
    from bflc.chain.types import ProtocolParams
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
        "Builds the genesis model (or takes --genesis), puts it in the blob store, deploys the contract "
        "with the key in --key-file (dry run first) and writes the network file every node needs. "
        "Every input is checked before anything is sent.",
    )
    add = sub.add_argument
    add("--rpc", required=True, metavar="URL", help="the chain's JSON-RPC URL")
    _add_key(sub)
    add("--store", required=True, metavar="URL", help="blob store: file:///dir, s3://bucket/prefix, or a directory path")
    add("--out", type=Path, required=True, metavar="FILE", help="the network file to write (must not exist)")
    add("--name", help="the network's name (default: the --out file name without extension)")
    add("--committee", required=True, metavar="ADDR,...", help="the first committee (trusted founders), an odd number of them")
    add("--managers", metavar="ADDR,...", help="the managers (default: the deployer)")
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
    add("--updates-per-round", type=int, default=p.updates_per_round, metavar="N", help="K, commitments that end the commit phase (default: %(default)s)")
    add_filter_arguments(sub)
    add("--election", default="score", choices=["score", "random", "multi-factor"], help="committee election (default: %(default)s)")
    add("--factor-weight", type=float, default=p.factor_weight, metavar="X", help="weight of the declared factor in multi-factor election (default: %(default)s)")
    rounds = sub.add_argument_group("round deadlines (commit, reveal, scoring)", ROUNDS_HELP)
    for phase in ("commit", "reveal", "score", "round"):
        default = getattr(p, f"{phase}_deadline_blocks")
        rounds.add_argument(f"--{phase}-deadline-blocks", type=int, default=default, metavar="N", help=f"{DEADLINE_HELP[phase]} (default: {default})")
    add("--permission-fee", type=int, default=p.permission_fee, metavar="WEI", help="fee to join (default: %(default)s)")
    add("--round-reward", type=int, default=p.round_reward, metavar="WEI", help="reward per accepted model (default: %(default)s)")
    add("--committee-share", type=float, default=p.committee_share, metavar="X", help="committee's share of the round reward (default: %(default)s)")
    add("--model-seed", type=int, default=s.model_seed, metavar="N", help="seed of the genesis weights (default: %(default)s)")
    training = sub.add_argument_group("training (how every node trains and scores)")
    sub.set_defaults(training_settings=add_settings_arguments(training, TrainingSettings))
    _add_json(sub)


def _run_deploy(args: argparse.Namespace) -> int:
    from bflc.chain.types import ElectionMode, ProtocolParams
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
        params=params,
        learning=learning,
        genesis=genesis,
    )
    write_network(out, net)
    data = {"contract": net.contract, "chain_id": net.chain_id, "deployed_block": net.deployed_block, "network_file": str(out)}
    return _emit(args, data, f"deployed BFLC at {net.contract} (chain {net.chain_id}, block {net.deployed_block}); wrote {out}")


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


def _add_admin(commands: Any) -> None:
    actions = _group(commands, "admin", "manager actions: admit, blacklist, failback; fund the reward pool")
    admit = command(actions, "admit", _run_admit, "admit a node (an applicant, or anyone when the permission fee is 0)")
    admit.add_argument("address", help="the node's address")
    blacklist = command(actions, "blacklist", _run_blacklist, "blacklist a node: it can no longer submit, vote or be elected")
    blacklist.add_argument("address", help="the node's address")
    failback = command(actions, "failback", _run_failback, "roll the current model back to an earlier round's model")
    failback.add_argument("--round", type=int, required=True, metavar="R", help="the round whose model to restore")
    fund = command(actions, "fund", _run_fund, "pay native value into the reward pool")
    fund.add_argument("--amount", type=int, required=True, metavar="WEI", help="how much to pay, in wei")
    for sub in (admit, blacklist, failback, fund):
        _add_network(sub)
        _add_key(sub)
        _add_json(sub)


def _run_admit(args: argparse.Namespace) -> int:
    address = _address(args.address)
    return _send(args, f"admitted {address}", lambda ledger: ledger.admit(address))


def _run_blacklist(args: argparse.Namespace) -> int:
    address = _address(args.address)
    return _send(args, f"blacklisted {address}", lambda ledger: ledger.blacklist(address))


def _run_failback(args: argparse.Namespace) -> int:
    return _send(args, f"failed back to the model of round {args.round}", lambda ledger: ledger.failback(args.round))


def _run_fund(args: argparse.Namespace) -> int:
    if args.amount <= 0:
        raise ConfigError(f"--amount {args.amount} is not positive", "pay at least 1 wei")
    return _send(args, f"funded the reward pool with {args.amount} wei", lambda ledger: ledger.fund(args.amount))


def _address(text: str) -> str:
    from bflc.net.network import checksum_address

    return checksum_address(text, "address")


def _send(args: argparse.Namespace, done: str, action: Callable[[Web3Ledger], TxResult]) -> int:
    return _report(args, done, action(_ledger(args, signed=True)))


def _report(args: argparse.Namespace, done: str, result: TxResult) -> int:
    data = {"result": done, "tx_hash": "0x" + result.tx_hash, "block": result.block, "gas_used": result.gas_used}
    return _emit(args, data, f"{done} in block {result.block} (tx 0x{result.tx_hash}, gas {result.gas_used})")


# ---------------------------------------------------------------- account


def _add_account(commands: Any) -> None:
    actions = _group(
        commands, "account", "a node's own actions: apply, withdraw its rewards, leave, rejoin, declare its factor; show its standing"
    )
    show = command(
        actions,
        "show",
        _run_account_show,
        "show an account's status, withdrawable balance, escrowed fee, factor and roles",
        "Reads the chain (nothing is sent): the account of --key-file, or any --address.",
    )
    _add_network(show)
    who = show.add_mutually_exclusive_group(required=True)
    who.add_argument("--key-file", type=Path, metavar="F", help="the node's key file (raw hex or V3 keystore JSON)")
    who.add_argument("--address", metavar="ADDR", help="any account, instead of a key")
    show.add_argument("--password-file", type=Path, metavar="F", help="the keystore's password (default: $BFLC_KEY_PASSWORD)")
    _add_json(show)
    apply = command(actions, "apply", _run_apply, "ask to join: pay the network's permission fee, held in escrow until a manager admits this node")
    unapply = command(
        actions, "withdraw-application", _run_withdraw_application, "take back an application not yet admitted; the fee goes to the balance"
    )
    withdraw = command(actions, "withdraw", _run_withdraw, "withdraw this account's whole balance (rewards, fee shares, refunds) to it")
    leave = command(actions, "leave", _run_leave, "leave the network: no more rounds for this node until it rejoins (no new fee)")
    rejoin = command(actions, "rejoin", _run_rejoin, "come back after leaving")
    factor = command(
        actions, "factor", _run_factor, "declare this node's factor for multi-factor election, from 0 to 1 (e.g. normalised bandwidth)"
    )
    factor.add_argument("value", type=float, help="the factor, from 0 to 1")
    for sub in (apply, unapply, withdraw, leave, rejoin, factor):
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
    return _report(args, f"applied with the permission fee of {fee} wei (in escrow until a manager admits {ledger.account})", ledger.apply(fee))


def _run_withdraw_application(args: argparse.Namespace) -> int:
    return _send(args, "withdrew the application; its fee is in this account's balance (bflc account withdraw)", lambda ledger: ledger.withdraw_application())


def _run_withdraw(args: argparse.Namespace) -> int:
    ledger = _ledger(args, signed=True)
    amount = ledger.balance()
    if amount == 0:
        raise ConfigError(
            f"nothing to withdraw: {ledger.account} has a balance of 0 wei",
            "rewards arrive when this node's updates qualify or it serves on a committee whose model is accepted",
        )
    return _report(args, f"withdrew {amount} wei to {ledger.account}", ledger.withdraw())


def _run_leave(args: argparse.Namespace) -> int:
    return _send(args, "left the network (bflc account rejoin to come back)", lambda ledger: ledger.leave())


def _run_rejoin(args: argparse.Namespace) -> int:
    return _send(args, "rejoined the network", lambda ledger: ledger.rejoin())


def _run_factor(args: argparse.Namespace) -> int:
    from bflc.chain.types import to_fixed

    if not 0.0 <= args.value <= 1.0:
        raise ConfigError(f"factor {args.value} is not between 0 and 1", "give a fraction, e.g. 0.8 for 80% of the best bandwidth")
    return _send(args, f"declared the factor {args.value:g}", lambda ledger: ledger.declare_factor(to_fixed(args.value)))


# The commands this module adds to ``bflc``, in --help order.
COMMANDS = (_add_keys, _add_chain, _add_status, _add_model, _add_admin, _add_account)
