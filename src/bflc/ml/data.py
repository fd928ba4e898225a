"""Federated datasets: load by name, pick writers.

``load_dataset("femnist")``, ``load_dataset("digits", num_writers=20)`` or
``load_dataset("leaf:/path/to/leaf/data")`` return a :class:`FederatedDataset`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from bflc.errors import ConfigError
from bflc.ml.dataset import FederatedDataset, Shard, subset_writers
from bflc.ml.digits import load_digits_writers
from bflc.ml.femnist import load_femnist, load_leaf

__all__ = [
    "DATASET_SPECS",
    "FederatedDataset",
    "Shard",
    "load_dataset",
    "load_digits_writers",
    "load_femnist",
    "load_leaf",
    "subset_writers",
]

DATASET_SPECS = ("femnist", "digits", "leaf:DIR")


def load_dataset(spec: str, **kwargs: Any) -> FederatedDataset:
    """Load the dataset named by ``spec``.

    Parameters
    ----------
    spec:
        ``"femnist"`` (bundled subset, or ``path=`` another npz), ``"digits"``
        (keyword arguments of :func:`load_digits_writers`) or ``"leaf:DIR"``
        (LEAF JSON files under ``DIR``, see :func:`load_leaf`).
    **kwargs:
        Passed to the loader.

    Raises
    ------
    ConfigError
        If ``spec`` names no dataset or a keyword does not fit its loader.
    DataError
        If the data cannot be read.
    """
    loader: Callable[..., FederatedDataset]
    if spec == "femnist":
        loader = load_femnist
    elif spec == "digits":
        loader = load_digits_writers
    elif spec.startswith("leaf:") and len(spec) > len("leaf:"):
        kwargs = {"directory": spec.removeprefix("leaf:"), **kwargs}
        loader = load_leaf
    else:
        raise ConfigError(f"unknown dataset {spec!r}", f"use one of {', '.join(DATASET_SPECS)}")
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError as err:
        options = ", ".join(inspect.signature(loader).parameters)
        raise ConfigError(
            f"dataset {spec!r} does not take {sorted(kwargs)} ({err})", f"its options are: {options}"
        ) from err
    return loader(**kwargs)
