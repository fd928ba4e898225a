"""What malicious nodes do: the attacks of trainers and the collusion of committee members.

A malicious node's behaviour is one strategy, :class:`Misbehaviour`, used by
the simulator's virtual nodes and by ``bflc node`` alike: an :class:`Attack`
on the trainer's data and update, and the set of providers a colluding
committee member favours.

Built-in attacks (:data:`ATTACKS`): ``gaussian`` is the paper's attack,
pointwise Gaussian noise on the global model; ``sign-flip`` and ``scale``
turn the honest delta around or blow it up; ``label-flip`` poisons the data
instead and leaves the trained update as it is. Users bring their own as
``module:function`` (:func:`load_attack`); the function gets the global model
and the honestly trained model as flat float32 vectors and returns the vector
to submit::

    # mypkg/attacks.py
    import numpy as np

    def backwards(global_vector, local_vector, rng, strength):
        return global_vector - strength * (local_vector - global_vector)

    $ bflc simulate --malicious-fraction 0.3 --attack mypkg.attacks:backwards
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from bflc.errors import ConfigError

ATTACKS = ("gaussian", "sign-flip", "scale", "label-flip")
# Strength of each attack when none is given: the std of the Gaussian noise
# added to every weight, or the factor on the flipped/scaled delta.
DEFAULT_ATTACK_SCALE = {"gaussian": 0.5, "sign-flip": 4.0, "scale": 10.0, "label-flip": 1.0}
# A user-supplied attack gets this strength when none is given.
DEFAULT_CUSTOM_SCALE = 1.0
# Colluding committee members give favoured updates a random score in this range.
COLLUSION_SCORES = (0.85, 0.95)

_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_SPEC_HINT = f"use one of {', '.join(ATTACKS)} or module:function (a function of global_vector, local_vector, rng, strength)"

UpdateAttack = Callable[[np.ndarray, np.ndarray, np.random.Generator, float], np.ndarray]


def poison_update(attack: str, global_vec: np.ndarray, local_vec: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The vector a malicious node submits instead of ``local_vec`` under a built-in attack.

    Parameters
    ----------
    attack:
        ``gaussian``: global model plus N(0, strength^2) noise on every weight;
        ``sign-flip``: global minus strength times the honest delta;
        ``scale``: global plus strength times the honest delta;
        ``label-flip``: the update trained on flipped labels, unchanged.
    global_vec, local_vec:
        The round's global model and the honestly trained model, flattened.
    strength:
        Noise std or delta factor.
    rng:
        Source of the Gaussian noise.

    Returns
    -------
    numpy.ndarray
        Float32; not finite where the attack goes beyond float32's range.
    """
    delta: np.ndarray = local_vec - global_vec
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: not finite, and the node has no usable update
        if attack == "gaussian":
            return (global_vec + rng.normal(0.0, strength, size=global_vec.shape)).astype(np.float32)
        if attack == "sign-flip":
            return (global_vec - strength * delta).astype(np.float32)
        if attack == "scale":
            return (global_vec + strength * delta).astype(np.float32)
    return local_vec


