"""The JSON documents of the dashboard's API, built from a :class:`ChainView`.

Conventions (stable keys, documented in docs/dashboard.md): addresses are
checksummed; blob hashes are 64 lowercase hex characters as in the blob
store; scores and medians are floats in [0, 1] (the chain's fixed point
divided by ``SCORE_ONE``, so every value is exact); amounts of wei are
decimal strings, since JavaScript numbers are exact only up to 2**53.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bflc.chain.types import Decision, ModelRecord, ProtocolParams, UpdateRecord, from_fixed
from bflc.dashboard.accuracy import NodeReports
from bflc.dashboard.chain import ChainView, RoundData
from bflc.dashboard.events import NOTABLE, LoggedEvent, label
from bflc.dashboard.verdicts import judge_round
from bflc.errors import BflcError
from bflc.net.status import call_text, phase_deadline_block
from bflc.storage import bytes32_to_hash

NO_PROPOSAL = bytes(32)
# How a finished round ended, by the event that ended it (and its round argument).
ROUND_ENDINGS = (
    ("ModelAccepted", "round", "aggregated"),
    ("RoundSkipped", "round", "skipped"),
    ("CommitteeReplaced", "round", "committee_replaced"),
    ("Failback", "from_round", "failback"),
)


class NotFound(BflcError):
    """The request names a round or node the chain does not know."""


def _model(record: ModelRecord) -> dict[str, Any]:
    return {
        "round": record.round,
        "hash": bytes32_to_hash(record.blob_hash),
        "uri": record.uri,
        "origin": label(record.origin),
        "block": record.block,
    }


def _params(p: ProtocolParams) -> dict[str, Any]:
    return {
        "committee_size": p.committee_size,
        "min_committee_size": p.min_committee_size,
        "updates_per_round": p.updates_per_round,
        "qualify_top_fraction": p.qualify_top_fraction,
        "min_score": p.min_score,
        "relative_min_score": p.relative_min_score,
        "election": label(p.election),
        "score_weight": p.score_weight,
        "factor_weight": p.factor_weight,
        "commit_deadline_blocks": p.commit_deadline_blocks,
        "reveal_deadline_blocks": p.reveal_deadline_blocks,
        "score_deadline_blocks": p.score_deadline_blocks,
        "round_deadline_blocks": p.round_deadline_blocks,
        "permission_fee_wei": str(p.permission_fee),
        "round_reward_wei": str(p.round_reward),
        "committee_share": p.committee_share,
    }


def _deadline(view: ChainView, block: int | None) -> dict[str, Any] | None:
    if block is None:
        return None
    return {"block": block, "blocks_left": max(0, block - view.head), "passed": view.head >= block}


def _proposal(view: ChainView, round: int, member: str) -> str | None:
    raw = view.proposal(round, member)
    return None if raw == NO_PROPOSAL else bytes32_to_hash(raw)


def _members(view: ChainView, data: RoundData) -> list[dict[str, Any]]:
    """Each member of the round's committee with its votes and proposal."""
    managers = set(view.managers())
    return [
        {
            "address": member,
            "manager": member in managers,
            "votes": sum(member in u.voters for u in data.updates),
            "proposal": _proposal(view, data.round, member),
        }
        for member in data.committee
    ]


def _check_round(view: ChainView, round: int) -> None:
    current = view.state().round
    if not 0 <= round <= current:
        raise NotFound(f"round {round} has not started", f"the current round is {current}")


# ---------------------------------------------------------------- documents


