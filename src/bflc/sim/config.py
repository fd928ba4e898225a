"""Simulation settings, validated once."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from bflc.attacks import ATTACKS, BackdoorSettings, default_strength, is_attack_spec
from bflc.chain.types import ElectionMode
from bflc.errors import ConfigError, require
from bflc.settings import TrainingSettings, setting

AGGREGATORS = ("bflc", "fedavg", "cwmed", "trimmed-mean", "krum", "multi-krum", "broadcast")
ELECTIONS = ("score", "random", "multi-factor")
# Fields added after full-size results were banked, with the value those runs
# had: a run's id hashes :meth:`SimConfig.to_dict`, which leaves them out at
# that value, so banked runs keep their ids.
LATER_FIELDS: dict[str, Any] = {"sample_cap": 0.0, "screen_similarity": 0.0, "screen_push": 0.0, "norm_clip": 0.0, **asdict(BackdoorSettings())}
# Settings groups a config holds as one field each and takes by their own names (``lr=0.1``, ``target_class=3``).
GROUPS: dict[str, type] = {"training": TrainingSettings, "backdoor": BackdoorSettings}


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines one simulated run; the same config and seed give the same result.

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
    rounds:
        Rounds to play.
    training:
        How every node trains and scores (the same for every aggregator).
    election:
        ``score``, ``random`` or ``multi-factor``.
    factor_weight:
        Weight of the declared factor in multi-factor election (the median
        score gets the rest). Each node declares a factor drawn uniformly from
        [0, 1], standing for its normalised bandwidth.
    aggregator:
        ``bflc`` runs the protocol on the chain; ``broadcast`` is
        decentralized FL where each active node sends its update to every
        other one and aggregates what it holds itself
        (:class:`~bflc.sim.baselines.BroadcastRunner`); the others are basic
        FL with that aggregation rule on a central server and no committee.
    qualify_top_fraction, relative_min_score, min_score:
        BFLC qualification rule (see ``ProtocolParams``). With a minimum
        above 0, an update every honest member scored 0 (the reference rule
        of ``training.max_loss_ratio``) cannot qualify in a round where
        nothing scored better.
    malicious_fraction, attack, attack_scale, collude:
        The adversary: which share of nodes is malicious, what their updates
        do (a built-in attack or ``module:function``, see
        :func:`bflc.attacks.load_attack`), and whether malicious committee
        members give malicious updates high scores.
    backdoor:
        The trigger, target class and poisoned share of attack ``backdoor``
        (the defaults with any other attack).
    trim_beta:
        Fraction cut at each end by trimmed mean.
    threads:
        Torch CPU threads. One is fastest for the small per-client batches
        of federated training, and it does not stall when another process
        shares the cores; results are bit-identical only for the same count.
    seed:
        Seed of everything random.

    Raises
    ------
    ConfigError
        Naming the field, if a value is out of range.
    """

    dataset: str = setting("femnist", "femnist (bundled), digits, or leaf:DIR (default: %(default)s)")
    model: str = setting("cnn", "mlp, cnn, leaf-cnn or alexnet (default: %(default)s)")
    nodes: int = setting(100, "number of nodes, one writer each; 0 = all (default: %(default)s)")
    active_fraction: float = setting(0.1, "nodes online per round (default: %(default)s)")
    committee_fraction: float = setting(0.4, "committee share of the active nodes (default: %(default)s)")
    updates_per_round: int = setting(0, "K: updates that trigger aggregation; 0 = every active trainer (default: %(default)s)")
    rounds: int = setting(30, "rounds (default: %(default)s)")
    training: TrainingSettings = field(default_factory=TrainingSettings)
    election: str = setting("score", "committee election (default: %(default)s)", choices=ELECTIONS)
    factor_weight: float = setting(0.5, "weight of the declared factor in multi-factor election (default: %(default)s)")
    aggregator: str = setting("bflc", "bflc, a central server's rule, or broadcast (default: %(default)s)", choices=AGGREGATORS)
    qualify_top_fraction: float = setting(1.0, "top fraction of scored updates that may qualify (default: %(default)s)", flag="--qualify-top")
    relative_min_score: float = setting(0.5, "an update needs this fraction of the round's best median (default: %(default)s)")
    min_score: float = setting(
        0.001, "lowest median score that qualifies: an update the committee scored 0 never does (default: %(default)s)"
    )
    malicious_fraction: float = setting(0.0, "share of malicious nodes (default: %(default)s)")
    attack: str = setting(
        "gaussian", f"what malicious updates do: {', '.join(ATTACKS)} or module:function (default: %(default)s; docs/simulator.md)"
    )
    attack_scale: float | None = setting(None, "noise std or delta factor of the attack (default: per attack)")
    collude: bool = setting(False, "malicious committee members score malicious updates ~0.9")
    backdoor: BackdoorSettings = field(default_factory=BackdoorSettings)
    trim_beta: float = setting(0.2, "trimmed-mean cut at each end (default: %(default)s)")
    threads: int = setting(1, "torch CPU threads (default: %(default)s)")
    seed: int = setting(0, "random seed (default: %(default)s)")

    def __post_init__(self) -> None:
        checks = [
            (self.nodes >= 0, "nodes must be >= 0 (0 = every writer)"),
            (0 < self.active_fraction <= 1, "active_fraction must be in (0, 1]"),
            (0 < self.committee_fraction < 1, "committee_fraction must be in (0, 1)"),
            (self.updates_per_round >= 0, "updates_per_round must be >= 0 (0 = every active trainer)"),
            (self.rounds >= 1, "rounds must be >= 1"),
            (isinstance(self.training, TrainingSettings), "training must be a TrainingSettings"),
            (self.election in ELECTIONS, f"election must be one of {', '.join(ELECTIONS)}"),
            (self.aggregator in AGGREGATORS, f"aggregator must be one of {', '.join(AGGREGATORS)}"),
            (is_attack_spec(self.attack), f"attack must be one of {', '.join(ATTACKS)} or module:function"),
            (0 <= self.malicious_fraction < 1, "malicious_fraction must be in [0, 1)"),
            (self.attack_scale is None or self.attack_scale > 0, "attack_scale must be positive"),
            (isinstance(self.backdoor, BackdoorSettings), "backdoor must be a BackdoorSettings"),
            (
                self.attack == "backdoor" or self.backdoor == BackdoorSettings(),
                "the trigger, target class and poisoned share apply to attack backdoor only",
            ),
            (0 <= self.trim_beta < 0.5, "trim_beta must be in [0, 0.5)"),
            (0 <= self.factor_weight <= 1, "factor_weight must be in [0, 1]"),
            (0 < self.qualify_top_fraction <= 1, "qualify_top_fraction must be in (0, 1]"),
            (0 <= self.relative_min_score <= 1, "relative_min_score must be in [0, 1]"),
            (0 <= self.min_score <= 1, "min_score must be in [0, 1]"),
            (self.threads >= 1, "threads must be >= 1"),
        ]
        require(checks, "simulation setting")
        ElectionMode.parse(self.election)

    @classmethod
    def create(cls, **values: Any) -> SimConfig:
        """A config from flat values: any field of :class:`SimConfig` or of a settings group (:data:`GROUPS`).

        Raises
        ------
        ConfigError
            For a name that is neither, or a value out of range.
        """
        return cls().replace(**values)

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with ``changes``, which may name the settings of a group directly (``lr=0.1``).

        Raises
        ------
        ConfigError
            For a name that is no setting, or a value out of range.
        """
        group_of = {f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}
        own_names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(group_of) - own_names)
        if unknown:
            raise ConfigError(f"{unknown[0]!r} is not a simulation setting", "see `bflc simulate --help` for the settings")
        own = {k: v for k, v in changes.items() if k in own_names}
        for group in GROUPS:
            values = {k: v for k, v in changes.items() if group_of.get(k) == group}
            if values:
                own[group] = dataclasses.replace(own.get(group, getattr(self, group)), **values)
        return dataclasses.replace(self, **own)

    @property
    def strength(self) -> float:
        """The attack's strength (``attack_scale`` or the attack's default)."""
        return self.attack_scale if self.attack_scale is not None else default_strength(self.attack)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as a flat dict, the groups' settings included.

        Fields added after results were first banked (:data:`LATER_FIELDS`)
        are left out while they hold the value those runs had: a run's id is
        a hash of this dict, so old runs keep their ids.
        """
        values = asdict(self)
        for group in GROUPS:
            values.update(values.pop(group))
        for name, banked in LATER_FIELDS.items():
            if values[name] == banked:
                del values[name]
        return values
