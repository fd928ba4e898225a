"""The blob store is untrusted for reads and writes: planted blobs, pipes and links,
slow servers and headers built to exhaust memory (docs/storage.md, "Trust model")."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from bflc.errors import BlobError, BlobUnavailable, ConfigError, UnverifiedBlob
from bflc.storage import (
    MAX_HEADER_BYTES,
    BlobStream,
    LocalBlobStore,
    MemoryBlobStore,
    S3BlobStore,
    check_header,
    decode_model,
    encode_model,
    get_model,
    model_header,
    model_size,
    model_spec,
    open_store,
)
from tests.test_storage import W_BLOB, W_HASH, model

pytest_plugins = ["tests.s3_server"]

JUNK = b"junk planted under the hash of a model nobody uploaded yet"


def run_within(seconds: float, action):
    """Run ``action`` in a thread; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def million_tensor_header() -> bytes:
    """A safetensors prefix whose JSON header declares 10**6 empty tensors (59 MB of JSON)."""
    entries = ",".join(f'"t{k}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}' for k in range(10**6))
    header = ("{" + entries + "}").encode()
    return struct.pack("<Q", len(header)) + header


class CountingStore(MemoryBlobStore):
    """A memory store that counts the bytes its readers took."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes_read = 0

    def _open(self, blob_hash: str) -> BlobStream:
        stream = super()._open(blob_hash)

        def read(n: int) -> bytes:
            chunk = stream.read(n)
            self.bytes_read += len(chunk)
            return chunk

        return BlobStream(stream.size, read, stream.close)


# --- model_size: the exact length of a canonical blob, from the spec alone -----------------------


@pytest.mark.parametrize(
    "tensors",
    [
        {"w": np.zeros(2, np.float32)},
        {"scale": np.zeros(())},
        {"b": np.zeros((2,), np.float64), "a": np.zeros(3, np.float32), "c": np.zeros(()), "d": np.zeros((0, 3), np.float32)},
        {"z": np.zeros(1, np.float32), "y": np.zeros(1, np.float64)},
        {'e"\n\u00e9\x7f\x1f': np.zeros(1, np.float32), "fc.weight": np.zeros((7, 5), np.float32)},
        model(),
    ],
    ids=["one", "0-d", "mixed", "float64-first", "escaped-names", "model"],
)
def test_model_size_and_header_are_those_of_the_encoded_blob(tensors):
    blob = encode_model(tensors)
    spec = model_spec(tensors)
    assert model_size(spec) == len(blob)
    assert blob.startswith(model_header(spec))
    assert check_header(blob, spec) == len(model_header(spec))


def test_model_size_of_a_large_spec_allocates_nothing():
    spec = {"w": ((1 << 20, 1 << 10), "float64")}  # 8 GiB of tensor data
    tracemalloc.start()
    try:
        assert model_size(spec) == len(model_header(spec)) + (8 << 30)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("spec", [{}, {"w": ((2,), "int32")}, {"w": ((-1,), "float32")}])
def test_model_size_refuses_a_spec_no_model_has(spec):
    with pytest.raises(ConfigError, match="model spec"):
        model_size(spec)


# --- attack 1: a blob planted (or replaced) before the honest upload ------------------------------


@pytest.fixture(params=["local", "memory", "s3"])
def shared(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    if request.param == "memory":
        return MemoryBlobStore()
    return request.getfixturevalue("s3_store")


def plant(store, key: str, data: bytes) -> None:
    """Bytes ``data`` under ``key``, behind the store's back."""
    if isinstance(store, LocalBlobStore):
        path = store._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    elif isinstance(store, MemoryBlobStore):
        store._blobs[key] = data
    else:
        store._client.put_object(Bucket=store.bucket, Key=store._key(key), Body=data)


@pytest.mark.parametrize("planted", [JUNK, W_BLOB[:-1] + b"A", W_BLOB + b"tail", b""], ids=["junk", "same-size", "longer", "empty"])
def test_put_overwrites_a_blob_planted_under_its_hash(shared, planted):
    plant(shared, W_HASH, planted)
    with pytest.raises(BlobError):
        shared.get(W_HASH)
    assert shared.put(W_BLOB) == W_HASH
    assert shared.get(W_HASH) == W_BLOB


