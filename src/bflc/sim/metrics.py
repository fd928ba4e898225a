"""What one simulated round reports."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


def model_quality(loss: float, accuracy: float) -> tuple[float, float | None, bool]:
    """A model's test accuracy and loss as results record them, and whether the model diverged.

    A model diverged when its test loss is not finite: its parameters are
    not finite, or so large that its outputs overflow. Its loss is then
    recorded as ``None`` (JSON has no infinity or NaN).

    Parameters
    ----------
    loss, accuracy:
        Mean test loss and accuracy, as :func:`bflc.ml.train.evaluate` gives them.

    Returns
    -------
    tuple[float, float | None, bool]
        Accuracy and loss rounded to 6 digits (loss ``None`` when not
        finite), and whether the model diverged.
    """
    finite = math.isfinite(loss)
    return round(accuracy, 6), round(loss, 6) if finite else None, not finite


def diverged(metrics: Mapping[str, Any]) -> bool:
    """Whether a recorded round's (or stand-alone epoch's) model diverged.

    Results saved before the flag was recorded tell it by their loss:
    ``None`` (a simulated round) or NaN or infinite (a stand-alone epoch).
    """
    if "diverged" in metrics:
        return bool(metrics["diverged"])
    loss = metrics["loss"]
    return loss is None or not math.isfinite(loss)


@dataclass(frozen=True)
class CommitteeMetrics:
    """What a BFLC round adds: its committee and how the round ended.

    Parameters
    ----------
    committee:
        The members (node indices).
    committee_malicious:
        How many of them are malicious.
    model_accepted:
        Whether a new global model was accepted (``False``: the round kept the model).
    deadline:
        ``None`` when the round ended on its own; otherwise the deadline path
        it took: ``"commitments closed"`` (fewer than K trainers had a usable
        update: the commit phase was closed at its deadline), ``"committee
        replaced"`` (none had: the manager replaced the committee after the
        round deadline) or ``"round restarted"`` (none had, and too few
        trainers were alive for a committee of the minimum size: the manager
        restarted the round with the same committee and model).
    """

    committee: list[int]
    committee_malicious: int
    model_accepted: bool
    deadline: str | None


@dataclass
class RoundMetrics:
    """One round of a simulation, as ``bflc simulate --json`` writes it.

    Parameters
    ----------
    round:
        The round number, from 0.
    trainers:
        The nodes that trained (node indices).
    updates:
        Updates revealed (trainers without a usable update reveal none).
    accepted, rejected:
        Updates that went into the aggregate, and the others.
    malicious_submitted, malicious_accepted:
        Malicious nodes' updates submitted, and let into the aggregate.
    transactions, gas:
        On-chain cost of the round (0 for the baselines).
    transfers:
        Full-model transfers by kind (:mod:`bflc.sim.transfers`); their sum
        is :attr:`transmission_units`.
    committee:
        BFLC's committee metrics (``None`` for the baselines).
    accuracy, loss, diverged:
        The global model's after the round on the pooled test data, and
        whether it diverged (see :func:`model_quality`; ``loss`` is then ``None``).
    backdoor_success:
        The share of triggered test images of other classes than the
        backdoor's target that the global model classifies as the target
        (:func:`bflc.attacks.backdoor_success`); ``None``, and left out of
        the JSON, when the run's attack declares no trigger.
    seconds:
        Wall-clock seconds per phase (train, score, chain, storage,
        aggregate, evaluate): the only entries that differ between runs.
    """

    round: int
    trainers: list[int]
    updates: int
    accepted: int
    rejected: int
    malicious_submitted: int
    malicious_accepted: int
    transactions: int = 0
    gas: int = 0
    transfers: dict[str, int] = field(default_factory=dict)
    committee: CommitteeMetrics | None = None
    accuracy: float = 0.0
    loss: float | None = None
    diverged: bool = False
    backdoor_success: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def tally(
        cls,
        round: int,
        trainers: list[int],
        submitted: Mapping[int, int],
        accepted: Collection[int],
        is_malicious: Callable[[int], bool],
        **rest: Any,
    ) -> RoundMetrics:
        """A round's metrics counted from its updates.

        Parameters
        ----------
        round, trainers:
            As the fields.
        submitted:
            Each usable update (by id) -> the node that sent it.
        accepted:
            The ids of the updates that went into the aggregate.
        is_malicious:
            Whether a node is malicious.
        **rest:
            The other fields.
        """
        malicious = {key for key, node in submitted.items() if is_malicious(node)}
        kept = set(accepted)
        return cls(
            round=round,
            trainers=trainers,
            updates=len(submitted),
            accepted=len(kept),
            rejected=len(submitted) - len(kept),
            malicious_submitted=len(malicious),
            malicious_accepted=len(malicious & kept),
            **rest,
        )

    @property
    def transmission_units(self) -> int:
        """Full-model transfers of the round, every kind together."""
        return sum(self.transfers.values())

    def record_test(self, loss: float, accuracy: float, backdoor_success: float | None = None) -> None:
        """Record the global model's test loss and accuracy (see :func:`model_quality`) and backdoor success after the round."""
        self.accuracy, self.loss, self.diverged = model_quality(loss, accuracy)
        self.backdoor_success = None if backdoor_success is None else round(backdoor_success, 6)

    @property
    def unusable_updates(self) -> int:
        """Trainers without a usable update (their training diverged, or their blob was used before)."""
        return len(self.trainers) - self.updates

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: one flat dict (BFLC's committee keys included only for BFLC, backdoor success only when measured)."""
        values = asdict(self)
        committee = values.pop("committee")
        if self.backdoor_success is None:
            del values["backdoor_success"]
        values["transmission_units"] = self.transmission_units
        values["unusable_updates"] = self.unusable_updates
        if committee is not None:
            values.update(committee)
        return values
