"""Content-addressed blob stores: the key of a blob is the sha256 of its bytes.

:class:`BlobStore` holds the rules every backend shares (hash on ``put``,
size limit and hash check on ``get``); a backend only moves bytes.
:class:`LocalBlobStore` keeps blobs in a directory, :class:`MemoryBlobStore`
in a dict, and :class:`~bflc.storage.s3.S3BlobStore` in an S3-compatible
bucket; :func:`open_store` picks one from a URL.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np

from bflc.errors import BlobError, BlobUnavailable, ConfigError, UnverifiedBlob
from bflc.files import write_atomically
from bflc.storage import codec

__all__ = [
    "DEFAULT_READ_DEADLINE",
    "BlobStore",
    "BlobStream",
    "LocalBlobStore",
    "MemoryBlobStore",
    "get_model",
    "open_store",
    "prune",
    "put_model",
]

DEFAULT_READ_DEADLINE = 120.0
"""Seconds a store may take to send one whole blob (:attr:`BlobStore.read_deadline`)."""

_CHUNK_BYTES = 1024 * 1024
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_SUPPORTED_URLS = "a directory path, file:///absolute/path or s3://bucket/prefix?endpoint=http://host:port"


@dataclass
class BlobStream:
    """A stored blob opened for reading, as a backend hands it to :class:`BlobStore`.

    Parameters
    ----------
    size:
        The length the backend announces (file size, ``Content-Length``),
        checked before anything is read; ``None`` if unknown.
    read:
        Returns up to ``n`` more bytes, after at most one wait for the
        backend (so a deadline can be checked between calls); ``b""`` at the end.
    close:
        Releases the file or connection.
    """

    size: int | None
    read: Callable[[int], bytes]
    close: Callable[[], None]


class BlobStore(ABC):
    """A content-addressed store of immutable blobs keyed by their sha256 hex digest.

    Nothing a store holds is trusted: every read is size-limited, bounded by
    :attr:`read_deadline` and hash-checked, and :meth:`put` overwrites a
    stored copy that does not verify.
    """

    read_deadline: float = DEFAULT_READ_DEADLINE
    """Seconds a whole blob read may take, opening included (a store sending slowly on purpose fails)."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its hash.

        A copy already stored under that hash is read back and verified
        first; one that is missing, of another size or fails its hash check
        (planted, truncated, a named pipe, ...) is overwritten.
        """
        key = codec.blob_hash(data)
        self._ensure(key, data)
        return key

    def repair(self, data: bytes) -> bool:
        """Store ``data`` unless a copy that verifies is already there; return whether it wrote.

        Raises
        ------
        BlobError
            If the write fails.
        """
        return self._ensure(codec.blob_hash(data), data)

    def get(
        self,
        blob_hash: str,
        *,
        max_bytes: int = codec.MAX_BLOB_BYTES,
        expected: codec.ModelSpec | None = None,
    ) -> bytes:
        """The bytes stored under ``blob_hash``, verified against it.

        Parameters
        ----------
        blob_hash:
            64 lowercase hex characters.
        max_bytes:
            Blobs larger than this are rejected without being read whole
            (before anything is read where the backend announces the size).
        expected:
            If given, the blob must be a model of this spec: a copy more than
            :data:`~bflc.storage.codec.MAX_HEADER_BYTES` larger than
            :func:`~bflc.storage.codec.model_size` is refused unread; a
            verified one must have the spec's canonical header
            (:func:`~bflc.storage.codec.check_header`, before any tensor is
            allocated) and exactly the model's size.

        Raises
        ------
        BlobUnavailable
            If the store failed, or sent the blob slower than :attr:`read_deadline` allows.
        UnverifiedBlob
            If the store has no copy that hashes to ``blob_hash``: missing,
            not a regular file, oversize, or other bytes (corrupted or
            tampered with). Nothing is known against the blob's maker.
        BlobError
            If the hash is malformed, or the verified blob is not a model of
            ``expected``: its maker made a bad blob.
        """
        codec.check_hash(blob_hash)
        limit = codec.check_max_bytes(max_bytes)
        if expected is None:
            return self._fetch(blob_hash, limit)
        size = codec.model_size(expected)
        if size > limit:
            raise BlobError(
                f"a model of the expected architecture is {size} bytes, over the {limit}-byte limit",
                "raise max_bytes if this model is really that large",
            )
        # A little over the model's size is still read and hashed, to tell a
        # bad blob its maker committed to from a copy someone changed.
        data = self._fetch(blob_hash, min(limit, size + codec.MAX_HEADER_BYTES))
        codec.check_header(data, expected)
        if len(data) != size:
            raise BlobError(
                f"blob {blob_hash} is {len(data)} bytes, not the {size} bytes of a model of this network",
                "the blob was built for another model",
            )
        return data

    def _ensure(self, key: str, data: bytes) -> bool:
        """Write ``data`` under ``key`` unless the stored copy verifies; return whether it wrote."""
        try:
            self._fetch(key, len(data))
        except BlobError:  # missing, wrong, unreadable or slow: write it (the same bytes, so harmless)
            self._write(key, bytes(data))
            return True
        return False

    def _fetch(self, blob_hash: str, limit: int) -> bytes:
        """Read at most ``limit`` bytes of ``blob_hash`` and check them against it."""
        started = time.monotonic()
        stream = self._open(blob_hash)
        try:
            if stream.size is not None and stream.size > limit:
                raise self._oversize(blob_hash, str(stream.size), limit)
            data = self._read(blob_hash, stream, limit + 1, started, stream.size)
        finally:
            stream.close()
        if len(data) > limit:
            raise self._oversize(blob_hash, f"over {limit}", limit)
        if stream.size is not None and len(data) < stream.size:
            raise BlobUnavailable(
                f"blob {blob_hash} at {self.uri(blob_hash)} ended after {len(data)} of {stream.size} bytes",
                "the connection broke off; try again",
            )
        actual = codec.blob_hash(data)
        if actual != blob_hash:
            raise UnverifiedBlob(
                f"blob {blob_hash} at {self.uri(blob_hash)} fails its hash check "
                f"(its bytes hash to {actual})",
                "the stored copy is corrupt or was tampered with; a node that holds the blob puts it back",
                reason="hash mismatch",
            )
        return data

    def _oversize(self, blob_hash: str, size: str, limit: int) -> UnverifiedBlob:
        return UnverifiedBlob(
            f"blob {blob_hash} at {self.uri(blob_hash)} is {size} bytes, over the {limit}-byte limit",
            "a model of this network is smaller: the stored copy is not it (or raise max_bytes)",
            reason="oversize",
        )

    def _read(self, blob_hash: str, stream: BlobStream, count: int, started: float, total: int | None) -> bytes:
        """Up to ``count`` bytes of ``stream`` (fewer only at its end), within the read deadline."""
        chunks: list[bytes] = []
        got = 0
        while got < count:
            elapsed = time.monotonic() - started
            if elapsed > self.read_deadline:
                of = "" if total is None else f" of {total}"
                raise BlobUnavailable(
                    f"blob {blob_hash} at {self.uri(blob_hash)} is too slow: the store sent {got}{of} bytes "
                    f"in {elapsed:.1f} s, over the {self.read_deadline:g} s read deadline",
                    "try again later, or fetch it from a mirror",
                )
            chunk = stream.read(min(count - got, _CHUNK_BYTES))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    @abstractmethod
    def has(self, blob_hash: str) -> bool:
        """Whether a blob is stored under ``blob_hash`` (it may still fail its checks)."""

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
    def _open(self, blob_hash: str) -> BlobStream:
        """The stored blob, opened for reading; BlobError if it is missing or cannot be read."""

    @abstractmethod
    def _write(self, blob_hash: str, data: bytes) -> None:
        """Store ``data`` under ``blob_hash``, replacing whatever is there, so that it appears whole or not at all."""


class LocalBlobStore(BlobStore):
    """Blobs as files ``root/<first 2 hex digits>/<hash>`` in a local directory.

    The directory may be shared with nodes that do not behave: only regular
    files are read (a named pipe, device or symbolic link in the place of a
    blob, or a shard directory that is a symbolic link, is refused without
    blocking), and their size is checked before anything is read.

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
        """Whether the blob's file is a regular file in a real shard directory (links, pipes, ... are not)."""
        path = self._path(blob_hash)
        try:
            return stat.S_ISDIR(os.lstat(path.parent).st_mode) and stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            return False

    def delete(self, blob_hash: str) -> None:
        """Remove the file of ``blob_hash``; nothing happens if there is none.

        A shard directory that is a symbolic link holds none of this store's
        blobs: nothing is removed through it.

        Raises
        ------
        BlobError
            If the file cannot be removed.
        """
        path = self._path(blob_hash)
        try:
            shard = os.open(path.parent, _DIRECTORY_FLAGS)
        except OSError:
            return  # no shard directory, or not a real one
        try:
            os.unlink(path.name, dir_fd=shard)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise BlobError(f"could not delete blob {path}: {error}", "check its permissions") from error
        finally:
            os.close(shard)

    def list(self) -> list[str]:
        """The hashes of the regular blob files in real shard directories under the root, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for shard in os.scandir(self.root)
            if len(shard.name) == 2 and shard.is_dir(follow_symlinks=False)
            for entry in os.scandir(shard.path)
            if codec.is_blob_hash(entry.name) and entry.name[:2] == shard.name and entry.is_file(follow_symlinks=False)
        )

    def uri(self, blob_hash: str) -> str:
        """The ``file://`` URI of the blob's file."""
        return self._path(blob_hash).as_uri()

    def _open(self, blob_hash: str) -> BlobStream:
        path = self._path(blob_hash)
        try:
            shard = os.open(path.parent, _DIRECTORY_FLAGS)
            try:
                # O_NONBLOCK: opening a named pipe returns at once instead of waiting for a writer.
                fd = os.open(path.name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=shard)
            finally:
                os.close(shard)
        except FileNotFoundError as error:
            raise UnverifiedBlob(
                f"blob {blob_hash} is not in the store at {self.root}",
                "fetch it from the node that announced it, or check the store path",
                reason="blob missing",
            ) from error
        except OSError as error:  # ELOOP or ENOTDIR: a link in the place of the file or its shard directory
            raise UnverifiedBlob(
                f"could not read blob {path}: {error}",
                "the store holds something else than a blob file here; putting the blob again replaces it",
                reason="not a regular file",
            ) from error
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise UnverifiedBlob(
                f"blob {blob_hash} at {path} is not a regular file (a named pipe, device or directory)",
                "the store was tampered with; putting the blob again replaces it",
                reason="not a regular file",
            )
        return BlobStream(info.st_size, lambda n: os.read(fd, n), lambda: os.close(fd))

    def _write(self, blob_hash: str, data: bytes) -> None:
        path = self._path(blob_hash)
        try:
            _real_directory(path.parent)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)  # a directory planted in the place of the blob
            # A crash never leaves a partial blob under its final name, and the
            # rename replaces whatever entry was there (a pipe, a link, junk).
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

    def _open(self, blob_hash: str) -> BlobStream:
        try:
            data = self._blobs[blob_hash]
        except KeyError:
            raise UnverifiedBlob(f"blob {blob_hash} is not in the in-memory store", "put it first", reason="blob missing") from None
        return BlobStream(len(data), io.BytesIO(data).read, lambda: None)

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


def _real_directory(path: Path) -> None:
    """Make ``path`` a directory, replacing a symbolic link or file planted there."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(parents=True, exist_ok=True)


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
    data = store.get(blob_hash, max_bytes=max_bytes, expected=expected)
    return codec.decode_model(data, expected=expected, max_bytes=max_bytes)
