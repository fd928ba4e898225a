"""Model blobs: tensors <-> deterministic safetensors bytes, and their hashes.

A blob's key is the sha256 of its bytes. The chain stores that digest as
``bytes32``; everywhere else it is 64 lowercase hex characters.

Nothing decoded here is trusted: :func:`decode_model` parses safetensors only
(never pickle) and rejects oversize, malformed, non-finite, non-float or
unexpected tensors with :class:`~bflc.errors.BlobError`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import numpy as np
import safetensors.numpy

from bflc.errors import BlobError, ConfigError

MAX_BLOB_BYTES = 256 * 1024 * 1024
"""Default size limit for a blob from another node (256 MiB, ~64M float32 parameters)."""

ALLOWED_DTYPES = ("float32", "float64")
"""The only tensor dtypes a model blob may hold."""

ModelSpec = dict[str, tuple[tuple[int, ...], str]]
"""Tensor name -> (shape, dtype name), e.g. ``{"fc.weight": ((10, 64), "float32")}``."""

_HASH_RE = re.compile(r"[0-9a-f]{64}")


def blob_hash(data: bytes) -> str:
    """The sha256 hex digest of ``data`` (64 lowercase hex characters)."""
    return hashlib.sha256(data).hexdigest()


def is_blob_hash(text: object) -> bool:
    """Whether ``text`` is a blob hash: 64 lowercase hex characters."""
    return isinstance(text, str) and _HASH_RE.fullmatch(text) is not None


def check_hash(blob_hash: str) -> str:
    """Return ``blob_hash`` unchanged if it is 64 lowercase hex characters.

    Raises
    ------
    BlobError
        If it is anything else.
    """
    if not is_blob_hash(blob_hash):
        raise BlobError(
            f"not a blob hash: {blob_hash!r}",
            "a blob hash is a sha256 digest written as 64 lowercase hex characters",
        )
    return blob_hash


def hash_to_bytes32(blob_hash: str) -> bytes:
    """The 32 raw bytes of a hex blob hash, as the chain stores it."""
    return bytes.fromhex(check_hash(blob_hash))


def bytes32_to_hash(raw: bytes) -> str:
    """The hex blob hash of 32 raw bytes read from the chain.

    Raises
    ------
    BlobError
        If ``raw`` is not exactly 32 bytes.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        raise BlobError(
            f"a blob hash on chain is 32 bytes, got {raw!r}",
            "pass the bytes32 value read from the contract",
        )
    return bytes(raw).hex()


