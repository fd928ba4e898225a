"""An S3-compatible blob store (AWS S3, MinIO, Ceph RGW, ...) over boto3.

Blobs are objects ``<prefix>/<sha256 hex>`` in one bucket. Hashing, the size
limit and the hash check on ``get`` come from :class:`~bflc.storage.store.BlobStore`;
this module only moves bytes and turns S3 failures into one-line
:class:`~bflc.errors.BlobError` messages.

Credentials come from the standard AWS chain: the environment variables
``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``),
then ``~/.aws/credentials`` / ``AWS_PROFILE``, then instance metadata. They
are never read from a store URL.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from botocore.response import StreamingBody
from urllib3.exceptions import HTTPError

from bflc.errors import BlobError, BlobUnavailable, ConfigError, UnverifiedBlob
from bflc.storage import codec
from bflc.storage.store import DEFAULT_READ_DEADLINE, BlobStore, BlobStream

__all__ = ["S3BlobStore"]

T = TypeVar("T")

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_REFUSED_CODES = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_URL_FORM = "s3://bucket/prefix?endpoint=http://host:port&region=us-east-1"
_URL_OPTIONS = {
    "endpoint": ("endpoint_url", str),
    "region": ("region", str),
    "connect_timeout": ("connect_timeout", float),
    "read_timeout": ("read_timeout", float),
    "read_deadline": ("read_deadline", float),
    "max_attempts": ("max_attempts", int),
}
_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to keys the server accepts"
)


class S3BlobStore(BlobStore):
    """Blobs as objects ``<prefix>/<hash>`` in an S3 bucket.

    Parameters
    ----------
    bucket:
        The bucket name (3-63 lowercase letters, digits, dots and hyphens).
    prefix:
        Key prefix of the blobs, without leading or trailing ``/``; empty
        puts them at the top of the bucket.
    endpoint_url:
        ``http(s)://host[:port]`` of an S3-compatible server such as MinIO;
        ``None`` for AWS S3. Requests to it use path-style addressing.
    region:
        The region to sign requests for; ``None`` takes it from the AWS
        configuration chain (``AWS_DEFAULT_REGION``).
    access_key, secret_key:
        Explicit credentials, both or neither; by default the AWS chain is
        used (see the module docstring).
    connect_timeout, read_timeout:
        Seconds to wait for a connection and for each read from it.
    read_deadline:
        Seconds a whole blob read may take, the request and its retries
        included; a server that sends slowly (a byte now and then, each
        within ``read_timeout``) is given up on then.
    max_attempts:
        Tries per request, the first included; connection errors, throttling
        and 5xx answers are retried with jittered exponential backoff.
    page_size:
        Keys fetched per ``list`` request (S3 returns at most 1000).

    Raises
    ------
    ConfigError
        If a parameter is malformed.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 20.0,
        read_deadline: float = DEFAULT_READ_DEADLINE,
        max_attempts: int = 3,
        page_size: int = 1000,
    ) -> None:
        _check_settings(bucket, prefix, endpoint_url, (connect_timeout, read_timeout, read_deadline), max_attempts, page_size)
        if (access_key is None) != (secret_key is None):
            raise ConfigError("give both access_key and secret_key, or neither", _CREDENTIALS_HINT)
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.read_deadline = read_deadline
        self.page_size = page_size
        self._key_prefix = f"{prefix}/" if prefix else ""
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint_url else None,
            # Checksum headers only where S3 requires them: many S3-compatible servers reject
            # the ones botocore adds by default. Blobs are verified by their sha256 anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(
                aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
            )
            self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except BotoCoreError as error:  # e.g. a malformed region name
            raise ConfigError(f"cannot set up an S3 client for {self._location}: {error}") from error

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """The store described by ``s3://bucket/prefix?endpoint=...&region=...``.

        Query keys (all optional): ``endpoint``, ``region``, ``connect_timeout``,
        ``read_timeout``, ``read_deadline`` and ``max_attempts``, as the
        constructor's parameters.
        Credentials are not accepted in the URL.

        Raises
        ------
        ConfigError
            If the URL is malformed, has an unknown or repeated query key, or
            holds credentials.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "s3" or parts.fragment:
            raise ConfigError(f"{url!r} is not an S3 blob store URL", f"write it as {_URL_FORM}")
        if "@" in parts.netloc or ":" in parts.netloc:
            raise ConfigError(
                f"S3 blob store URL {url!r} holds credentials or a port in its bucket name",
                f"pass keys through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the server as {_URL_FORM}",
            )
        return cls(parts.netloc, parts.path.strip("/"), **_url_options(url, parts.query))

    def __repr__(self) -> str:
        return f"S3BlobStore({self._location!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def _location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def _server(self) -> str:
        return self.endpoint_url or "AWS S3"

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (for tests and ``bflc cluster``).

        Raises
        ------
        BlobError
            If the server cannot be reached or refuses to create the bucket.
        """
        with self._errors("create the bucket"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as error:
                if _code(error) not in _MISSING_CODES:
                    raise
            region = self._client.meta.region_name
            where = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            try:
                self._client.create_bucket(Bucket=self.bucket, **where)
            except ClientError as error:
                if _code(error) != "BucketAlreadyOwnedByYou":  # created meanwhile by another node
                    raise

    def _key(self, blob_hash: str) -> str:
        return self._key_prefix + codec.check_hash(blob_hash)

    def has(self, blob_hash: str) -> bool:
        """Whether a blob is stored under ``blob_hash`` (``False`` also when the bucket is missing)."""
        key = self._key(blob_hash)
        with self._errors("look up a blob"):
            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if _code(error) in _MISSING_CODES:
                    return False
                raise
        return True

    def delete(self, blob_hash: str) -> None:
        """Remove the object of ``blob_hash``; nothing happens if there is none.

        Raises
        ------
        BlobError
            If the server cannot be reached or refuses.
        """
        key = self._key(blob_hash)
        with self._errors("delete a blob"):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def list(self) -> list[str]:
        """The hashes of the blobs under the prefix, sorted.

        Raises
        ------
        BlobError
            If the server cannot be reached or refuses.
        """
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self._key_prefix,
            Delimiter="/",
            PaginationConfig={"PageSize": self.page_size},
        )
        with self._errors("list the blobs"):
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        names = (key[len(self._key_prefix):] for key in keys)
        return sorted(name for name in names if codec.is_blob_hash(name))

    def uri(self, blob_hash: str) -> str:
        """``s3://bucket/<key>``: the bucket and the object's key."""
        return f"s3://{self.bucket}/{self._key(blob_hash)}"

    def _open(self, blob_hash: str) -> BlobStream:
        key = self._key(blob_hash)
        with self._errors("read a blob", blob_hash):
            response = _within(self.read_deadline, lambda: self._client.get_object(Bucket=self.bucket, Key=key), f"blob {blob_hash} at {self.uri(blob_hash)}")
        body = response["Body"]
        size = response.get("ContentLength")
        return BlobStream(size if isinstance(size, int) else None, _reader(body, lambda: self._errors("read a blob", blob_hash)), body.close)

    def _write(self, blob_hash: str, data: bytes) -> None:
        key = self._key(blob_hash)
        with self._errors("write a blob"):
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/octet-stream"
            )

    @contextlib.contextmanager
    def _errors(self, action: str, blob_hash: str | None = None) -> Iterator[None]:
        """Turn what boto3 raises inside the block into a BlobError that says what to do.

        A BlobUnavailable where the server could not be reached or failed.
        """
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise BlobError(f"no S3 credentials found to {action} in {self._location}", _CREDENTIALS_HINT) from error
        except ClientError as error:
            raise self._client_error(error, action, blob_hash) from error
        except (BotoCoreError, HTTPError, OSError) as error:  # urllib3's and the socket's: from a body's read1
            raise BlobUnavailable(
                f"could not {action} in {self._location} at {self._server}: {error}",
                "check that the S3 server is running and that the store URL's endpoint is right",
            ) from error

    def _client_error(self, error: ClientError, action: str, blob_hash: str | None) -> BlobError:
        """The BlobError for an error answer from the S3 server."""
        code = _code(error)
        if code == "NoSuchBucket":
            return BlobError(
                f"bucket {self.bucket!r} does not exist at {self._server}",
                "create it (S3BlobStore.ensure_bucket, `mc mb` or `aws s3 mb`) or fix the bucket in the store URL",
            )
        if code in _REFUSED_CODES:
            return BlobError(
                f"{self._server} refused to let us {action} in {self._location} ({code})",
                f"{_CREDENTIALS_HINT}, and check the bucket's access policy",
            )
        if blob_hash is not None and code in _MISSING_CODES:
            return UnverifiedBlob(
                f"blob {blob_hash} is not in the store at {self._location}",
                "fetch it from the node that announced it, or check the store URL",
                reason="blob missing",
            )
        message = error.response.get("Error", {}).get("Message", "")
        return BlobUnavailable(  # e.g. 5xx answers or throttling, still failing after the retries
            f"could not {action} in {self._location}: {code} {message}".rstrip(),
            f"check the S3 server at {self._server} and its logs",
        )


