import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bflc.aggregate import (
    coordinate_median,
    fedavg,
    krum,
    krum_scores,
    krum_select,
    trimmed_mean,
)
from bflc.errors import ConfigError

# Krum, 1-D points 0, 1, 3, 4, 20 with f = 1: each score sums the n - f - 2 = 2 smallest
# squared distances to the others: 0 -> 1 + 9, 1 -> 1 + 4, 3 -> 1 + 4, 4 -> 1 + 9,
# 20 -> 256 + 289.
KRUM_POINTS = np.array([[0.0], [1.0], [3.0], [4.0], [20.0]])
KRUM_SCORES = [10.0, 5.0, 5.0, 10.0, 545.0]


def updates_strategy(min_rows: int = 1):
    shapes = st.tuples(st.integers(min_rows, 8), st.integers(1, 5))
    values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    return arrays(np.float64, shapes, elements=values)


def test_fedavg_weights_by_sample_count():
    updates = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    # ([1, 2] + [3, 4] + 2 * [5, 6]) / 4
    np.testing.assert_array_equal(fedavg(updates, [1, 1, 2]), [3.5, 4.5])


def test_fedavg_ignores_zero_weight_updates():
    updates = np.array([[1.0, 2.0], [1e9, -1e9]])
    np.testing.assert_array_equal(fedavg(updates, [3, 0]), [1.0, 2.0])


def test_fedavg_float32_input_gives_float64_result():
    updates = np.array([[1.0, 2.0], [2.0, 4.0]], dtype=np.float32)
    result = fedavg(updates, [1, 1])
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [1.5, 3.0])


def test_coordinate_median_even_count_averages_middle_values():
    updates = np.array([[1.0, 10.0], [2.0, 0.0], [3.0, -5.0], [10.0, 7.0]])
    # sorted columns: 1 2 3 10 -> (2 + 3) / 2; -5 0 7 10 -> (0 + 7) / 2
    np.testing.assert_array_equal(coordinate_median(updates), [2.5, 3.5])


def test_coordinate_median_odd_count():
    np.testing.assert_array_equal(coordinate_median([[1.0], [5.0], [2.0]]), [2.0])


def test_trimmed_mean_drops_extremes_per_coordinate():
    updates = np.array([[1.0, 3.0], [100.0, -50.0], [2.0, 0.0], [4.0, 2.0], [3.0, 1.0]])
    # beta 0.2 of 5 cuts one value at each end: mean(2, 3, 4), mean(0, 1, 2)
    np.testing.assert_array_equal(trimmed_mean(updates, 0.2), [3.0, 1.0])


def test_trimmed_mean_with_zero_beta_is_the_mean():
    np.testing.assert_array_equal(trimmed_mean([[1.0], [2.0], [6.0]], 0.0), [3.0])


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.2, 0.25, 0.3, 0.45, 0.49])
@pytest.mark.parametrize("n_updates", [1, 2, 5, 10, 11])
def test_trimmed_mean_matches_scipy(beta, n_updates):
    updates = np.random.default_rng(n_updates).normal(size=(n_updates, 7))
    np.testing.assert_allclose(
        trimmed_mean(updates, beta), scipy.stats.trim_mean(updates, beta, axis=0), rtol=1e-12
    )


def test_krum_scores_by_hand():
    np.testing.assert_array_equal(krum_scores(KRUM_POINTS, 1), KRUM_SCORES)


def test_krum_scores_sum_over_coordinates():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [1.0, 1.0]])
    # (5, 5) is at squared distance 32 from (1, 1) and 41 from (1, 0) and (0, 1)
    np.testing.assert_array_equal(krum_scores(points, 1), [2.0, 2.0, 2.0, 73.0, 2.0])


def test_krum_select_breaks_ties_by_lower_index():
    np.testing.assert_array_equal(krum_select(KRUM_POINTS, 1), [1])
    np.testing.assert_array_equal(krum_select(KRUM_POINTS, 1, num_selected=3), [1, 2, 0])


def test_krum_returns_the_selected_update():
    np.testing.assert_array_equal(krum(KRUM_POINTS, 1), [1.0])


def test_multi_krum_averages_the_selected_updates():
    np.testing.assert_array_equal(krum(KRUM_POINTS, 1, num_selected=2), [2.0])
    # indices 1 and 2 with weights 1 and 3: (1 * 1 + 3 * 3) / 4
    weighted = krum(KRUM_POINTS, 1, num_selected=2, weights=[9, 1, 3, 9, 9])
    np.testing.assert_array_equal(weighted, [2.5])


def test_krum_with_no_malicious_updates_needs_three():
    np.testing.assert_array_equal(krum_scores([[0.0], [1.0], [3.0]], 0), [1.0, 1.0, 4.0])
    with pytest.raises(ConfigError, match="more than 2\\*f \\+ 2 = 2 updates"):
        krum_scores([[0.0], [1.0]], 0)


