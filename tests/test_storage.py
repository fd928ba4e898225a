import contextlib
import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from bflc.errors import BlobError, ConfigError
from bflc.storage import (
    LocalBlobStore,
    blob_hash,
    bytes32_to_hash,
    check_hash,
    decode_model,
    encode_model,
    get_model,
    hash_to_bytes32,
    model_spec,
    open_store,
    put_model,
)

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 vector

# encode_model({"w": [1, 2] as float32}): 8-byte little-endian header length, JSON header
# padded with spaces to a multiple of 8, then the raw little-endian data.
W_BLOB = (
    b"8\x00\x00\x00\x00\x00\x00\x00"
    b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  '
    b"\x00\x00\x80?\x00\x00\x00@"
)
W_HASH = "a06ccadd01057a4ceb1433dfacf4f1fdee9afa1ad6b953de1ef1337ef938fe8f"

BAD_HASHES = [
    ABC_SHA256.upper(),
    ABC_SHA256[:-1],
    ABC_SHA256 + "0",
    "g" * 64,
    "../" + ABC_SHA256[3:],
    "",
    None,
    bytes.fromhex(ABC_SHA256),
]


def model(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "fc.weight": rng.normal(size=(3, 4)).astype(np.float32),
        "fc.bias": rng.normal(size=3).astype(np.float32),
        "scale": np.array(0.5),
    }


def safetensors_blob(header, data):
    """A hand-built safetensors file, for inputs encode_model refuses to write."""
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def store_files(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# --- hashes -----------------------------------------------------------------------------


def test_blob_hash_is_sha256_hex():
    assert blob_hash(b"abc") == ABC_SHA256


def test_hash_bytes32_round_trip():
    raw = hash_to_bytes32(ABC_SHA256)
    assert raw == bytes.fromhex(ABC_SHA256) and len(raw) == 32
    assert bytes32_to_hash(raw) == ABC_SHA256


@pytest.mark.parametrize("bad", BAD_HASHES)
def test_bad_hash_strings_are_rejected(bad):
    with pytest.raises(BlobError, match="not a blob hash"):
        check_hash(bad)
    with pytest.raises(BlobError, match="not a blob hash"):
        hash_to_bytes32(bad)


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33, ABC_SHA256])
def test_bytes32_to_hash_rejects_wrong_length(bad):
    with pytest.raises(BlobError, match="32 bytes"):
        bytes32_to_hash(bad)


# --- codec ------------------------------------------------------------------------------


def test_known_model_encodes_to_known_bytes_and_hash():
    blob = encode_model({"w": np.array([1.0, 2.0], dtype=np.float32)})
    assert blob == W_BLOB
    assert blob_hash(blob) == W_HASH


def test_encode_decode_round_trip():
    tensors = model()
    decoded = decode_model(encode_model(tensors), expected=model_spec(tensors))
    assert list(decoded) == sorted(tensors)
    for name, array in tensors.items():
        assert decoded[name].dtype == array.dtype
        np.testing.assert_array_equal(decoded[name], array)
        assert decoded[name].flags.writeable


def test_encoding_ignores_dict_order():
    tensors = model()
    reordered = dict(reversed(list(tensors.items())))
    assert list(reordered) != list(tensors)
    assert encode_model(reordered) == encode_model(tensors)


