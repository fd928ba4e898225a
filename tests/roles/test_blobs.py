"""ModelBlobs against an untrusted shared store: mirrors, and re-publication of verified copies."""

from __future__ import annotations

import numpy as np
import pytest

from bflc.errors import BlobError
from bflc.roles import ModelBlobs
from bflc.storage import BlobStream, LocalBlobStore, MemoryBlobStore, encode_model, model_spec

JUNK = b"junk under a model's hash"


def tensors(value: float = 1.0) -> dict[str, np.ndarray]:
    return {"b": np.full(3, value, np.float32), "w": np.full((2, 2), value, np.float32)}


SPEC = model_spec(tensors())


class ReadCounter(MemoryBlobStore):
    """A memory store that counts its reads (opened blobs)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def _open(self, blob_hash: str) -> BlobStream:
        self.reads += 1
        return super()._open(blob_hash)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("primary_copy", [None, JUNK], ids=["missing", "junk"])
def test_a_blob_the_primary_lacks_or_spoils_comes_from_a_mirror_and_is_put_back(tmp_path, primary_copy):
    primary, bad_mirror, good_mirror = MemoryBlobStore(), MemoryBlobStore(), MemoryBlobStore()
    key = good_mirror.put(encode_model(tensors()))
    bad_mirror._blobs[key] = encode_model(tensors(2.0))  # other bytes under the hash
    if primary_copy is not None:
        primary._blobs[key] = primary_copy
    blobs = ModelBlobs(primary, SPEC, cache=LocalBlobStore(tmp_path / "cache"), mirrors=[bad_mirror, good_mirror])
    np.testing.assert_array_equal(blobs.fetch(key)["w"], tensors()["w"])
    assert primary.get(key) == good_mirror.get(key)  # re-published
    assert blobs.has_local(key)


def test_without_a_good_copy_anywhere_the_primary_error_is_raised():
    primary, mirror = MemoryBlobStore(), MemoryBlobStore()
    key = mirror.put(encode_model(tensors()))
    mirror._blobs[key] = JUNK
    with pytest.raises(BlobError, match="not in the in-memory store"):
        ModelBlobs(primary, SPEC, mirrors=[mirror]).fetch(key)


def test_guard_puts_back_a_blob_the_store_lost_or_spoiled(tmp_path):
    store = ReadCounter()
    clock = Clock()
    blobs = ModelBlobs(store, SPEC, cache=LocalBlobStore(tmp_path / "cache"), guard_seconds=60, clock=clock)
    key = blobs.put(tensors())
    assert blobs.guard(key) is False  # the store's copy verifies
    store.delete(key)
    reads = store.reads
    assert blobs.guard(key) is False and store.reads == reads  # checked a moment ago: not read again
    clock.now = 61
    assert blobs.guard(key) is True
    assert store.get(key) == encode_model(tensors())
    store._blobs[key] = JUNK
    clock.now = 62
    with pytest.raises(BlobError):
        ModelBlobs(store, SPEC).fetch(key)  # another node sees junk...
    with pytest.raises(BlobError):
        blobs._download(key, SPEC)  # ...and so does this one (past its cache): the next guard checks at once
    assert blobs.guard(key) is True and store.get(key) == encode_model(tensors())


def test_guard_without_a_local_copy_reads_nothing():
    store = ReadCounter()
    key = store.put(encode_model(tensors()))
    store.reads = 0
    assert ModelBlobs(store, SPEC).guard(key) is False
    assert store.reads == 0


def test_publish_overwrites_junk_planted_under_the_update_hash(tmp_path):
    store = MemoryBlobStore()
    blobs = ModelBlobs(store, SPEC, cache=LocalBlobStore(tmp_path / "cache"))
    key = blobs.keep(tensors())
    store._blobs[key] = JUNK
    blobs.publish(key)
    assert store.get(key) == encode_model(tensors())


def test_fetch_bytes_takes_any_verified_model_from_the_local_copy_else_a_store_and_keeps_it(tmp_path):
    store, mirror = ReadCounter(), MemoryBlobStore()
    other = encode_model({"x": np.ones(5, np.float32)})  # not a model of SPEC
    key = mirror.put(other)
    blobs = ModelBlobs(store, SPEC, cache=LocalBlobStore(tmp_path / "cache"), mirrors=[mirror])
    assert blobs.fetch_bytes(key) == other and blobs.has_local(key) and store.get(key) == other  # from the mirror, kept, put back
    reads = store.reads
    assert blobs.fetch_bytes(key) == other and store.reads == reads  # the local copy
    with pytest.raises(BlobError, match="missing"):
        blobs.fetch(key)  # fetch() still holds it to the spec
