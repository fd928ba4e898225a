"""Any Flower ``NumPyClient`` as a bflc node's learner.

Flower clients exchange parameters as a list of NumPy arrays; bflc nodes
exchange ``{name: float32 array}`` dicts (safetensors blobs). A
:class:`FlowerLearner` translates between the two and maps the
:class:`~bflc.ml.learner.Learner` contract onto the client's methods:

* ``initial_parameters`` -> ``client.get_parameters(config)`` (called once,
  when the learner is built: it also fixes the names and shapes);
* ``fit`` -> ``client.fit(arrays, config)`` with ``config["seed"]`` and
  ``config["round"]`` added;
* ``score`` and ``evaluate`` -> ``client.evaluate(arrays, config)``, whose
  metrics must hold ``"accuracy"`` as a fraction in [0, 1].

Parameter names are ``p000``, ``p001``, ... by position in the client's
list unless given: the index is zero-padded to at least three digits (more
when the model has more than 1,000 arrays), so sorted names, the order in
which blobs store them, are also list order. Every array is cast to
float32; Flower clients that return integer buffers (e.g. BatchNorm's
``num_batches_tracked``) get them back as float32 values.

Flower is an optional extra (``pip install 'bflc[flower]'``): this module
imports it only when a learner is built or loaded.
"""

from __future__ import annotations

import importlib
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from bflc.errors import BflcError, ConfigError
from bflc.ml.models import Params, Score

__all__ = ["FlowerClientError", "FlowerLearner", "default_names", "load_flower_learner"]

RESERVED_FIT_KEYS = ("seed", "round")
_INSTALL_HINT = "pip install 'bflc[flower]'"
_SPEC_HINT = "write it as module:factory, e.g. mypkg.client:make_client"
_ACCURACY_HINT = (
    "return the fraction of correct predictions from evaluate, "
    "e.g. `return loss, n, {'accuracy': correct / n}`"
)
_T = TypeVar("_T")


class FlowerClientError(BflcError):
    """A Flower client's own code raised an exception.

    Parameters
    ----------
    client:
        The client's class (or the spec it was loaded from).
    method:
        What bflc called: ``fit``, ``evaluate``, ``get_parameters``, the
        factory, or the import of the client's module.
    error:
        The exception it raised (also chained as ``__cause__``).
    """

    def __init__(self, client: str, method: str, error: Exception) -> None:
        self.client = client
        self.method = method
        super().__init__(
            f"Flower client {client}: {method} raised {type(error).__name__}: {error}",
            "fix the client; --debug shows its traceback",
        )


def default_names(count: int) -> list[str]:
    """Names ``p000``, ``p001``, ... for ``count`` arrays, sorting in list order.

    >>> default_names(3)
    ['p000', 'p001', 'p002']
    >>> default_names(1001)[-1]
    'p1000'
    """
    width = max(3, len(str(count - 1)))
    return [f"p{index:0{width}d}" for index in range(count)]


def _flower_client_classes() -> tuple[type, type]:
    """``(NumPyClient, Client)`` from Flower, imported on first use."""
    try:
        from flwr.client import Client, NumPyClient
    except ImportError as err:
        raise ConfigError(f"Flower is not installed ({err})", _INSTALL_HINT) from err
    return NumPyClient, Client


