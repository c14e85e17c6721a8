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


def _bigram_logits_fn(table):
    """Logits that depend on the previous token only, and a count of context it saw."""
    def logits_fn(x):
        return np.log(table[np.asarray(x)])
    return logits_fn


def test_sliding_window_nats_scores_each_token_once_with_enough_context():
    from genlib.text import sliding_window_nats
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 203).astype(np.int32)
    table = rng.dirichlet(np.ones(5), size=5)
    # a bigram model's score does not depend on the window: compare with a direct sum
    window, context = 16, 6
    stride = window - context + 1
    n = (len(ids) - 1 - window) // stride + 1
    scored = np.arange(context, context + n * stride)
    expected = -np.mean(np.log(table[ids[scored - 1], ids[scored]]))
    got = sliding_window_nats(_bigram_logits_fn(table), ids, window, context)
    assert got == pytest.approx(expected, rel=1e-12)


def test_sliding_window_nats_gives_every_token_its_context():
    from genlib.text import sliding_window_nats
    window, context, vocab = 20, 8, 7

    def logits_fn(x):  # certain of the next token only once `context` tokens have been read
        logits = np.zeros(x.shape + (vocab,))
        rows, cols = np.indices(x.shape)
        sure = cols >= context - 1
        logits[rows[sure], cols[sure], (x[sure] + 1) % vocab] = 50.0
        return logits

    ids = np.arange(300) % vocab
    assert sliding_window_nats(logits_fn, ids, window, context) < 1e-12
    # a context one token shorter scores positions where the model is still guessing
    assert sliding_window_nats(logits_fn, ids, window, context - 1) > 0.01


def test_sliding_window_nats_bad_arguments():
    from genlib.text import sliding_window_nats
    fn = lambda x: np.zeros(x.shape + (3,))  # noqa: E731
    with pytest.raises(ValueError, match="cannot be longer"):
        sliding_window_nats(fn, np.zeros(50, np.int32), window=8, context=9)
    with pytest.raises(ValueError):
        sliding_window_nats(fn, np.zeros(50, np.int32), window=0, context=1)
    with pytest.raises(ValueError, match="too short"):
        sliding_window_nats(fn, np.zeros(5, np.int32), window=8, context=2)
    with pytest.raises(ValueError):
        sliding_window_nats(fn, np.array([0, 1, 5, 2] * 10), window=8, context=2)  # id 5 beyond 3 logits
