"""What the protocol does with participants who misbehave beyond poisoned
updates: committee members who score everything 1.0, score at random or never
vote, and trainers who copy another node's update, reveal it in its place
or change their blob after revealing its hash. Each case has a known answer (docs/reliability.md)."""

from __future__ import annotations

import numpy as np
import pytest

from bflc.chain import Phase, to_fixed
from bflc.errors import BlobError, ContractRevert
from bflc.storage import LocalBlobStore, get_model, put_model
from bflc.storage.codec import encode_model, hash_to_bytes32
from tests.chain.test_adversarial import assert_invariants

pytestmark = pytest.mark.slow

MODEL = b"\xaa" * 32


def _votes(net, ids, by_member):
    for member, scores in by_member.items():
        net.at(member).submit_scores(net.ledger.current_round(), ids, [to_fixed(s) for s in scores])


def test_a_member_scoring_everything_one_moves_no_median(net):
    # Honest members score the two updates (0.2, 0.7); the fifth says 1.0 to all.
    ids = net.submit(net.trainers[:2])
    honest, liar = net.committee[:4], net.committee[4]
    _votes(net, ids, {**{m: [0.2, 0.7] for m in honest}, liar: [1.0, 1.0]})
    # sorted (0.2, 0.2, 0.2, 0.2, 1.0) and (0.7, 0.7, 0.7, 0.7, 1.0): medians 0.2 and 0.7
    assert [net.ledger.update(u).median for u in ids] == [200_000, 700_000]
    assert_invariants(net)


def test_a_member_scoring_at_random_stays_outvoted(net):
    ids = net.submit(net.trainers[:3])
    rng = np.random.default_rng(7)
    honest = [0.1, 0.5, 0.9]
    _votes(net, ids, dict.fromkeys(net.committee[:4], honest) | {net.committee[4]: list(rng.uniform(size=3))})
    assert [net.ledger.update(u).median for u in ids] == [to_fixed(s) for s in honest]


def test_a_member_that_never_votes_delays_the_round_until_the_deadline(make_network):
    net = make_network(score_deadline_blocks=20, round_deadline_blocks=40)
    ids = net.submit(net.trainers[:3])
    silent = net.committee[4]
    _votes(net, ids, {m: [0.9, 0.8, 0.7] for m in net.committee[:4]})
    assert net.ledger.phase() == Phase.SCORING and not net.ledger.update(ids[0]).final
    with pytest.raises(ContractRevert, match="phase deadline not reached"):
        net.at(net.trainers[5]).close_phase(0)
    net.chain.mine(20)
    net.at(net.trainers[5]).close_phase(0)  # anyone admitted may close
    assert net.ledger.phase() == Phase.AGGREGATING
    assert [net.ledger.update(u).median for u in ids] == [900_000, 800_000, 700_000]
    net.propose_all(MODEL, members=net.committee[:4])
    assert net.ledger.current_round() == 1 and silent not in net.ledger.committee(1)
    assert_invariants(net)


def test_a_trainer_copying_another_nodes_update_gains_nothing(make_network):
    net = make_network(updates_per_round=2)
    owner, copier = net.commit(net.trainers[:2])  # both committed before any blob was public
    [original] = net.reveal([owner])
    # Front-running the owner's reveal with its own values: the commitment names its sender.
    with pytest.raises(ContractRevert, match="reveal does not match this node's commitment"):
        net.reveal([owner._replace(trainer=copier.trainer)])
    # Committing to the copy is too late in this round and refused in any later one.
    with pytest.raises(ContractRevert, match="not this phase of the round"):
        net.at(copier.trainer).commit_update(0, copier._replace(blob=owner.blob).commitment(0))
    net.close_after_deadline()
    net.score_all([original], [0.9])
    net.propose_all(MODEL)
    thief = net.seal(net.trainers[2])._replace(blob=owner.blob)
    net.at(thief.trainer).commit_update(1, thief.commitment(1))
    net.close_after_deadline()
    with pytest.raises(ContractRevert, match="blob already used"):
        net.reveal([thief])
    assert net.ledger.round_update_ids(0) == [original] and net.ledger.round_update_ids(1) == []
    assert_invariants(net)


def test_a_blob_changed_after_its_hash_was_submitted_is_rejected(net, tmp_path):
    """The store is content-addressed: bytes that no longer match the on-chain
    hash fail verification, and honest members score the update 0."""
    store = LocalBlobStore(tmp_path / "blobs")
    params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    blob = put_model(store, params)
    sealed = net.seal(net.trainers[0])._replace(blob=hash_to_bytes32(blob))
    net.at(sealed.trainer).commit_update(0, sealed.commitment(0))
    net.close_after_deadline()
    [uid] = net.reveal([sealed])
    tampered = {"w": params["w"] * 100}
    path = next((tmp_path / "blobs").rglob(blob))
    path.chmod(0o644)
    path.write_bytes(encode_model(tampered))
    with pytest.raises(BlobError, match="hash"):
        get_model(store, blob)
    _votes(net, [uid], {m: [0.0] for m in net.committee})
    assert net.ledger.update(uid).median == 0
