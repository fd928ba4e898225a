"""The trainer's role steps on the contract: train, seal, commit; upload and reveal only after the commitments closed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from bflc.chain import Ledger, Phase, ProtocolParams
from bflc.chain.fast import FastChain
from bflc.errors import BlobError
from bflc.protocol import stored_commitment
from bflc.roles import ModelBlobs, SealedUpdate, TrainedUpdate, Trainer
from bflc.seeds import NodeSeeds
from bflc.storage import LocalBlobStore, MemoryBlobStore, blob_hash, bytes32_to_hash, encode_model, hash_to_bytes32, model_spec
from tests.node.daemon_net import TinyLearner

SALT = bytes(range(32))


class SpyStore(MemoryBlobStore):
    """A shared store that notes the chain's phase at every upload."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger | None = None
        self.puts: list[tuple[str, Phase | None]] = []

    def put(self, data: bytes) -> str:
        self.puts.append((blob_hash(data), self.ledger.phase() if self.ledger else None))
        return super().put(data)


@dataclass
class Setup:
    ledger: Ledger
    store: SpyStore
    trainers: list[Trainer]
    genesis: str


def setup(cache: LocalBlobStore | None = None, num_trainers: int = 2) -> Setup:
    """A network of one member and ``num_trainers`` trainers (K = all of them); ``cache``: the trainers' local copies."""
    chain = FastChain(num_trainers + 2)
    manager, member, *accounts = chain.accounts[: num_trainers + 2]
    store = SpyStore()
    learner = TinyLearner()
    genesis = store.put(encode_model(learner.initial_parameters()))
    ledger = chain.deploy([manager], [member], hash_to_bytes32(genesis), store.uri(genesis), ProtocolParams(committee_size=1, min_committee_size=1, updates_per_round=num_trainers))
    for account in accounts:
        ledger.admit(account)
    store.ledger = ledger
    blobs = ModelBlobs(store, model_spec(learner.initial_parameters()), cache=cache)
    trainers = [Trainer(ledger.as_account(a), blobs, TinyLearner(), NodeSeeds((i,))) for i, a in enumerate(accounts)]
    return Setup(ledger, store, trainers, genesis)


def sealed_updates(s: Setup) -> list[SealedUpdate]:
    out = []
    for trainer in s.trainers:
        update = trainer.train(0, s.genesis)
        assert update is not None
        out.append(trainer.seal(update, SALT))
    return out


@pytest.mark.parametrize("local_copy", [False, True], ids=["in-memory", "state-dir-cache"])
def test_no_update_reaches_the_shared_store_before_the_commitments_closed(tmp_path, local_copy):
    s = setup(LocalBlobStore(tmp_path / "cache") if local_copy else None)
    sealed = sealed_updates(s)
    for trainer, update in zip(s.trainers, sealed, strict=True):
        trainer.commit(0, update)
        assert not s.store.has(update.blob_hash)
    assert s.ledger.phase() is Phase.REVEAL  # K commitments closed the phase
    assert s.store.puts == [(s.genesis, None)]  # nothing but the genesis model so far
    ids = [trainer.reveal(0, update) for trainer, update in zip(s.trainers, sealed, strict=True)]
    assert s.store.puts[1:] == [(u.blob_hash, Phase.REVEAL) for u in sealed]
    assert [bytes32_to_hash(s.ledger.update(i).blob_hash) for i in ids] == [u.blob_hash for u in sealed]
    assert s.ledger.phase() is Phase.SCORING  # every commitment revealed


def test_the_commitment_opens_with_the_sealed_blob_count_and_salt():
    s = setup()
    trainer = s.trainers[0]
    [update, _] = sealed_updates(s)
    trainer.commit(0, update)
    assert s.ledger.commitment(0, trainer.ledger.account) == stored_commitment(update.commitment(trainer.ledger.account, 0))
    assert update.n_samples == TinyLearner().samples and update.salt == SALT
    with pytest.raises(ValueError, match="a salt is 32 bytes, got 31"):
        trainer.seal(TrainedUpdate(TinyLearner().initial_parameters(), 1, 0), SALT[:31])


def test_a_sealed_blob_already_used_on_chain_is_not_fresh():
    s = setup()
    trainer = s.trainers[0]
    genesis = ModelBlobs(s.store, None).fetch(s.genesis)
    unchanged = trainer.seal(TrainedUpdate(genesis, 1, 0), SALT)  # a free rider's "update"
    assert unchanged.blob_hash == s.genesis and not trainer.is_fresh(unchanged)
    sealed = sealed_updates(s)
    assert all(trainer.is_fresh(u) for u in sealed)
    for t, u in zip(s.trainers, sealed, strict=True):
        t.commit(0, u)
    s.trainers[0].reveal(0, sealed[0])
    assert not trainer.is_fresh(sealed[0]) and trainer.is_fresh(sealed[1])


def test_publishing_a_blob_this_node_does_not_hold_fails_clearly():
    s = setup()
    with pytest.raises(BlobError, match="no local copy of blob 000000000000 to upload"):
        s.trainers[0].blobs.publish("0" * 64)


def test_the_same_weights_seal_to_the_same_blob_whatever_their_order_or_zero_sign():
    s = setup()
    trainer = s.trainers[0]
    weights = {"w": np.array([[0.0, 1.0], [2.0, 3.0]], np.float32), "b": np.array([-0.0, 1.0, 2.0], np.float32)}
    again = {"b": np.array([0.0, 1.0, 2.0], np.float32), "w": weights["w"].copy()}
    first, second = (trainer.seal(TrainedUpdate(p, 1, 0), SALT) for p in (weights, again))
    assert first.blob_hash == second.blob_hash