def test_repair_writes_only_what_does_not_verify(shared):
    assert shared.repair(W_BLOB) is True  # missing
    assert shared.repair(W_BLOB) is False  # verified: left alone
    plant(shared, W_HASH, JUNK)
    assert shared.repair(W_BLOB) is True
    assert shared.get(W_HASH) == W_BLOB


# --- attack 3: named pipes, links and odd files in a shared directory ------------------------------


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def test_a_named_pipe_in_the_place_of_a_blob_is_refused_at_once_and_replaced(store):
    path = store._path(W_HASH)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert not store.has(W_HASH) and store.list() == []
    with pytest.raises(BlobError, match="not a regular file"):
        run_within(10, lambda: store.get(W_HASH))  # a plain open() blocks here forever
    assert run_within(10, lambda: store.put(W_BLOB)) == W_HASH
    assert store.get(W_HASH) == W_BLOB and path.is_file()


def test_a_symbolic_link_in_the_place_of_a_blob_is_not_followed(store, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(W_BLOB)  # even a link to the right bytes: the store holds only its own files
    path = store._path(W_HASH)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    assert not store.has(W_HASH) and store.list() == []
    with pytest.raises(BlobError, match="could not read blob"):
        store.get(W_HASH)
    store.put(W_BLOB)
    assert not path.is_symlink() and store.get(W_HASH) == W_BLOB and target.read_bytes() == W_BLOB


def test_a_shard_directory_that_is_a_link_is_refused_and_replaced(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / W_HASH).write_bytes(W_BLOB)
    store.root.mkdir()
    (store.root / W_HASH[:2]).symlink_to(outside, target_is_directory=True)
    assert not store.has(W_HASH) and store.list() == []
    with pytest.raises(BlobError, match="could not read blob"):
        store.get(W_HASH)
    store.delete(W_HASH)  # nothing is deleted through the link
    assert (outside / W_HASH).read_bytes() == W_BLOB
    store.put(W_BLOB)
    shard = store.root / W_HASH[:2]
    assert shard.is_dir() and not shard.is_symlink() and store.get(W_HASH) == W_BLOB
    assert sorted(p.name for p in outside.iterdir()) == [W_HASH]  # nothing written through the link


def test_a_directory_in_the_place_of_a_blob_is_replaced(store):
    path = store._path(W_HASH)
    (path / "inside").mkdir(parents=True)
    with pytest.raises(BlobError, match="not a regular file"):
        store.get(W_HASH)
    store.put(W_BLOB)
    assert store.get(W_HASH) == W_BLOB


def test_a_huge_sparse_file_is_refused_by_its_size_before_reading(store):
    path = store._path(W_HASH)
    path.parent.mkdir(parents=True)
    with path.open("wb") as file:
        file.truncate(4 << 30)
    with pytest.raises(UnverifiedBlob, match=f"is {4 << 30} bytes, over the 1024-byte limit"):
        run_within(10, lambda: store.get(W_HASH, max_bytes=1024))
    store.put(W_BLOB)
    assert path.stat().st_size == len(W_BLOB)


# --- attack 4: a store that sends slowly --------------------------------------------------------


class SlowBody(BaseHTTPRequestHandler):
    """Answers every GET with a 1000-byte object, one byte every 20 ms (50 s in all)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"x")
                time.sleep(0.02)
        except OSError:  # the reader gave up
            pass

    def log_message(self, *args) -> None:
        pass


class SlowHeaders(BaseHTTPRequestHandler):
    """Answers every GET with its status line and headers one byte every 20 ms (never done within 1 s)."""

    def do_GET(self) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n" + b"X-Padding: " + b"p" * 200 + b"\r\n\r\nbody"
        try:
            for byte in head:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:  # the reader gave up
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(params=[SlowBody, SlowHeaders], ids=["body", "headers"])
def slow_server(request) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_slow_server_is_given_up_on_after_the_read_deadline(slow_server, aws_env):
    store = open_store(f"s3://models/blobs?endpoint={slow_server}&read_deadline=1&max_attempts=1")
    assert isinstance(store, S3BlobStore) and store.read_deadline == 1.0
    started = time.monotonic()
    with pytest.raises(BlobUnavailable, match=r"too slow: the store (sent \d+ of 1000 bytes in 1\.\d s, over|did not answer within) the 1 s read deadline"):
        store.get(W_HASH)
    assert time.monotonic() - started < 20  # not the 50 s the server would take


def test_the_read_deadline_covers_every_store():
    store = MemoryBlobStore()
    store.put(W_BLOB)
    store.read_deadline = -1.0  # already over before the first byte
    with pytest.raises(BlobUnavailable, match=f"the store sent 0 of {len(W_BLOB)} bytes"):
        store.get(W_HASH)


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon"])
def test_a_bad_read_deadline_is_a_config_error(value, aws_env):
    with pytest.raises(ConfigError, match="read_deadline"):
        open_store(f"s3://models?read_deadline={value}")


# --- attack 5: blobs built to exhaust memory before they are refused -----------------------------


def test_a_million_tensor_header_is_refused_quickly_in_little_memory():
    blob = million_tensor_header()
    for expected in (None, model_spec(model())):
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(BlobError, match="not valid safetensors: its header claims 58888891 bytes, over the 1048576-byte limit"):
                decode_model(blob, expected=expected)
            assert time.monotonic() - started < 10
            assert tracemalloc.get_traced_memory()[1] < 50 << 20
        finally:
            tracemalloc.stop()


def test_a_million_tensor_header_in_the_store_is_refused_by_its_size_unread():
    store = CountingStore()
    key = store.put(million_tensor_header())
    spec = model_spec(model())
    with pytest.raises(UnverifiedBlob, match=rf"is {len(million_tensor_header())} bytes, over the {model_size(spec) + MAX_HEADER_BYTES}-byte limit"):
        get_model(store, key, expected=spec)
    assert store.bytes_read == 0


def test_a_header_just_under_the_limit_with_many_tensors_is_refused_before_loading():
    entries = {f"t{k}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for k in range(15_000)}
    text = json.dumps(entries, separators=(",", ":")).encode()
    blob = struct.pack("<Q", len(text)) + text
    with pytest.raises(BlobError, match=r"missing \['fc.bias', 'fc.weight', 'scale'\], unexpected \['t0', 't1', 't10', 't100', 't1000', \.\.\. \(15000 in all\)\]"):
        decode_model(blob, expected=model_spec(model()))


@pytest.mark.parametrize("text", [b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"{" * 300_000])
def test_a_deeply_nested_header_is_refused_without_recursing(text):
    # json.loads recurses in C per level: with the recursion limit raised (pytest runs with
    # 100000), a header like this one crashed the process with a segmentation fault.
    with pytest.raises(BlobError, match="its header nests deeper than 3 levels"):
        decode_model(struct.pack("<Q", len(text)) + text)


def test_brackets_inside_tensor_names_are_not_nesting():
    tensors = {'layer[0]{"[[[[': np.ones(2, np.float32), "b\\[[[[": np.ones(1)}
    assert list(decode_model(encode_model(tensors), expected=model_spec(tensors))) == sorted(tensors)


def test_a_wrong_name_of_the_right_size_is_refused_before_any_tensor_is_allocated():
    tensors = {"fc.weight": np.ones((512, 512), np.float32), "fc.bias": np.ones(512, np.float32)}
    renamed = {"fc.wexght": tensors["fc.weight"], "fc.bias": tensors["fc.bias"]}
    store = CountingStore()
    key = store.put(encode_model(renamed))
    spec = model_spec(tensors)
    assert len(store._blobs[key]) == model_size(spec)  # the same size: only the header tells
    tracemalloc.start()
    try:
        with pytest.raises(BlobError, match=r"missing \['fc.weight'\], unexpected \['fc.wexght'\]"):
            store.get(key, expected=spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.bytes_read == model_size(spec)  # read and hashed (it is the blob its maker committed to), never parsed
    assert peak < 3 * model_size(spec)


def test_a_verified_blob_of_another_size_is_the_makers_fault():
    store = CountingStore()
    spec = model_spec(model())
    key = store.put(encode_model(model()) + bytes(64))  # the right header, then too much data
    with pytest.raises(BlobError, match=f"is {model_size(spec) + 64} bytes, not the {model_size(spec)} bytes of a model of this network") as caught:
        store.get(key, expected=spec)
    assert not isinstance(caught.value, UnverifiedBlob)


def test_a_model_bigger_than_the_limit_is_refused_without_a_read():
    store = CountingStore()
    key = store.put(encode_model(model()))
    with pytest.raises(BlobError, match=r"a model of the expected architecture is \d+ bytes, over the 16-byte limit"):
        store.get(key, max_bytes=16, expected=model_spec(model()))
    assert store.bytes_read == 0
