"""genlib.windows: a language model's training windows."""

import numpy as np
import pytest

from genlib.windows import WindowDataset, make_windows, split


def test_windows_are_shifted_by_one():
    ids = np.arange(23)
    x, y = make_windows(ids, block_size=5)
    assert x.shape == y.shape == (4, 5) and x.dtype == np.int32
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[:, 0], [0, 5, 10, 15])
    with pytest.raises(ValueError, match="too short"):
        make_windows(np.arange(4), block_size=5)


def test_random_windows():
    ids = np.arange(100)
    ds = WindowDataset(ids, block_size=8, batch_size=4, steps=3, seed=0)
    assert len(ds) == 3
    x, y = ds[0]
    assert x.shape == (4, 8)
    np.testing.assert_array_equal(y, x + 1)
    assert y.max() < 100


def test_split_is_contiguous():
    a, b = split(np.arange(10), 0.8)
    np.testing.assert_array_equal(a, np.arange(8))
    np.testing.assert_array_equal(b, [8, 9])


def test_seed_none_follows_genlib_seed():
    import genlib
    from genlib.sampling import sample

    def draw():
        genlib.seed(3)
        return WindowDataset(np.arange(100), 4, 3, steps=1)[0][0], sample(np.zeros((5, 7)))

    (a, s), (b, t) = draw(), draw()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s, t)
