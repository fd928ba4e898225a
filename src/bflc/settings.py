"""Settings shared by every way of running bflc, declared once.

:class:`TrainingSettings` is how a node trains and scores. The simulator
(:class:`bflc.sim.config.SimConfig`), the network file
(:class:`bflc.net.network.LearningSettings`), the local cluster and every
learner take it as it is; CLI flags and the network file's keys are derived
from its fields (each field's ``metadata["help"]`` is the flag's help).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bflc.errors import require


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with a default and the help text of its CLI flag.

    Parameters
    ----------
    default:
        The field's default.
    help:
        One line for ``--help``; ``%(default)s`` is filled in by argparse.
    **metadata:
        Further metadata, e.g. ``flag="--qualify-top"`` when the flag is not
        the field's name with dashes, or ``choices=(...)``.
    """
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class TrainingSettings:
    """How a node trains its update and how a committee member scores one.

    The same settings on every node keep updates comparable; the defaults
    are settings that learn on FEMNIST-sized tasks (the demo's).

    Parameters
    ----------
    local_epochs:
        Passes over the node's own data per update.
    batch_size:
        Samples per SGD step.
    lr:
        Local learning rate.
    momentum:
        Local SGD momentum (0 for plain SGD).
    max_validation_samples:
        A committee member scores each update on at most this many of its
        own samples (the first ones).
    sample_cap:
        The aggregate clips each qualified update's claimed sample count to
        this multiple of the round's median claim, so that no node dominates
        FedAvg by inflating its count
        (:func:`bflc.aggregate.capped_sample_weights`); 0 turns clipping off,
        as in the paper's plain FedAvg.
    max_loss_ratio:
        A committee member scores an update 0 when the update's loss on the
        member's validation data is above this multiple of the current
        global model's loss there (the reference); otherwise the update
        scores its accuracy. While the model is weak every update's accuracy
        is near chance and accuracy alone cannot tell a poisoned update from
        an honest one; the loss can (docs/decisions/0008). 0 turns the
        reference off: the paper's plain accuracy score.
    screen_similarity:
        The coalition screen against backdoors (decision 0010): a committee
        member scores 0 an update whose change from the global model, less
        the round's median change, has a cosine similarity above this with
        another update's (:func:`bflc.defence.coalition_screen`). Honest
        non-IID changes point their own ways; trainers who share a poisoning
        goal push the same way. 0 turns it off.
    screen_push:
        The coalition screen's memory (decision 0010): a committee member
        scores 0 an update whose change goes further than this, in median
        change lengths, along the residual of an update of another provider
        that the committee rejected in the last
        :data:`bflc.roles.member.MEMORY_ROUNDS` rounds
        (:func:`bflc.defence.push_screen`). It catches a coalition's lone
        attacker, and a round the coalition holds the most of. 0 turns it off.
    norm_clip:
        The aggregate scales each qualified update's change from the global
        model down to at most this multiple of the median change's length
        (:func:`bflc.defence.clip_to_median_norm`), so that no update
        weighs more by being longer. 0 turns it off: plain FedAvg.

    Raises
    ------
    ConfigError
        Naming the field, if a value is out of range.
    """

    local_epochs: int = setting(2, "local epochs per update (default: %(default)s)")
    batch_size: int = setting(10, "local batch size (default: %(default)s)")
    lr: float = setting(0.05, "local learning rate (default: %(default)s)")
    momentum: float = setting(0.9, "local SGD momentum; 0 = plain SGD (default: %(default)s)")
    max_validation_samples: int = setting(200, "samples a committee member scores each update on (default: %(default)s)")
    sample_cap: float = setting(
        4.0, "clip each claimed sample count to this multiple of the round's median claim; 0 = off (default: %(default)s)"
    )
    max_loss_ratio: float = setting(
        4.0,
        "a committee member scores 0 an update whose loss on its data is above this multiple of the global model's; "
        "0 = off, the paper's plain accuracy score (default: %(default)s)",
    )
    screen_similarity: float = setting(
        0.0,
        "coalition screen against backdoors: a committee member scores 0 an update whose change, less the round's median "
        "change, has cosine above this with another update's; 0 = off, e.g. 0.25 (default: %(default)s)",
    )
    screen_push: float = setting(
        0.0,
        "the coalition screen's memory: a committee member scores 0 an update whose change goes further than this "
        "(in median change lengths) along an update the committee rejected in recent rounds; 0 = off, e.g. 0.2 "
        "(default: %(default)s)",
    )
    norm_clip: float = setting(
        0.0,
        "the aggregate clips each qualified update's change to this multiple of the median change's length; "
        "0 = off, e.g. 1 (default: %(default)s)",
    )

    def __post_init__(self) -> None:
        require(
            [
                (self.local_epochs >= 1, "local_epochs must be at least 1"),
                (self.batch_size >= 1, "batch_size must be at least 1"),
                (self.lr > 0, "lr must be positive"),
                (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
                (self.max_validation_samples >= 1, "max_validation_samples must be at least 1"),
                (self.sample_cap == 0 or self.sample_cap >= 1, "sample_cap must be 0 (off) or at least 1"),
                (self.max_loss_ratio == 0 or self.max_loss_ratio >= 1, "max_loss_ratio must be 0 (off) or at least 1"),
                (0 <= self.screen_similarity <= 1, "screen_similarity must be 0 (off) or in (0, 1]"),
                (self.screen_push >= 0, "screen_push must be 0 (off) or positive"),
                (self.norm_clip == 0 or self.norm_clip >= 1, "norm_clip must be 0 (off) or at least 1"),
            ],
            "training setting",
        )

    @property
    def sample_cap_or_none(self) -> float | None:
        """``sample_cap``, or ``None`` when clipping is off."""
        return self.sample_cap or None

    @property
    def norm_clip_or_none(self) -> float | None:
        """``norm_clip``, or ``None`` when clipping is off."""
        return self.norm_clip or None
