"""An S3 server for tests: moto's, on 127.0.0.1 and a free port, in a thread.

Use the fixtures from a test module with ``pytest_plugins = ["tests.s3_server"]``,
or the context manager :func:`moto_s3_server` directly.

- ``s3_endpoint`` (session): the server's ``http://127.0.0.1:PORT``;
- ``aws_env``: fake credentials in the environment, and no ``~/.aws``,
  instance metadata or endpoint override from the machine running the tests;
- ``bucket_name``: a bucket name no other test uses (the bucket is not created);
- ``s3_store``: an empty :class:`~bflc.storage.s3.S3BlobStore` on a fresh
  bucket (prefix ``blobs``) of that server;
- ``s3_client``: a plain boto3 client on that server, to look at or tamper
  with objects behind a store's back.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bflc.storage.s3 import S3BlobStore

FAKE_KEY_ID = "testing-key-id"
FAKE_SECRET = "testing-secret"
_bucket_numbers = itertools.count()


@contextlib.contextmanager
def moto_s3_server() -> Iterator[str]:
    """Run a moto S3 server on 127.0.0.1 and a free port; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def set_fake_aws_env(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
    """Point the AWS credential chain at fake keys only, and requests to 127.0.0.1 past any proxy."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_dir / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_dir / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def bucket_name() -> str:
    return f"bflc-test-{next(_bucket_numbers)}"  # the session's server keeps every bucket


@pytest.fixture
def s3_store(s3_endpoint: str, aws_env: None, bucket_name: str) -> S3BlobStore:
    store = S3BlobStore(bucket_name, "blobs", endpoint_url=s3_endpoint, region="us-east-1")
    store.ensure_bucket()
    return store


@pytest.fixture
def s3_client(s3_endpoint: str, aws_env: None):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
