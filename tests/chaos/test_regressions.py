"""Bugs the chaos run found, each pinned by a fast, deterministic test (these
run in ``make test``; the chaos run itself is ``make chaos``).

1. A committee member whose blob store failed to answer (a flaky link, a
   store just restarting) scored honest updates 0 as "malformed blob", when
   the store answered again before it looked the blob up to say why. Now the
   S3 store raises :class:`BlobUnavailable` where the server could not be
   reached or failed, and the member tries the step again instead of voting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber

from bflc.chain.anvil import free_port
from bflc.errors import BlobError, BlobUnavailable
from bflc.node.journal import read_journal
from bflc.storage import LocalBlobStore, S3BlobStore
from tests.node.daemon_net import build_net
from tests.s3_server import set_fake_aws_env

BLOB = "ab" * 32

pytestmark = pytest.mark.slow


class AnswersOnSecondTry(LocalBlobStore):
    """A store whose first read of each blob fails as an unreachable S3 server's does."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.failed: set[str] = set()

    def get(self, blob_hash: str, **kwargs) -> bytes:
        if blob_hash not in self.failed:
            self.failed.add(blob_hash)
            raise BlobUnavailable(f"could not read a blob in s3://models/ at http://127.0.0.1:1: Could not connect ({blob_hash[:12]})")
        return super().get(blob_hash, **kwargs)


def test_a_member_whose_store_does_not_answer_tries_again_instead_of_voting_zero(tmp_path):
    net = build_net(tmp_path)
    for trainer in net.trainers:
        net.daemon(trainer)
    net.step_all(passes=2)  # commit, then reveal
    member = net.daemon(net.members[0])
    member.blobs.store = AnswersOnSecondTry(net.store.root)
    failures = 0
    while not net.ledger.round_updates(0)[0].voters:
        try:
            member.step()
        except BlobUnavailable:  # the daemon's run loop backs off and tries again
            failures += 1
        assert failures <= 5, "the member never voted"
    assert failures == 5  # the genesis model, then each of the four updates once
    assert all(u.scores[0] > 0 for u in net.ledger.round_updates(0))
    assert not [e for e in read_journal(tmp_path / net.members[0] / "node.log") if e["event"] == "update_rejected"]


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def stubbed(fake_credentials) -> Iterator[tuple[S3BlobStore, Stubber]]:
    store = S3BlobStore("models", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with Stubber(store._client) as stubber:
        yield store, stubber


def test_an_unreachable_s3_server_is_blob_unavailable(fake_credentials):
    store = S3BlobStore("models", endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1)
    for action in (lambda: store.get(BLOB), lambda: store.has(BLOB)):
        with pytest.raises(BlobUnavailable, match=r"could not .* at http://127.0.0.1:"):
            action()


def test_an_s3_server_error_is_blob_unavailable(stubbed):
    store, stubber = stubbed
    stubber.add_client_error("get_object", service_error_code="InternalError", service_message="try later", http_status_code=500)
    with pytest.raises(BlobUnavailable, match="InternalError try later"):
        store.get(BLOB)


def test_a_missing_blob_is_a_plain_blob_error(stubbed):
    store, stubber = stubbed
    stubber.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    with pytest.raises(BlobError, match="is not in the store") as raised:
        store.get(BLOB)
    assert not isinstance(raised.value, BlobUnavailable)
