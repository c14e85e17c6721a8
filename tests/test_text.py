import numpy as np
import pytest

from genlib.text import CharTokenizer, UnknownCharacterError, WindowDataset, make_windows, split


def test_round_trip():
    text = "To be, or not to be:\nthat is the question."
    tok = CharTokenizer.fit(text)
    assert tok.vocab == sorted(set(text))
    ids = tok.encode(text)
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(np.array(ids)) == text


def test_unknown_characters_are_named():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(UnknownCharacterError, match=r"'z'.*'é'|'é'.*'z'"):
        tok.encode("abz é")


def test_out_of_range_ids():
    with pytest.raises(ValueError, match="out of range"):
        CharTokenizer.fit("ab").decode([0, 5])


def test_config_round_trip():
    tok = CharTokenizer.fit("hello\nworld")
    again = CharTokenizer.from_config(tok.get_config())
    assert again == tok and again.encode("low") == tok.encode("low")


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


def test_decode_a_batch_gives_one_string_per_row():
    tok = CharTokenizer.fit("abc")
    assert tok.decode(np.array([[0, 1], [2, 2]])) == ["ab", "cc"]
    assert tok.decode([[0], [1]]) == ["a", "b"]
    with pytest.raises(ValueError, match="integers"):
        tok.decode([0.0, 1.0])


def test_seed_none_follows_genlib_seed():
    import genlib
    from genlib.sampling import sample

    def draw():
        genlib.seed(3)
        return WindowDataset(np.arange(100), 4, 3, steps=1)[0][0], sample(np.zeros((5, 7)))

    (a, s), (b, t) = draw(), draw()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s, t)