def check_max_bytes(max_bytes: int) -> int:
    """Return ``max_bytes`` if it is a usable blob size limit (a positive integer).

    Raises
    ------
    ConfigError
        If it is not.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ConfigError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    return max_bytes


def check_blob_size(size: int, max_bytes: int) -> None:
    """Reject a blob of ``size`` bytes if it is over ``max_bytes``.

    Raises
    ------
    BlobError
        If ``size > max_bytes``.
    ConfigError
        If ``max_bytes`` is not a positive integer.
    """
    if size > check_max_bytes(max_bytes):
        raise BlobError(
            f"blob is larger than the {max_bytes}-byte limit",
            "raise max_bytes if this model is really that large",
        )


def model_spec(tensors: Mapping[str, np.ndarray]) -> ModelSpec:
    """The spec (name -> (shape, dtype name)) that ``tensors`` satisfy, for ``expected=``."""
    return {name: (tuple(array.shape), array.dtype.name) for name, array in tensors.items()}


def _check_tensors(tensors: Mapping[str, np.ndarray]) -> None:
    """Raise BlobError unless ``tensors`` is a non-empty model of finite float tensors."""
    if not tensors:
        raise BlobError("a model blob must hold at least one tensor")
    for name, array in tensors.items():
        if not isinstance(name, str) or not name:
            raise BlobError(f"tensor names must be non-empty strings, got {name!r}")
        if array.dtype.name not in ALLOWED_DTYPES:
            raise BlobError(
                f"tensor {name!r} has dtype {array.dtype.name}",
                f"model tensors must be one of {', '.join(ALLOWED_DTYPES)}",
            )
        if not np.isfinite(array).all():
            raise BlobError(f"tensor {name!r} contains NaN or Inf")


def _check_spec(tensors: Mapping[str, np.ndarray], expected: ModelSpec) -> None:
    """Raise BlobError unless ``tensors`` has exactly the tensors ``expected`` describes."""
    missing = sorted(expected.keys() - tensors.keys())
    extra = sorted(tensors.keys() - expected.keys())
    if missing or extra:
        raise BlobError(
            f"model tensors do not match the expected architecture: "
            f"missing {missing}, unexpected {extra}",
            "the blob was built for a different model",
        )
    actual = model_spec(tensors)
    for name, (shape, dtype) in sorted(expected.items()):
        if actual[name] != (tuple(shape), dtype):
            raise BlobError(
                f"tensor {name!r} has shape {actual[name][0]} and dtype {actual[name][1]}, "
                f"expected shape {tuple(shape)} and dtype {dtype}",
                "the blob was built for a different model",
            )


def encode_model(tensors: Mapping[str, np.ndarray]) -> bytes:
    """Serialize a model to safetensors bytes, deterministically.

    Tensors are written in sorted name order with no metadata and zeros
    without sign, so equal models give equal bytes (and equal hashes) whatever
    the dict order: this is the canonical form :func:`decode_model` requires.

    Parameters
    ----------
    tensors:
        Tensor name -> float32 or float64 array of finite values.

    Returns
    -------
    bytes
        The safetensors blob.

    Raises
    ------
    BlobError
        If the model would be rejected by :func:`decode_model` (empty, bad
        name, other dtype, NaN or Inf): peers would refuse it anyway.
    """
    arrays = {name: np.asarray(array, order="C") for name, array in tensors.items()}
    _check_tensors(arrays)
    # Adding zero turns -0.0 into 0.0, so equal values always give equal bytes
    # (asarray: for a 0-d tensor the sum is a NumPy scalar, not an array).
    return safetensors.numpy.save({name: np.asarray(arrays[name] + arrays[name].dtype.type(0)) for name in sorted(arrays)})


def decode_model(
    data: bytes,
    *,
    expected: ModelSpec | None = None,
    max_bytes: int = MAX_BLOB_BYTES,
) -> dict[str, np.ndarray]:
    """Parse an untrusted safetensors blob into a model.

    Parameters
    ----------
    data:
        The blob bytes (verify its hash first, e.g. through ``BlobStore.get``).
    expected:
        If given, the blob must hold exactly these tensor names, shapes and
        dtypes (see :func:`model_spec`).
    max_bytes:
        Larger blobs are rejected before parsing.

    Returns
    -------
    dict[str, numpy.ndarray]
        Tensor name -> writable array, in sorted name order.

    Raises
    ------
    BlobError
        If the blob is oversize, malformed or not in canonical form, or a
        tensor is non-finite, not float32/float64, or does not match ``expected``.
    ConfigError
        If ``max_bytes`` is not a positive integer.
    """
    check_blob_size(len(data), max_bytes)
    try:
        tensors = safetensors.numpy.load(bytes(data))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # a Rust panic surfaces as a BaseException subclass
        raise BlobError(
            f"model blob is not valid safetensors: {error}",
            "the sender produced a corrupt or non-safetensors blob",
        ) from error
    _check_tensors(tensors)
    if expected is not None:
        _check_spec(tensors, expected)
    if encode_model(tensors) != bytes(data):
        raise BlobError(
            "model blob is not in canonical form (metadata, tensor order, padding or a negative zero differ)",
            "encode models with bflc's encoder: the same weights must have one blob and one hash",
        )
    return {name: tensors[name].copy() for name in sorted(tensors)}
