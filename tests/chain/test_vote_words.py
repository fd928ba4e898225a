"""Property test of packed votes against hand-made calls, on both chain backends.

A hostile member can send any words to ``submit_scores``, not only what
``encode_votes`` makes. Each example plays round 0 to its end with drawn
scores (so that every seat of round 1 holds words left by round 0's
member), then lets round 1's members send drawn calls: fields at the edges
of the score range and past it, bits beyond the round's updates, words past
the last one, votes on updates already voted on. A reference of the rules
says which calls the contract must accept; after every call the votes on
chain equal the reference's, and round 0's votes, read back from their
events once the seats were reused, are still the ones cast.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflc.chain import SCORE_ONE, Phase
from bflc.chain.types import VOTE_BITS, VOTE_MASK, VOTES_PER_WORD, vote_words
from bflc.errors import ContractRevert

pytestmark = pytest.mark.slow

EXAMPLES = {"in-process": 10, "anvil": 4}
COMMITTEE = 3
MAX_UPDATES = 13  # two vote words: the second partly past the round's updates

# A stored field is score + 1: 1..SCORE_ONE + 1 is a vote, 0 none.
fields = st.sampled_from([0, 0, 0, 0, 1, SCORE_ONE // 2 + 1, SCORE_ONE + 1]) | st.integers(1, SCORE_ONE + 1)
CORRUPTIONS = ("none", "none", "none", "none", "score above 1.0", "bits above the fields", "vote beyond the round")
# A drawn word before it meets the round: eleven fields and what is wrong with it.
drafts = st.tuples(st.lists(fields, min_size=VOTES_PER_WORD, max_size=VOTES_PER_WORD), st.sampled_from(CORRUPTIONS), st.integers(0, 255))
calls = st.tuples(st.integers(0, COMMITTEE - 1), st.sampled_from([0, 0, 0, 1, 2]), st.lists(drafts, min_size=1, max_size=2))  # member, first word, words


def word(draft: tuple[list[int], str, int], w: int, num_updates: int) -> int:
    """Word ``w`` from a draft: no vote beyond the round's updates, unless that is the draft's corruption."""
    values, corruption, at = draft
    last = num_updates - w * VOTES_PER_WORD  # fields of this word that belong to updates
    out = sum(v << (j * VOTE_BITS) for j, v in enumerate(values) if j < last or corruption == "vote beyond the round")
    if corruption == "score above 1.0":
        j = at % VOTES_PER_WORD
        out = (out & ~(VOTE_MASK << (j * VOTE_BITS))) | ((SCORE_ONE + 2 + at) << (j * VOTE_BITS))
    elif corruption == "bits above the fields":
        out |= 1 << max(at, VOTES_PER_WORD * VOTE_BITS)
    return out


def accept(votes: list[dict[int, int]], member: int, first_word: int, sent: list[int], num_updates: int) -> bool:
    """Whether the rules accept the call, recording its votes in ``votes`` if so."""
    if not sent or first_word + len(sent) > vote_words(num_updates):
        return False
    new: dict[int, int] = {}
    for i, word in enumerate(sent):
        w = first_word + i
        if word >> (min(num_updates - w * VOTES_PER_WORD, VOTES_PER_WORD) * VOTE_BITS):
            return False
        for j in range(VOTES_PER_WORD):
            value = (word >> (j * VOTE_BITS)) & VOTE_MASK
            if value and (value > SCORE_ONE + 1 or w * VOTES_PER_WORD + j in votes[member]):
                return False
            if value:
                new[w * VOTES_PER_WORD + j] = value - 1
    if not new:
        return False
    votes[member].update(new)
    return True


def as_table(votes: list[dict[int, int]], num_updates: int) -> list[list[int | None]]:
    """``votes[u][j]`` as ``Ledger.votes`` gives it."""
    return [[member.get(u) for member in votes] for u in range(num_updates)]


def test_hand_made_vote_words_are_accepted_exactly_by_the_rules(make_network, examples):
    @settings(max_examples=examples, deadline=None)
    @given(
        k=st.integers(1, MAX_UPDATES),
        first_scores=st.lists(st.lists(st.integers(0, SCORE_ONE), min_size=MAX_UPDATES, max_size=MAX_UPDATES), min_size=COMMITTEE, max_size=COMMITTEE),
        sent=st.lists(calls, min_size=1, max_size=8),
    )
    def check(k, first_scores, sent):
        net = make_network(num_committee=COMMITTEE, num_trainers=2 * MAX_UPDATES + COMMITTEE, updates_per_round=k)
        ids = net.submit(net.trainers[:k])
        for member, scores in zip(net.committee, first_scores, strict=True):
            net.at(member).submit_scores(0, ids, scores[:k])
        net.propose_all(b"\x07" * 32)
        assert (net.ledger.current_round(), net.ledger.phase()) == (1, Phase.COMMIT)
        committee = net.ledger.committee(1)
        net.submit([t for t in net.trainers if t not in committee][:k])
        assert net.ledger.phase() == Phase.SCORING

        reference: list[dict[int, int]] = [{} for _ in committee]
        for member, first_word, drafted in sent:
            words_sent = [word(d, first_word + i, k) for i, d in enumerate(drafted)]
            expected = accept(reference, member, first_word, words_sent, k)
            try:
                net.at(committee[member])._transact("submit_scores", 1, first_word, words_sent)
                accepted = True
            except ContractRevert:
                accepted = False
            assert accepted == expected, (member, first_word, [hex(w) for w in words_sent])
            assert net.ledger.votes(1) == as_table(reference, k)
        assert net.ledger.votes(0) == [[scores[u] for scores in first_scores] for u in range(k)]

    check()
