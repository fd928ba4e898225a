"""Every broken input to the dataset loaders raises a DataError that names the problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bflc.errors import DataError
from bflc.ml.data import load_femnist, load_leaf
from tests.ml.ml_leaf_json import TINY_TEST, TINY_TRAIN, leaf_image, write_leaf_file


def npz_arrays() -> dict[str, np.ndarray]:
    """A valid two-writer FEMNIST npz: writer 0 has 2 train + 1 test sample, writer 1 has 1 + 1."""
    rng = np.random.default_rng(0)
    return {
        "train_x": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "train_y": np.array([0, 61, 5], dtype=np.uint8),
        "train_writer": np.array([0, 0, 1], dtype=np.int32),
        "test_x": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "test_y": np.array([1, 2], dtype=np.uint8),
        "test_writer": np.array([1, 0], dtype=np.int32),
        "writers": np.array(["w0", "w1"]),
    }


def write_npz(path: Path, **changes: np.ndarray | None) -> Path:
    arrays = {key: value for key, value in {**npz_arrays(), **changes}.items() if value is not None}
    np.savez(path, **arrays)
    return path


def test_a_valid_small_npz_loads(tmp_path: Path) -> None:
    data = load_femnist(write_npz(tmp_path / "ok.npz"))
    assert data.writers == ["w0", "w1"]
    np.testing.assert_array_equal(data.train_of(0).y, [0, 61])
    np.testing.assert_array_equal(data.test_of(0).y, [2])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train_x": np.zeros((3, 28, 27), dtype=np.uint8)}, "shape"),
        ({"train_x": np.zeros((3, 28, 28), dtype=np.float32)}, "uint8"),
        ({"train_y": np.array([0, 1], dtype=np.uint8)}, "one entry per sample"),
        ({"test_y": np.array([1, 62], dtype=np.uint8)}, "label 62 is outside 0..61"),
        ({"train_writer": np.array([0, 0, 2], dtype=np.int32)}, "writer index"),
        ({"writers": np.array(["w0", "w1", "w2"])}, "'w2' .*has no samples"),
        ({"test_writer": None}, "lacks the arrays \\['test_writer'\\]"),
    ],
)
def test_broken_npz_raises_data_error(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_femnist(write_npz(tmp_path / "broken.npz", **changes))


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04garbage"])
def test_corrupt_npz_raises_data_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable npz"):
        load_femnist(path)


def test_truncated_npz_raises_data_error(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "whole.npz")
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError, match="not a readable npz"):
        load_femnist(path)


def test_missing_npz_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_femnist(tmp_path / "nowhere.npz")


def corrupt_train_file(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    """A LEAF-folder writer whose train file is the tiny one changed by ``edit``."""

    def write(root: Path) -> None:
        path = root / "train" / "t.json"
        write_leaf_file(path, TINY_TRAIN)
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))
        write_leaf_file(root / "test" / "t.json", TINY_TEST)

    return write


def with_tiny(root: Path, train: dict | None = None, test: dict | None = None) -> None:
    write_leaf_file(root / "train" / "t.json", TINY_TRAIN if train is None else train)
    write_leaf_file(root / "test" / "t.json", TINY_TEST if test is None else test)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda root: root.mkdir(), "found no LEAF train and test"),
        (lambda root: with_tiny(root, train={"u1": ([[1.0] * 783], [0])}), r"\(783,\).*784 pixels"),
        (lambda root: with_tiny(root, train={"u1": ([leaf_image({})], [62])}), "label 62 is outside 0..61"),
        (lambda root: with_tiny(root, train={"u1": ([leaf_image({})], [0.5])}), "whole numbers"),
        (lambda root: with_tiny(root, train={"u1": ([leaf_image({})] * 2, [0])}), "2 samples but 1 labels"),
        (lambda root: with_tiny(root, train={"u1": ([], [])}), "'u1' \\(train\\) has no samples"),
        (lambda root: with_tiny(root, train={"u1": ([leaf_image({3: 1.5})], [0])}), r"\[0, 1\]"),
        (lambda root: with_tiny(root, train={"x": ([leaf_image({})], [0])}), "no writer .* both train and test"),
        (lambda root: with_tiny(root, train={"u1": ([[1.0] * 784, [1.0] * 3], [0, 1])}), "equal-length"),
        (corrupt_train_file(lambda doc: doc.update(num_samples=[9, 9, 9])), "'num_samples' says 9"),
        (corrupt_train_file(lambda doc: doc.pop("user_data")), "not a LEAF data file"),
        (corrupt_train_file(lambda doc: doc["user_data"].pop("u1")), "'u1' has no 'x' and 'y'"),
    ],
)
def test_broken_leaf_folder_raises_data_error(tmp_path: Path, write: Callable[[Path], None], message: str) -> None:
    root = tmp_path / "leaf"
    write(root)
    with pytest.raises(DataError, match=message):
        load_leaf(root)


def test_corrupt_leaf_json_raises_data_error(tmp_path: Path) -> None:
    with_tiny(tmp_path)
    (tmp_path / "test" / "t.json").write_text('{"users": ["u1"], "user_data": {')
    with pytest.raises(DataError, match="not readable JSON"):
        load_leaf(tmp_path)


def test_writer_in_two_files_of_one_split_raises_data_error(tmp_path: Path) -> None:
    with_tiny(tmp_path)
    write_leaf_file(tmp_path / "train" / "u.json", {"u1": ([leaf_image({})], [0])})
    with pytest.raises(DataError, match="'u1' appears in two train files"):
        load_leaf(tmp_path)


def test_missing_leaf_folder_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_leaf(tmp_path / "nowhere")
