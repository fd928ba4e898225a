"""Models by content hash: fetched from the shared store and checked, or encoded and uploaded.

The shared store is not trusted (``docs/storage.md``, "Trust model"): every
read is checked, a copy that fails is looked for in the mirrors, and a node
that keeps a verified copy of a blob puts it back when the store lost it or
serves something else (:meth:`ModelBlobs.guard`).
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from bflc.errors import BlobError, BlobUnavailable, UnverifiedBlob
from bflc.ml.models import Params
from bflc.storage import BlobStore, blob_hash, decode_model, encode_model
from bflc.storage.codec import ModelSpec
from bflc.timing import PhaseTimer

GUARD_SECONDS = 10.0
"""Default pause between two checks of the store's copy of one blob by :meth:`ModelBlobs.guard`.

Short enough that a copy someone removed or changed is back well within the
members' wait for it (half the scoring window; see ``NodeDaemon``)."""


class ModelBlobs:
    """One node's access to models in the shared blob store.

    Every model read is checked against its hash (by the store) and against
    the network's model spec (its exact size and header before the body is
    read, then the tensors); nothing is unpickled.

    Parameters
    ----------
    store:
        The shared blob store (the primary: uploads go there).
    spec:
        Tensor names, shapes and dtypes every model must have (``None``: any).
    cache:
        A local store that keeps this node's copy of every blob it fetched or
        made (a daemon's state directory); ``None``: no copy.
    mirrors:
        Other stores with the same blobs, tried in order when the primary
        lacks a blob or serves one that fails its checks; a copy that
        verifies is used, cached and re-published to the primary.
    memo:
        Decoded models kept in memory, most recent first (the simulator's
        virtual nodes share one :class:`ModelBlobs` and read each update once).
    timer:
        Where fetching and uploading time is counted (phase ``storage``).
    guard_seconds:
        Pause between two checks of the primary's copy of the same blob by :meth:`guard`.
    clock:
        Monotonic seconds, for :meth:`guard`'s pauses.
    """

    def __init__(
        self,
        store: BlobStore,
        spec: ModelSpec | None,
        *,
        cache: BlobStore | None = None,
        mirrors: Sequence[BlobStore] = (),
        memo: int = 0,
        timer: PhaseTimer | None = None,
        guard_seconds: float = GUARD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spec = spec
        self.cache = cache
        self.mirrors = tuple(mirrors)
        self.memo_size = memo
        self.timer = timer or PhaseTimer()
        self.guard_seconds = guard_seconds
        self._clock = clock
        self._memo: OrderedDict[str, Params] = OrderedDict()
        self._unpublished: dict[str, bytes] = {}
        self._next_guard: dict[str, float] = {}

    def fetch(self, blob_hash: str) -> Params:
        """The model ``blob_hash``: from memory, the local copy, else the stores (checked, then kept).

        Callers must not change the returned arrays in place.

        Raises
        ------
        BlobUnavailable
            If the primary store did not answer and no mirror had a good copy (try again later).
        BlobError
            If the blob is missing or fails its checks in every store (the
            primary's error), or is not a model of the spec.
        """
        if blob_hash in self._memo:
            self._memo.move_to_end(blob_hash)
            return self._memo[blob_hash]
        with self.timer.phase("storage"):
            params = self._load(blob_hash)
        if self.memo_size:
            self._memo[blob_hash] = params
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
        return params

    def _load(self, blob_hash: str) -> Params:
        if self.cache is not None:
            try:
                return decode_model(self.cache.get(blob_hash, expected=self.spec), expected=self.spec)
            except BlobError:
                self.cache.delete(blob_hash)
        data = self._download(blob_hash, self.spec)
        params = decode_model(data, expected=self.spec)
        if self.cache is not None:
            self.cache.put(data)
        return params

    def fetch_bytes(self, blob_hash: str) -> bytes:
        """The verified bytes of ``blob_hash``, whatever model they hold (not checked against the spec).

        From the local copy if there is a good one, else from the stores (a
        verified download is kept). For comparing a blob with the spec, with
        the whole difference in the error: :class:`~bflc.node.daemon.NodeDaemon`
        checks its model against the network's genesis this way.

        Raises
        ------
        BlobUnavailable, BlobError
            As :meth:`fetch`, except for the spec.
        """
        with self.timer.phase("storage"):
            if self.cache is not None:
                with contextlib.suppress(BlobError):
                    return self.cache.get(blob_hash)
            data = self._download(blob_hash, None)
            if self.cache is not None:
                self.cache.put(data)
            return data

    def _download(self, blob_hash: str, expected: ModelSpec | None) -> bytes:
        """The verified bytes of ``blob_hash`` from the primary store, else from the first mirror with a good copy."""
        try:
            return self.store.get(blob_hash, expected=expected)
        except BlobError as error:
            failure = error
        self._next_guard.pop(blob_hash, None)  # the primary's copy is bad or gone: guard it at once
        for mirror in self.mirrors:
            try:
                data = mirror.get(blob_hash, expected=expected)
            except BlobError:
                continue
            with contextlib.suppress(BlobError):  # re-publish; if the primary fails now, guard() tries again
                self.store.put(data)
            return data
        raise failure

    def guard(self, blob_hash: str) -> bool:
        """Re-publish this node's verified copy of ``blob_hash`` if the primary store's copy is missing or wrong.

        For blobs already public (the global model, this node's revealed
        update and its proposal): never call it for an update still kept
        private. Each blob is checked at most once per :attr:`guard_seconds`
        (a daemon calls this every pass), and at once after a fetch of it
        failed. Without a local copy nothing is read.

        Returns
        -------
        bool
            Whether the store's copy was replaced by this node's.

        Raises
        ------
        BlobError
            If the repair could not be written (at most once per pause).
        """
        now = self._clock()
        if now < self._next_guard.get(blob_hash, -float("inf")) or self.cache is None or not self.cache.has(blob_hash):
            return False
        self._next_guard[blob_hash] = now + self.guard_seconds
        with self.timer.phase("storage"):
            try:
                data = self.cache.get(blob_hash, expected=self.spec)
            except BlobError:
                return False  # no good local copy: fetch() replaces it
            return self.store.repair(data)

    def put(self, params: Params) -> str:
        """Encode ``params``, keep a local copy, upload it; return its hash."""
        with self.timer.phase("storage"):
            data = encode_model(params)
            if self.cache is not None:
                self.cache.put(data)
            return self.store.put(data)

    def keep(self, params: Params) -> str:
        """Encode ``params`` and keep the blob here without uploading it; return its hash.

        A committed update stays out of the shared store until its reveal, so
        that nobody can copy it in time to commit to it (:meth:`publish`).
        """
        with self.timer.phase("storage"):
            data = encode_model(params)
            if self.cache is not None:
                return self.cache.put(data)
            digest = blob_hash(data)
            self._unpublished[digest] = data
            return digest

    def publish(self, blob_hash: str) -> None:
        """Upload the local copy of ``blob_hash`` unless the store has one that verifies (see :meth:`keep`).

        Raises
        ------
        BlobUnavailable
            If the store did not answer.
        BlobError
            If this node has no copy of ``blob_hash`` and the store no good one.
        """
        with self.timer.phase("storage"):
            data = self._unpublished.pop(blob_hash, None)
            if data is None and self.cache is not None and self.cache.has(blob_hash):
                data = self.cache.get(blob_hash)
            if data is not None:
                self.store.put(data)
                return
            try:
                self.store.get(blob_hash, expected=self.spec)
            except BlobUnavailable:
                raise
            except BlobError as error:
                raise BlobError(
                    f"no local copy of blob {blob_hash[:12]} to upload", "the update was lost with the node's state directory"
                ) from error

    def has_local(self, blob_hash: str) -> bool:
        """Whether this node keeps a copy of ``blob_hash``."""
        return self.cache is not None and self.cache.has(blob_hash)

    def uri(self, blob_hash: str) -> str:
        """Where other nodes find ``blob_hash`` (recorded with a proposal)."""
        return self.store.uri(blob_hash)

    @staticmethod
    def why_rejected(error: BlobError) -> str:
        """Why an update's blob cannot be used, in a few words."""
        if isinstance(error, UnverifiedBlob):
            return error.reason
        return f"malformed blob ({error.message})"
