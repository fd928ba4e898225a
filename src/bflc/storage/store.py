"""Content-addressed blob stores: the key of a blob is the sha256 of its bytes.

:class:`BlobStore` holds the rules every backend shares (hash on ``put``,
size limit and hash check on ``get``); a backend only moves bytes.
:class:`LocalBlobStore` keeps blobs in a directory, :class:`MemoryBlobStore`
in a dict, and :class:`~bflc.storage.s3.S3BlobStore` in an S3-compatible
bucket; :func:`open_store` picks one from a URL.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np

from bflc.errors import BlobError, ConfigError
from bflc.files import write_atomically
from bflc.storage import codec

__all__ = ["BlobStore", "LocalBlobStore", "MemoryBlobStore", "get_model", "open_store", "prune", "put_model"]

_SUPPORTED_URLS = "a directory path, file:///absolute/path or s3://bucket/prefix?endpoint=http://host:port"


class BlobStore(ABC):
    """A content-addressed store of immutable blobs keyed by their sha256 hex digest."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its hash; storing the same bytes again is a no-op."""
        key = codec.blob_hash(data)
        if not self.has(key):
            self._write(key, bytes(data))
        return key

    def get(self, blob_hash: str, *, max_bytes: int = codec.MAX_BLOB_BYTES) -> bytes:
        """The bytes stored under ``blob_hash``, verified against it.

        Parameters
        ----------
        blob_hash:
            64 lowercase hex characters.
        max_bytes:
            Blobs larger than this are rejected without being read whole.

        Raises
        ------
        BlobError
            If the hash is malformed, the blob is missing or oversize, or its
            bytes do not hash to ``blob_hash`` (corrupted or tampered with).
        """
        codec.check_hash(blob_hash)
        with self._open(blob_hash) as stream:
            data = stream.read(codec.check_max_bytes(max_bytes) + 1)
        codec.check_blob_size(len(data), max_bytes)
        actual = codec.blob_hash(data)
        if actual != blob_hash:
            raise BlobError(
                f"blob {blob_hash} at {self.uri(blob_hash)} fails its hash check "
                f"(its bytes hash to {actual})",
                "the stored copy is corrupt or was tampered with; delete it and fetch it again",
            )
        return data

    @abstractmethod
    def has(self, blob_hash: str) -> bool:
        """Whether a blob is stored under ``blob_hash``."""

    @abstractmethod
    def delete(self, blob_hash: str) -> None:
        """Remove the blob stored under ``blob_hash``; nothing happens if there is none."""

    @abstractmethod
    def list(self) -> list[str]:
        """The hashes of all stored blobs, sorted."""

    @abstractmethod
    def uri(self, blob_hash: str) -> str:
        """Where the blob ``blob_hash`` lives, as a URI other nodes can be told."""

    @abstractmethod
    def _open(self, blob_hash: str) -> BinaryIO:
        """A readable binary stream of a stored blob; BlobError if it is missing."""

    @abstractmethod
    def _write(self, blob_hash: str, data: bytes) -> None:
        """Store ``data`` under ``blob_hash`` so that it appears whole or not at all."""


class LocalBlobStore(BlobStore):
    """Blobs as files ``root/<first 2 hex digits>/<hash>`` in a local directory.

    Parameters
    ----------
    root:
        The store directory; created on the first ``put``.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, blob_hash: str) -> Path:
        codec.check_hash(blob_hash)
        return self.root / blob_hash[:2] / blob_hash

    def has(self, blob_hash: str) -> bool:
        """Whether the file of ``blob_hash`` exists."""
        return self._path(blob_hash).is_file()

    def delete(self, blob_hash: str) -> None:
        """Remove the file of ``blob_hash``; nothing happens if there is none.

        Raises
        ------
        BlobError
            If the file cannot be removed.
        """
        path = self._path(blob_hash)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise BlobError(
                f"could not delete blob {path}: {error}", "check its permissions"
            ) from error

    def list(self) -> list[str]:
        """The hashes of the blob files under the root, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            path.name
            for path in self.root.glob("??/*")
            if codec.is_blob_hash(path.name) and path.parent.name == path.name[:2]
        )

    def uri(self, blob_hash: str) -> str:
        """The ``file://`` URI of the blob's file."""
        return self._path(blob_hash).as_uri()

    def _open(self, blob_hash: str) -> BinaryIO:
        path = self._path(blob_hash)
        try:
            return path.open("rb")
        except FileNotFoundError as error:
            raise BlobError(
                f"blob {blob_hash} is not in the store at {self.root}",
                "fetch it from the node that announced it, or check the store path",
            ) from error
        except OSError as error:
            raise BlobError(
                f"could not read blob {path}: {error}", "check its permissions"
            ) from error

    def _write(self, blob_hash: str, data: bytes) -> None:
        path = self._path(blob_hash)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A crash never leaves a partial blob under its final name.
            write_atomically(path, data, 0o644)  # blobs are public content
        except OSError as error:
            raise BlobError(
                f"could not write blob {blob_hash} to {self.root}: {error}",
                "check free disk space and permissions of the store directory",
            ) from error


