"""The operator commands end to end on anvil, through ``bflc.cli.main``."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bflc.chain import ModelOrigin, ProtocolParams, to_fixed
from bflc.chain.anvil import AnvilChain, free_port
from bflc.chain.types import DEFAULT_DECISION_LIFETIME
from bflc.cli import main
from bflc.errors import ContractRevert
from bflc.ml.models import build_model, get_parameters
from bflc.net.connect import connect
from bflc.net.defaults import NO_FILTER_WARNING
from bflc.net.keys import load_key
from bflc.net.network import load_network
from bflc.storage import decode_model, encode_model, open_store

from .conftest import LEARNING, Deployed, KeyFactory, submit
from .test_signing import play_round


def bflc(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bflc: error: "), err
    return lines[0]


# ---------------------------------------------------------------- keys


def test_keys_new_prints_the_address_of_a_private_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = bflc(capsys, "keys", "new", "--out", tmp_path / "node.key")
    assert code == 0 and load_key(tmp_path / "node.key").address == out.strip()
    assert (tmp_path / "node.key").stat().st_mode & 0o777 == 0o600
    code, out2, _ = bflc(capsys, "keys", "address", "--key-file", tmp_path / "node.key")
    assert code == 0 and out2 == out
    code, _, err = bflc(capsys, "keys", "new", "--out", tmp_path / "node.key")
    assert "already exists" in one_line_error(code, err)


def test_keys_new_with_a_password_file_writes_a_keystore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pw").write_text("hunter2\n")
    code, out, _ = bflc(capsys, "keys", "new", "--out", tmp_path / "node.json", "--password-file", tmp_path / "pw", "--json")
    address = json.loads(out)["address"]
    assert code == 0 and load_key(tmp_path / "node.json", "hunter2").address == address
    code, out, _ = bflc(capsys, "keys", "address", "--key-file", tmp_path / "node.json", "--password-file", tmp_path / "pw")
    assert out.strip() == address
    code, _, err = bflc(capsys, "keys", "address", "--key-file", tmp_path / "node.json")
    assert "is encrypted" in one_line_error(code, err)


# ---------------------------------------------------------------- chain deploy


def deploy_args(anvil: AnvilChain, key: Path, tmp_path: Path, committee: list[str], *extra: Any) -> list[Any]:
    return [
        "chain",
        "deploy",
        "--rpc",
        anvil.url,
        "--key-file",
        key,
        "--store",
        tmp_path / "store",
        "--out",
        tmp_path / "network.toml",
        "--committee",
        ",".join(committee),
        "--model",
        "mlp",
        "--dataset",
        "digits",
        *extra,
    ]


def test_deploy_writes_a_network_file_that_status_and_model_get_agree_with(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployer, members = keys("deployer"), [keys(), keys(), keys()]
    args = deploy_args(anvil, deployer.path, tmp_path, [m.address for m in members], "--updates-per-round", 3, "--lr", 0.01, "--json")
    code, out, _ = bflc(capsys, *args)
    assert code == 0
    report = json.loads(out)
    net = load_network(tmp_path / "network.toml")
    ledger = connect(net)
    assert report == {
        "contract": net.contract, "council": ledger.council(), "managers": [deployer.address], "threshold": 1,
        "decision_lifetime": DEFAULT_DECISION_LIFETIME, "chain_id": 31337, "deployed_block": net.deployed_block,
        "network_file": str(tmp_path / "network.toml"),
    }  # fmt: skip
    assert ledger.decision_lifetime() == DEFAULT_DECISION_LIFETIME
    assert net.name == "network" and net.rpc == anvil.url and net.store == (tmp_path / "store").as_uri()
    assert (
        net.learning.model == "mlp"
        and net.learning.input_shape == (1, 8, 8)
        and net.learning.num_classes == 10
        and net.learning.training.lr == 0.01
    )
    assert ledger.managers() == [deployer.address] and ledger.committee(0) == [m.address for m in members]
    params = ledger.params()
    assert (params.committee_size, params.min_committee_size, params.updates_per_round) == (3, 3, 3)
    genesis = ledger.model(0)
    assert genesis.uri == open_store(net.store).uri(genesis.blob_hash.hex())

    code, out, _ = bflc(capsys, "model", "get", "--network", tmp_path / "network.toml", "--round", 0, "--out", tmp_path / "g.safetensors")
    assert code == 0 and genesis.blob_hash.hex() in out
    data = (tmp_path / "g.safetensors").read_bytes()
    assert hashlib.sha256(data).digest() == genesis.blob_hash
    expected = get_parameters(build_model("mlp", (1, 8, 8), 10, seed=0))
    assert decode_model(data).keys() == expected.keys()


def test_deploy_takes_a_genesis_file_and_keeps_its_bytes(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = encode_model(get_parameters(build_model("mlp", (1, 8, 8), 10, seed=42)))
    (tmp_path / "g.safetensors").write_bytes(blob)
    deployer = keys()
    args = deploy_args(anvil, deployer.path, tmp_path, [keys().address], "--genesis", tmp_path / "g.safetensors", "--name", "pilot")
    code, out, _ = bflc(capsys, *args)
    net = load_network(tmp_path / "network.toml")
    assert code == 0 and out.startswith(
        f"deployed BFLC at {net.contract} and its council at {connect(net).council()}: a decision runs once 1 of 1 managers approve it"
    )
    assert net.name == "pilot"
    assert connect(net).model(0).blob_hash == hashlib.sha256(blob).digest()


def deployed_params(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: Any
) -> tuple[ProtocolParams, str]:
    """Deploy with three founders and ``extra`` flags; the parameters read back from the chain, and stderr."""
    args = deploy_args(anvil, keys().path, tmp_path, [keys().address for _ in range(3)], *extra)
    code, _, err = bflc(capsys, *args)
    assert code == 0, err
    return connect(load_network(tmp_path / "network.toml")).params(), err


def test_deploy_filters_by_default_as_the_simulator_does(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params, err = deployed_params(anvil, keys, tmp_path, capsys)
    assert (params.qualify_top_fraction, params.min_score, params.relative_min_score) == (1.0, 0.001, 0.5)
    assert err == ""


def test_deploy_sets_the_phase_deadlines_and_minimum_committee(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params, _ = deployed_params(
        anvil,
        keys,
        tmp_path,
        capsys,
        "--committee-size",
        5,
        "--min-committee-size",
        3,
        "--commit-deadline-blocks",
        7,
        "--reveal-deadline-blocks",
        8,
        "--score-deadline-blocks",
        9,
        "--round-deadline-blocks",
        30,
        "--min-score",
        0.1,
        "--relative-min-score",
        0.6,
    )
    assert (params.committee_size, params.min_committee_size) == (5, 3)
    assert (params.commit_deadline_blocks, params.reveal_deadline_blocks, params.score_deadline_blocks, params.round_deadline_blocks) == (
        7,
        8,
        9,
        30,
    )
    assert (params.qualify_top_fraction, params.min_score, params.relative_min_score) == (1.0, 0.1, 0.6)


def test_no_filter_warns_and_deploys_without_filtering(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params, err = deployed_params(anvil, keys, tmp_path, capsys, "--no-filter")
    assert (params.qualify_top_fraction, params.min_score, params.relative_min_score) == (1.0, 0.0, 0.0)
    assert err == NO_FILTER_WARNING + "\n"
    assert "every scored update will be aggregated, noise included" in NO_FILTER_WARNING


ANVIL_0, ANVIL_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BAD_DEPLOYS = [
    (["--committee", "0x1234"], "committee member '0x1234' is not an Ethereum address"),
    (["--committee-size", "1"], "3 first committee members but a committee size of 1"),
    (["--committee-size", "4"], "--committee-size 4 is even: half of an even committee could veto any update (pass an odd size, e.g. 5)"),
    (["--committee-size", "5", "--min-committee-size", "5"], "3 first committee members but a minimum committee size of 5"),
    (["--min-committee-size", "2"], "min_committee_size must be odd"),
    (["--round-deadline-blocks", "59"], "round_deadline_blocks must be at least the phase deadlines together (90)"),
    (
        ["--relative-min-score", "0", "--min-score", "0"],
        "filter nothing: every scored update would be aggregated, noise included (pass --no-filter",
    ),
    (["--qualify-top-fraction", "1", "--min-score", "0", "--relative-min-score", "0"], "pass --no-filter if that is what you want"),
    (["--no-filter", "--min-score", "0.2"], "--no-filter and --min-score both given"),
    (["--input-shape", "1,8,8", "--num-classes", "10"], "--dataset and --input-shape/--num-classes both given"),
    (["--min-score", "2"], "min_score must be in"),
    (["--election", "multi-factor", "--factor-weight", "1.5"], "election weights must be non-negative"),
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--store", "ftp://example.org/models"], "unsupported blob store URL scheme"),
    (["--managers", f"{ANVIL_0},{ANVIL_0}"], "given twice"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--threshold", "2"], "threshold 2 for a council of 1 (pass a --threshold between 1 and 1)"),
    (["--managers", f"{ANVIL_0},{ANVIL_1}", "--threshold", "0"], "threshold 0 for a council of 2"),
    (["--decision-lifetime", "0"], "decision lifetime 0 blocks (pass a positive --decision-lifetime)"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_DEPLOYS)
def test_a_bad_deploy_input_is_one_line_and_sends_nothing(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    deployer = keys()
    args = deploy_args(anvil, deployer.path, tmp_path, [keys(funded=False).address for _ in range(3)]) + extra
    code, _, err = bflc(capsys, *args)
    assert message in one_line_error(code, err)
    assert anvil.w3.eth.get_transaction_count(deployer.address) == 0
    assert not (tmp_path / "network.toml").exists()


@pytest.mark.parametrize("extra", [[], ["--committee-size", "5"]], ids=["no size", "odd size"])
def test_an_even_first_committee_is_one_line(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    deployer = keys()
    code, _, err = bflc(capsys, *deploy_args(anvil, deployer.path, tmp_path, [keys(funded=False).address for _ in range(4)], *extra))
    assert one_line_error(code, err) == (
        "bflc: error: 4 first committee members: a committee must have an odd number of members "
        "(name one founder more or one fewer in --committee; half of an even committee could veto any update)"
    )
    assert anvil.w3.eth.get_transaction_count(deployer.address) == 0


def test_deploy_refuses_bad_files_and_an_unreachable_chain(
    anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployer, committee = keys(), [keys().address]
    code, _, err = bflc(capsys, *deploy_args(anvil, tmp_path / "missing.key", tmp_path, committee))
    assert "cannot read key file" in one_line_error(code, err)

    deployer.path.chmod(0o644)
    code, _, err = bflc(capsys, *deploy_args(anvil, deployer.path, tmp_path, committee))
    assert "chmod 600" in one_line_error(code, err)
    deployer.path.chmod(0o600)

    (tmp_path / "wrong.safetensors").write_bytes(encode_model(get_parameters(build_model("cnn", (1, 8, 8), 10, seed=0))))
    code, _, err = bflc(capsys, *deploy_args(anvil, deployer.path, tmp_path, committee, "--genesis", tmp_path / "wrong.safetensors"))
    one_line_error(code, err)

    closed = AnvilChain.__new__(AnvilChain)
    closed.url = f"http://127.0.0.1:{free_port()}"
    code, _, err = bflc(capsys, *deploy_args(closed, deployer.path, tmp_path, committee))
    assert f"cannot reach the chain at {closed.url}" in one_line_error(code, err)

    assert anvil.w3.eth.get_transaction_count(deployer.address) == 0
    (tmp_path / "network.toml").write_text("keep me")
    code, _, err = bflc(capsys, *deploy_args(anvil, deployer.path, tmp_path, committee))
    assert "choose a new --out path" in one_line_error(code, err)
    assert (tmp_path / "network.toml").read_text() == "keep me"


def test_a_constructor_revert_is_one_line(anvil: AnvilChain, keys: KeyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zero = "0x" + "0" * 40
    code, _, err = bflc(capsys, *deploy_args(anvil, keys().path, tmp_path, [zero]))
    assert "contract reverted in BFLC constructor: committee member is the zero address" in one_line_error(code, err)


# ---------------------------------------------------------------- status


def status_json(capsys: pytest.CaptureFixture[str], deployed: Deployed, *extra: Any) -> dict[str, Any]:
    code, out, _ = bflc(capsys, "status", "--network", deployed.path, "--json", *extra)
    assert code == 0
    return json.loads(out)


def expected_updates(deployed: Deployed, round: int) -> list[dict[str, Any]]:
    return [
        {
            "id": u.update_id,
            "provider": u.provider,
            "hash": u.blob_hash.hex(),
            "samples": u.n_samples,
            "votes": [{"member": m, "score": s / 1e6} for m, s in zip(u.voters, u.scores, strict=False)],
            "median": u.median / 1e6 if u.final else None,
            "final": u.final,
            "qualified": u.qualified,
        }
        for u in deployed.ledger().round_updates(round)
    ]


def test_status_json_equals_what_the_ledger_says(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    trainer = deployed.trainers[0]
    update_id = submit(deployed.ledger(trainer), b"\x31" * 32, 40)
    deployed.ledger(deployed.committee[0]).submit_scores(0, [update_id], [to_fixed(0.7)])
    deployed.ledger(deployed.manager).fund(1000)
    status = status_json(capsys, deployed, "--account", trainer.address)
    ledger = deployed.ledger()
    params, state = ledger.params(), ledger.round_state()
    assert status["network"] == {
        "name": "test",
        "chain_id": 31337,
        "contract": deployed.net.contract,
        "rpc": deployed.net.rpc,
        "store": deployed.net.store,
    }
    assert (status["round"], status["phase"], status["commitments"], status["final_updates"], status["updates_per_round"]) == (
        0,
        "scoring",
        1,
        0,
        1,
    )
    assert (status["round_start_block"], status["phase_start_block"]) == (state.start_block, state.phase_start_block)
    assert state.phase_start_block > state.start_block
    assert status["phase_deadline_block"] == state.phase_start_block + params.score_deadline_blocks
    assert status["round_deadline_block"] == state.start_block + params.round_deadline_blocks
    assert "score_deadline_block" not in status
    assert status["block"] <= ledger.block_number()
    model = ledger.model(0)
    assert status["model"] == {"round": 0, "hash": model.blob_hash.hex(), "uri": model.uri, "block": model.block, "origin": "genesis"}
    assert status["committee"] == ledger.committee(0) and status["managers"] == ledger.managers()
    assert status["council"] == {
        "address": ledger.council(),
        "threshold": 1,
        "decision_lifetime": DEFAULT_DECISION_LIFETIME,
        "open_decisions": 0,
    }
    assert status["updates"] == expected_updates(deployed, 0)
    assert status["updates"][0]["votes"] == [{"member": deployed.committee[0].address, "score": 0.7}]
    assert status["qualified"] == [] and status["reward_pool"] == 1000 == status["contract_balance"]
    accounts = {a["address"]: a for a in status["accounts"]}
    assert list(accounts) == [deployed.manager.address] + [k.address for k in deployed.committee] + [trainer.address]
    for address, account in accounts.items():
        assert account["status"] == ledger.status(address).name.lower() == "admitted"
        assert account["native_balance"] == ledger.w3.eth.get_balance(address)
        assert (account["balance"], account["escrow"]) == (ledger.balance(address), ledger.escrow(address))
    assert accounts[trainer.address]["roles"] == ["account"] and accounts[deployed.manager.address]["roles"] == ["manager"]
    assert status["params"]["election"] == "score" and status["params"]["committee_size"] == 3
    assert (status["params"]["commit_deadline_blocks"], status["params"]["min_committee_size"]) == (5, 1)

    for member in deployed.committee[1:]:
        deployed.ledger(member).submit_scores(0, [update_id], [to_fixed(0.9)])
    status = status_json(capsys, deployed)
    assert status["phase"] == "aggregating" and status["qualified"] == [update_id]
    assert status["phase_start_block"] == deployed.ledger().round_state().phase_start_block and status["phase_deadline_block"] is None
    assert status["updates"] == expected_updates(deployed, 0)
    assert status["updates"][0]["median"] == 0.9 and status["updates"][0]["final"]


def test_status_prints_readable_tables(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    start = deployed.ledger().round_state().start_block
    code, out, _ = bflc(capsys, "status", "--network", deployed.path)
    assert code == 0
    assert f"round    0  started at block {start}, round deadline {start + 20}" in out
    assert f"phase    commit since block {start}, may be closed at block {start + 5}" in out
    assert "updates  0 of 1 committed, 0 revealed, 0 final; qualified: none yet" in out
    assert f"council  {deployed.ledger().council()}  threshold 1 of 1 managers; 0 open decisions\n" in out

    submit(deployed.ledger(deployed.trainers[2]), b"\x41" * 32, 12)
    phase_start = deployed.ledger().round_state().phase_start_block
    code, out, _ = bflc(capsys, "status", "--network", deployed.path)
    assert code == 0
    assert (
        "network  test  chain 31337" in out
        and f"phase    scoring since block {phase_start}, may be closed at block {phase_start + 5}" in out
    )
    assert "updates  1 of 1 committed, 1 revealed, 0 final" in out
    assert "update  provider" in out and deployed.trainers[2].address in out and " 0/3 " in out
    assert "account" in out and "manager" in out and "admitted" in out


def test_status_of_an_unreachable_network_is_one_line(deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = deployed.path.read_text().replace(deployed.net.rpc, f"http://127.0.0.1:{free_port()}")
    (tmp_path / "down.toml").write_text(text)
    code, _, err = bflc(capsys, "status", "--network", tmp_path / "down.toml")
    assert "cannot reach the chain" in one_line_error(code, err)


# ---------------------------------------------------------------- model get


def test_model_get_of_a_later_round_is_verified(deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    play_round(deployed)  # round 1's model hash is a made-up one: put no blob for it
    code, _, err = bflc(capsys, "model", "get", "--network", deployed.path, "--round", 1, "--out", tmp_path / "m.safetensors")
    assert "is not in the store" in one_line_error(code, err)
    assert not (tmp_path / "m.safetensors").exists()


def test_model_get_of_an_unknown_round_is_one_line(deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for round in (3, -1):
        code, _, err = bflc(capsys, "model", "get", "--network", deployed.path, "--round", round, "--out", tmp_path / "m.safetensors")
        assert f"round {round} has no model: the current round is 0" in one_line_error(code, err)


def test_model_get_writes_exactly_the_stored_blob(deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = bflc(capsys, "model", "get", "--network", deployed.path, "--round", 0, "--out", tmp_path / "g.safetensors", "--json")
    info = json.loads(out)
    data = (tmp_path / "g.safetensors").read_bytes()
    assert code == 0 and info["hash"] == hashlib.sha256(data).hexdigest() == deployed.ledger().model(0).blob_hash.hex()
    assert info["bytes"] == len(data) and info["origin"] == "genesis"
    expected = get_parameters(build_model(LEARNING.model, LEARNING.input_shape, LEARNING.num_classes, seed=LEARNING.model_seed))
    assert all((decode_model(data)[k] == v).all() for k, v in expected.items())


# ---------------------------------------------------------------- admin


def admin(capsys: pytest.CaptureFixture[str], deployed: Deployed, key: Path, *argv: Any) -> tuple[int, str, str]:
    return bflc(capsys, "admin", *argv, "--network", deployed.path, "--key-file", key)


def test_admin_admit_then_blacklist_makes_the_nodes_submit_revert(
    deployed: Deployed, keys: KeyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    node = keys("node")
    decision = deployed.ledger().decision_count()
    code, out, _ = admin(capsys, deployed, deployed.manager.path, "admit", node.address)
    assert code == 0 and out.startswith(f"ran: admit(nodes=[{node.address}]) (decision {decision}, block ")
    submit(deployed.ledger(node), b"\x51" * 32, 3)

    code, out, _ = admin(capsys, deployed, deployed.manager.path, "blacklist", node.address.lower(), "--json")
    result = json.loads(out)
    assert code == 0 and result["result"] == f"ran: blacklist(node={node.address})"
    assert (result["decision"], result["status"], result["approvals"], result["threshold"]) == (
        decision + 1,
        "executed",
        [deployed.manager.address],
        1,
    )
    receipt = deployed.ledger().w3.eth.get_transaction_receipt(result["tx_hash"])
    assert receipt["blockNumber"] == result["block"] and receipt["gasUsed"] == result["gas_used"]
    status = status_json(capsys, deployed, "--account", node.address)
    assert [a["status"] for a in status["accounts"] if a["address"] == node.address] == ["blacklisted"]
    with pytest.raises(ContractRevert, match="node is not admitted"):
        deployed.ledger(node).commit_update(0, b"\x52" * 32)


def test_admin_from_a_non_manager_prints_the_contract_reason(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = admin(capsys, deployed, deployed.trainers[0].path, "blacklist", deployed.trainers[1].address)
    assert one_line_error(code, err) == "bflc: error: contract reverted in propose (blacklist): caller is not a manager"
    code, _, err = admin(capsys, deployed, deployed.manager.path, "admit", "0xnothex")
    assert "is not an Ethereum address" in one_line_error(code, err)


def test_admin_failback_and_fund(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    play_round(deployed)
    genesis = deployed.ledger().model(0)
    committee = deployed.ledger().committee(1)
    code, out, _ = admin(capsys, deployed, deployed.manager.path, "failback", 0)
    assert code == 0 and out.startswith(f"ran: failback(target_round=0, members=[{', '.join(committee)}])")
    ledger = deployed.ledger()
    current = ledger.model(ledger.current_round())
    assert current.origin == ModelOrigin.FAILBACK and current.blob_hash == genesis.blob_hash
    assert ledger.committee(ledger.current_round()) == committee
    assert status_json(capsys, deployed)["model"]["origin"] == "failback"

    code, _, _ = admin(capsys, deployed, deployed.manager.path, "fund", "--amount", 5000)
    assert code == 0 and ledger.reward_pool() == 5000
    code, _, err = admin(capsys, deployed, deployed.manager.path, "fund", "--amount", 0)
    assert "is not positive" in one_line_error(code, err)
    code, _, err = admin(capsys, deployed, deployed.manager.path, "failback", 9)
    assert one_line_error(code, err) == "bflc: error: round 9 has not started: the current round is 2 (give a round from 0 to 2)"


def test_the_operator_commands_register_without_heavy_imports() -> None:
    probe = (
        "import argparse, sys\n"
        "from bflc.cli.net import COMMANDS\n"
        "subparsers = argparse.ArgumentParser().add_subparsers()\n"
        "for add in COMMANDS: add(subparsers)\n"
        "print(sorted(m for m in ('web3', 'eth_account', 'torch', 'requests') if m in sys.modules))\n"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"