@pytest.mark.parametrize(
    "updates",
    [
        np.zeros(3),
        np.zeros((2, 2, 2)),
        np.zeros((0, 3)),
        np.zeros((3, 0)),
        np.zeros((2, 2), dtype=np.int64),
        np.array([[1.0, np.nan]]),
        np.array([[1.0, np.inf]]),
        [["a", "b"]],
    ],
    ids=["1-d", "3-d", "no-rows", "no-params", "int", "nan", "inf", "str"],
)
@pytest.mark.parametrize(
    "aggregate",
    [
        lambda u: fedavg(u, np.ones(np.shape(u)[0])),
        coordinate_median,
        lambda u: trimmed_mean(u, 0.1),
        lambda u: krum(u, 0),
    ],
    ids=["fedavg", "median", "trimmed", "krum"],
)
def test_malformed_updates_are_rejected(aggregate, updates):
    with pytest.raises(ConfigError, match="updates"):
        aggregate(updates)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1, 2], "shape \\(3,\\)"),
        ([[1, 2, 3]], "shape \\(3,\\)"),
        ([1, -1, 2], "non-negative"),
        ([1, np.nan, 2], "finite"),
        ([0, 0, 0], "positive finite sum"),
        ([1e308, 1e308, 1e308], "positive finite sum"),
        (["a", "b", "c"], "numbers"),
    ],
)
def test_bad_weights_are_rejected(weights, message):
    with pytest.raises(ConfigError, match=message):
        fedavg(np.ones((3, 2)), weights)


@pytest.mark.parametrize("beta", [-0.1, 0.5, 0.9])
def test_trimmed_mean_rejects_beta_outside_range(beta):
    with pytest.raises(ConfigError, match="beta"):
        trimmed_mean(np.ones((4, 2)), beta)


@pytest.mark.parametrize(
    ("num_malicious", "message"),
    [(2, "more than 2\\*f \\+ 2 = 6 updates"), (-1, ">= 0"), (1.0, "integer")],
)
def test_krum_rejects_bad_num_malicious(num_malicious, message):
    with pytest.raises(ConfigError, match=message):
        krum(KRUM_POINTS, num_malicious)


@pytest.mark.parametrize("num_selected", [0, 6])
def test_krum_rejects_bad_num_selected(num_selected):
    with pytest.raises(ConfigError, match="num_selected"):
        krum(KRUM_POINTS, 1, num_selected=num_selected)


@settings(max_examples=50, deadline=None)
@given(updates_strategy())
def test_fedavg_with_equal_weights_is_the_mean(updates):
    np.testing.assert_allclose(
        fedavg(updates, np.ones(len(updates))), updates.mean(axis=0), rtol=1e-9, atol=1e-6
    )


@settings(max_examples=50, deadline=None)
@given(updates_strategy(), st.data())
def test_fedavg_is_invariant_to_scaling_weights_by_two(updates, data):
    weights = data.draw(arrays(np.int64, len(updates), elements=st.integers(1, 1000)))
    np.testing.assert_array_equal(fedavg(updates, weights), fedavg(updates, 2 * weights))


@settings(max_examples=50, deadline=None)
@given(updates_strategy(), st.randoms(use_true_random=False))
def test_median_and_trimmed_mean_ignore_row_order(updates, random):
    order = list(range(len(updates)))
    random.shuffle(order)
    np.testing.assert_array_equal(coordinate_median(updates), coordinate_median(updates[order]))
    np.testing.assert_array_equal(trimmed_mean(updates, 0.2), trimmed_mean(updates[order], 0.2))


@settings(max_examples=50, deadline=None)
@given(updates_strategy(min_rows=3))
def test_krum_picks_one_of_the_updates(updates):
    num_malicious = (len(updates) - 3) // 2
    selected = krum_select(updates, num_malicious)
    np.testing.assert_array_equal(krum(updates, num_malicious), updates[selected[0]])


def test_capped_sample_weights_clip_at_a_multiple_of_the_median():
    from bflc.aggregate import capped_sample_weights

    # median of (100, 120, 150, 1_000_000) = 135: the inflated claim is cut to 4 * 135
    assert capped_sample_weights([100, 120, 150, 1_000_000], 4).tolist() == [100, 120, 150, 540]
    assert capped_sample_weights([100, 1_000_000], None).tolist() == [100, 1_000_000]
    assert capped_sample_weights([7], 1).tolist() == [7]


@pytest.mark.parametrize(("samples", "cap"), [([], 4), ([1, -1], 4), ([1, float("nan")], 4), ([1, 2], 0.5)])
def test_capped_sample_weights_reject_bad_input(samples, cap):
    from bflc.aggregate import capped_sample_weights

    with pytest.raises(ConfigError):
        capped_sample_weights(samples, cap)


def test_an_inflated_sample_count_dominates_fedavg_unless_capped():
    """One trainer claims a million samples for an update of all 10s; three
    honest ones claim about 100 for updates of all 0s."""
    from bflc.aggregate import capped_sample_weights

    updates = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [10.0, 10.0]])
    claimed = [100, 110, 90, 1_000_000]
    assert fedavg(updates, claimed)[0] > 9.99
    capped = fedavg(updates, capped_sample_weights(claimed, 4))  # 1e6 -> 4 * 105 = 420
    assert capped.tolist() == [10 * 420 / (100 + 110 + 90 + 420)] * 2