def flip_labels(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Label-flipping: class c becomes ``num_classes - 1 - c``.

    >>> flip_labels(np.array([0, 1, 9]), 10).tolist()
    [9, 8, 0]
    """
    return (num_classes - 1 - y).astype(y.dtype)


def collude(scores: Sequence[float], favoured: Sequence[bool], rng: np.random.Generator) -> list[float]:
    """A colluding member's scores: favoured updates get a random high score.

    Parameters
    ----------
    scores:
        The member's honest scores, one per update.
    favoured:
        Whether each update comes from a fellow malicious node.
    rng:
        Source of the high scores (drawn in update order, favoured ones only).
    """
    return [float(rng.uniform(*COLLUSION_SCORES)) if fav else float(s) for s, fav in zip(scores, favoured, strict=True)]


@runtime_checkable
class Attack(Protocol):
    """What a malicious trainer does to its data before training and to its update after."""

    def poison_data(self, x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """The training data the attacker trains on instead of ``(x, y)``."""
        ...

    def poison_update(self, global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The flat parameter vector submitted instead of ``local_vector``."""
        ...

    @property
    def poisons_data(self) -> bool:
        """Whether :meth:`poison_data` changes anything (a learner without data access cannot apply it)."""
        ...


@dataclass(frozen=True)
class BuiltinAttack:
    """One of :data:`ATTACKS` at a given strength."""

    name: str
    strength: float

    def poison_data(self, x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Flipped labels under ``label-flip``; the data as it is otherwise."""
        return (x, flip_labels(y, num_classes)) if self.poisons_data else (x, y)

    def poison_update(self, global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """See :func:`poison_update`."""
        return poison_update(self.name, global_vector, local_vector, self.strength, rng)

    @property
    def poisons_data(self) -> bool:
        """True for ``label-flip``."""
        return self.name == "label-flip"


@dataclass(frozen=True)
class FunctionAttack:
    """A user's update attack: ``function(global_vector, local_vector, rng, strength)``."""

    spec: str
    function: UpdateAttack = field(compare=False)
    strength: float

    def poison_data(self, x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """The data as it is: a function attack changes the update only."""
        return x, y

    def poison_update(self, global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The user function's vector, checked to have the update's size.

        Raises
        ------
        ConfigError
            If the function does not return a numeric vector of the update's size.
        """
        result = np.asarray(self.function(global_vector, local_vector, rng, self.strength))
        if result.shape != local_vector.shape or result.dtype.kind not in "fiu":
            raise ConfigError(
                f"attack {self.spec} returned a {result.dtype} array of shape {result.shape}; the update has shape {local_vector.shape}",
                "return a float vector of the same size as local_vector",
            )
        return result.astype(np.float32, copy=False)

    @property
    def poisons_data(self) -> bool:
        """False: only the update is attacked."""
        return False


def is_attack_spec(text: str) -> bool:
    """Whether ``text`` names a built-in attack or looks like ``module:function``."""
    return text in ATTACKS or _SPEC.fullmatch(text) is not None


def default_strength(spec: str) -> float:
    """The strength of attack ``spec`` when none is given."""
    return DEFAULT_ATTACK_SCALE.get(spec, DEFAULT_CUSTOM_SCALE)


def load_attack(spec: str, strength: float | None = None) -> Attack:
    """The attack named ``spec``: a built-in name or ``module:function``.

    Parameters
    ----------
    spec:
        One of :data:`ATTACKS`, or ``module:function`` for a function of
        ``(global_vector, local_vector, rng, strength)`` that returns the
        vector to submit (or an object with :class:`Attack`'s methods).
    strength:
        Noise std or delta factor; ``None``: :func:`default_strength`.

    Raises
    ------
    ConfigError
        If ``spec`` is malformed, its module cannot be imported, or it names
        nothing callable.
    """
    strength = default_strength(spec) if strength is None else strength
    if spec in ATTACKS:
        return BuiltinAttack(spec, strength)
    if _SPEC.fullmatch(spec) is None:
        raise ConfigError(f"unknown attack {spec!r}", _SPEC_HINT)
    module_name, attribute = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"attack {spec}: cannot import {module_name}: {error}", "put the module on PYTHONPATH or install its package") from None
    target = getattr(module, attribute, None)
    if isinstance(target, Attack):
        return target
    if not callable(target):
        raise ConfigError(f"attack {spec}: {module_name} has no function {attribute}", _SPEC_HINT)
    return FunctionAttack(spec, target, strength)


@dataclass(frozen=True)
class Misbehaviour:
    """What a malicious node does, as trainer and as committee member.

    Parameters
    ----------
    attack:
        As a trainer, the attack on its data and update (``None``: honest training).
    colluders:
        As a committee member, give the updates of these provider addresses
        a high random score (:func:`collude`); empty: honest scoring.
    """

    attack: Attack | None = None
    colluders: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "colluders", frozenset(a.lower() for a in self.colluders))

    def favours(self, provider: str) -> bool:
        """Whether a colluding member favours ``provider``'s update."""
        return provider.lower() in self.colluders


HONEST = Misbehaviour()
