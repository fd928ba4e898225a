"""Model blobs: tensors <-> deterministic safetensors bytes, and their hashes.

A blob's key is the sha256 of its bytes. The chain stores that digest as
``bytes32``; everywhere else it is 64 lowercase hex characters.

Nothing decoded here is trusted: :func:`decode_model` parses safetensors only
(never pickle) and rejects oversize, malformed, non-finite, non-float or
unexpected tensors with :class:`~bflc.errors.BlobError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping

import numpy as np
import safetensors.numpy

from bflc.errors import BlobError, ConfigError
from bflc.files import json_structure

MAX_BLOB_BYTES = 256 * 1024 * 1024
"""Default size limit for a blob from another node (256 MiB, ~64M float32 parameters)."""

ALLOWED_DTYPES = ("float32", "float64")
"""The only tensor dtypes a model blob may hold."""

ModelSpec = dict[str, tuple[tuple[int, ...], str]]
"""Tensor name -> (shape, dtype name), e.g. ``{"fc.weight": ((10, 64), "float32")}``."""

MAX_HEADER_BYTES = 1024 * 1024
"""Largest safetensors header accepted from a blob whose model spec is not known (1 MiB)."""

# safetensors' dtype codes of the allowed dtypes, and their item sizes. safetensors lays
# tensors out by dtype alignment, largest first (F64 before F32), then by name.
_DTYPE_CODES = {"float64": "F64", "float32": "F32"}
_DTYPE_NAMES = {code: name for name, code in _DTYPE_CODES.items()}
_ITEM_SIZES = {"float64": 8, "float32": 4}
# A safetensors header nests at most 3 deep: {name: {"shape": [...]}}.
_MAX_NESTING = 3

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


def model_header(spec: ModelSpec) -> bytes:
    """The first bytes of the canonical blob of every model of ``spec``.

    That is the 8-byte little-endian length of the JSON header, then the
    header as safetensors writes it (tensors by dtype alignment, largest
    first, then by name; no metadata; compact JSON; padded with spaces to a
    multiple of 8 bytes). Nothing the size of the tensors is allocated.

    Raises
    ------
    ConfigError
        If ``spec`` is empty or has a dtype other than float32/float64 or a
        negative size.
    """
    if not spec:
        raise ConfigError("a model spec must name at least one tensor")
    entries: dict[str, dict[str, object]] = {}
    offset = 0
    for name in sorted(spec, key=lambda name: (-_ITEM_SIZES.get(spec[name][1], 0), name)):
        shape, dtype = tuple(spec[name][0]), spec[name][1]
        if dtype not in _DTYPE_CODES or any(not isinstance(size, int) or size < 0 for size in shape):
            raise ConfigError(
                f"model spec of tensor {name!r} is shape {shape} and dtype {dtype}",
                f"shapes are non-negative integers and dtypes one of {', '.join(ALLOWED_DTYPES)}",
            )
        end = offset + math.prod(shape) * _ITEM_SIZES[dtype]
        entries[name] = {"dtype": _DTYPE_CODES[dtype], "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def model_size(spec: ModelSpec) -> int:
    """The exact byte length of the canonical blob of a model of ``spec``, computed without its tensors.

    Raises
    ------
    ConfigError
        As :func:`model_header`.
    """
    header = model_header(spec)  # checks the spec first
    return len(header) + sum(math.prod(shape) * _ITEM_SIZES[dtype] for shape, dtype in spec.values())


def header_length(prefix: bytes, expected: ModelSpec | None = None) -> int:
    """The length of the JSON header that a blob starting with ``prefix`` declares, if acceptable.

    Parameters
    ----------
    prefix:
        At least the blob's first 8 bytes (a little-endian length).
    expected:
        The model spec the blob must match (``None``: any); a spec whose
        canonical header is longer than :data:`MAX_HEADER_BYTES` raises the limit to it.

    Raises
    ------
    BlobError
        If ``prefix`` is shorter than 8 bytes, or the length is over the limit.
    """
    if len(prefix) < 8:
        raise _invalid(f"{len(prefix)} bytes is too short for a header")
    length = int.from_bytes(prefix[:8], "little")
    limit = MAX_HEADER_BYTES if expected is None else max(MAX_HEADER_BYTES, len(model_header(expected)) - 8)
    if length > limit:
        raise _invalid(f"its header claims {length} bytes, over the {limit}-byte limit")
    return length


def check_header(prefix: bytes, expected: ModelSpec | None = None) -> int:
    """Check the safetensors header at the start of an untrusted blob before anything is allocated.

    The 8-byte header length is bounded (:func:`header_length`) and the JSON
    header parsed; with ``expected``, its tensor names, dtypes, shapes and
    offsets must be those of the canonical blob of the spec
    (:func:`model_header`). A stream reader passes the first
    ``8 + header_length(...)`` bytes, so a wrong header is refused before
    the tensor data is read.

    Parameters
    ----------
    prefix:
        The blob, or at least its header.
    expected:
        The model spec the blob must match (``None``: any).

    Returns
    -------
    int
        The offset where the tensor data begins.

    Raises
    ------
    BlobError
        If the header is malformed, too long, not canonical, or does not match ``expected``.
    """
    length = header_length(prefix, expected)
    if 8 + length > len(prefix):
        raise _invalid(f"its header claims {length} bytes but only {len(prefix) - 8} follow")
    text = prefix[8 : 8 + length]
    if json_structure(text)[0] > _MAX_NESTING:
        raise _invalid(f"its header nests deeper than {_MAX_NESTING} levels")
    try:
        header = json.loads(text)
    except ValueError as error:  # UnicodeDecodeError is one too; no RecursionError: the nesting is checked
        raise _invalid(f"its header is not JSON ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise _invalid("its header is not a JSON object")
    if "__metadata__" in header:
        raise _not_canonical()
    if expected is not None:
        _check_declared(header, expected)
        if prefix[: 8 + length] != model_header(expected):
            raise _not_canonical()
    return 8 + length


def _check_declared(header: dict[str, object], expected: ModelSpec) -> None:
    """Raise BlobError unless ``header`` declares exactly the tensor names, shapes and dtypes of ``expected``."""
    missing = sorted(expected.keys() - header.keys())
    extra = sorted(header.keys() - expected.keys())
    if missing or extra:
        raise BlobError(
            f"model tensors do not match the expected architecture: missing {_few(missing)}, unexpected {_few(extra)}",
            "the blob was built for a different model",
        )
    for name, (shape, dtype) in sorted(expected.items()):
        entry = header[name]
        declared = entry if isinstance(entry, dict) else {}
        actual_shape = declared.get("shape")
        actual = (
            tuple(actual_shape) if isinstance(actual_shape, list) else actual_shape,
            _DTYPE_NAMES.get(str(declared.get("dtype")), declared.get("dtype")),
        )
        if actual != (tuple(shape), dtype):
            raise BlobError(
                f"tensor {name!r} has shape {actual[0]} and dtype {actual[1]}, "
                f"expected shape {tuple(shape)} and dtype {dtype}",
                "the blob was built for a different model",
            )


def _few(names: list[str], shown: int = 5) -> str:
    """``names`` as a list, cut after ``shown`` names (a hostile header may list millions)."""
    if len(names) <= shown:
        return str(names)
    return f"{str(names[:shown])[:-1]}, ... ({len(names)} in all)]"


def _invalid(detail: str) -> BlobError:
    return BlobError(f"model blob is not valid safetensors: {detail}", "the sender produced a corrupt or non-safetensors blob")


def _not_canonical() -> BlobError:
    return BlobError(
        "model blob is not in canonical form (metadata, tensor order, padding or a negative zero differ)",
        "encode models with bflc's encoder: the same weights must have one blob and one hash",
    )


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


def encode_model(tensors: Mapping[str, np.ndarray]) -> bytes:
    """Serialize a model to safetensors bytes, deterministically.

    Tensors are written in safetensors' own order (wider dtypes first, then
    by name) with no metadata and zeros without sign, so equal models give
    equal bytes (and equal hashes) whatever the dict order: this is the
    canonical form :func:`decode_model` requires.

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
        Larger blobs are rejected before parsing, and the header is checked
        (:func:`check_header`) before any tensor is allocated.

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
    check_header(data, expected)
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
    if encode_model(tensors) != bytes(data):
        raise _not_canonical()
    return {name: tensors[name].copy() for name in sorted(tensors)}