def _within(seconds: float, call: Callable[[], T], what: str) -> T:
    """``call()``, or BlobUnavailable if it has not returned within ``seconds``.

    ``get_object`` returns once the answer's headers arrived, each socket read
    within ``read_timeout``: headers sent a byte at a time would hold the
    caller for hours. The call runs in a daemon thread, which is left to end
    at its own timeout if it overruns.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed to the caller
            failure.append(error)

    worker = threading.Thread(target=run, daemon=True, name="s3-request")
    worker.start()
    worker.join(seconds)
    if failure:
        raise failure[0]
    if not outcome:
        raise BlobUnavailable(
            f"{what} is too slow: the store did not answer within the {seconds:g} s read deadline",
            "try again later, or fetch it from a mirror",
        )
    return outcome[0]


def _reader(body: StreamingBody, errors: Callable[[], contextlib.AbstractContextManager[None]]) -> Callable[[int], bytes]:
    """A ``read(n)`` of a ``get_object`` body that waits for the server at most once per call.

    ``StreamingBody.read(n)`` waits until ``n`` bytes came, each socket read
    within ``read_timeout``: a server sending a byte now and then would hold
    it for days. urllib3's ``read1`` returns what one socket read brings, so
    :class:`~bflc.storage.store.BlobStore` checks its deadline between them.
    Failures while reading are BlobErrors.
    """
    read1 = getattr(getattr(body, "_raw_stream", None), "read1", None)  # of the urllib3 response botocore wraps
    read: Callable[[int], bytes] = read1 if callable(read1) else body.read

    def read_some(size: int) -> bytes:
        with errors():
            return read(size)

    return read_some


def _code(error: ClientError) -> str:
    """The S3 error code of ``error``, e.g. ``NoSuchBucket`` (``"404"`` for a bare HEAD answer)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _url_options(url: str, query: str) -> dict[str, Any]:
    """The constructor keyword arguments given by the query of an S3 store URL."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as error:
        raise ConfigError(f"S3 blob store URL {url!r} has a malformed query", f"write it as {_URL_FORM}") from error
    options: dict[str, Any] = {}
    for name, text in pairs:
        if not text:
            raise ConfigError(f"option {name!r} in S3 blob store URL {url!r} has no value")
        if name not in _URL_OPTIONS:
            raise ConfigError(
                f"unknown option {name!r} in S3 blob store URL {url!r}",
                f"the options are {', '.join(_URL_OPTIONS)}; credentials go in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            )
        parameter, parse = _URL_OPTIONS[name]
        if parameter in options:
            raise ConfigError(f"option {name!r} is given twice in S3 blob store URL {url!r}")
        try:
            options[parameter] = parse(text)
        except ValueError as error:
            raise ConfigError(f"option {name}={text!r} in S3 blob store URL {url!r} is not a valid {parse.__name__}") from error
    return options


def _check_settings(
    bucket: str,
    prefix: str,
    endpoint_url: str | None,
    seconds: tuple[float, float, float],
    max_attempts: int,
    page_size: int,
) -> None:
    """Raise ConfigError for the first unusable S3 store parameter (``seconds``: the timeouts and the read deadline)."""
    if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(
            f"S3 bucket name {bucket!r} is not valid",
            f"use 3-63 lowercase letters, digits, dots and hyphens, as in {_URL_FORM}",
        )
    if not isinstance(prefix, str) or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise ConfigError(f"S3 key prefix {prefix!r} has a leading, trailing or doubled '/'")
    if endpoint_url is not None:
        _check_endpoint(endpoint_url)
    for name, value in zip(("connect_timeout", "read_timeout", "read_deadline"), seconds, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    for name, count, top in (("max_attempts", max_attempts, 10), ("page_size", page_size, 1000)):
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= top:
            raise ConfigError(f"{name} must be an integer from 1 to {top}, got {count!r}")


def _check_endpoint(endpoint_url: str) -> None:
    """Raise ConfigError unless ``endpoint_url`` is ``http(s)://host[:port]``."""
    parts = urlsplit(endpoint_url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or not port_ok
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            f"S3 endpoint {endpoint_url!r} is not an http(s)://host[:port] URL",
            "give the server's address, e.g. endpoint=http://127.0.0.1:9000",
        )
