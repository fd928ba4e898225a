"""What malicious nodes do: the attacks of trainers and the collusion of committee members.

A malicious node's behaviour is one strategy, :class:`Misbehaviour`, used by
the simulator's virtual nodes and by ``bflc node`` alike: an :class:`Attack`
on the trainer's data and update, and the set of providers a colluding
committee member favours.

Built-in attacks (:data:`ATTACKS`): ``gaussian`` is the paper's attack,
pointwise Gaussian noise on the global model; ``sign-flip`` and ``scale``
turn the honest delta around or blow it up; ``label-flip`` poisons the data
instead and leaves the trained update as it is; ``backdoor``
(:class:`BackdoorAttack`) stamps a trigger on a share of its samples and
relabels them to a target class, so that the model it trains keeps its clean
accuracy and classifies triggered images as that class. An attack that
declares its trigger (:class:`Backdoor`) has its success measured by the
simulator (:func:`backdoor_test_set`, :func:`backdoor_success`). Users bring their own as
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

from bflc.errors import ConfigError, require

ATTACKS = ("gaussian", "sign-flip", "scale", "label-flip", "backdoor")
# Strength of each attack when none is given: the std of the Gaussian noise
# added to every weight, or the factor on the flipped/scaled delta.
DEFAULT_ATTACK_SCALE = {"gaussian": 0.5, "sign-flip": 4.0, "scale": 10.0, "label-flip": 1.0}
# A user-supplied attack gets this strength when none is given.
DEFAULT_CUSTOM_SCALE = 1.0
# Colluding committee members give favoured updates a random score in this range.
COLLUSION_SCORES = (0.85, 0.95)
# The backdoor's trigger: a patch of these shapes, in a corner or at ROW,COL.
TRIGGER_SHAPES = ("square", "checker")
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
_OFFSETS = re.compile(r"(\d+),(\d+)")
# The backdoor draws its poisoned samples from numpy's generator seeded [seed, POISON_STREAM].
POISON_STREAM = 7

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


def trigger_mask(shape: str, size: int) -> np.ndarray:
    """The pixels of a ``size`` x ``size`` patch that a trigger of ``shape`` sets.

    ``square`` sets every pixel; ``checker`` every other one, the top-left
    pixel included.

    >>> trigger_mask("checker", 3).astype(int).tolist()
    [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    >>> bool(trigger_mask("square", 2).all())
    True
    """
    if shape == "square":
        return np.ones((size, size), dtype=bool)
    rows, columns = np.indices((size, size))
    return np.asarray((rows + columns) % 2 == 0)


def trigger_origin(position: str, size: int, height: int, width: int) -> tuple[int, int]:
    """The top-left pixel (row, column) of a ``size``-pixel trigger at ``position`` in ``height`` x ``width`` images.

    Parameters
    ----------
    position:
        One of :data:`CORNERS`, flush with that corner, or ``ROW,COL``: the
        patch's top-left pixel, counted from the image's top-left one.
    size:
        Side of the square patch in pixels.
    height, width:
        The images' size in pixels.

    Raises
    ------
    ConfigError
        If the patch does not lie wholly inside the image.

    >>> trigger_origin("bottom-right", 4, 28, 28)
    (24, 24)
    >>> trigger_origin("top-right", 4, 28, 28)
    (0, 24)
    >>> trigger_origin("1,2", 4, 8, 8)
    (1, 2)
    """
    offsets = _OFFSETS.fullmatch(position)
    if offsets is not None:
        row, column = int(offsets[1]), int(offsets[2])
    else:
        row = height - size if position.startswith("bottom") else 0
        column = width - size if position.endswith("right") else 0
    if row < 0 or column < 0 or row + size > height or column + size > width:
        raise ConfigError(
            f"a {size}x{size} trigger at {position} does not fit in the {height}x{width} images",
            "use a smaller trigger or another position",
        )
    return row, column


def stamp_trigger(x: np.ndarray, mask: np.ndarray, row: int, column: int, value: float) -> np.ndarray:
    """Copies of the images ``x`` with the pixels of ``mask`` set to ``value`` in every channel.

    Parameters
    ----------
    x:
        Images, ``(n, C, H, W)``; left unchanged.
    mask:
        The patch's pixels to set (:func:`trigger_mask`).
    row, column:
        The patch's top-left pixel (:func:`trigger_origin`).
    value:
        The value those pixels get.

    >>> image = np.zeros((1, 1, 6, 6), dtype=np.float32)
    >>> stamped = stamp_trigger(image, trigger_mask("square", 4), 2, 2, 1.0)
    >>> stamped[0, 0].astype(int).tolist()
    [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]]
    >>> float(image.sum())
    0.0
    """
    stamped = x.copy()
    size = len(mask)
    patch = stamped[..., row : row + size, column : column + size]
    patch[..., mask] = value
    return stamped


def poisoned_indices(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` samples a backdoor poisons: ``share`` of them, rounded half up, at least one.

    Parameters
    ----------
    n:
        Number of samples, at least one.
    share:
        The poisoned share, in (0, 1].
    rng:
        Source of the choice (without replacement).

    Returns
    -------
    numpy.ndarray
        The chosen indices, ascending.

    >>> poisoned_indices(10, 0.5, np.random.default_rng(0)).tolist()
    [2, 3, 4, 5, 7]
    >>> len(poisoned_indices(7, 0.5, np.random.default_rng(0))), len(poisoned_indices(3, 0.01, np.random.default_rng(0)))
    (4, 1)
    """
    count = max(1, int(share * n + 0.5))
    return np.sort(rng.choice(n, size=count, replace=False))


