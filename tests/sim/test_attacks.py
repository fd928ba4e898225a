"""Known answers for the attack functions."""

import numpy as np

from bflc.attacks import flip_labels, poison_update

GLOBAL = np.array([1.0, 2.0, 3.0], dtype=np.float32)
LOCAL = np.array([1.5, 1.0, 3.0], dtype=np.float32)  # honest delta (0.5, -1, 0)


def test_sign_flip_turns_the_delta_around():
    out = poison_update("sign-flip", GLOBAL, LOCAL, 4.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [-1.0, 6.0, 3.0])


def test_scale_blows_the_delta_up():
    out = poison_update("scale", GLOBAL, LOCAL, 10.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [6.0, -8.0, 3.0])


def test_gaussian_adds_seeded_pointwise_noise():
    out = poison_update("gaussian", GLOBAL, LOCAL, 0.5, np.random.default_rng(7))
    noise = np.random.default_rng(7).normal(0.0, 0.5, size=3)
    np.testing.assert_allclose(out, GLOBAL + noise, rtol=1e-6)
    assert out.dtype == np.float32


def test_label_flip_leaves_the_trained_update():
    assert poison_update("label-flip", GLOBAL, LOCAL, 1.0, np.random.default_rng(0)) is LOCAL
    assert flip_labels(np.array([0, 61, 30]), 62).tolist() == [61, 0, 31]
