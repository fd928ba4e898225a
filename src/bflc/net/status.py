"""A network's state at a glance: ``bflc status``.

:func:`network_status` gathers it as JSON-ready data with stable keys;
:func:`format_status` renders that data as readable tables. Amounts are
integers in wei; scores are floats in [0, 1].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from web3 import Web3

from bflc.chain.types import ProtocolParams, RoundState, UpdateRecord, from_fixed
from bflc.chain.web3_ledger import Web3Ledger
from bflc.net.network import NetworkFile
from bflc.redact import printable, redact_url


def network_status(ledger: Web3Ledger, net: NetworkFile, accounts: Sequence[str] = ()) -> dict[str, Any]:
    """The network's current round, model, committee, updates and balances.

    Parameters
    ----------
    ledger:
        A (read-only) ledger on the network's contract.
    net:
        The network file.
    accounts:
        Extra addresses whose balances to show, besides managers and committee.

    Returns
    -------
    dict
        Keys: ``network``, ``block``, ``round``, ``phase`` (``commit``,
        ``reveal``, ``scoring`` or ``aggregating``), ``round_start_block``,
        ``phase_start_block``, ``phase_deadline_block`` (when the phase may be
        closed; ``None`` while aggregating), ``round_deadline_block``,
        ``commitments``, ``final_updates``, ``updates_per_round``, ``model``,
        ``committee``, ``managers``, ``updates`` (the revealed ones),
        ``qualified``, ``reward_pool``, ``contract_balance``, ``accounts``,
        ``params``.
    """
    params = ledger.params()
    state = ledger.round_state()
    managers = ledger.managers()
    roles = _roles(managers, list(state.committee), [Web3.to_checksum_address(a) for a in accounts])
    return {
        "network": {"name": net.name, "chain_id": net.chain_id, "contract": net.contract, "rpc": redact_url(net.rpc), "store": net.store},
        "block": ledger.block_number(),
        "round": state.round,
        "phase": state.phase.name.lower(),
        "round_start_block": state.start_block,
        "phase_start_block": state.phase_start_block,
        "phase_deadline_block": phase_deadline_block(state, params),
        "round_deadline_block": state.start_block + params.round_deadline_blocks,
        "commitments": state.num_commits,
        "final_updates": state.num_final,
        "updates_per_round": params.updates_per_round,
        "model": {
            "round": state.model.round,
            "hash": state.model.blob_hash.hex(),
            "uri": state.model.uri,
            "block": state.model.block,
            "origin": state.model.origin.name.lower(),
        },
        "committee": list(state.committee),
        "managers": managers,
        "updates": [_update(u) for u in ledger.round_updates(state.round)],
        "qualified": ledger.qualified(state.round),
        "reward_pool": ledger.reward_pool(),
        "contract_balance": int(ledger.w3.eth.get_balance(ledger.address)),
        "accounts": [_account(ledger, address, tags) for address, tags in roles.items()],
        "params": {**dataclasses.asdict(params), "election": params.election.name.lower().replace("_", "-")},
    }


def format_status(status: dict[str, Any]) -> str:
    """``status`` (from :func:`network_status`) as readable text."""
    net, model = status["network"], status["model"]
    deadline = status["phase_deadline_block"]
    lines = [
        f"network  {net['name']}  chain {net['chain_id']}  contract {net['contract']}  block {status['block']}",
        f"round    {status['round']}  started at block {status['round_start_block']}, round deadline {status['round_deadline_block']}",
        f"phase    {status['phase']} since block {status['phase_start_block']}, "
        + ("no deadline" if deadline is None else f"may be closed at block {deadline}"),
        f"model    {model['hash']}  ({model['origin']}, block {model['block']})",
        f"         {model['uri']}",
        f"updates  {status['commitments']} of {status['updates_per_round']} committed, {len(status['updates'])} revealed, "
        f"{status['final_updates']} final; qualified: {', '.join(map(str, status['qualified'])) or 'none yet'}",
        f"rewards  pool {status['reward_pool']} wei; contract holds {status['contract_balance']} wei",
        "",
        f"committee ({len(status['committee'])}): " + (", ".join(status["committee"]) or "none"),
        "",
    ]
    update_rows = [
        [u["id"], u["provider"], u["samples"], f"{len(u['votes'])}/{len(status['committee'])}",
         "-" if u["median"] is None else f"{u['median']:.4f}", _yes(u["final"]), _yes(u["qualified"])]
        for u in status["updates"]
    ]
    lines += _table(["update", "provider", "samples", "votes", "median", "final", "qualified"], update_rows) if update_rows else ["no updates this round"]
    lines.append("")
    account_rows = [
        [a["address"], ",".join(a["roles"]), a["status"], a["native_balance"], a["balance"], a["escrow"]]
        for a in status["accounts"]
    ]
    lines += _table(["account", "roles", "status", "native wei", "balance wei", "escrow wei"], account_rows)
    return "\n".join(printable(line) for line in lines)


def phase_deadline_block(state: RoundState, params: ProtocolParams) -> int | None:
    """The block from which the current phase may be closed; ``None`` while aggregating (it has no deadline)."""
    blocks = params.deadline_blocks(state.phase)
    return state.phase_start_block + blocks if blocks else None


def _roles(managers: list[str], committee: list[str], extra: list[str]) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for tag, group in (("manager", managers), ("committee", committee), ("account", extra)):
        for address in group:
            roles.setdefault(address, []).append(tag)
    return roles


def _update(update: UpdateRecord) -> dict[str, Any]:
    return {
        "id": update.update_id,
        "provider": update.provider,
        "hash": update.blob_hash.hex(),
        "samples": update.n_samples,
        "votes": [{"member": m, "score": from_fixed(s)} for m, s in zip(update.voters, update.scores, strict=True)],
        "median": update.median_score if update.final else None,
        "final": update.final,
        "qualified": update.qualified,
    }


def _account(ledger: Web3Ledger, address: str, roles: list[str]) -> dict[str, Any]:
    return {"address": address, "roles": roles, **_standing(ledger, address)}


def _standing(ledger: Web3Ledger, address: str) -> dict[str, Any]:
    return {
        "status": ledger.status(address).name.lower(),
        "native_balance": int(ledger.w3.eth.get_balance(Web3.to_checksum_address(address))),  # checksummed already
        "balance": ledger.balance(address),
        "escrow": ledger.escrow(address),
    }


def account_status(ledger: Web3Ledger, address: str) -> dict[str, Any]:
    """One account's standing in the network (``bflc account show``).

    Parameters
    ----------
    ledger:
        A connection to the network (no key needed).
    address:
        The account, checksummed.

    Returns
    -------
    dict
        ``address``, ``status`` (``none``, ``applied``, ``admitted``,
        ``left`` or ``blacklisted``), ``native_balance`` (wei in the account),
        ``balance`` (wei it may withdraw from the contract), ``escrow`` (its
        application fee held), ``factor`` (declared for multi-factor
        election, 0 to 1), ``manager``, and ``round`` with ``committee``
        (whether it sits on that round's committee).
    """
    round = ledger.current_round()
    return {
        "address": address,
        **_standing(ledger, address),
        "factor": from_fixed(ledger.factor(address)),
        "manager": address in ledger.managers(),
        "round": round,
        "committee": ledger.is_committee_member(round, address),
    }


def format_account(account: dict[str, Any]) -> str:
    """:func:`account_status` as lines for a terminal."""
    roles = [role for role in ("manager", "committee") if account[role]]
    return "\n".join(
        [
            f"account  {account['address']}: {account['status']}"
            + (f"; {' and '.join(roles)} in round {account['round']}" if roles else ""),
            f"balance  {account['balance']} wei to withdraw (bflc account withdraw); {account['escrow']} wei fee in escrow",
            f"wallet   {account['native_balance']} wei",
            f"factor   {account['factor']:g} (multi-factor election)",
        ]
    )


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"

