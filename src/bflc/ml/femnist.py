"""FEMNIST loaders: the bundled writer-partitioned npz and LEAF's own JSON layout.

Pixel convention. LEAF and the npz store a white background with dark ink
(LEAF: floats in [0, 1], 1.0 = white; npz: ``uint8`` 255 = white). bflc
converts both to MNIST-style ink-bright floats, ``1 - leaf_x`` (``1 - x / 255``
for the npz), so the background is 0.0 and full ink is 1.0. Both loaders
compute this the same way (in float64, then rounded once to float32), so one
image read from the npz or from LEAF JSON gives bit-identical arrays.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
import zlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bflc.errors import DataError
from bflc.files import json_structure
from bflc.ml.dataset import FederatedDataset, Shard

FEMNIST_CLASSES = 62
FEMNIST_SHAPE = (1, 28, 28)
_PIXELS = 28 * 28
_NPZ_KEYS = ("train_x", "train_y", "train_writer", "test_x", "test_y", "test_writer", "writers")
_LEAF_HINT = "pass LEAF's data/ folder (with train/ and test/ subfolders of *.json files)"
# A LEAF file nests 5 deep ({"user_data": {user: {"x": [[pixels]]}}}). Deeper
# JSON is refused before it is parsed (see bflc.files.json_structure). LEAF
# writes objects, arrays, strings and numbers only: a bare word (true, false,
# null, NaN, Infinity) is refused too, since numpy would read a boolean among
# numbers as 0 or 1.
MAX_JSON_DEPTH = 32
logger = logging.getLogger(__name__)


def ink_from_white(white: np.ndarray) -> np.ndarray:
    """Convert LEAF pixels (floats in [0, 1], 1.0 = white) to ink-bright float32."""
    return (1.0 - np.asarray(white, dtype=np.float64)).astype(np.float32)


_INK_OF_GREY = ink_from_white(np.arange(256) / 255.0)


def load_femnist(path: str | os.PathLike[str] | None = None) -> FederatedDataset:
    """Load FEMNIST from the npz layout described in ``bflc/data/FEMNIST.md``.

    Parameters
    ----------
    path:
        An npz file of that layout; ``None`` loads the subset bundled with
        bflc (167 writers, 22,667 train and 2,609 test samples, 62 classes).

    Returns
    -------
    FederatedDataset
        Named ``"femnist"``, input shape ``(1, 28, 28)``, pixels converted to
        ``1 - x / 255`` (ink bright, background 0), writers in file order.

    Raises
    ------
    DataError
        If the file is missing, not an npz, lacks an array, or its arrays have
        wrong shapes, mismatched lengths, bad writer indices or labels.
    """
    if path is None:
        with resources.as_file(resources.files("bflc.data") / "femnist.npz") as bundled:
            return _load_npz(Path(bundled))
    return _load_npz(Path(path))


def _load_npz(path: Path) -> FederatedDataset:
    if not path.is_file():
        raise DataError(f"FEMNIST file {path} does not exist", "pass the path of an npz laid out as in FEMNIST.md")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in _NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {missing}", "use an npz laid out as in FEMNIST.md")
            arrays = {key: npz[key] for key in _NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path} is not a readable npz file ({err})", "re-create or re-download it") from err
    writers = arrays["writers"]
    if writers.ndim != 1 or writers.dtype.kind != "U":
        raise DataError(f"{path}: 'writers' must be a 1-D array of strings, got {writers.dtype} {writers.shape}")
    train, test = (
        _npz_split(path, split, arrays[f"{split}_x"], arrays[f"{split}_y"], arrays[f"{split}_writer"], len(writers))
        for split in ("train", "test")
    )
    return FederatedDataset("femnist", FEMNIST_CLASSES, FEMNIST_SHAPE, writers.tolist(), train, test)


def _npz_split(
    path: Path, split: str, x: np.ndarray, y: np.ndarray, writer: np.ndarray, num_writers: int
) -> list[Shard]:
    where = f"{path} ({split})"
    if x.dtype != np.uint8 or x.shape[1:] != FEMNIST_SHAPE[1:]:
        raise DataError(f"{where}: images must be uint8 of shape (n, 28, 28), got {x.dtype} {x.shape}")
    if not len(x) == len(y) == len(writer) or y.ndim != 1 or writer.ndim != 1:
        raise DataError(
            f"{where}: {len(x)} images, labels of shape {y.shape} and writer indices of shape {writer.shape}",
            "x, y and writer must have one entry per sample",
        )
    if y.dtype.kind not in "iu" or writer.dtype.kind not in "iu":
        raise DataError(f"{where}: labels and writer indices must be integers, got {y.dtype} and {writer.dtype}")
    if len(writer) and (writer.min() < 0 or writer.max() >= num_writers):
        raise DataError(f"{where}: a writer index is outside 0..{num_writers - 1}")
    order = np.argsort(writer, kind="stable")
    bounds = np.cumsum(np.bincount(writer, minlength=num_writers))[:-1]
    xs = _INK_OF_GREY[x[order]][:, None]
    ys = y[order].astype(np.int64)
    return [Shard(a, b) for a, b in zip(np.split(xs, bounds), np.split(ys, bounds), strict=True)]


def load_leaf(directory: str | os.PathLike[str]) -> FederatedDataset:
    """Load FEMNIST from LEAF's JSON files, e.g. the full 3,550-writer dataset.

    LEAF writes ``data/train/*.json`` and ``data/test/*.json``, each file
    ``{"users": [...], "num_samples": [...], "user_data": {user: {"x": [[784
    floats], ...], "y": [...]}}}``. ``directory`` may be that ``data/`` folder,
    its parent, or one folder holding ``*train*.json`` and ``*test*.json``
    files side by side.

    Only writers that have both train and test data are kept (LEAF's sampling
    can leave a writer on one side only); the others are left out and counted
    in a log message. Writers are sorted by id. A writer may appear in only one
    file per split.

    Returns
    -------
    FederatedDataset
        Named ``"leaf:<directory>"``, input shape ``(1, 28, 28)``, 62 classes,
        pixels converted to ``1 - leaf_x`` (see the module docstring).

    Raises
    ------
    DataError
        If the folder or its train/test files are missing, a file is not LEAF
        JSON, a sample has other than 784 pixels or pixels outside [0, 1], x and
        y differ in length, a label is out of range, a writer has no samples,
        or no writer has both train and test data.
    """
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"LEAF folder {root} does not exist", _LEAF_HINT)
    train_files, test_files = _leaf_files(root)
    train = _read_leaf_split("train", train_files)
    test = _read_leaf_split("test", test_files)
    writers = sorted(train.keys() & test.keys())
    if not writers:
        raise DataError(f"no writer in {root} has both train and test data", _LEAF_HINT)
    one_sided = len(train.keys() ^ test.keys())
    if one_sided:
        logger.info("left out %d writers of %s that lack train or test data", one_sided, root)
    return FederatedDataset(
        f"leaf:{root}", FEMNIST_CLASSES, FEMNIST_SHAPE, writers, [train[w] for w in writers], [test[w] for w in writers]
    )


def _leaf_files(root: Path) -> tuple[list[Path], list[Path]]:
    for data in (root, root / "data"):
        if (data / "train").is_dir() and (data / "test").is_dir():
            train, test = sorted((data / "train").glob("*.json")), sorted((data / "test").glob("*.json"))
            break
    else:
        files = sorted(root.glob("*.json"))
        train = [f for f in files if "train" in f.stem and "test" not in f.stem]
        test = [f for f in files if "test" in f.stem and "train" not in f.stem]
    if not train or not test:
        raise DataError(f"found no LEAF train and test *.json files in {root}", _LEAF_HINT)
    return train, test


def _read_leaf_split(split: str, files: list[Path]) -> dict[str, Shard]:
    shards: dict[str, Shard] = {}
    origin: dict[str, Path] = {}
    for path in files:
        for user, shard in _read_leaf_file(path):
            if user in shards:
                raise DataError(
                    f"writer {user!r} appears in two {split} files, {origin[user]} and {path}",
                    "keep each writer in one file per split",
                )
            shards[user], origin[user] = shard, path
    return shards


def _read_leaf_file(path: Path) -> Iterator[tuple[str, Shard]]:
    try:
        data = path.read_bytes()
        depth, bare_word = json_structure(data)
        if depth > MAX_JSON_DEPTH:
            raise DataError(f"{path} nests arrays or objects more than {MAX_JSON_DEPTH} deep", "re-run LEAF's preprocessing for it")
        if bare_word:
            raise DataError(f"{path} holds true, false, null, NaN or Infinity", "LEAF files hold only numbers, strings, lists and objects")
        doc = json.loads(data)
    except (OSError, ValueError) as err:  # ValueError: bad JSON, bad UTF-8, an integer of over 4,300 digits
        raise DataError(f"{path} is not readable JSON ({err})", "re-run LEAF's preprocessing for it") from err
    users, user_data = (doc.get("users"), doc.get("user_data")) if isinstance(doc, dict) else (None, None)
    if not isinstance(users, list) or not isinstance(user_data, dict):
        raise DataError(f"{path} is not a LEAF data file", "expected the keys 'users' and 'user_data'")
    num_samples = doc.get("num_samples", [None] * len(users))
    if not isinstance(num_samples, list) or len(num_samples) != len(users):
        raise DataError(f"{path}: 'num_samples' must have one entry per user")
    for user, declared in zip(users, num_samples, strict=True):
        entry = user_data.get(user) if isinstance(user, str) else None
        if not isinstance(entry, dict) or "x" not in entry or "y" not in entry:
            raise DataError(f"{path}: user {user!r} has no 'x' and 'y' in 'user_data'")
        shard = _leaf_user(f"{path}, user {user!r}", entry["x"], entry["y"])
        if declared is not None and declared != shard.num_samples:
            raise DataError(f"{path}: user {user!r} has {shard.num_samples} samples but 'num_samples' says {declared}")
        yield user, shard


def _leaf_user(where: str, x: Any, y: Any) -> Shard:
    pixels, labels = _numbers(where, "x", x), _numbers(where, "y", y)
    if pixels.size == 0:
        pixels = pixels.reshape(0, _PIXELS)
    if pixels.ndim != 2 or pixels.shape[1] != _PIXELS or labels.ndim != 1:
        raise DataError(
            f"{where}: samples have shape {pixels.shape[1:]} and labels {labels.shape}",
            f"each sample must be a flat list of {_PIXELS} pixels (28x28)",
        )
    if len(pixels) != len(labels):
        raise DataError(f"{where}: {len(pixels)} samples but {len(labels)} labels", "x and y must have equal lengths")
    if not np.all((pixels >= 0.0) & (pixels <= 1.0)):
        raise DataError(f"{where}: pixels must be numbers in [0, 1]")
    if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.round(labels)):
        raise DataError(f"{where}: labels must be whole numbers")
    return Shard(ink_from_white(pixels).reshape(-1, *FEMNIST_SHAPE), labels.astype(np.int64))


def _numbers(where: str, key: str, value: Any) -> np.ndarray:
    """``value`` (nested lists of JSON numbers) as a float64 array, or a DataError.

    Strings, booleans, nulls, objects, ragged lists and integers beyond 64
    bits are refused, not converted.
    """
    hint = "x must be a list of equal-length pixel lists and y a list of labels"
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as err:  # ragged lists
        raise DataError(f"{where}: {key!r} is not a regular array of numbers ({err})", hint) from err
    if array.dtype.kind not in "iuf":
        raise DataError(f"{where}: {key!r} holds something other than numbers (as {array.dtype})", hint)
    return array.astype(np.float64)
