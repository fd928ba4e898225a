"""A node's own actions through ``bflc account`` on anvil: apply, take the
application back, withdraw, leave, rejoin, show the standing (with the factor
the managers attest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bflc.chain.anvil import AnvilChain

from .conftest import Deployed, Key, KeyFactory, deploy_test_network
from .test_net_cli import bflc, one_line_error

FEE = 10**15


@pytest.fixture
def paying(anvil: AnvilChain, tmp_path: Path) -> Deployed:
    """A network whose permission fee is FEE."""
    return deploy_test_network(anvil, tmp_path, permission_fee=FEE)


def account(capsys: pytest.CaptureFixture[str], net: Deployed, *argv: Any) -> dict[str, Any]:
    code, out, err = bflc(capsys, "account", *argv, "--network", net.path, "--json")
    assert code == 0, err
    return json.loads(out)


def show(capsys: pytest.CaptureFixture[str], net: Deployed, key: Key) -> dict[str, Any]:
    return account(capsys, net, "show", "--key-file", key.path)


def test_apply_take_back_and_withdraw_the_fee(paying: Deployed, keys: KeyFactory, capsys: pytest.CaptureFixture[str]) -> None:
    newcomer = keys()
    council = {
        "address": paying.ledger().council(),
        "threshold": 1,
        "managers": [paying.manager.address],
        "open_decisions": 0,
        "awaiting": [],
    }
    assert show(capsys, paying, newcomer) | {"native_balance": 0} == {
        "address": newcomer.address, "status": "none", "native_balance": 0, "balance": 0, "escrow": 0,
        "factor": 0.0, "manager": False, "round": 0, "committee": False, "council": council,
    }  # fmt: skip
    applied = account(capsys, paying, "apply", "--key-file", newcomer.path)
    assert applied["result"] == f"applied with the permission fee of {FEE} wei (in escrow until the managers admit {newcomer.address})"
    assert (show(capsys, paying, newcomer)["status"], show(capsys, paying, newcomer)["escrow"]) == ("applied", FEE)
    account(capsys, paying, "withdraw-application", "--key-file", newcomer.path)
    standing = show(capsys, paying, newcomer)
    assert (standing["status"], standing["escrow"], standing["balance"]) == ("none", 0, FEE)
    before = standing["native_balance"]
    withdrawn = account(capsys, paying, "withdraw", "--key-file", newcomer.path)
    assert withdrawn["result"] == f"withdrew {FEE} wei to {newcomer.address}"
    after = show(capsys, paying, newcomer)
    assert after["balance"] == 0 and 0 < after["native_balance"] - before < FEE  # the fee back, less the gas
    code, _, err = bflc(capsys, "account", "withdraw", "--network", paying.path, "--key-file", newcomer.path)
    assert one_line_error(code, err).startswith(f"bflc: error: nothing to withdraw: {newcomer.address} has a balance of 0 wei")


def test_the_managers_withdraw_the_fee_of_an_admitted_node(paying: Deployed, keys: KeyFactory, capsys: pytest.CaptureFixture[str]) -> None:
    newcomer = keys()
    account(capsys, paying, "apply", "--key-file", newcomer.path)
    code, _, err = bflc(capsys, "admin", "admit", newcomer.address, "--network", paying.path, "--key-file", paying.manager.path)
    assert code == 0, err
    manager = show(capsys, paying, paying.manager)
    fees = FEE * (len(paying.trainers) + 1)  # the fixture's trainers applied too
    assert manager["manager"] and manager["balance"] == fees
    treasury = keys()  # the manager pays its fees to another address: that address gains them exactly
    before = show(capsys, paying, treasury)["native_balance"]
    withdrawn = account(capsys, paying, "withdraw", "--to", treasury.address, "--key-file", paying.manager.path)
    assert withdrawn["result"] == f"withdrew {fees} wei to {treasury.address}"
    assert show(capsys, paying, treasury)["native_balance"] - before == fees
    assert show(capsys, paying, paying.manager)["balance"] == 0
    code, _, err = bflc(capsys, "account", "withdraw", "--to", "0x" + "00" * 20, "--network", paying.path, "--key-file", newcomer.path)
    assert one_line_error(code, err).startswith("bflc: error: --to is the zero address")


def test_leave_rejoin_and_the_attested_factor(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    node = deployed.trainers[0]
    code, _, err = bflc(
        capsys, "admin", "attest-factor", f"{node.address}=0.8", "--network", deployed.path, "--key-file", deployed.manager.path
    )
    assert code == 0, err
    assert show(capsys, deployed, node)["factor"] == 0.8
    account(capsys, deployed, "leave", "--key-file", node.path)
    assert show(capsys, deployed, node)["status"] == "left"
    account(capsys, deployed, "rejoin", "--key-file", node.path)
    assert show(capsys, deployed, node)["status"] == "admitted"
    member = account(capsys, deployed, "show", "--address", deployed.committee[0].address.lower())
    assert member["address"] == deployed.committee[0].address and member["committee"] and member["status"] == "admitted"
    code, out, _ = bflc(capsys, "account", "show", "--network", deployed.path, "--key-file", node.path)
    assert code == 0 and out.splitlines()[0] == f"account  {node.address}: admitted"
    assert "factor   0.8 (multi-factor election; attested by the managers)" in out and "council" not in out
    code, out, _ = bflc(capsys, "account", "show", "--network", deployed.path, "--key-file", deployed.manager.path)
    assert code == 0 and out.splitlines()[-1] == "council  threshold 1 of 1 managers; 0 open decisions"
    with pytest.raises(SystemExit):  # nodes no longer set their own
        bflc(capsys, "account", "factor", "0.8", "--network", deployed.path, "--key-file", node.path)
    assert "invalid choice: 'factor'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("rejoin",), "node has not left"),
        (("withdraw-application",), "no pending application"),
    ],
    ids=["rejoin-while-admitted", "no-application"],
)
def test_bad_account_actions_are_one_line_and_change_nothing(
    deployed: Deployed, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: str
) -> None:
    node = deployed.trainers[0]
    before = show(capsys, deployed, node)
    code, _, err = bflc(capsys, "account", *argv, "--network", deployed.path, "--key-file", node.path)
    assert words in one_line_error(code, err)
    assert show(capsys, deployed, node) == before