def overview(view: ChainView) -> dict[str, Any]:
    """``/api/overview``: where the network stands now."""
    state, params = view.state(), view.params()
    data = view.round(state.round)
    return {
        "network": {"address": view.address, "rpc": view.rpc, "chain_id": view.chain_id(), "deployed_block": view.deployed_block},
        "block": view.head,
        "round": state.round,
        "phase": label(state.phase),
        "round_start_block": state.start_block,
        "phase_start_block": state.phase_start_block,
        "deadlines": {
            "phase": _deadline(view, phase_deadline_block(state, params)),
            "round": _deadline(view, state.start_block + params.round_deadline_blocks),
        },
        "updates": {
            "commitments": state.num_commits,
            "revealed": len(data.updates),
            "final": state.num_final,
            "needed": params.updates_per_round,
        },
        "committee": _members(view, data),
        "model": _model(state.model),
        "managers": view.managers(),
        "reward_pool_wei": str(view.reward_pool()),
        "params": _params(params),
    }


def round_detail(view: ChainView, round: int) -> dict[str, Any]:
    """``/api/rounds/{r}``: every update with each committee score, its median and verdict."""
    _check_round(view, round)
    state = view.state()
    data = view.round(round)
    current = round == state.round
    trigger = _trigger(view, round)
    judged = judge_round(
        data.updates,
        len(data.committee),
        view.params(),
        closed=trigger is not None,
        current=current,
        blacklisted=_blacklisted_before(view, trigger),
    )
    return {
        "round": round,
        "current": current,
        "status": label(state.phase) if current else _ending(view, round),
        "committee": _members(view, data),
        "model": _model(view.model(round)),
        "next_model": None if current else _model(view.model(round + 1)),
        "qualified": list(data.qualified),
        "updates_needed": view.params().updates_per_round,
        "updates": [{**_update(u), **asdict(judged[u.update_id])} for u in data.updates],
    }


def _update(u: UpdateRecord) -> dict[str, Any]:
    return {
        "id": u.update_id,
        "round": u.round,
        "provider": u.provider,
        "blob_hash": bytes32_to_hash(u.blob_hash),
        "n_samples": u.n_samples,
        "num_votes": u.num_votes,
        "final": u.final,
        "median": from_fixed(u.median) if u.final else None,
        "scores": {member: from_fixed(score) for member, score in zip(u.voters, u.scores, strict=True)},
    }


def _trigger(view: ChainView, round: int) -> LoggedEvent | None:
    """The event that closed scoring of ``round`` and fixed its qualified set, if any."""
    return next((e for e in view.events().named("AggregationTriggered") if e.args["round"] == round), None)


def _blacklisted_before(view: ChainView, event: LoggedEvent | None) -> set[str]:
    """Nodes blacklisted before ``event`` was logged (their updates could not qualify)."""
    if event is None:
        return set()
    at = (event.block, event.log_index)
    return {e.args["node"] for e in view.events().named("NodeBlacklisted") if (e.block, e.log_index) < at}


def _ending(view: ChainView, round: int) -> str:
    events = view.events()
    for name, key, ending in ROUND_ENDINGS:
        if any(e.args[key] == round for e in events.named(name)):
            return ending
    return "ended"


def models(view: ChainView, accuracies: NodeReports) -> dict[str, Any]:
    """``/api/models``: the accepted model of every round, with its accuracy if nodes reported one."""
    history = []
    measured_by_hash = accuracies.by_hash()
    for r in range(view.state().round + 1):
        entry = _model(view.model(r))
        measured = measured_by_hash.get(entry["hash"])
        if measured is None:
            history.append({**entry, "accuracy": None, "reports": 0})
        else:
            history.append({**entry, "accuracy": measured.mean, "reports": measured.reports})
    return {"accuracy_source": accuracies.source, "models": history}


def _known_nodes(view: ChainView) -> list[str]:
    """Managers first, then every node the events name, in order of first appearance."""
    seen = dict.fromkeys(view.managers())
    for event in view.events().events:
        for key in ("node", "provider"):
            if key in event.args:
                seen.setdefault(event.args[key])
        for member in event.args.get("members", ()):
            seen.setdefault(member)
    return list(seen)


def _terms(view: ChainView, address: str) -> list[int]:
    return [r for r in range(view.state().round + 1) if address in view.committee(r)]


def _rewards(view: ChainView, address: str) -> list[LoggedEvent]:
    return [e for e in view.events().named("RewardPaid") if e.args["node"] == address]


