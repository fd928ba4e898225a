"""Content-addressed model blob storage: safetensors codec and blob stores."""

from bflc.storage.codec import (
    ALLOWED_DTYPES,
    MAX_BLOB_BYTES,
    ModelSpec,
    blob_hash,
    bytes32_to_hash,
    check_blob_size,
    check_hash,
    check_max_bytes,
    decode_model,
    encode_model,
    hash_to_bytes32,
    is_blob_hash,
    model_spec,
)
from bflc.storage.store import BlobStore, LocalBlobStore, MemoryBlobStore, get_model, open_store, put_model

__all__ = [
    "ALLOWED_DTYPES",
    "MAX_BLOB_BYTES",
    "BlobStore",
    "LocalBlobStore",
    "MemoryBlobStore",
    "ModelSpec",
    "blob_hash",
    "bytes32_to_hash",
    "check_blob_size",
    "check_hash",
    "check_max_bytes",
    "decode_model",
    "encode_model",
    "get_model",
    "hash_to_bytes32",
    "is_blob_hash",
    "model_spec",
    "open_store",
    "put_model",
]
