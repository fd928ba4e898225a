"""Simulation settings, validated once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bflc.chain.types import ElectionMode
from bflc.errors import require

AGGREGATORS = ("bflc", "fedavg", "cwmed", "trimmed-mean", "krum", "multi-krum")
ATTACKS = ("gaussian", "sign-flip", "scale", "label-flip")
# Strength of each attack when --attack-scale is not given: the std of the
# Gaussian noise added to every weight, or the factor on the flipped/scaled delta.
# Fields added after full-size results were banked, with their defaults.
LATER_FIELDS: dict[str, Any] = {"sample_cap": None}
DEFAULT_ATTACK_SCALE = {"gaussian": 0.5, "sign-flip": 4.0, "scale": 10.0, "label-flip": 1.0}


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines one simulated run; the same config and seed give
    the same result.

    Parameters
    ----------
    dataset:
        ``femnist``, ``digits`` or ``leaf:DIR``.
    model:
        ``mlp``, ``cnn``, ``leaf-cnn`` or ``alexnet``.
    nodes:
        Number of nodes (writers are taken in order; 0 = all writers).
    active_fraction:
        Fraction of nodes online each round (the paper's k%).
    committee_fraction:
        Fraction of the active nodes that forms the committee (BFLC only).
    updates_per_round:
        K, the updates that trigger aggregation; that many active nodes
        outside the committee train each round (0 = all of them).
    rounds, local_epochs, batch_size, lr, momentum:
        Training settings, the same for every aggregator.
    election:
        ``score``, ``random`` or ``multi-factor``.
    factor_weight:
        Weight of the declared factor in multi-factor election (the median
        score gets the rest). Each node declares a factor drawn uniformly from
        [0, 1], standing for its normalised bandwidth.
    aggregator:
        ``bflc`` runs the protocol on the chain; the others are basic FL with
        that aggregation rule and no committee.
    qualify_top_fraction, relative_min_score:
        BFLC qualification rule (see ``ProtocolParams``).
    malicious_fraction, attack, attack_scale, collude:
        The adversary: which share of nodes is malicious, what their updates
        do, and whether malicious committee members give malicious updates
        high scores.
    trim_beta:
        Fraction cut at each end by trimmed mean.
    max_validation_samples:
        A committee member scores on at most this many of its own samples.
    sample_cap:
        BFLC's committee clips each qualified update's claimed sample count
        to this multiple of the round's median claim before FedAvg (``None``:
        no clipping, as in the paper).
    threads:
        Torch CPU threads. One is fastest for the small per-client batches
        of federated training, and it does not stall when another process
        shares the cores; results are bit-identical only for the same count.
    seed:
        Seed of everything random.
    """

    dataset: str = "femnist"
    model: str = "cnn"
    nodes: int = 100
    active_fraction: float = 0.1
    committee_fraction: float = 0.4
    updates_per_round: int = 0
    rounds: int = 30
    local_epochs: int = 1
    batch_size: int = 10
    lr: float = 0.05
    momentum: float = 0.0
    election: str = "score"
    factor_weight: float = 0.5
    aggregator: str = "bflc"
    qualify_top_fraction: float = 1.0
    relative_min_score: float = 0.5
    malicious_fraction: float = 0.0
    attack: str = "gaussian"
    attack_scale: float | None = None
    collude: bool = False
    trim_beta: float = 0.2
    max_validation_samples: int = 200
    sample_cap: float | None = None
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.nodes >= 0, "--nodes must be >= 0 (0 = every writer)"),
            (0 < self.active_fraction <= 1, "--active-fraction must be in (0, 1]"),
            (0 < self.committee_fraction < 1, "--committee-fraction must be in (0, 1)"),
            (self.updates_per_round >= 0, "--updates-per-round must be >= 0 (0 = every active trainer)"),
            (self.rounds >= 1, "--rounds must be >= 1"),
            (self.local_epochs >= 1, "--local-epochs must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.lr > 0, "--lr must be positive"),
            (0 <= self.momentum < 1, "--momentum must be in [0, 1)"),
            (self.aggregator in AGGREGATORS, f"--aggregator must be one of {', '.join(AGGREGATORS)}"),
            (self.attack in ATTACKS, f"--attack must be one of {', '.join(ATTACKS)}"),
            (0 <= self.malicious_fraction < 1, "--malicious-fraction must be in [0, 1)"),
            (self.attack_scale is None or self.attack_scale > 0, "--attack-scale must be positive"),
            (0 <= self.trim_beta < 0.5, "--trim-beta must be in [0, 0.5)"),
            (0 <= self.factor_weight <= 1, "--factor-weight must be in [0, 1]"),
            (0 < self.qualify_top_fraction <= 1, "--qualify-top must be in (0, 1]"),
            (0 <= self.relative_min_score <= 1, "--relative-min-score must be in [0, 1]"),
            (self.max_validation_samples >= 1, "--max-validation-samples must be >= 1"),
            (self.sample_cap is None or self.sample_cap >= 1, "--sample-cap must be at least 1"),
            (self.threads >= 1, "--threads must be >= 1"),
        ]
        require(checks, "simulation setting")
        ElectionMode.parse(self.election)

    @property
    def strength(self) -> float:
        """The attack's strength (``attack_scale`` or the attack's default)."""
        return self.attack_scale if self.attack_scale is not None else DEFAULT_ATTACK_SCALE[self.attack]

    def to_dict(self) -> dict[str, Any]:
        """Every field, except those added after results were first banked
        (:data:`LATER_FIELDS`) while they hold their default: a run's id is a
        hash of this dict, so old runs keep their ids."""
        fields = asdict(self)
        for name, default in LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        return fields