def test_model_spec():
    assert model_spec(model()) == {
        "fc.weight": ((3, 4), "float32"),
        "fc.bias": ((3,), "float32"),
        "scale": ((), "float64"),
    }


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ({}, "at least one tensor"),
        ({"w": np.array([1.0, np.nan])}, "NaN or Inf"),
        ({"w": np.array([np.inf], dtype=np.float32)}, "NaN or Inf"),
        ({"w": np.array([1, 2])}, "dtype int64"),
        ({"": np.zeros(1)}, "non-empty strings"),
    ],
)
def test_encode_refuses_models_peers_would_reject(tensors, message):
    with pytest.raises(BlobError, match=message):
        encode_model(tensors)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (W_BLOB[:-1], "not valid safetensors"),
        (W_BLOB[:20], "not valid safetensors"),
        (b"", "not valid safetensors"),
        (b"not a safetensors file at all", "not valid safetensors"),
        (b"\x80\x04\x95" + b"\x00" * 16, "not valid safetensors"),  # a pickle opcode stream
        (safetensors_blob({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)),
         "not valid safetensors"),
        (safetensors.numpy.save({}), "at least one tensor"),
        (safetensors.numpy.save({"w": np.array([1.0, np.nan])}), "NaN or Inf"),
        (safetensors.numpy.save({"w": np.array([np.inf], dtype=np.float32)}), "NaN or Inf"),
        (safetensors.numpy.save({"w": np.array([-np.inf])}), "NaN or Inf"),
        (safetensors.numpy.save({"w": np.array([1, 2], dtype=np.int32)}), "dtype int32"),
        (safetensors.numpy.save({"w": np.array([1], dtype=np.float16)}), "dtype float16"),
        (safetensors.numpy.save({"w": np.array([True])}), "dtype bool"),
    ],
    ids=[
        "truncated-data", "truncated-header", "empty", "garbage", "pickle", "bf16",
        "no-tensors", "nan", "inf32", "neg-inf", "int32", "float16", "bool",
    ],
)
def test_decode_rejects_bad_blobs(blob, message):
    with pytest.raises(BlobError, match=message):
        decode_model(blob)


def f32(*values: float) -> bytes:
    return np.array(values, dtype=np.float32).tobytes()


def entry(offsets: list[int]) -> dict:
    return {"dtype": "F32", "shape": [1], "data_offsets": offsets}


def test_the_hand_built_blob_of_a_model_is_its_canonical_form():
    canonical = safetensors_blob({"a": entry([0, 4]), "b": entry([4, 8])}, f32(1.0) + f32(2.0))
    assert canonical == encode_model({"b": np.array([2.0], np.float32), "a": np.array([1.0], np.float32)})
    assert list(decode_model(canonical)) == ["a", "b"]


@pytest.mark.parametrize(
    "blob",
    [
        safetensors.numpy.save({"w": np.array([1.0, 2.0], np.float32)}, metadata={"format": "np"}),
        safetensors_blob({"b": entry([0, 4]), "a": entry([4, 8])}, f32(2.0) + f32(1.0)),
        safetensors_blob({"a": entry([4, 8]), "b": entry([0, 4])}, f32(2.0) + f32(1.0)),
        safetensors.numpy.save({"w": np.array([-0.0, 2.0], np.float32)}),
        safetensors.numpy.save({"w": np.array(-0.0)}),
        struct.pack("<Q", 56 + 8) + W_BLOB[8:64] + b" " * 8 + W_BLOB[64:],  # W_BLOB's 56-byte header padded further
    ],
    ids=["metadata", "tensors-in-other-order", "data-in-other-order", "negative-zero", "negative-zero-scalar", "extra-padding"],
)
def test_decode_rejects_a_valid_model_not_in_canonical_form(blob):
    assert safetensors.numpy.load(blob)  # valid safetensors of finite float tensors
    with pytest.raises(BlobError, match="not in canonical form"):
        decode_model(blob)


def test_encode_writes_negative_zero_as_zero():
    negative = {"w": np.array([-0.0, 1.0], np.float32), "s": np.array(-0.0), "d": np.array([[-0.0]])}
    positive = {"w": np.array([0.0, 1.0], np.float32), "s": np.array(0.0), "d": np.array([[0.0]])}
    blob = encode_model(negative)
    assert blob == encode_model(positive)
    assert not any(np.signbit(array).any() for array in decode_model(blob).values())
    assert np.signbit(negative["w"][0])  # the caller's arrays are left alone


def test_equal_weights_give_equal_bytes_whatever_their_layout():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    layouts = [np.asfortranarray(w), w.astype(">f4"), np.repeat(w, 2, axis=1)[:, ::2], w.T.copy().T]
    assert all(np.array_equal(v, w) for v in layouts)
    assert {encode_model({"w": v, "b": np.ones(2)}) for v in layouts} == {encode_model({"b": np.ones(2), "w": w})}


