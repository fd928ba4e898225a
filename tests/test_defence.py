"""The backdoor defence's pure functions: the coalition screen, its memory and clipping to the median length."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bflc.defence import (
    SCREEN_FLOOR,
    clip_to_median_norm,
    coalition_screen,
    exact_norms,
    push_screen,
    residual_similarity,
    screen_threshold,
    suspect_directions,
)
from bflc.errors import ConfigError


def round_of_changes(
    num_honest: int, num_coalition: int, push: float, seed: int = 0, size: int = 4000, push_seed: int | None = None
) -> np.ndarray:
    """Changes of one round: every update shares the common progress; honest ones add their own
    direction, the coalition's add their own plus one push they all share (the backdoor's).
    Rounds of other seeds share the push when given the same ``push_seed``."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 1, size)
    shared_push = rng.normal(0, 1, size)
    if push_seed is not None:
        shared_push = np.random.default_rng([push_seed, 1]).normal(0, 1, size)
    honest = [common + rng.normal(0, 1, size) for _ in range(num_honest)]
    coalition = [common + rng.normal(0, 1, size) + push * shared_push for _ in range(num_coalition)]
    return np.array(honest + coalition)


def test_residuals_are_taken_from_the_coordinate_median():
    changes = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    residuals = changes - np.median(changes, axis=0)  # the median is (0.5, 0.5, 0.5)
    units = residuals / np.linalg.norm(residuals, axis=1)[:, None]
    expected = units @ units.T
    np.fill_diagonal(expected, -1.0)
    np.testing.assert_allclose(residual_similarity(changes), expected, atol=1e-12)


def test_an_update_equal_to_the_centre_is_similar_to_nothing():
    similarity = residual_similarity([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert (similarity[~np.eye(3, dtype=bool)] == 0).all()


@pytest.mark.parametrize("num_coalition", [2, 3, 5])
def test_the_screen_flags_exactly_a_minority_that_shares_a_push(num_coalition):
    changes = round_of_changes(num_honest=17 - num_coalition, num_coalition=num_coalition, push=1.0)
    screen = coalition_screen(changes, 0.35)
    assert screen.flagged == list(range(17 - num_coalition, 17))
    assert all(screen.partner[i] in screen.flagged for i in screen.flagged)


def test_a_coalition_near_half_the_round_is_flagged_whole_and_drags_some_honest_updates_with_it():
    """Seven of seventeen pull the median towards their push, so honest residuals share a little of its opposite."""
    changes = round_of_changes(num_honest=10, num_coalition=7, push=1.0)
    flagged = coalition_screen(changes, 0.35).flagged
    assert set(range(10, 17)) <= set(flagged)
    assert len(flagged) < 17


def test_independent_honest_updates_are_never_flagged():
    for seed in range(5):
        assert coalition_screen(round_of_changes(17, 0, 0.0, seed), 0.35).flagged == []


def test_a_single_attacker_has_no_partner_and_passes():
    changes = round_of_changes(16, 1, push=1.0)
    assert coalition_screen(changes, 0.35).flagged == []


def test_a_coalition_that_holds_the_majority_of_the_round_turns_the_screen_on_the_honest():
    """The documented limit: the centre is then the coalition's, and the honest updates share the way back."""
    changes = round_of_changes(num_honest=6, num_coalition=11, push=1.0)
    flagged = coalition_screen(changes, 0.35).flagged
    assert not set(flagged) & set(range(6, 17))


def test_the_bar_is_the_rounds_own_spread_between_the_floor_and_the_cap():
    pairs = np.full((4, 4), 0.05)
    assert screen_threshold(pairs, 0.35) == SCREEN_FLOOR  # no spread: the floor
    wide = np.array([[-1, 0.0, 0.1, 0.2], [0, -1, 0.05, 0.15], [0.1, 0.05, -1, 0.25], [0.2, 0.15, 0.25, -1]])
    # pairs 0, .1, .2, .05, .15, .25: median .125, MAD .075 -> .125 + 4 * 1.4826 * .075 = .570, or the cap
    assert screen_threshold(wide, 0.35) == 0.35
    assert screen_threshold(wide, 1.0) == pytest.approx(0.125 + 4 * 1.4826 * 0.075)


def test_fewer_than_three_updates_are_not_screened():
    screen = coalition_screen([[1.0, 2.0], [1.0, 2.0]], 0.35)
    assert screen.flagged == [] and math.isinf(screen.threshold)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, math.nan])
def test_the_screen_refuses_a_bar_outside_zero_one(bad):
    with pytest.raises(ConfigError, match="max_similarity must be in"):
        coalition_screen(round_of_changes(5, 0, 0.0), bad)


def test_clipping_scales_longer_changes_to_the_median_length():
    clipped = clip_to_median_norm([[6.0, 8.0], [0.0, 1.0], [3.0, 4.0]])  # lengths 10, 1, 5: median 5
    np.testing.assert_array_equal(clipped, [[3.0, 4.0], [0.0, 1.0], [3.0, 4.0]])
    np.testing.assert_array_equal(clip_to_median_norm([[6.0, 8.0], [0.0, 1.0], [3.0, 4.0]], 1.5), [[4.5, 6.0], [0.0, 1.0], [3.0, 4.0]])


