"""Dataset loaders: the bundled FEMNIST, LEAF JSON, digits, writer selection."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from bflc.errors import ConfigError
from bflc.ml.data import (
    FederatedDataset,
    load_dataset,
    load_digits_writers,
    load_leaf,
    subset_writers,
)
from tests.ml.ml_leaf_json import TINY_TEST, TINY_TRAIN, write_leaf_file


@pytest.fixture
def tiny_leaf(tmp_path: Path) -> Path:
    write_leaf_file(tmp_path / "data" / "train" / "shard_train_0.json", TINY_TRAIN)
    write_leaf_file(tmp_path / "data" / "test" / "shard_test_0.json", TINY_TEST)
    return tmp_path / "data"


def test_bundled_femnist_has_the_documented_size(femnist: FederatedDataset) -> None:
    assert femnist.name == "femnist"
    assert femnist.num_writers == 167
    assert femnist.num_train_samples == 22_667
    assert femnist.num_test_samples == 2_609
    assert femnist.num_classes == 62
    assert femnist.input_shape == (1, 28, 28)
    pooled_x, pooled_y = femnist.pooled_test()
    assert pooled_x.shape == (2_609, 1, 28, 28) and pooled_x.dtype == np.float32
    assert pooled_y.dtype == np.int64 and set(pooled_y.tolist()) == set(range(62))
    assert femnist.pooled_train().num_samples == 22_667


def test_bundled_femnist_is_ink_bright_and_grouped_by_writer(femnist: FederatedDataset) -> None:
    with resources.as_file(resources.files("bflc.data") / "femnist.npz") as path, np.load(path) as raw:
        writers = raw["writers"].tolist()
        grey = raw["train_x"][raw["train_writer"] == 5]
        labels = raw["train_y"][raw["train_writer"] == 5]
    assert femnist.writers == writers
    x, y = femnist.train_of(5)
    np.testing.assert_array_equal(x[:, 0], (1.0 - grey / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y, labels)
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.median(x) == 0.0, "the white background becomes 0"


def test_leaf_loader_converts_pixels_and_keeps_writers_with_both_splits(tiny_leaf: Path) -> None:
    data = load_leaf(tiny_leaf)
    assert data.writers == ["u1", "u2"]
    assert data.name == f"leaf:{tiny_leaf}"
    assert (data.num_classes, data.input_shape) == (62, (1, 28, 28))
    u1_train, u2_train = data.train_of(0), data.train_of(1)
    np.testing.assert_array_equal(u1_train.y, [3, 10])
    np.testing.assert_array_equal(data.test_of(0).y, [7])
    np.testing.assert_array_equal(u2_train.y, [61])
    assert u2_train.x[0, 0, 1, 2] == 0.75  # pixel 30 = row 1, column 2; 1 - 0.25
    assert u1_train.x[0, 0, 0, 0] == 1.0 and u1_train.x[1, 0, 27, 27] == 0.5
    assert data.test_of(0).x[0, 0, 0, 1] == 0.25
    assert np.count_nonzero(u2_train.x) == 1 and np.count_nonzero(data.test_of(1).x) == 0


def test_leaf_loader_accepts_parent_folder_and_flat_folder(tiny_leaf: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    write_leaf_file(flat / "all_data_niid_train_9.json", TINY_TRAIN)
    write_leaf_file(flat / "all_data_niid_test_9.json", TINY_TEST)
    reference = load_leaf(tiny_leaf)
    for folder in (tiny_leaf.parent, flat):
        data = load_leaf(folder)
        assert data.writers == reference.writers
        np.testing.assert_array_equal(data.pooled_train().x, reference.pooled_train().x)


def test_leaf_json_and_npz_give_identical_arrays(femnist: FederatedDataset, tmp_path: Path) -> None:
    with resources.as_file(resources.files("bflc.data") / "femnist.npz") as path, np.load(path) as raw:
        picked = [i for i, n in enumerate(np.bincount(raw["train_writer"])) if n <= 20][:2]
        for split in ("train", "test"):
            users = {}
            for i in picked:
                mask = raw[f"{split}_writer"] == i
                pixels = (raw[f"{split}_x"][mask].reshape(-1, 784) / 255.0).tolist()
                users[str(raw["writers"][i])] = (pixels, raw[f"{split}_y"][mask].tolist())
            write_leaf_file(tmp_path / split / f"{split}.json", users)
    from_leaf = load_leaf(tmp_path)
    from_npz = femnist.select(picked)
    assert from_leaf.writers == from_npz.writers
    for leaf_shard, npz_shard in zip(from_leaf.train + from_leaf.test, from_npz.train + from_npz.test, strict=False):
        np.testing.assert_array_equal(leaf_shard.x, npz_shard.x)
        np.testing.assert_array_equal(leaf_shard.y, npz_shard.y)


def test_digits_writers_are_deterministic_non_iid_and_complete() -> None:
    first = load_digits_writers(num_writers=8, seed=3, alpha=0.1)
    again = load_digits_writers(num_writers=8, seed=3, alpha=0.1)
    other = load_digits_writers(num_writers=8, seed=4, alpha=0.1)
    for a, b in zip(first.train + first.test, again.train + again.test, strict=False):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(first.pooled_train().y, other.pooled_train().y)
    assert first.num_train_samples + first.num_test_samples == 1_797
    assert (first.num_classes, first.input_shape, first.writers[0]) == (10, (1, 8, 8), "digits-000")
    assert all(s.num_samples >= 1 for s in first.train + first.test)
    classes_per_writer = [len(np.unique(first.train_of(i).y)) for i in range(8)]
    assert min(classes_per_writer) < 10, "alpha=0.1 leaves writers without some digits"
    pooled = first.pooled_train().x
    assert pooled.min() == 0.0 and pooled.max() == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_writers": 0},
        {"num_writers": 1_000},
        {"alpha": 0.0},
        {"test_fraction": 1.0},
        {"min_samples": 1},
        {"num_writers": 11, "alpha": 1e-4},  # each class lands on one writer: one stays empty
    ],
)
def test_digits_rejects_impossible_splits(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        load_digits_writers(**kwargs)


def test_load_dataset_dispatches_on_spec(tiny_leaf: Path) -> None:
    assert load_dataset("digits", num_writers=3, seed=1).num_writers == 3
    assert load_dataset(f"leaf:{tiny_leaf}").writers == ["u1", "u2"]
    assert load_dataset("femnist").num_writers == 167


@pytest.mark.parametrize("spec", ["mnist", "leaf:", "FEMNIST", ""])
def test_load_dataset_lists_valid_specs_for_unknown_ones(spec: str) -> None:
    with pytest.raises(ConfigError, match="femnist, digits, leaf:DIR"):
        load_dataset(spec)


def test_load_dataset_rejects_options_its_loader_lacks() -> None:
    with pytest.raises(ConfigError, match="num_writers"):
        load_dataset("digits", writers=3)


def test_subset_writers_takes_first_or_seeded_sample(digits: FederatedDataset) -> None:
    assert subset_writers(digits, 2).writers == digits.writers[:2]
    sampled = subset_writers(digits, 3, seed=7)
    assert sampled.writers == subset_writers(digits, 3, seed=7).writers
    assert sampled.writers == sorted(sampled.writers, key=digits.writers.index)
    index = digits.writers.index(sampled.writers[1])
    np.testing.assert_array_equal(sampled.train_of(1).x, digits.train_of(index).x)
    for n in (0, 6):
        with pytest.raises(ConfigError):
            subset_writers(digits, n)