def _node(view: ChainView, address: str) -> dict[str, Any]:
    account = view.account(address)
    return {
        "address": address,
        "manager": address in view.managers(),
        "status": label(account.status),
        "balance_wei": str(account.balance),
        "escrow_wei": str(account.escrow),
        "rewards_wei": str(sum(e.args["amount"] for e in _rewards(view, address))),
        "committee_terms": _terms(view, address),
        "submission_count": sum(e.args["provider"] == address for e in view.events().named("UpdateSubmitted")),
    }


def nodes(view: ChainView) -> dict[str, Any]:
    """``/api/nodes``: every node the contract has seen, with balance, rewards, status and terms."""
    return {"nodes": [_node(view, address) for address in _known_nodes(view)]}


def node_detail(view: ChainView, address: str) -> dict[str, Any]:
    """``/api/nodes/{address}``: one node's submissions, committee terms, rewards and events.

    ``address`` is checksummed.

    Each submission comes with the scores it received, each term with the
    node's votes and proposals.
    """
    if address not in _known_nodes(view):
        raise NotFound(f"the contract has no record of node {address}")
    submitted = sorted({e.args["round"] for e in view.events().named("UpdateSubmitted") if e.args["provider"] == address})
    submissions = [u for r in submitted for u in round_detail(view, r)["updates"] if u["provider"] == address]
    terms = [
        {"round": r, "votes": member["votes"], "proposal": member["proposal"]}
        for r in _terms(view, address)
        for member in _members(view, view.round(r))
        if member["address"] == address
    ]
    return {
        **_node(view, address),
        "submissions": submissions,
        "terms": terms,
        "rewards": [
            {"round": e.args["round"], "amount_wei": str(e.args["amount"]), "for_committee": e.args["for_committee"]}
            for e in _rewards(view, address)
        ],
        "events": [e.to_json() for e in view.events().named(*NOTABLE) if address in _named_in(e)],
    }


def _named_in(event: LoggedEvent) -> set[str]:
    return {v for k, v in event.args.items() if k in ("node", "by", "proposer", "manager")} | set(event.args.get("members", ()))


def events(view: ChainView, everything: bool = False, limit: int = 200) -> dict[str, Any]:
    """``/api/events``: the notable events, newest first.

    Admissions, blacklistings, leaves, committee replacements, skipped rounds,
    failbacks and the council's decisions and membership (``everything``:
    every watched event).
    """
    log = view.events()
    chosen = log.events if everything else log.named(*NOTABLE)
    return {"events": [e.to_json() for e in reversed(chosen[-limit:])] if limit > 0 else []}


def _decision(view: ChainView, decision: Decision) -> dict[str, Any]:
    return {**decision.to_json(), "call": call_text(decision), "expiry": _deadline(view, decision.expiry_block)}


def decisions(view: ChainView) -> dict[str, Any]:
    """``/api/decisions``: the council, its threshold and its open decisions, oldest first.

    Each decision is :meth:`~bflc.chain.types.Decision.to_json` with its
    ``call`` on one line (arguments decoded) and its ``expiry`` as a deadline.
    """
    return {
        "council": view.council(),
        "managers": view.managers(),
        "threshold": view.threshold(),
        "decisions": [_decision(view, d) for d in view.open_decisions()],
    }


def snapshot(view: ChainView, accuracies: NodeReports, round: int | None = None, events_limit: int = 50) -> dict[str, Any]:
    """``/api/snapshot``: what the page shows, read at one block.

    The overview, round ``round`` (the current one when ``None`` or later), the
    models, the nodes, the council's open decisions and the latest notable
    events.
    """
    now = overview(view)
    shown = now["round"] if round is None else min(round, now["round"])
    return {
        "overview": now,
        "round": round_detail(view, shown),
        "models": models(view, accuracies),
        "nodes": nodes(view),
        "decisions": decisions(view),
        "events": events(view, limit=events_limit),
    }
