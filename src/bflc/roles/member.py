"""The committee member's step: fetch and check the round's updates, score them in a batch, vote."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bflc.attacks import HONEST, Misbehaviour, collude
from bflc.chain import UpdateRecord, to_fixed
from bflc.defence import MIN_SCREENED, Screen, coalition_screen, corroborated, push_screen, suspect_directions
from bflc.errors import BlobError, BlobUnavailable, LearnerError, UnverifiedBlob
from bflc.ml.models import Params, Score, flatten
from bflc.roles.base import LearningRole
from bflc.settings import TrainingSettings
from bflc.storage import bytes32_to_hash

# The screen's memory (``screen_push``) holds the updates rejected in this many earlier rounds.
MEMORY_ROUNDS = 10


@dataclass(frozen=True)
class Suspect:
    """An update the committee rejected, remembered by the screen: its provider and the direction it pushed in."""

    provider: str
    update_id: int
    direction: np.ndarray


class SuspectMemory:
    """The directions of the last :data:`MEMORY_ROUNDS` rounds' rejected updates, by round, computed once each.

    One per node (or one for all of the simulator's virtual nodes): a past
    round's records and blobs do not change, so neither do its suspects.
    """

    def __init__(self) -> None:
        self._rounds: dict[int, list[Suspect]] = {}
        self._window: tuple[int, list[Suspect]] | None = None

    def get(self, round: int) -> list[Suspect] | None:
        """The suspects of ``round`` if known."""
        return self._rounds.get(round)

    def window(self, round: int) -> list[Suspect] | None:
        """The corroborated suspects that the screen of ``round`` uses, if known (every member of the round uses the same)."""
        return self._window[1] if self._window is not None and self._window[0] == round else None

    def keep_window(self, round: int, suspects: list[Suspect]) -> None:
        """Remember the corroborated suspects of ``round``'s screen (only the latest round's)."""
        self._window = (round, suspects)

    def keep(self, round: int, suspects: list[Suspect]) -> None:
        """Remember the suspects of ``round``; forget rounds too old to matter from it on."""
        self._rounds[round] = suspects
        for old in [r for r in self._rounds if r < round - MEMORY_ROUNDS]:
            del self._rounds[old]


@dataclass(frozen=True)
class Judgement:
    """A member's scores of some updates, in their order, and why any was rejected.

    ``rejected`` maps an update id to the reason it scores 0: its blob was
    unusable, the learner failed on it, or its loss broke the reference rule
    (:func:`reference_score`). ``unverified`` holds those of them whose blob the store had no
    verified copy of (missing or changed): not necessarily their trainer's
    fault, so a runner may wait for the copy before voting. ``by_reference``
    holds those the reference rule scored 0: a usable update this member
    judged too poor on its own data, which the committee's median may
    overrule (an honest update can fail it on one member's non-IID data).
    ``screened`` holds those the coalition screen scored 0
    (:meth:`CommitteeMember.screen`), a judgement too.
    """

    scores: list[float]
    rejected: dict[int, str] = field(default_factory=dict)
    unverified: frozenset[int] = frozenset()
    by_reference: frozenset[int] = frozenset()
    screened: frozenset[int] = frozenset()


@dataclass
class CommitteeMember(LearningRole):
    """A node's committee role: score every update of the round on its own data.

    Parameters
    ----------
    misbehaviour:
        Whom a malicious member favours (default: nobody).
    max_loss_ratio:
        The reference rule (:func:`reference_score`): an update whose loss
        here is above this multiple of the global model's scores 0; 0 turns
        it off. The network's ``TrainingSettings.max_loss_ratio``.
    screen_similarity:
        The coalition screen (:func:`bflc.defence.coalition_screen`): an
        update whose change, less the round's median change, is more similar
        than this to another update's scores 0; 0 turns it off. The
        network's ``TrainingSettings.screen_similarity``.
    screen_push:
        The screen's memory (:func:`bflc.defence.push_screen`): an update
        whose change goes further than this, in median change lengths, along
        the direction of an update the committee rejected in the last
        :data:`MEMORY_ROUNDS` rounds scores 0; 0 turns it off. The
        network's ``TrainingSettings.screen_push``.
    memory:
        Where the remembered directions are kept between rounds (a new one
        when not given: each round then recomputes them).

    See :class:`~bflc.roles.base.LearningRole` for the others.
    """

    misbehaviour: Misbehaviour = HONEST
    max_loss_ratio: float = TrainingSettings.max_loss_ratio
    screen_similarity: float = TrainingSettings.screen_similarity
    screen_push: float = TrainingSettings.screen_push
    memory: SuspectMemory = field(default_factory=SuspectMemory)

    def judge(self, round: int, updates: Sequence[UpdateRecord], peers: Sequence[UpdateRecord] = ()) -> Judgement:
        """The member's score of each update: its accuracy here, 0 for an unusable blob.

        The round's global model is scored in the same batch, as the
        reference of :func:`reference_score`: an update much worse than the
        model it started from scores 0. An update that the learner fails on
        (raises, or gives a score that is not a finite number) scores 0 too,
        with the reason, as long as the learner scores some other update of
        the batch: then the update, not this node, is at fault. With the
        coalition screen on, an update that :func:`screen` flags among
        ``updates`` and ``peers`` (the round's other updates, those this
        member already voted on) scores 0 as well.

        Raises
        ------
        BlobUnavailable
            If the store did not answer: the update is not at fault, so the
            caller tries again instead of voting 0.
        LearnerError
            If the learner failed on every candidate: this node cannot score
            now, and nobody should get 0 for it.
        """
        scores = [0.0] * len(updates)
        rejected: dict[int, str] = {}
        unverified: set[int] = set()
        by_reference: set[int] = set()
        screened: set[int] = set()
        candidates: list[Params] = []
        positions: list[int] = []
        for k, update in enumerate(updates):
            blob = bytes32_to_hash(update.blob_hash)
            try:
                candidates.append(self.blobs.fetch(blob))
                positions.append(k)
            except BlobUnavailable:
                raise
            except BlobError as error:
                rejected[update.update_id] = self.blobs.why_rejected(error)
                if isinstance(error, UnverifiedBlob):
                    unverified.add(update.update_id)
        if candidates:
            with self.timer.phase("score"):
                reference, outcomes = self._score_each(round, candidates)
                for k, outcome in zip(positions, outcomes, strict=True):
                    judged = outcome if isinstance(outcome, str) else reference_score(outcome, reference, self.max_loss_ratio)
                    if isinstance(judged, str):
                        rejected[updates[k].update_id] = judged
                        if not isinstance(outcome, str):
                            by_reference.add(updates[k].update_id)
                    else:
                        scores[k] = min(max(judged, 0.0), 1.0)
            position = {update.update_id: k for k, update in enumerate(updates)}
            for update_id, reason in self.screen(round, updates, peers).items():
                if update_id not in rejected:
                    scores[position[update_id]] = 0.0
                    rejected[update_id] = reason
                    screened.add(update_id)
        if self.misbehaviour.colluders:
            favoured = [self.misbehaviour.favours(update.provider) for update in updates]
            scores = collude(scores, favoured, self.seeds.collusion(round))
        return Judgement(scores, rejected, frozenset(unverified), frozenset(by_reference), frozenset(screened))

    def screen(self, round: int, updates: Sequence[UpdateRecord], peers: Sequence[UpdateRecord] = ()) -> dict[int, str]:
        """The coalition screen's verdict: the ids among ``updates`` it flags, with the reason.

        The screen runs over every update of ``updates`` and ``peers`` whose
        blob this member can use, as changes from the round's global model.
        With ``screen_push`` on, an update that goes far along a remembered
        suspect direction of another provider is flagged first
        (:func:`bflc.defence.push_screen`); the rest go through
        :func:`bflc.defence.coalition_screen`. Nothing is flagged with the
        screen off. Blobs are fetched from the local cache when the member
        has scored them already.
        """
        if not (self.screen_similarity or self.screen_push):
            return {}
        every = {update.update_id: update for update in [*peers, *updates]}
        with self.timer.phase("screen"):
            ids, deltas = self._changes(round, sorted(every.values(), key=lambda u: u.update_id))
            if not ids:
                return {}
            reasons: dict[int, str] = {}
            suspects = self._suspects(round) if self.screen_push else []
            if suspects:
                exclude = [[suspect.provider == every[i].provider for suspect in suspects] for i in ids]
                pushed = push_screen(deltas, np.stack([s.direction for s in suspects]), self.screen_push, exclude)
                for i in pushed.flagged:
                    reasons[ids[i]] = (
                        f"its change goes {pushed.similarity[i]:.2f} median change lengths along the direction of update "
                        f"{suspects[pushed.partner[i]].update_id}, which the committee rejected, above {pushed.threshold:g} (screen memory)"
                    )
            rest = [k for k, update_id in enumerate(ids) if update_id not in reasons]
            if self.screen_similarity and rest:
                verdict: Screen = coalition_screen(deltas[rest], self.screen_similarity)
                for i in verdict.flagged:
                    reasons[ids[rest[i]]] = (
                        f"its change from the global model, less the round's median change, has cosine {verdict.similarity[i]:.2f} "
                        f"with update {ids[rest[verdict.partner[i]]]}'s, above {verdict.threshold:.2f} (coalition screen)"
                    )
        wanted = {update.update_id for update in updates}
        return {update_id: reason for update_id, reason in reasons.items() if update_id in wanted}

    def _changes(self, round: int, updates: Sequence[UpdateRecord]) -> tuple[list[int], np.ndarray]:
        """The ids of the updates whose blob is usable, and their changes from the round's global model, one row each."""
        base = flatten(self._global_model(round)).astype(np.float64)
        ids: list[int] = []
        rows: list[np.ndarray] = []
        for update in updates:
            try:
                rows.append(flatten(self.blobs.fetch(bytes32_to_hash(update.blob_hash))) - base)
            except BlobError:  # unusable or missing: scored 0 (or awaited) on its own
                continue
            ids.append(update.update_id)
        return ids, (np.stack(rows) if rows else np.zeros((0, base.size)))

    def _suspects(self, round: int) -> list[Suspect]:
        """The remembered directions: the rejected updates of the last :data:`MEMORY_ROUNDS` rounds, as the chain records them.

        An update counts as rejected when its committee's median score is 0
        (screened, or failing the reference rule, by a majority of its
        committee); its direction is its residual in its own round
        (:func:`bflc.defence.suspect_directions`). Only directions that
        another provider's rejected update shares are kept
        (:func:`bflc.defence.corroborated`): a coalition's pushes resemble
        each other, an honest update rejected by mistake goes its own way.
        """
        window = self.memory.window(round)
        if window is not None:
            return window
        found: list[Suspect] = []
        for earlier in range(max(0, round - MEMORY_ROUNDS), round):
            known = self.memory.get(earlier)
            if known is None:
                records = self.ledger.round_updates(earlier, with_votes=False)
                known = []
                if any(record.final and record.median == 0 for record in records):
                    ids, deltas = self._changes(earlier, records)
                    by_id = {record.update_id: record for record in records}
                    rejected = [k for k, i in enumerate(ids) if by_id[i].final and by_id[i].median == 0]
                    if len(ids) >= MIN_SCREENED:
                        kept, directions = suspect_directions(deltas, rejected)
                        known = [Suspect(by_id[ids[k]].provider, ids[k], d.astype(np.float32)) for k, d in zip(kept, directions, strict=True)]
                self.memory.keep(earlier, known)
            found.extend(known)
        if found:
            found = [found[k] for k in corroborated(np.stack([s.direction for s in found]), [s.provider for s in found])]
        self.memory.keep_window(round, found)
        return found

    def _score_each(self, round: int, candidates: list[Params]) -> tuple[Score | None, list[Score | str]]:
        """The round's global model's score and each candidate's, or why the learner could not score it.

        One batch first (the global model first); if the learner raises,
        each model alone, so one model that breaks it (a Flower client, a
        custom learner) costs only that model a 0. If it fails on every
        candidate and on the global model, this node cannot score
        (LearnerError). The global model's score is ``None`` when the rule
        is off or the learner cannot score it (the rule is then not applied).
        """
        with_reference = bool(self.max_loss_ratio)
        models = [self._global_model(round), *candidates] if with_reference else candidates
        try:
            outcomes = [_checked(score) for score in self.learner.score(models)]
        except Exception:  # the learner may be anyone's code
            outcomes = [self._score_alone(model) for model in models]
        reference = outcomes.pop(0) if with_reference else None
        # all failed: the global model (scored above when the rule is on) says whose fault it is
        if all(isinstance(outcome, str) for outcome in outcomes) and isinstance(
            reference if with_reference else self._score_alone(self._global_model(round)), str
        ):
            raise LearnerError(
                f"the learner cannot score the global model either: {outcomes[0]}",
                "check this node's data and model code; it votes once it can score",
            )
        return (reference if isinstance(reference, Score) else None), outcomes

    def _global_model(self, round: int) -> Params:
        return self.blobs.fetch(bytes32_to_hash(self.ledger.model(round).blob_hash))

    def _score_alone(self, candidate: Params) -> Score | str:
        try:
            return _checked(self.learner.score([candidate])[0])
        except Exception as error:  # the learner may be anyone's code
            return f"scoring failed ({type(error).__name__}: {error})"

    def vote(self, round: int, update_ids: Sequence[int], scores: Sequence[float]) -> None:
        """Record the scores on chain (in batches; the last vote on an update computes its median)."""
        with self.timer.phase("chain"):
            self.ledger.submit_scores(round, list(update_ids), [to_fixed(float(s)) for s in scores])


# A global model's loss below this counts as this much in reference_score: a
# model that fits a member's data perfectly would otherwise refuse every update.
MIN_REFERENCE_LOSS = 0.01


def reference_score(update: Score, reference: Score | None, max_loss_ratio: float) -> float | str:
    """A member's score of an update: its accuracy, or why it scores 0.

    The reference rule: an update whose loss on the member's data is above
    ``max_loss_ratio`` times the loss of the round's global model (the
    ``reference``, which every update started from) scores 0. While the model
    is weak every update's accuracy is near chance, so a poisoned update's
    accuracy alone can match an honest one's; its loss does not
    (docs/decisions/0008-reference-loss-rule.md). With the rule off
    (``max_loss_ratio`` 0) or no reference, the accuracy as it is.

    >>> reference_score(Score(0.08, 3.9), Score(0.07, 4.1), 4.0)
    0.08
    >>> reference_score(Score(0.08, 80.0), Score(0.07, 4.0), 4.0)
    "loss 80 on this node's data, above 4x the global model's (4)"
    >>> reference_score(Score(0.08, 80.0), Score(0.07, 4.0), 0.0)
    0.08
    """
    if not max_loss_ratio or reference is None or not math.isfinite(reference.loss):
        return update.accuracy
    limit = max_loss_ratio * max(reference.loss, MIN_REFERENCE_LOSS)
    if math.isfinite(update.loss) and update.loss <= limit:
        return update.accuracy
    return f"loss {update.loss:.3g} on this node's data, above {max_loss_ratio:g}x the global model's ({reference.loss:.3g})"


def _checked(score: Score) -> Score | str:
    """``score`` as floats, or the reason it is not a usable one (a non-finite accuracy)."""
    accuracy, loss = float(score[0]), float(score[1])
    return Score(accuracy, loss) if math.isfinite(accuracy) else f"the learner gave a non-finite score ({accuracy})"
