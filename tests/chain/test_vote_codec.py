"""Known answers for packing votes as the contract stores them (``bflc.chain.types``)."""

from __future__ import annotations

import pytest

from bflc.chain.types import SCORE_ONE, VOTE_MASK, decode_votes, encode_votes, vote_words
from bflc.errors import ConfigError


def test_encode_votes_packs_score_plus_one_in_each_position_field():
    first, words = encode_votes([0, 10, 11, 23], [0, SCORE_ONE, 7, 5])
    assert first == 0
    assert words == [1 | ((SCORE_ONE + 1) << 200), 8, 6 << 20]


def test_encoded_votes_decode_to_the_same_scores():
    positions, scores = [3, 12, 1, 21], [10, 20, 30, 40]
    first, words = encode_votes(positions, scores)
    per_member = vote_words(22)
    member = [0] * per_member
    member[first : first + len(words)] = words
    votes = decode_votes(member + [0] * per_member, 2, 22)
    assert {u: v[0] for u, v in enumerate(votes) if v[0] is not None} == dict(zip(positions, scores, strict=True))
    assert all(v[1] is None for v in votes)


def test_decode_votes_takes_more_words_than_needed_but_not_fewer():
    assert decode_votes([1, 0, 0, 0], 2, 1) == [[0, None]]
    with pytest.raises(ValueError, match="3 vote words for 2 members"):
        decode_votes([1, 0, 0], 2, 1)
    with pytest.raises(ValueError, match="2 vote words for 2 members and 12 updates"):
        decode_votes([1, 0], 2, 12)


@pytest.mark.parametrize(
    ("positions", "scores", "message"),
    [
        ([1, 2], [5], "2 update positions but 1 scores"),
        ([], [], "no votes to send"),
        ([4, 4], [1, 2], "an update appears twice"),
        ([-1], [1], "an update of an earlier round"),
        ([0], [VOTE_MASK], "a score is outside"),
        ([0], [-1], "a score is outside"),
    ],
)
def test_encode_votes_refuses_what_no_field_can_hold(positions, scores, message):
    with pytest.raises(ConfigError, match=message):
        encode_votes(positions, scores)
