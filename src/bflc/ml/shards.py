"""A node's private data, named by a ``--data`` spec.

* ``femnist:3`` or ``femnist:3,17``: writers of the bundled FEMNIST subset,
  by index (0-166);
* ``digits:N/OF``: writer ``N`` of scikit-learn's digits split into ``OF``
  non-IID writers (the same split on every node);
* ``leaf:DIR#WRITER_ID`` (or ``#ID1,ID2``): writers of a LEAF FEMNIST
  folder, by LEAF writer id.
"""

from __future__ import annotations

import re

from bflc.errors import ConfigError
from bflc.ml.dataset import FederatedDataset

DATA_SPECS = "femnist:I[,J...], digits:N/OF or leaf:DIR#WRITER[,WRITER...]"
_HINT = f"write --data as {DATA_SPECS}"


def load_node_data(spec: str) -> FederatedDataset:
    """The writers named by ``spec``, as one node's dataset.

    Raises
    ------
    ConfigError
        If ``spec`` is malformed or names a writer that does not exist.
    DataError
        If the data cannot be read.
    """
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ConfigError(f"--data {spec!r} names no writers", _HINT)
    if kind == "femnist":
        return _femnist(spec, rest)
    if kind == "digits":
        return _digits(spec, rest)
    if kind == "leaf":
        return _leaf(spec, rest)
    raise ConfigError(f"--data {spec!r}: unknown dataset {kind!r}", _HINT)


def _femnist(spec: str, rest: str) -> FederatedDataset:
    from bflc.ml.femnist import load_femnist

    if not re.fullmatch(r"\d+(,\d+)*", rest):
        raise ConfigError(f"--data {spec!r}: writers must be indices like 3 or 3,17", _HINT)
    indices = [int(i) for i in rest.split(",")]
    dataset = load_femnist()
    return dataset.select(_check_indices(spec, indices, dataset.num_writers))


def _digits(spec: str, rest: str) -> FederatedDataset:
    from bflc.ml.digits import load_digits_writers

    match = re.fullmatch(r"(\d+)/(\d+)", rest)
    if not match:
        raise ConfigError(f"--data {spec!r}: write digits as N/OF, e.g. digits:2/10", _HINT)
    index, total = int(match[1]), int(match[2])
    if total < 1:
        raise ConfigError(f"--data {spec!r}: OF must be at least 1", _HINT)
    return load_digits_writers(num_writers=total).select(_check_indices(spec, [index], total))


def _leaf(spec: str, rest: str) -> FederatedDataset:
    from bflc.ml.femnist import load_leaf

    directory, sep, ids = rest.rpartition("#")
    if not sep or not directory or not ids:
        raise ConfigError(f"--data {spec!r}: write LEAF data as leaf:DIR#WRITER_ID", _HINT)
    dataset = load_leaf(directory)
    position = {w: i for i, w in enumerate(dataset.writers)}
    wanted = ids.split(",")
    unknown = [w for w in wanted if w not in position]
    if unknown:
        raise ConfigError(f"--data {spec!r}: no writer {unknown[0]!r} in {directory}", "use a writer id LEAF lists in its users")
    return dataset.select(_check_indices(spec, [position[w] for w in wanted], dataset.num_writers))


def _check_indices(spec: str, indices: list[int], count: int) -> list[int]:
    bad = [i for i in indices if i >= count]
    if bad:
        raise ConfigError(f"--data {spec!r}: writer {bad[0]} does not exist", f"writers are 0..{count - 1}")
    if len(set(indices)) != len(indices):
        raise ConfigError(f"--data {spec!r} names a writer twice", _HINT)
    return indices
