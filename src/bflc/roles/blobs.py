"""Models by content hash: fetched from the shared store and checked, or encoded and uploaded."""

from __future__ import annotations

from collections import OrderedDict

from bflc.errors import BlobError
from bflc.ml.models import Params
from bflc.storage import BlobStore, blob_hash, decode_model, encode_model
from bflc.storage.codec import ModelSpec
from bflc.timing import PhaseTimer


class ModelBlobs:
    """One node's access to models in the shared blob store.

    Every model read is checked against its hash (by the store) and against
    the network's model spec; nothing is unpickled.

    Parameters
    ----------
    store:
        The shared blob store.
    spec:
        Tensor names, shapes and dtypes every model must have (``None``: any).
    cache:
        A local store that keeps this node's copy of every blob it fetched or
        made (a daemon's state directory); ``None``: no copy.
    memo:
        Decoded models kept in memory, most recent first (the simulator's
        virtual nodes share one :class:`ModelBlobs` and read each update once).
    timer:
        Where fetching and uploading time is counted (phase ``storage``).
    """

    def __init__(
        self,
        store: BlobStore,
        spec: ModelSpec | None,
        *,
        cache: BlobStore | None = None,
        memo: int = 0,
        timer: PhaseTimer | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.cache = cache
        self.memo_size = memo
        self.timer = timer or PhaseTimer()
        self._memo: OrderedDict[str, Params] = OrderedDict()
        self._unpublished: dict[str, bytes] = {}

    def fetch(self, blob_hash: str) -> Params:
        """The model ``blob_hash``: from memory, the local copy, else the store (checked, then kept).

        Callers must not change the returned arrays in place.

        Raises
        ------
        BlobUnavailable
            If the store did not answer (try again later).
        BlobError
            If the blob is missing, fails its hash check or is not a model of the spec.
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
                return decode_model(self.cache.get(blob_hash), expected=self.spec)
            except BlobError:
                self.cache.delete(blob_hash)
        data = self.store.get(blob_hash)
        params = decode_model(data, expected=self.spec)
        if self.cache is not None:
            self.cache.put(data)
        return params

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
        """Upload the local copy of ``blob_hash`` if the store lacks it (see :meth:`keep`).

        Raises
        ------
        BlobError
            If this node has no copy of ``blob_hash``.
        """
        with self.timer.phase("storage"):
            if self.store.has(blob_hash):
                self._unpublished.pop(blob_hash, None)
                return
            data = self._unpublished.pop(blob_hash, None)
            if data is None and self.cache is not None and self.cache.has(blob_hash):
                data = self.cache.get(blob_hash)
            if data is None:
                raise BlobError(f"no local copy of blob {blob_hash[:12]} to upload", "the update was lost with the node's state directory")
            self.store.put(data)

    def has_local(self, blob_hash: str) -> bool:
        """Whether this node keeps a copy of ``blob_hash``."""
        return self.cache is not None and self.cache.has(blob_hash)

    def uri(self, blob_hash: str) -> str:
        """Where other nodes find ``blob_hash`` (recorded with a proposal)."""
        return self.store.uri(blob_hash)

    def why_rejected(self, blob_hash: str, error: BlobError) -> str:
        """Why an update's blob cannot be used, in a few words."""
        if not self.store.has(blob_hash):
            return "blob missing"
        if "hash check" in error.message:
            return "hash mismatch"
        return f"malformed blob ({error.message})"
