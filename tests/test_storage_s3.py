"""The S3 blob store against moto's S3 server on 127.0.0.1, prune, and open_store's URLs."""

from __future__ import annotations

import socket
from collections import Counter

import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from bflc.errors import BlobError, ConfigError
from bflc.storage import (
    LocalBlobStore,
    MemoryBlobStore,
    S3BlobStore,
    blob_hash,
    encode_model,
    get_model,
    model_spec,
    open_store,
    prune,
    put_model,
)
from tests.test_storage import BAD_HASHES, W_BLOB, W_HASH, model

pytest_plugins = ["tests.s3_server"]


def all_keys(client, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def count_calls(store: S3BlobStore, event: str) -> Counter:
    """Count the store's requests by operation name, e.g. ``before-call.s3`` or ``before-send.s3``."""
    calls: Counter = Counter()

    def record(event_name: str, **kwargs) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    store._client.meta.events.register(event, record)
    return calls


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- the store contract, for every backend ------------------------------------------------


@pytest.fixture(params=["local", "memory", "s3"])
def any_store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    if request.param == "memory":
        return MemoryBlobStore()
    return request.getfixturevalue("s3_store")


def test_contract_put_get_has_list_delete(any_store):
    assert any_store.list() == [] and not any_store.has(W_HASH)
    assert any_store.put(W_BLOB) == any_store.put(W_BLOB) == W_HASH
    assert any_store.has(W_HASH) and any_store.list() == [W_HASH]
    assert any_store.get(W_HASH) == W_BLOB
    any_store.delete(W_HASH)
    any_store.delete(W_HASH)  # deleting a missing blob is a no-op
    assert any_store.list() == [] and not any_store.has(W_HASH)
    with pytest.raises(BlobError, match=f"blob {W_HASH} is not in the"):
        any_store.get(W_HASH)


def test_contract_prune_keeps_exactly_keep(any_store):
    hashes = sorted(any_store.put(bytes([i])) for i in range(5))
    keep = {hashes[1], hashes[3], blob_hash(b"never stored")}
    assert prune(any_store, keep) == [hashes[0], hashes[2], hashes[4]]
    assert any_store.list() == [hashes[1], hashes[3]]
    assert prune(any_store, keep) == []
    assert prune(any_store, set()) == [hashes[1], hashes[3]]
    assert any_store.list() == []


def test_contract_prune_with_a_malformed_hash_deletes_nothing(any_store):
    any_store.put(W_BLOB)
    for bad in (W_HASH.upper(), bytes.fromhex(W_HASH), ""):
        with pytest.raises(BlobError, match="not a blob hash"):
            prune(any_store, {W_HASH, bad})
    assert any_store.list() == [W_HASH]


# --- S3 objects, keys and URIs ------------------------------------------------------------


def test_model_round_trip_with_exact_key_and_uri(s3_store, s3_client):
    tensors = model()
    key = put_model(s3_store, tensors)
    assert key == blob_hash(encode_model(tensors))
    assert all_keys(s3_client, s3_store.bucket) == [f"blobs/{key}"]
    assert s3_store.uri(key) == f"s3://{s3_store.bucket}/blobs/{key}"
    decoded = get_model(s3_store, key, expected=model_spec(tensors))
    for name, array in tensors.items():
        np.testing.assert_array_equal(decoded[name], array)


def test_known_blob_is_stored_verbatim(s3_store, s3_client):
    assert s3_store.put(W_BLOB) == W_HASH
    stored = s3_client.get_object(Bucket=s3_store.bucket, Key=f"blobs/{W_HASH}")["Body"].read()
    assert stored == W_BLOB


def test_store_without_prefix_keys_blobs_by_hash_alone(s3_endpoint, s3_client, bucket_name):
    store = S3BlobStore(bucket_name, endpoint_url=s3_endpoint)
    store.ensure_bucket()
    store.put(W_BLOB)
    assert all_keys(s3_client, bucket_name) == [W_HASH]
    assert store.uri(W_HASH) == f"s3://{store.bucket}/{W_HASH}"
    assert store.list() == [W_HASH]


def test_put_of_a_stored_blob_verifies_it_and_uploads_nothing(s3_store):
    s3_store.put(W_BLOB)
    calls = count_calls(s3_store, "before-call.s3")
    assert s3_store.put(W_BLOB) == W_HASH
    assert calls == {"GetObject": 1}


def test_tampered_object_fails_hash_check_and_is_left_alone(s3_store, s3_client):
    s3_store.put(W_BLOB)
    tampered = W_BLOB[:-1] + b"A"
    s3_client.put_object(Bucket=s3_store.bucket, Key=f"blobs/{W_HASH}", Body=tampered)
    with pytest.raises(BlobError, match=f"at s3://{s3_store.bucket}/blobs/{W_HASH} fails its hash check"):
        s3_store.get(W_HASH)
    assert s3_store.list() == [W_HASH]
    assert s3_client.get_object(Bucket=s3_store.bucket, Key=f"blobs/{W_HASH}")["Body"].read() == tampered
    with pytest.raises(BlobError, match="fails its hash check"):
        get_model(s3_store, W_HASH)


def test_get_rejects_oversize_blob(s3_store):
    s3_store.put(W_BLOB)
    with pytest.raises(BlobError, match="is 72 bytes, over the 71-byte limit"):
        s3_store.get(W_HASH, max_bytes=len(W_BLOB) - 1)
    assert s3_store.get(W_HASH, max_bytes=len(W_BLOB)) == W_BLOB


def test_list_pages_and_skips_foreign_keys(s3_endpoint, s3_client, bucket_name):
    store = S3BlobStore(bucket_name, "run/7", endpoint_url=s3_endpoint, page_size=2)
    store.ensure_bucket()
    hashes = sorted(store.put(bytes([i])) for i in range(5))
    for stray in ("run/7/not-a-hash", f"run/7/sub/{hashes[0]}", f"run/{hashes[0]}", f"run/7/{W_HASH}.tmp"):
        s3_client.put_object(Bucket=bucket_name, Key=stray, Body=b"x")
    calls = count_calls(store, "before-call.s3")
    assert store.list() == hashes
    assert calls == {"ListObjectsV2": 4}  # 5 blobs, 2 stray keys and 1 common prefix at 2 a page


def test_bad_hash_strings_are_rejected_before_any_request(s3_store):
    calls = count_calls(s3_store, "before-call.s3")
    for bad in BAD_HASHES:
        for method in (s3_store.get, s3_store.has, s3_store.delete, s3_store.uri):
            with pytest.raises(BlobError, match="not a blob hash"):
                method(bad)
    assert calls == {}


# --- failures -----------------------------------------------------------------------------


def test_unreachable_server_fails_fast_after_retries(closed_port, aws_env):
    store = S3BlobStore("models", endpoint_url=f"http://127.0.0.1:{closed_port}")
    sends = count_calls(store, "before-send.s3")
    with pytest.raises(BlobError) as raised:
        store.has(W_HASH)
    assert sends == {"HeadObject": 3}  # gives up after 3 attempts instead of hanging
    assert str(raised.value).startswith(f"could not look up a blob in s3://models/ at http://127.0.0.1:{closed_port}: ")
    assert raised.value.hint == "check that the S3 server is running and that the store URL's endpoint is right"


def test_server_errors_are_retried(s3_store):
    failures = iter([503])

    def fail_once(request, **kwargs):
        status = next(failures, None)
        return None if status is None else AWSResponse(request.url, status, {}, _Raw(b"<Error><Code>SlowDown</Code></Error>"))

    sends = count_calls(s3_store, "before-send.s3")
    s3_store._client.meta.events.register_first("before-send.s3", fail_once)
    assert s3_store.put(W_BLOB) == W_HASH
    assert sends == {"GetObject": 2, "PutObject": 1}
    assert s3_store.get(W_HASH) == W_BLOB


class _Raw:
    """The raw body of a fake HTTP response."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs):
        yield self.data


def test_error_while_reading_a_blob_is_a_blob_error(s3_store, monkeypatch):
    s3_store.put(W_BLOB)

    class StalledBody:
        def read(self, size):
            raise ReadTimeoutError(endpoint_url=s3_store.endpoint_url)

        def close(self):
            pass

    monkeypatch.setattr(s3_store._client, "get_object", lambda **kwargs: {"Body": StalledBody()})
    with pytest.raises(BlobError, match=f"could not read a blob in s3://{s3_store.bucket}/blobs at .*Read timeout"):
        s3_store.get(W_HASH)


def test_missing_bucket(s3_endpoint, aws_env):
    store = S3BlobStore("no-such-bucket", "blobs", endpoint_url=s3_endpoint)
    assert not store.has(W_HASH)  # a HEAD answer cannot tell a missing bucket from a missing blob
    for action in (lambda: store.put(W_BLOB), lambda: store.get(W_HASH), store.list, lambda: store.delete(W_HASH)):
        with pytest.raises(BlobError) as raised:
            action()
        assert raised.value.message == f"bucket 'no-such-bucket' does not exist at {s3_endpoint}"
        assert "ensure_bucket" in raised.value.hint


def test_ensure_bucket_creates_once_in_the_given_region(s3_endpoint, s3_client, bucket_name):
    store = S3BlobStore(bucket_name, endpoint_url=s3_endpoint, region="eu-central-1")
    store.ensure_bucket()
    store.ensure_bucket()
    location = s3_client.get_bucket_location(Bucket=store.bucket)["LocationConstraint"]
    assert location == "eu-central-1"
    assert store.put(W_BLOB) == W_HASH


def test_missing_credentials(s3_endpoint, aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3BlobStore("models", endpoint_url=s3_endpoint)
    with pytest.raises(BlobError, match=r"no S3 credentials found to write a blob in s3://models/ .*AWS_ACCESS_KEY_ID"):
        store._write(W_HASH, W_BLOB)


@pytest.mark.parametrize(
    ("method", "code", "status"),
    [("head_object", "403", 403), ("get_object", "AccessDenied", 403), ("put_object", "InvalidAccessKeyId", 403),
     ("list_objects_v2", "AccessDenied", 403)],
)
def test_refused_credentials(s3_store, method, code, status):
    action = {"head_object": lambda: s3_store.has(W_HASH), "get_object": lambda: s3_store.get(W_HASH),
              "put_object": lambda: s3_store._write(W_HASH, W_BLOB), "list_objects_v2": s3_store.list}[method]
    with Stubber(s3_store._client) as stub:
        stub.add_client_error(method, service_error_code=code, http_status_code=status)
        with pytest.raises(BlobError) as raised:
            action()
    assert raised.value.message.startswith(f"{s3_store.endpoint_url} refused to let us ")
    assert raised.value.message.endswith(f" in s3://{s3_store.bucket}/blobs ({code})")
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in raised.value.hint


def test_explicit_keys(s3_endpoint, aws_env, monkeypatch, bucket_name):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3BlobStore(bucket_name, endpoint_url=s3_endpoint, access_key="k", secret_key="s")
    store.ensure_bucket()
    assert store.put(W_BLOB) == W_HASH
    with pytest.raises(ConfigError, match="both access_key and secret_key, or neither"):
        S3BlobStore("models", endpoint_url=s3_endpoint, access_key="k")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket": "ab"}, "bucket name 'ab' is not valid"),
        ({"bucket": "Models"}, "bucket name 'Models' is not valid"),
        ({"bucket": "a..b"}, "bucket name 'a..b' is not valid"),
        ({"prefix": "/blobs"}, "prefix '/blobs' has a leading"),
        ({"prefix": "a//b"}, "prefix 'a//b' has a leading, trailing or doubled"),
        ({"endpoint_url": "127.0.0.1:9000"}, "not an http\\(s\\)://host\\[:port\\] URL"),
        ({"endpoint_url": "http://127.0.0.1:99999"}, "not an http"),
        ({"endpoint_url": "http://user:pw@127.0.0.1:9000"}, "not an http"),
        ({"endpoint_url": "http://127.0.0.1:9000/path"}, "not an http"),
        ({"region": "not a region!"}, "cannot set up an S3 client for s3://models/"),
        ({"connect_timeout": 0}, "connect_timeout must be a positive number"),
        ({"read_timeout": float("nan")}, "read_timeout must be a positive number"),
        ({"max_attempts": 0}, "max_attempts must be an integer from 1 to 10"),
        ({"page_size": 1001}, "page_size must be an integer from 1 to 1000"),
    ],
)
def test_constructor_rejects_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        S3BlobStore(**{"bucket": "models", **kwargs})


# --- open_store URLs ----------------------------------------------------------------------


def test_open_store_s3_url_settings(aws_env):
    store = open_store(
        "s3://my-models/runs/7?endpoint=http://127.0.0.1:9000&region=eu-west-1"
        "&connect_timeout=0.5&read_timeout=7&max_attempts=2"
    )
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.endpoint_url) == ("my-models", "runs/7", "http://127.0.0.1:9000")
    config = store._client.meta.config
    assert store._client.meta.region_name == "eu-west-1"
    assert (config.connect_timeout, config.read_timeout) == (0.5, 7.0)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}
    assert store.uri(W_HASH) == f"s3://my-models/runs/7/{W_HASH}"


def test_open_store_s3_url_defaults(aws_env):
    store = open_store("S3://models/")
    assert (store.bucket, store.prefix, store.endpoint_url) == ("models", "", None)
    assert store._client.meta.region_name == "us-east-1"  # from AWS_DEFAULT_REGION
    assert store.uri(W_HASH) == f"s3://models/{W_HASH}"


def test_open_store_s3_url_round_trip(s3_endpoint, aws_env, bucket_name):
    bucket = bucket_name
    store = open_store(f"s3://{bucket}/a/b?endpoint={s3_endpoint}&region=us-east-1")
    store.ensure_bucket()
    key = store.put(W_BLOB)
    assert open_store(f"s3://{bucket}/a/b/?endpoint={s3_endpoint}").get(key) == W_BLOB


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "bucket name '' is not valid"),
        ("s3:///prefix", "bucket name '' is not valid"),
        ("s3://Bad_Bucket/p", "bucket name 'Bad_Bucket' is not valid"),
        ("s3://key:secret@bucket/p", "holds credentials or a port"),
        ("s3://bucket:9000/p", "holds credentials or a port"),
        ("s3://bucket/a//b", "prefix 'a//b'"),
        ("s3://bucket/p?endpoint=ftp://127.0.0.1:21", "endpoint 'ftp://127.0.0.1:21' is not an http"),
        ("s3://bucket/p?endpoint=http://127.0.0.1:port", "is not an http"),
        ("s3://bucket/p?endpoint=", "option 'endpoint' .* has no value"),
        ("s3://bucket/p?access_key=AKIA", "unknown option 'access_key'"),
        ("s3://bucket/p?region=us-east-1&region=eu-west-1", "option 'region' is given twice"),
        ("s3://bucket/p?endpoint", "has a malformed query"),
        ("s3://bucket/p?max_attempts=two", "max_attempts='two' .* is not a valid int"),
        ("s3://bucket/p?connect_timeout=1s", "connect_timeout='1s' .* is not a valid float"),
        ("s3://bucket/p?max_attempts=50", "max_attempts must be an integer from 1 to 10"),
        ("s3://bucket/p#frag", "is not an S3 blob store URL"),
        ("gs://bucket/p", "unsupported blob store URL scheme 'gs'"),
    ],
)
def test_open_store_rejects_bad_s3_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        open_store(url)
