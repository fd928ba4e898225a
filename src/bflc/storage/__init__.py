"""Content-addressed model blob storage: safetensors codec and blob stores.

``S3BlobStore`` is imported from :mod:`bflc.storage.s3` on first use, so that
code without S3 does not pay for importing boto3.
"""

from typing import Any

from bflc.storage.codec import (
    ALLOWED_DTYPES,
    MAX_BLOB_BYTES,
    MAX_HEADER_BYTES,
    ModelSpec,
    blob_hash,
    bytes32_to_hash,
    check_blob_size,
    check_hash,
    check_header,
    check_max_bytes,
    decode_model,
    encode_model,
    hash_to_bytes32,
    header_length,
    is_blob_hash,
    model_header,
    model_size,
    model_spec,
)
from bflc.storage.store import (
    DEFAULT_READ_DEADLINE,
    BlobStore,
    BlobStream,
    LocalBlobStore,
    MemoryBlobStore,
    get_model,
    open_store,
    prune,
    put_model,
)

__all__ = [
    "ALLOWED_DTYPES",
    "DEFAULT_READ_DEADLINE",
    "MAX_BLOB_BYTES",
    "MAX_HEADER_BYTES",
    "BlobStore",
    "BlobStream",
    "LocalBlobStore",
    "MemoryBlobStore",
    "ModelSpec",
    "S3BlobStore",
    "blob_hash",
    "bytes32_to_hash",
    "check_blob_size",
    "check_hash",
    "check_header",
    "check_max_bytes",
    "decode_model",
    "encode_model",
    "get_model",
    "hash_to_bytes32",
    "header_length",
    "is_blob_hash",
    "model_header",
    "model_size",
    "model_spec",
    "open_store",
    "prune",
    "put_model",
]


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from bflc.storage.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
