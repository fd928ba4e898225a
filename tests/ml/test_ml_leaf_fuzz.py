"""Fuzzing the LEAF JSON loader: whatever the files hold, it either loads a
dataset that passes every check or raises DataError (never another
exception), and what it loads is exactly what the files say."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bflc.errors import DataError
from bflc.ml.femnist import load_leaf
from tests.ml.ml_leaf_json import TINY_TEST, TINY_TRAIN, leaf_image, write_leaf_file

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


def _document(users: dict[str, tuple[list, list]]) -> dict[str, Any]:
    return {
        "users": list(users),
        "num_samples": [len(y) for _, y in users.values()],
        "user_data": {u: {"x": x, "y": y} for u, (x, y) in users.items()},
    }


# Paths into a LEAF document that a mutation may replace.
PATHS = [
    ("users",),
    ("num_samples",),
    ("user_data",),
    ("user_data", "u1"),
    ("user_data", "u1", "x"),
    ("user_data", "u1", "y"),
    ("user_data", "u1", "x", 0),
    ("user_data", "u1", "x", 0, 5),
    ("user_data", "u1", "y", 0),
    ("user_data", "u2", "y"),
]


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _write(tmp_path: Path, train: bytes) -> Path:
    """A LEAF folder with ``train`` as its one train file and a valid test file."""
    root = tmp_path / "leaf"
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "train" / "a.json").write_bytes(train)
    write_leaf_file(root / "test" / "a.json", TINY_TEST)
    return root


def _check_loaded(root: Path) -> None:
    try:
        data = load_leaf(root)
    except DataError as exc:
        assert str(exc)  # noqa: PT017  (a fuzzed file may load or fail; if it fails, with one readable line)
        return
    # Anything accepted is a well-formed dataset.
    assert data.num_writers > 0 and data.num_classes == 62
    for w in range(data.num_writers):
        for shard in (data.train_of(w), data.test_of(w)):
            assert shard.x.shape[1:] == (1, 28, 28) and shard.x.dtype == np.float32
            assert np.isfinite(shard.x).all() and shard.x.min() >= 0 and shard.x.max() <= 1
            assert len(shard.x) == len(shard.y) > 0
            assert shard.y.min() >= 0 and shard.y.max() < 62


@FUZZ
@given(path=st.sampled_from(PATHS), value=json_values)
def test_mutated_leaf_documents_load_or_raise_data_error(tmp_path_factory, path, value):
    tmp = tmp_path_factory.mktemp("leaf")
    doc = _document({k: (list(map(list, x)), list(y)) for k, (x, y) in TINY_TRAIN.items()})
    _check_loaded(_write(tmp, json.dumps(_replace(doc, path, value)).encode()))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_raise_data_error(tmp_path_factory, raw):
    tmp = tmp_path_factory.mktemp("leaf")
    _check_loaded(_write(tmp, raw))


@FUZZ
@given(
    pixels=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=3),
    label=st.integers(min_value=-3, max_value=70),
)
def test_pixel_and_label_values_are_checked(tmp_path_factory, pixels, label):
    tmp = tmp_path_factory.mktemp("leaf")
    image = leaf_image(dict(enumerate(pixels)))
    root = _write(tmp, json.dumps(_document({"u1": ([image], [label]), "u2": ([leaf_image({})], [0])})).encode())
    valid = all(math.isfinite(v) and 0 <= v <= 1 for v in pixels) and 0 <= label < 62
    if valid:
        data = load_leaf(root)
        x, y = data.train_of(0)
        assert y.tolist() == [label]
        assert np.allclose(x.reshape(-1)[: len(pixels)], 1 - np.array(pixels, dtype=np.float32))
    else:
        try:
            load_leaf(root)
        except DataError:
            return
        raise AssertionError("an out-of-range pixel or label was accepted")


# JSON text that json.dumps cannot write: numbers out of float range, integers
# of any length, nesting deeper than any LEAF file, and the wrong types.
HOSTILE = st.one_of(
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "-Infinity", '"0.5"', '"3"', "true", "null", "{}"]),
    st.integers(min_value=20, max_value=6_000).map(lambda digits: "9" * digits),  # beyond int64, and int()'s 4,300 digits
    st.integers(min_value=33, max_value=200_000).map(lambda depth: "[" * depth),  # unclosed
    st.integers(min_value=33, max_value=5_000).map(lambda depth: "[" * depth + "0.5" + "]" * depth),
    st.lists(st.integers(min_value=0, max_value=800), min_size=2, max_size=4).map(
        lambda lengths: json.dumps([[0.5] * n for n in lengths])  # ragged
    ),
)
SLOT = "@@slot@@"
# Where a hostile number or array goes: the first label, the whole labels, a
# pixel, an image, the images, the declared sample count.
SLOTS = [
    ("user_data", "u1", "y", 0),
    ("user_data", "u1", "y"),
    ("user_data", "u1", "x", 0, 5),
    ("user_data", "u1", "x", 1),
    ("user_data", "u1", "x"),
    ("num_samples", 1),
]


@FUZZ
@given(path=st.sampled_from(SLOTS), text=HOSTILE)
@example(path=("user_data", "u1", "x"), text="[" * 100_000)
@example(path=("user_data", "u1", "y", 0), text=str(10**30))
@example(path=("user_data", "u1", "x", 0, 5), text="1e999")
def test_hostile_numbers_nesting_and_types_raise_data_error(tmp_path_factory, path, text):
    tmp = tmp_path_factory.mktemp("leaf")
    doc = _document({k: (list(map(list, x)), list(y)) for k, (x, y) in TINY_TRAIN.items()})
    raw = json.dumps(_replace(doc, path, SLOT)).replace(json.dumps(SLOT), text)
    with pytest.raises(DataError):
        load_leaf(_write(tmp, raw.encode()))


def test_deep_nesting_is_refused_where_the_recursion_limit_is_high(tmp_path):
    """With py_ecc's limit (web3 imports it) json's parser would overflow the C stack on this file, not raise."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 100_000))
    try:
        with pytest.raises(DataError, match=r"nests arrays or objects more than 32 deep"):
            load_leaf(_write(tmp_path, b'{"users": ["u1"], "user_data": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"))
    finally:
        sys.setrecursionlimit(previous)
