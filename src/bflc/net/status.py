"""A network's state at a glance: ``bflc status``, ``bflc account show`` and ``bflc admin decisions``.

:func:`network_status` gathers it as JSON-ready data with stable keys;
:func:`format_status` renders that data as readable tables. Amounts are
integers in wei; scores are floats in [0, 1]. :func:`call_text` and
:func:`format_decisions` describe the council's decisions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from web3 import Web3

from bflc.chain.types import Decision, ProtocolParams, RoundState, UpdateRecord, from_fixed
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
        ``committee``, ``managers``, ``council`` (``address``,
        ``threshold``, ``decision_lifetime`` in blocks and the number of
        ``open_decisions``), ``updates`` (the revealed ones), ``qualified``,
        ``reward_pool``, ``contract_balance``, ``accounts``, ``params``.
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
        "council": {
            "address": ledger.council(),
            "threshold": ledger.threshold(),
            "decision_lifetime": ledger.decision_lifetime(),
            "open_decisions": len(ledger.decisions(open_only=True)),
        },
        "updates": [_update(u) for u in ledger.round_updates(state.round)],
        "qualified": ledger.qualified(state.round),
        "reward_pool": ledger.reward_pool(),
        "contract_balance": int(ledger.w3.eth.get_balance(ledger.address)),
        "accounts": [_account(ledger, address, tags) for address, tags in roles.items()],
        "params": {**dataclasses.asdict(params), "election": params.election.name.lower().replace("_", "-")},
    }


def format_status(status: dict[str, Any]) -> str:
    """``status`` (from :func:`network_status`) as readable text."""
    net, model, council = status["network"], status["model"], status["council"]
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
        f"council  {council['address']}  threshold {council['threshold']} of {len(status['managers'])} managers; "
        f"{_decisions_note(council['open_decisions'])}",
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
        application fee held), ``factor`` (attested by the managers for
        multi-factor election, 0 to 1), ``manager``, ``round`` with
        ``committee`` (whether it sits on that round's committee), and
        ``council``: its ``address``, ``threshold``, ``managers``, the number
        of ``open_decisions`` and ``awaiting``, the ids of those this account
        (a manager) has not approved (empty for other accounts).
    """
    round = ledger.current_round()
    managers = ledger.managers()
    manager = address in managers
    pending = ledger.decisions(open_only=True)
    return {
        "address": address,
        **_standing(ledger, address),
        "factor": from_fixed(ledger.factor(address)),
        "manager": manager,
        "round": round,
        "committee": ledger.is_committee_member(round, address),
        "council": {
            "address": ledger.council(),
            "threshold": ledger.threshold(),
            "managers": managers,
            "open_decisions": len(pending),
            "awaiting": [d.id for d in pending if manager and address not in d.approvals],
        },
    }


def format_account(account: dict[str, Any]) -> str:
    """:func:`account_status` as lines for a terminal."""
    roles = [role for role in ("manager", "committee") if account[role]]
    lines = [
        f"account  {account['address']}: {account['status']}" + (f"; {' and '.join(roles)} in round {account['round']}" if roles else ""),
        f"balance  {account['balance']} wei to withdraw (bflc account withdraw); {account['escrow']} wei fee in escrow",
        f"wallet   {account['native_balance']} wei",
        f"factor   {account['factor']:g} (multi-factor election; attested by the managers)",
    ]
    if account["manager"]:
        council = account["council"]
        awaiting = council["awaiting"]
        lines.append(
            f"council  threshold {council['threshold']} of {len(council['managers'])} managers; {_decisions_note(council['open_decisions'])}"
            + (f"; awaiting this account's approval: {', '.join(map(str, awaiting))}" if awaiting else "")
        )
    return "\n".join(lines)


def call_text(decision: Decision) -> str:
    """A decision's call on one line, its arguments decoded: ``blacklist(node=0x...)``.

    Factors (``attest_factors``) are shown as fractions, ``node=0.8``.

    >>> from bflc.chain.types import to_fixed
    >>> d = Decision(0, "0xA", "BFLC", "attest_factors", {"nodes": ["0xB"], "values": [to_fixed(0.8)]}, b"", 1, 2, (), 1, False, False)
    >>> call_text(d)
    'attest_factors(0xB=0.8)'
    """
    args = decision.args
    if decision.function == "attest_factors":
        shown = [f"{node}={from_fixed(value):g}" for node, value in zip(args["nodes"], args["values"], strict=True)]
    else:
        shown = [f"{name}={_arg_text(value)}" for name, value in args.items()]
    return f"{decision.function}({', '.join(shown)})"


def _arg_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_arg_text(v) for v in value) + "]"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def format_decisions(decisions: Sequence[Decision]) -> str:
    """Decisions (:meth:`~bflc.chain.ledger.Ledger.decisions`) as lines for a terminal."""
    lines = []
    for d in decisions:
        who = f" ({', '.join(d.approvals)})" if d.approvals else ""
        lines += [
            f"decision {d.id}  {d.status}  {len(d.approvals)} of {d.threshold} approvals{who}",
            f"  {d.target}.{call_text(d)}",
            f"  proposed by {d.proposer} in block {d.proposed_block}; open until block {d.expiry_block}",
        ]
    return "\n".join(printable(line) for line in lines)


def _decisions_note(count: int) -> str:
    return f"{count} open decision{'' if count == 1 else 's'}" + (" (bflc admin decisions)" if count else "")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"