@pytest.mark.parametrize(
    ("spec_change", "message"),
    [
        ({"extra": ((1,), "float32")}, "missing \\['extra'\\], unexpected \\[\\]"),
        ({"fc.bias": None}, "missing \\[\\], unexpected \\['fc.bias'\\]"),
        ({"fc.weight": ((4, 3), "float32")}, "'fc.weight' has shape \\(3, 4\\)"),
        ({"fc.weight": ((3, 4), "float64")}, "expected shape \\(3, 4\\) and dtype float64"),
    ],
    ids=["missing", "extra", "shape", "dtype"],
)
def test_decode_rejects_models_of_another_architecture(spec_change, message):
    tensors = model()
    expected = {**model_spec(tensors), **spec_change}
    expected = {name: spec for name, spec in expected.items() if spec is not None}
    with pytest.raises(BlobError, match=message):
        decode_model(encode_model(tensors), expected=expected)


def test_decode_checks_size_before_parsing(monkeypatch):
    def parser_must_not_run(data):
        raise AssertionError("parsed an oversize blob")

    monkeypatch.setattr(safetensors.numpy, "load", parser_must_not_run)
    with pytest.raises(BlobError, match="larger than the 71-byte limit"):
        decode_model(W_BLOB, max_bytes=len(W_BLOB) - 1)


def test_decode_accepts_blob_at_exact_size_limit():
    assert list(decode_model(W_BLOB, max_bytes=len(W_BLOB))) == ["w"]


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, True])
def test_decode_rejects_bad_size_limit(max_bytes):
    with pytest.raises(ConfigError, match="max_bytes"):
        decode_model(W_BLOB, max_bytes=max_bytes)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_of_random_bytes_raises_only_blob_error(data):
    with contextlib.suppress(BlobError):
        decode_model(data)


header_entry = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["F32", "F64", "F16", "BF16", "I64", "U8", "BOOL", "X"]),
        "shape": st.lists(st.integers(0, 2**40), max_size=3),
        "data_offsets": st.lists(st.integers(0, 64), min_size=0, max_size=3),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=4), header_entry, max_size=3), st.binary(max_size=64))
def test_decode_of_random_headers_raises_only_blob_error(header, data):
    with contextlib.suppress(BlobError):
        decode_model(safetensors_blob(header, data))


# --- store ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def test_put_get_round_trip_and_layout(store):
    assert store.put(W_BLOB) == W_HASH
    assert store.get(W_HASH) == W_BLOB
    assert store.has(W_HASH)
    assert store_files(store.root) == [f"a0/{W_HASH}"]
    assert store.uri(W_HASH) == (store.root / "a0" / W_HASH).as_uri()
    assert store.list() == [W_HASH]


def test_put_is_idempotent(store):
    assert store.put(W_BLOB) == store.put(W_BLOB) == W_HASH
    assert store_files(store.root) == [f"a0/{W_HASH}"]


def test_list_is_sorted_and_ignores_stray_files(store):
    hashes = [store.put(bytes([i])) for i in range(5)]
    (store.root / "a0").mkdir(exist_ok=True)
    (store.root / "a0" / ".tmp-leftover").write_bytes(b"x")
    (store.root / "00").mkdir(exist_ok=True)
    (store.root / "00" / W_HASH).write_bytes(W_BLOB)  # wrong shard directory
    assert store.list() == sorted(hashes)


def test_empty_store_lists_nothing(tmp_path):
    store = LocalBlobStore(tmp_path / "does-not-exist")
    assert store.list() == []
    assert not store.has(W_HASH)


def test_delete(store):
    store.put(W_BLOB)
    store.delete(W_HASH)
    assert not store.has(W_HASH)
    store.delete(W_HASH)  # deleting a missing blob is a no-op
    assert store.list() == []


def test_get_missing_blob(store):
    with pytest.raises(BlobError, match="not in the store"):
        store.get(W_HASH)