class MemoryBlobStore(BlobStore):
    """Blobs in a dict, for the in-process simulator.

    The same hash checks as every store, without disk writes (nothing survives
    the process).
    """

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryBlobStore({len(self._blobs)} blobs)"

    def has(self, blob_hash: str) -> bool:
        """Whether a blob is stored under ``blob_hash``."""
        return codec.check_hash(blob_hash) in self._blobs

    def delete(self, blob_hash: str) -> None:
        """Remove the blob stored under ``blob_hash``; nothing happens if there is none."""
        self._blobs.pop(codec.check_hash(blob_hash), None)

    def list(self) -> list[str]:
        """The hashes of all stored blobs, sorted."""
        return sorted(self._blobs)

    def uri(self, blob_hash: str) -> str:
        """``mem://<hash>``, meaningful only inside this process."""
        return f"mem://{codec.check_hash(blob_hash)}"

    def _open(self, blob_hash: str) -> BinaryIO:
        try:
            return io.BytesIO(self._blobs[blob_hash])
        except KeyError:
            raise BlobError(f"blob {blob_hash} is not in the in-memory store", "put it first") from None

    def _write(self, blob_hash: str, data: bytes) -> None:
        self._blobs[blob_hash] = data


def open_store(url: str | Path) -> BlobStore:
    """The blob store at ``url``.

    Anything containing ``://`` is read as a URL, anything else as a path:

    - ``path/to/dir`` or ``file:///absolute/path``: a :class:`LocalBlobStore`;
    - ``s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1``:
      an :class:`~bflc.storage.s3.S3BlobStore` (see
      :meth:`~bflc.storage.s3.S3BlobStore.from_url` for the query keys).
      Credentials come from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
      or the rest of the AWS configuration chain, never from the URL.

    Raises
    ------
    ConfigError
        For an empty location, a ``file:`` URL that is not absolute and
        local, a malformed ``s3:`` URL, or any other scheme.
    """
    text = str(url)
    if not text:
        raise ConfigError("the blob store location is empty", f"pass {_SUPPORTED_URLS}")
    if "://" not in text:
        return LocalBlobStore(text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path or parts.query or parts.fragment:
            raise ConfigError(
                f"blob store URL {text!r} is not a local absolute file URL",
                "write it as file:///absolute/path (three slashes)",
            )
        return LocalBlobStore(url2pathname(parts.path))
    if scheme == "s3":
        from bflc.storage.s3 import S3BlobStore  # boto3 is slow to import: only when needed

        return S3BlobStore.from_url(text)
    raise ConfigError(
        f"unsupported blob store URL scheme {parts.scheme!r} in {text!r}",
        f"use {_SUPPORTED_URLS}",
    )


def prune(store: BlobStore, keep: Iterable[str]) -> list[str]:
    """Delete every blob in ``store`` whose hash is not in ``keep``.

    Parameters
    ----------
    store:
        Any blob store.
    keep:
        Hashes of the blobs to keep; they need not be in the store.

    Returns
    -------
    list[str]
        The hashes deleted, sorted.

    Raises
    ------
    BlobError
        If a hash in ``keep`` is malformed (checked before anything is
        deleted, so a mistyped hash cannot empty the store), or a delete fails.
    """
    kept = {codec.check_hash(blob_hash) for blob_hash in keep}
    deleted = [blob_hash for blob_hash in store.list() if blob_hash not in kept]
    for blob_hash in deleted:
        store.delete(blob_hash)
    return deleted


def put_model(store: BlobStore, tensors: Mapping[str, np.ndarray]) -> str:
    """Encode a model (see :func:`~bflc.storage.codec.encode_model`), store it, return its hash."""
    return store.put(codec.encode_model(tensors))


def get_model(
    store: BlobStore,
    blob_hash: str,
    *,
    expected: codec.ModelSpec | None = None,
    max_bytes: int = codec.MAX_BLOB_BYTES,
) -> dict[str, np.ndarray]:
    """Fetch, hash-check, then decode the model ``blob_hash`` from ``store``.

    Raises
    ------
    BlobError
        As :meth:`BlobStore.get` and :func:`~bflc.storage.codec.decode_model`.
    """
    data = store.get(blob_hash, max_bytes=max_bytes)
    return codec.decode_model(data, expected=expected, max_bytes=max_bytes)