@pytest.mark.parametrize("bad", [0.5, 0.0, math.nan])
def test_clipping_refuses_a_multiple_below_one(bad):
    with pytest.raises(ConfigError, match="clipping multiple must be at least 1"):
        clip_to_median_norm([[1.0]], bad)


def test_lengths_are_exact_whatever_the_summation_order():
    rng = np.random.default_rng(3)
    rows = rng.normal(0, 1, (3, 100_001))
    shuffled = rows[:, rng.permutation(rows.shape[1])]
    assert exact_norms(rows).tolist() == exact_norms(shuffled).tolist()
    assert exact_norms(rows)[0] == math.sqrt(math.fsum(float(x) ** 2 for x in rows[0]))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 6)), elements=st.floats(-1e6, 1e6)),
    st.floats(1.0, 4.0),
)
def test_clipped_changes_keep_their_direction_and_stay_within_the_bound(rows, multiple):
    clipped = clip_to_median_norm(rows, multiple)
    bound = multiple * float(np.median(exact_norms(rows)))
    for before, after in zip(rows, clipped, strict=True):
        length = math.sqrt(math.fsum(float(x) ** 2 for x in after))
        assert length <= bound * (1 + 1e-12) or np.array_equal(before, after)
        if np.array_equal(before, after):
            continue
        factor = bound / math.sqrt(math.fsum(float(x) ** 2 for x in before))
        np.testing.assert_array_equal(after, before * factor)
    # shorter rows are untouched, and the same rows clip alike in any order
    order = np.arange(len(rows))[::-1]
    np.testing.assert_array_equal(clip_to_median_norm(rows[order], multiple), clipped[order])


# ------------------------------------------------------------------ the screen's memory


def remembered(num_honest: int = 10, num_coalition: int = 3) -> np.ndarray:
    """The suspect directions of an earlier round (seed 0) whose coalition's updates (the last rows) were rejected."""
    earlier = round_of_changes(num_honest, num_coalition, push=1.0, push_seed=7)
    kept, directions = suspect_directions(earlier, list(range(num_honest, num_honest + num_coalition)))
    assert kept == list(range(num_honest, num_honest + num_coalition))
    return directions


@pytest.mark.parametrize("num_coalition", [1, 2, 8, 11, 16])
def test_memory_flags_exactly_the_coalition_however_much_of_the_round_it_holds(num_coalition):
    """A lone attacker, and a coalition holding most of the round, go the way earlier rejected updates went."""
    changes = round_of_changes(17 - num_coalition, num_coalition, push=1.0, seed=1, push_seed=7)
    screen = push_screen(changes, remembered(), 0.2)
    assert screen.flagged == list(range(17 - num_coalition, 17))
    assert all(screen.similarity[i] > 0.3 for i in screen.flagged)
    assert max(screen.similarity[: 17 - num_coalition]) < 0.1


def test_memory_of_another_push_flags_nothing():
    changes = round_of_changes(14, 3, push=1.0, seed=1, push_seed=8)
    assert push_screen(changes, remembered(), 0.2).flagged == []


def test_excluded_pairs_are_not_compared():
    """An update is not held against its own provider's earlier updates: with every pair excluded, nothing is flagged."""
    changes = round_of_changes(16, 1, push=1.0, seed=1, push_seed=7)
    directions = remembered()
    exclude = np.zeros((17, len(directions)), dtype=bool)
    exclude[16] = True
    screen = push_screen(changes, directions, 0.2, exclude)
    assert screen.flagged == [] and screen.partner[16] == -1 and screen.similarity[16] == 0.0


def test_a_direction_that_follows_the_rounds_progress_is_not_remembered():
    """A coalition cannot make every honest update a suspect by getting an update rejected that only goes further the common way."""
    changes = round_of_changes(10, 0, push=0.0)
    centre = np.median(changes, axis=0)
    further = np.vstack([changes, 5 * centre, -3 * centre])
    kept, directions = suspect_directions(further, [10, 11])
    assert kept == [] and directions.shape == (0, changes.shape[1])


def test_a_rejected_update_equal_to_the_centre_leaves_no_direction():
    kept, _ = suspect_directions([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], [0, 2])
    assert kept == []


@settings(max_examples=40, deadline=None)
@given(
    rows=arrays(np.float64, st.tuples(st.integers(3, 8), st.just(5)), elements=st.floats(-10, 10, allow_subnormal=False)),
    scale=st.floats(0.01, 100),
)
def test_pushes_are_in_median_lengths_so_scaling_a_round_changes_nothing(rows, scale):
    directions = np.eye(5)[:2]
    before = push_screen(rows, directions, 0.2)
    after = push_screen(rows * scale, directions, 0.2)
    np.testing.assert_allclose(after.similarity, before.similarity, rtol=1e-9, atol=1e-12)
    assert all(p >= 0 for p in before.similarity)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: push_screen([[1.0, 0]], [[1.0, 0]], 0.0), "max_push must be positive"),
        (lambda: push_screen([[1.0, 0]], [[1.0, 0, 0]], 0.2), "differ in length"),
        (lambda: push_screen([[1.0, 0]], [[1.0, 0]], 0.2, [[True, False]]), "exclude must have shape"),
        (lambda: suspect_directions([[1.0, 0], [0, 1], [1, 1]], [3]), "not a row"),
    ],
)
def test_the_memory_refuses_malformed_input(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