def test_tampered_blob_fails_hash_check_and_is_left_alone(store):
    store.put(W_BLOB)
    path = store.root / "a0" / W_HASH
    tampered = W_BLOB[:-1] + b"A"
    path.write_bytes(tampered)
    with pytest.raises(BlobError, match="fails its hash check"):
        store.get(W_HASH)
    assert store.list() == [W_HASH]
    assert path.read_bytes() == tampered


def test_get_rejects_oversize_blob(store):
    store.put(W_BLOB)
    with pytest.raises(BlobError, match="is 72 bytes, over the 10-byte limit"):
        store.get(W_HASH, max_bytes=10)


@pytest.mark.parametrize("bad", BAD_HASHES)
def test_store_rejects_bad_hash_strings(store, bad):
    for method in (store.get, store.has, store.delete, store.uri):
        with pytest.raises(BlobError, match="not a blob hash"):
            method(bad)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_write_leaves_no_partial_or_temporary_file(store, monkeypatch, failing):
    def fail(*args):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(BlobError, match=r"could not write blob .*disk on fire"):
        store.put(W_BLOB)
    monkeypatch.undo()
    assert store_files(store.root) == []
    assert not store.has(W_HASH)


def test_put_get_model(store):
    tensors = model()
    key = put_model(store, tensors)
    assert key == blob_hash(encode_model(tensors))
    decoded = get_model(store, key, expected=model_spec(tensors))
    for name, array in tensors.items():
        np.testing.assert_array_equal(decoded[name], array)


def test_rejected_put_model_leaves_store_unchanged(store):
    store.put(W_BLOB)
    with pytest.raises(BlobError, match="NaN or Inf"):
        put_model(store, {"w": np.array([np.nan])})
    assert store_files(store.root) == [f"a0/{W_HASH}"]


def test_get_model_checks_hash_before_decoding(store):
    store.put(W_BLOB)
    other_model = encode_model({"w": np.array([5.0, 6.0], dtype=np.float32)})
    (store.root / "a0" / W_HASH).write_bytes(other_model)
    with pytest.raises(BlobError, match="fails its hash check"):
        get_model(store, W_HASH)


def test_get_model_rejects_stored_non_model(store):
    key = store.put(b"just some bytes")
    with pytest.raises(BlobError, match="not valid safetensors"):
        get_model(store, key)


def test_get_model_rejects_wrong_architecture(store):
    key = put_model(store, model())
    with pytest.raises(BlobError, match="missing \\['other'\\]"):
        get_model(store, key, expected={"other": ((1,), "float32")})


# --- open_store -------------------------------------------------------------------------


def test_open_store_plain_path(tmp_path):
    for location in (tmp_path, str(tmp_path)):
        store = open_store(location)
        assert isinstance(store, LocalBlobStore) and store.root == tmp_path


@pytest.mark.parametrize("host", ["", "localhost"])
def test_open_store_file_url(tmp_path, host):
    root = tmp_path / "with space"
    store = open_store(root.as_uri().replace("file://", f"file://{host}"))
    assert isinstance(store, LocalBlobStore) and store.root == root
    key = store.put(W_BLOB)
    assert open_store(store.uri(key).rsplit("/", 2)[0]).get(key) == W_BLOB


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("file://relative/path", "not a local absolute file URL"),
        ("file:///abs/path?x=1", "not a local absolute file URL"),
        ("http://example.com/blobs", "unsupported blob store URL scheme 'http'"),
    ],
)
def test_open_store_rejects_unsupported_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        open_store(url)


def test_memory_store_checks_hashes_like_every_store():
    from bflc.storage import MemoryBlobStore

    store = MemoryBlobStore()
    key = store.put(b"abc")
    assert key == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert store.get(key) == b"abc" and store.has(key) and store.list() == [key]
    assert store.uri(key) == f"mem://{key}"
    store._blobs[key] = b"abd"  # tampered in place
    with pytest.raises(BlobError, match="fails its hash check"):
        store.get(key)
    store.delete(key)
    assert not store.has(key)
    with pytest.raises(BlobError, match="not in the in-memory store"):
        store.get(key)
