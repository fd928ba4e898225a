"""The watcher's step: the deadline duties that keep a round from stalling.

After a phase's deadline anyone may close it: the commitments that came in
go on to be revealed, the reveals that came in go on to be scored, and the
updates with a quorum of votes are final. After the round deadline the
managers replace a committee that did not finish (a council decision), or any
admitted node re-elects one from the last round's qualified providers.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from bflc.chain import NodeStatus, Phase, ProtocolParams, RoundState
from bflc.protocol import elected_size, is_quorum
from bflc.roles.base import ChainRole


class Duty(enum.Enum):
    """What a watcher did in one pass."""

    NOTHING = "nothing"
    CLOSED_PHASE = "phase closed"
    REPLACED_COMMITTEE = "committee replaced"
    REELECTED_COMMITTEE = "committee re-elected"
    STUCK = "stuck"


@dataclass
class Watcher(ChainRole):
    """The liveness duties of one node.

    Parameters
    ----------
    params:
        The contract's protocol parameters (deadlines, committee size).
    is_manager:
        Whether this node may replace a committee (keyword only).

    See :class:`~bflc.roles.base.ChainRole` for the others.
    """

    params: ProtocolParams
    is_manager: bool = field(default=False, kw_only=True)

    def phase_overdue(self, state: RoundState, block: int) -> bool:
        """Whether ``state``'s round is still committing, revealing or scoring past that phase's deadline."""
        deadline = self.params.deadline_blocks(state.phase)
        return deadline > 0 and block >= state.phase_start_block + deadline

    def round_overdue(self, state: RoundState, block: int) -> bool:
        """Whether ``state``'s round is past its round deadline."""
        return block >= state.start_block + self.params.round_deadline_blocks

    def scoring_complete(self, state: RoundState) -> bool:
        """Whether every member has scored every update: scoring may close before its deadline.

        The member whose vote completes scoring closes it at once; this
        covers a member that crashed in between.
        """
        return state.phase is Phase.SCORING and all(v is not None for votes in self.ledger.votes(state.round) for v in votes)

    def close_phase(self, round: int) -> None:
        """Close the current phase: commitments go on to reveals, reveals to scoring, quorum updates are final."""
        with self.timer.phase("chain"):
            self.ledger.close_phase(round)

    def can_close(self, state: RoundState) -> bool:
        """Whether closing would keep anything: a commitment, a revealed update, an update with a quorum."""
        if state.phase is Phase.COMMIT:
            return state.num_commits > 0
        updates = self.ledger.round_updates(state.round, with_votes=False)
        if state.phase is Phase.REVEAL:
            return bool(updates)
        return any(is_quorum(u.num_votes, len(state.committee)) for u in updates)

    def committee_of(self, candidates: Sequence[str]) -> list[str]:
        """The committee a manager seats from ``candidates`` (eligible, in order): odd, at least the minimum, else none."""
        return list(candidates[: elected_size(len(candidates), self.params.committee_size, self.params.min_committee_size)])

    def eligible(self, candidates: Sequence[str], state: RoundState) -> list[str]:
        """The ``candidates`` who may sit on the next committee: admitted, not on it now, distinct, in order."""
        members: list[str] = []
        taken = {m.lower() for m in state.committee}
        for address in candidates:
            if address.lower() not in taken and self.ledger.status(address) is NodeStatus.ADMITTED:
                members.append(address)
                taken.add(address.lower())
        return members

    def replace_committee(self, round: int, members: Sequence[str]) -> None:
        """As a manager, decide to seat ``members`` as the committee of a round past its deadline.

        Managers decide by a threshold: an open decision to replace this
        round's committee with the same members is approved rather than
        proposed again, and once this manager approves one it waits for the
        others. A decision for other members is left alone: approving it
        would let any one manager choose the committee.
        """
        wanted = [m.lower() for m in members]
        with self.timer.phase("chain"):
            for decision in self.ledger.decisions(open_only=True):
                if decision.function != "replace_committee" or decision.args["round"] != round:
                    continue
                if any(a.lower() == self.ledger.account.lower() for a in decision.approvals):
                    return
                if [m.lower() for m in decision.args["members"]] == wanted:
                    self.ledger.approve(decision.id)
                    return
            self.ledger.replace_committee(round, list(members))

    def providers(self, update_ids: Sequence[int]) -> list[str]:
        """The providers of ``update_ids``, in order."""
        return [self.ledger.update(uid, with_votes=False).provider for uid in update_ids]

    def live_nodes(self, state: RoundState) -> list[str]:
        """Nodes known to be alive: this round's trainers, then last round's qualified providers."""
        ids = self.ledger.round_update_ids(state.round)
        if state.round > 0:
            ids += self.ledger.qualified(state.round - 1)
        return self.providers(ids)

    def next_duty(self, state: RoundState) -> tuple[Duty, list[str]]:
        """The deadline duty ``state`` calls for (reads only).

        Returns
        -------
        tuple[Duty, list[str]]
            The duty, and for :attr:`Duty.REPLACED_COMMITTEE` the new committee.
        """
        block = self.ledger.block_number()
        if (self.phase_overdue(state, block) or self.scoring_complete(state)) and self.can_close(state):
            return Duty.CLOSED_PHASE, []
        if not self.round_overdue(state, block):
            return Duty.NOTHING, []
        if self.is_manager:
            members = self.committee_of(self.eligible(self.live_nodes(state), state))
            if members:
                return Duty.REPLACED_COMMITTEE, members
        if state.round > 0 and self.committee_of(self.eligible(self.providers(self.ledger.qualified(state.round - 1)), state)):
            return Duty.REELECTED_COMMITTEE, []
        return Duty.STUCK, []

    def perform(self, round: int, duty: Duty, members: Sequence[str] = ()) -> None:
        """Send the transaction of ``duty`` (from :meth:`next_duty`) for ``round``."""
        if duty is Duty.CLOSED_PHASE:
            self.close_phase(round)
        elif duty is Duty.REPLACED_COMMITTEE:
            self.replace_committee(round, members)
        elif duty is Duty.REELECTED_COMMITTEE:
            with self.timer.phase("chain"):
                self.ledger.reelect_committee(round)