class FlowerLearner:
    """A :class:`~bflc.ml.learner.Learner` over a Flower ``NumPyClient``.

    Parameters
    ----------
    client:
        A ``flwr.client.NumPyClient`` implementing ``get_parameters``, ``fit``
        and ``evaluate``, or the ``Client`` its ``to_client()`` returns.
    names:
        One tensor name per array of ``client.get_parameters``, in order;
        default :func:`default_names`.
    config:
        Flower config (``str`` keys, ``bool``/``bytes``/``int``/``float``/``str``
        values) passed to every call, e.g. ``{"local_epochs": 1}``. ``fit``
        adds ``"seed"`` and ``"round"``, so those keys are reserved.

    Raises
    ------
    ConfigError
        If Flower is not installed, ``client`` is not a NumPyClient or lacks
        a method, ``names`` or ``config`` are malformed, or
        ``get_parameters`` returns no arrays or something other than arrays.
    FlowerClientError
        If ``client.get_parameters`` raises.
    """

    def __init__(
        self,
        client: Any,
        *,
        names: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = _as_numpy_client(client)
        self.client_name = f"{type(self.client).__module__}.{type(self.client).__qualname__}"
        self.config = _check_config(config or {})
        arrays = self._call("get_parameters", self.client.get_parameters, dict(self.config))
        self._check_list(arrays, "get_parameters", count=None)
        if not arrays:
            raise ConfigError(
                f"Flower client {self.client_name}: get_parameters returned no arrays",
                "return the model's parameters as a list of NumPy arrays",
            )
        self.names = tuple(default_names(len(arrays)) if names is None else _check_names(names, len(arrays)))
        self.shapes = tuple(np.shape(array) for array in arrays)
        self._initial = self.to_params(arrays, "get_parameters")
        self._fits = 0

    def initial_parameters(self) -> Params:
        """A copy of what ``get_parameters`` returned when the learner was built."""
        return {name: array.copy() for name, array in self._initial.items()}

    def fit(self, global_params: Params, seed: int) -> tuple[Params, int]:
        """Train with ``client.fit``.

        ``config["seed"]`` is ``seed`` and ``config["round"]`` counts this
        learner's successful fits (1, 2, ...).

        Raises
        ------
        ConfigError
            If ``global_params`` does not match the names and shapes, or the
            client's answer is not ``(arrays, num_examples > 0, metrics)``.
        FlowerClientError
            If ``client.fit`` raises.
        """
        arrays = self.to_ndarrays(global_params)
        config = {**self.config, "seed": int(seed), "round": self._fits + 1}
        answer = self._call("fit", self.client.fit, arrays, config)
        new_arrays, num_examples, _ = self._unpack(answer, "fit", "(parameters, num_examples, metrics)")
        if not _is_int(num_examples) or num_examples <= 0:
            raise ConfigError(
                f"Flower client {self.client_name}: fit returned num_examples={num_examples!r}",
                "return the number of local training examples as a positive int",
            )
        params = self.to_params(new_arrays, "fit")
        self._fits += 1
        return params, int(num_examples)

    def score(self, candidates: Sequence[Params]) -> list[Score]:
        """Accuracy (``metrics["accuracy"]``) and loss of each candidate from ``client.evaluate``.

        Raises
        ------
        ConfigError
            If a candidate does not match the names and shapes, or the client
            answers malformed or without an accuracy in [0, 1].
        FlowerClientError
            If ``client.evaluate`` raises.
        """
        return [Score(accuracy, loss) for loss, accuracy in map(self.evaluate, candidates)]

    def evaluate(self, params: Params) -> tuple[float, float]:
        """Loss and accuracy that ``client.evaluate`` reports for ``params``.

        Raises
        ------
        ConfigError
            As :meth:`score`.
        FlowerClientError
            If ``client.evaluate`` raises.
        """
        answer = self._call("evaluate", self.client.evaluate, self.to_ndarrays(params), dict(self.config))
        loss, _, metrics = self._unpack(answer, "evaluate", "(loss, num_examples, metrics)")
        if not _is_real(loss):
            raise ConfigError(
                f"Flower client {self.client_name}: evaluate returned loss={loss!r}",
                "return the loss as a float",
            )
        if "accuracy" not in metrics:
            raise ConfigError(
                f"Flower client {self.client_name}: evaluate reported no 'accuracy' metric "
                f"(metrics: {sorted(metrics)}); bflc's committee scores updates by accuracy",
                _ACCURACY_HINT,
            )
        accuracy = metrics["accuracy"]
        if not _is_real(accuracy) or not 0.0 <= float(accuracy) <= 1.0:
            raise ConfigError(
                f"Flower client {self.client_name}: evaluate reported accuracy={accuracy!r}, "
                "not a fraction in [0, 1]",
                _ACCURACY_HINT,
            )
        return float(loss), float(accuracy)

    def to_ndarrays(self, params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The client's list of arrays for ``params``: new float32 arrays in name order.

        Raises
        ------
        ConfigError
            If ``params`` lacks a name, has an extra one, or an array has the
            wrong shape or is not a float array.
        """
        missing = [name for name in self.names if name not in params]
        extra = sorted(set(params) - set(self.names))
        if missing or extra:
            raise ConfigError(
                f"parameters for Flower client {self.client_name} do not match its model: "
                f"missing {missing}, unexpected {extra}",
                "they must have the names of the network's genesis model",
            )
        return [
            _as_float32(params[name], shape, f"parameter {name!r}", kinds="f")
            for name, shape in zip(self.names, self.shapes, strict=True)
        ]

    def to_params(self, arrays: Sequence[np.ndarray], source: str = "arrays") -> Params:
        """``{name: new float32 array}`` for the client's list of arrays.

        Raises
        ------
        ConfigError
            If there are not as many arrays as names, or one has the wrong shape
            or a dtype other than bool, integer or float.
        """
        self._check_list(arrays, source, count=len(self.names))
        return {
            name: _as_float32(array, shape, f"array {index} ({name!r}) from {source}", kinds="biuf")
            for index, (name, shape, array) in enumerate(zip(self.names, self.shapes, arrays, strict=True))
        }

    def _call(self, method: str, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)``, its exceptions wrapped in a FlowerClientError."""
        try:
            return function(*args)
        except Exception as err:
            raise FlowerClientError(self.client_name, method, err) from err

    def _unpack(self, answer: Any, method: str, form: str) -> tuple[Any, Any, dict[str, Any]]:
        """Check ``answer`` is a 3-tuple (or list) ending in a metrics dict."""
        if not isinstance(answer, (tuple, list)) or len(answer) != 3 or not isinstance(answer[2], dict):
            raise ConfigError(
                f"Flower client {self.client_name}: {method} returned {_describe(answer)}",
                f"return {form} as NumPyClient.{method} documents",
            )
        return answer[0], answer[1], answer[2]

    def _check_list(self, arrays: Any, source: str, count: int | None) -> None:
        """Raise ConfigError unless ``arrays`` is a list of ``count`` NumPy arrays."""
        where = f"Flower client {self.client_name}: {source}"
        if not isinstance(arrays, (list, tuple)):
            raise ConfigError(
                f"{where} returned {_describe(arrays)} instead of a list of arrays",
                "return the parameters as a list of NumPy arrays",
            )
        if count is not None and len(arrays) != count:
            raise ConfigError(
                f"{where} returned {len(arrays)} arrays, the model has {count}",
                "return every parameter array, in the order of get_parameters",
            )
        for index, array in enumerate(arrays):
            if not isinstance(array, np.ndarray):
                raise ConfigError(
                    f"{where} returned a {type(array).__name__} at position {index}, not a NumPy array",
                    "convert tensors with .detach().cpu().numpy()",
                )


def _as_numpy_client(client: Any) -> Any:
    """``client`` itself, or the NumPyClient inside a ``to_client()`` wrapper."""
    numpy_client_class, client_class = _flower_client_classes()
    if isinstance(client, client_class):
        # NumPyClient.to_client() keeps the original in `numpy_client`; any other
        # Client speaks Flower's message types, which bflc does not translate.
        inner = getattr(client, "numpy_client", None)
        if not isinstance(inner, numpy_client_class):
            raise ConfigError(
                f"{type(client).__qualname__} is a Flower Client, not a NumPyClient",
                "give bflc the NumPyClient itself (or what its to_client() returns)",
            )
        client = inner
    if not isinstance(client, numpy_client_class):
        raise ConfigError(
            f"a Flower learner needs a flwr.client.NumPyClient, got {_describe(client)}",
            "subclass flwr.client.NumPyClient",
        )
    for method in ("get_parameters", "fit", "evaluate"):
        if getattr(type(client), method) is getattr(numpy_client_class, method):
            raise ConfigError(
                f"Flower client {type(client).__qualname__} does not implement {method}",
                "a bflc node needs get_parameters, fit and evaluate",
            )
    return client


def _check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` after checking it is a Flower config without reserved keys."""
    for key, value in config.items():
        if not isinstance(key, str) or not isinstance(value, (bool, bytes, int, float, str)):
            raise ConfigError(
                f"Flower config entry {key!r}: {value!r} is not str -> bool/bytes/int/float/str",
                "Flower configs map strings to scalars",
            )
    reserved = sorted(set(config) & set(RESERVED_FIT_KEYS))
    if reserved:
        raise ConfigError(
            f"Flower config sets {reserved}, which bflc sets for each fit",
            f"remove {', '.join(reserved)} from the config",
        )
    return dict(config)


def _check_names(names: Sequence[str], count: int) -> list[str]:
    """``names`` as a list, after checking there are ``count`` unique non-empty strings."""
    names = list(names)
    if len(names) != count:
        raise ConfigError(
            f"{len(names)} parameter names given for {count} arrays",
            "give one name per array of get_parameters, or none for p000, p001, ...",
        )
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != count:
        raise ConfigError(f"parameter names must be unique non-empty strings, got {names}")
    return names


def _as_float32(array: np.ndarray, shape: tuple[int, ...], what: str, kinds: str) -> np.ndarray:
    """A new C-contiguous float32 copy of ``array``, after checking shape and dtype kind."""
    array = np.asarray(array)
    if array.dtype.kind not in kinds:
        raise ConfigError(
            f"{what} has dtype {array.dtype}",
            "parameters must be float arrays" if kinds == "f" else "parameters must be numeric arrays",
        )
    if array.shape != shape:
        raise ConfigError(
            f"{what} has shape {array.shape}, the model needs {shape}",
            "it was built for a different model",
        )
    return np.array(array, dtype=np.float32, order="C", copy=True)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    """A short description of an unexpected value for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def load_flower_learner(spec: str) -> FlowerLearner:
    """Import ``module:factory``, call ``factory()``, and wrap the client it returns.

    Parameters
    ----------
    spec:
        ``module:factory`` (``factory`` may be dotted, e.g. ``mod:Cls.create``):
        ``module`` must be importable (installed, or on ``PYTHONPATH``) and
        ``factory`` callable with no arguments, returning a ``NumPyClient``
        (or its ``to_client()``) that holds this node's data.

    Returns
    -------
    FlowerLearner
        The client, with default names and no extra config.

    Raises
    ------
    ConfigError
        If Flower is not installed, ``spec`` is malformed, the module or
        attribute does not exist, the factory is not callable without
        arguments, or it returns no usable NumPyClient.
    FlowerClientError
        If importing the module or calling the factory raises.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not _is_dotted_name(module_name) or not _is_dotted_name(attribute):
        raise ConfigError(f"Flower client spec {spec!r} is not module:factory", _SPEC_HINT)
    # A client module usually imports flwr first: say how to install it, not that it is missing.
    _flower_client_classes()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and (module_name + ".").startswith(err.name + "."):
            raise ConfigError(
                f"no module named {err.name!r} (Flower client spec {spec!r})",
                "install the package or put its directory on PYTHONPATH",
            ) from err
        raise ConfigError(
            f"importing {module_name!r} for Flower client spec {spec!r} failed: {err}",
            f"install what {module_name} imports",
        ) from err
    except Exception as err:
        raise FlowerClientError(spec, f"import {module_name}", err) from err
    factory: Any = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise ConfigError(
                f"{module_name!r} has no attribute {attribute!r} (Flower client spec {spec!r})",
                "check the name after the colon",
            )
        factory = getattr(factory, part)
    if not callable(factory):
        raise ConfigError(
            f"{spec} is a {type(factory).__name__}, not a callable factory",
            "point the spec at a function (or class) that returns a NumPyClient",
        )
    try:
        inspect.signature(factory).bind()
    except TypeError as err:
        raise ConfigError(
            f"{spec} cannot be called without arguments ({err})",
            "bflc calls the factory with none (no Flower Context): wrap it in a "
            "zero-argument function that builds the client on this node's data",
        ) from err
    except ValueError:  # no signature to inspect (some builtins): just call it
        pass
    try:
        client = factory()
    except Exception as err:
        raise FlowerClientError(spec, "the factory", err) from err
    return FlowerLearner(client)


def _is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))