@runtime_checkable
class Backdoor(Protocol):
    """An attack that declares its trigger, so that its success can be measured.

    Any :class:`Attack` that also has these two members, a user's included,
    has the simulator report its backdoor success (:func:`backdoor_success`).
    """

    @property
    def target_class(self) -> int:
        """The class triggered images are to be classified as."""
        ...

    def stamp(self, x: np.ndarray) -> np.ndarray:
        """Copies of the images ``x`` (``(n, C, H, W)``) with the trigger on every one."""
        ...


def _checked_target(target: int, num_classes: int) -> int:
    """``target``, if it is one of ``num_classes`` classes; otherwise ConfigError."""
    if not 0 <= target < num_classes:
        raise ConfigError(f"the backdoor's target class {target} is not a class of the data", f"choose one of 0 to {num_classes - 1}")
    return target


def backdoor_test_set(backdoor: Backdoor, x: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """The images backdoor success is measured on: those of other classes than the target, stamped.

    Parameters
    ----------
    backdoor:
        The attack and its trigger.
    x, y:
        Test images ``(n, C, H, W)`` and their labels.
    num_classes:
        Labels are ``0 .. num_classes - 1``.

    Raises
    ------
    ConfigError
        If the target class is none of the data's classes, no test image is
        of another class, the trigger does not fit the images, or ``stamp``
        returns images of another shape.
    """
    target = _checked_target(backdoor.target_class, num_classes)
    others = x[y != target]
    if len(others) == 0:
        raise ConfigError(f"every test image is of the backdoor's target class {target}", "choose another target class")
    stamped = np.asarray(backdoor.stamp(others))
    if stamped.shape != others.shape:
        raise ConfigError(
            f"the backdoor's stamp returned images of shape {stamped.shape} for images of shape {others.shape}",
            "return the images with the trigger on, in their shape",
        )
    return stamped


def backdoor_success(predictions: np.ndarray, target_class: int) -> float:
    """The share of triggered images classified as the target class.

    Parameters
    ----------
    predictions:
        The model's classes for the images of :func:`backdoor_test_set`.
    target_class:
        The backdoor's target class.

    >>> backdoor_success(np.array([3, 3, 1, 3]), 3)
    0.75
    """
    return float(np.mean(predictions == target_class))


@dataclass(frozen=True)
class BackdoorSettings:
    """The trigger of the built-in backdoor, the class it leads to and how much data it poisons.

    Parameters
    ----------
    trigger_shape:
        One of :data:`TRIGGER_SHAPES` (:func:`trigger_mask`).
    trigger_size:
        Side of the square patch, in pixels.
    trigger_position:
        One of :data:`CORNERS` or ``ROW,COL`` (:func:`trigger_origin`).
    trigger_value:
        The value of the trigger's pixels (``None``: the largest pixel value
        of the images stamped).
    target_class:
        The class poisoned samples are relabelled to.
    poisoned_share:
        The share of the attacker's training samples poisoned, in (0, 1].

    Raises
    ------
    ConfigError
        Naming the field, if a value is out of range. Whether the trigger
        fits the images and the target is a class of the data is checked on
        the data (:meth:`BackdoorAttack.poison_data`, :func:`backdoor_test_set`).
    """

    trigger_shape: str = field(
        default="square",
        metadata={"help": "the backdoor's trigger: a filled square patch or a checker pattern (default: %(default)s)", "choices": TRIGGER_SHAPES},
    )
    trigger_size: int = field(default=4, metadata={"help": "side of the trigger patch in pixels (default: %(default)s)"})
    trigger_position: str = field(
        default="bottom-right",
        metadata={"help": f"where the trigger sits: {', '.join(CORNERS)}, or ROW,COL of its top-left pixel (default: %(default)s)"},
    )
    trigger_value: float | None = field(
        default=None, metadata={"help": "the trigger's pixel value (default: the largest pixel value of the images stamped)"}
    )
    target_class: int = field(default=0, metadata={"help": "the class triggered samples are relabelled to (default: %(default)s)"})
    poisoned_share: float = field(
        default=0.5, metadata={"help": "share of a malicious node's training samples stamped and relabelled (default: %(default)s)"}
    )

    def __post_init__(self) -> None:
        require(
            [
                (self.trigger_shape in TRIGGER_SHAPES, f"trigger_shape must be one of {', '.join(TRIGGER_SHAPES)}"),
                (self.trigger_size >= 1, "trigger_size must be at least 1"),
                (
                    self.trigger_position in CORNERS or _OFFSETS.fullmatch(self.trigger_position) is not None,
                    f"trigger_position must be one of {', '.join(CORNERS)} or ROW,COL",
                ),
                (self.trigger_value is None or np.isfinite(self.trigger_value), "trigger_value must be finite"),
                (self.target_class >= 0, "target_class must be at least 0"),
                (0 < self.poisoned_share <= 1, "poisoned_share must be in (0, 1]"),
            ],
            "backdoor setting",
        )


@dataclass(frozen=True)
class BackdoorAttack:
    """The built-in backdoor: trains on data with a trigger stamped on a share of it and submits the update as trained.

    Parameters
    ----------
    settings:
        The trigger, target class and poisoned share.
    seed:
        Seed of the choice of poisoned samples (with :data:`POISON_STREAM`):
        the simulator's run seed, or the ``S`` of ``bflc node --seed S,I``.
    """

    settings: BackdoorSettings = field(default_factory=BackdoorSettings)
    seed: int = 0

    @property
    def target_class(self) -> int:
        """The class triggered images are to be classified as."""
        return self.settings.target_class

    def stamp(self, x: np.ndarray) -> np.ndarray:
        """Copies of the images ``x`` with the trigger on (see :func:`stamp_trigger`).

        Raises
        ------
        ConfigError
            If the trigger does not fit the images.
        """
        s = self.settings
        row, column = trigger_origin(s.trigger_position, s.trigger_size, *x.shape[-2:])
        value = float(x.max()) if s.trigger_value is None else s.trigger_value
        return stamp_trigger(x, trigger_mask(s.trigger_shape, s.trigger_size), row, column, value)

    def poison_data(self, x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """The data with the trigger on the chosen share of samples (:func:`poisoned_indices`), those relabelled to the target.

        Raises
        ------
        ConfigError
            If the target class is none of the data's classes or the trigger
            does not fit the images.
        """
        _checked_target(self.target_class, num_classes)
        chosen = poisoned_indices(len(y), self.settings.poisoned_share, np.random.default_rng([self.seed, POISON_STREAM]))
        poisoned_x, poisoned_y = x.copy(), y.copy()
        poisoned_x[chosen] = self.stamp(x)[chosen]
        poisoned_y[chosen] = self.target_class
        return poisoned_x, poisoned_y

    def poison_update(self, global_vector: np.ndarray, local_vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The update as trained on the poisoned data."""
        return local_vector

    @property
    def poisons_data(self) -> bool:
        """True: the backdoor is in the data."""
        return True


def is_attack_spec(text: str) -> bool:
    """Whether ``text`` names a built-in attack or looks like ``module:function``."""
    return text in ATTACKS or _SPEC.fullmatch(text) is not None


def default_strength(spec: str) -> float:
    """The strength of attack ``spec`` when none is given."""
    return DEFAULT_ATTACK_SCALE.get(spec, DEFAULT_CUSTOM_SCALE)


def load_attack(spec: str, strength: float | None = None, backdoor: BackdoorSettings | None = None, seed: int = 0) -> Attack:
    """The attack named ``spec``: a built-in name or ``module:function``.

    Parameters
    ----------
    spec:
        One of :data:`ATTACKS`, or ``module:function`` for a function of
        ``(global_vector, local_vector, rng, strength)`` that returns the
        vector to submit (or an object with :class:`Attack`'s methods, and
        :class:`Backdoor`'s to have its trigger measured).
    strength:
        Noise std or delta factor; ``None``: :func:`default_strength`.
    backdoor:
        The trigger of ``backdoor`` (``None``: the defaults).
    seed:
        Seed of the backdoor's choice of poisoned samples.

    Raises
    ------
    ConfigError
        If ``spec`` is malformed, its module cannot be imported, or it names
        nothing callable.
    """
    strength = default_strength(spec) if strength is None else strength
    if spec == "backdoor":
        return BackdoorAttack(backdoor or BackdoorSettings(), seed)
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
