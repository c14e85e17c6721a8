import numpy as np
import pytest

from genlib.sampling import check_generate_args, probabilities, sample

LOGITS = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))


def test_temperature_one_is_softmax():
    np.testing.assert_allclose(probabilities(LOGITS), [[0.5, 0.3, 0.15, 0.05]])


def test_low_temperature_sharpens_high_flattens():
    cold, hot = probabilities(LOGITS, 0.1), probabilities(LOGITS, 10.0)
    assert cold[0, 0] > 0.99
    assert hot.max() - hot.min() < 0.1


def test_top_k_keeps_k():
    p = probabilities(LOGITS, top_k=2)
    np.testing.assert_allclose(p, [[0.625, 0.375, 0, 0]])


def test_top_p_keeps_the_smallest_set_reaching_p():
    np.testing.assert_allclose(probabilities(LOGITS, top_p=0.7), [[0.625, 0.375, 0, 0]])
    np.testing.assert_allclose(probabilities(LOGITS, top_p=0.5), [[1, 0, 0, 0]])
    np.testing.assert_allclose(probabilities(LOGITS, top_p=1.0), probabilities(LOGITS))


@pytest.mark.parametrize("kwargs", [dict(temperature=0), dict(temperature=-1), dict(top_k=0),
                                    dict(top_k=1.5), dict(top_p=0), dict(top_p=1.2)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        sample(LOGITS, **kwargs)


def test_sampling_frequencies_match_probabilities():
    rng = np.random.default_rng(0)
    draws = sample(np.repeat(LOGITS, 20000, axis=0), rng=rng)
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.015)


def test_never_samples_a_filtered_token():
    draws = sample(np.repeat(LOGITS, 5000, axis=0), top_k=2, rng=1)
    assert set(np.unique(draws)) == {0, 1}


def test_seeded_sampling_repeats():
    a = sample(np.repeat(LOGITS, 50, axis=0), rng=7)
    b = sample(np.repeat(LOGITS, 50, axis=0), rng=7)
    np.testing.assert_array_equal(a, b)


def test_check_generate_args():
    ids, single = check_generate_args([1, 2, 3], 5, vocab_size=4)
    assert single and ids.shape == (1, 3) and ids.dtype == np.int64
    ids, single = check_generate_args(np.zeros((2, 1), "int32"), 0, vocab_size=4)
    assert not single and ids.shape == (2, 1)
    for prompt, n, message in (([], 1, "shape"), ([[[1]]], 1, "shape"), ([4], 1, "0..3"), ([-1], 1, "0..3"),
                               ([0.5], 1, "integers"), ([1], -1, "max_new_tokens"), ([1], 1.5, "max_new_tokens")):
        with pytest.raises(ValueError, match=message):
            check_generate_args(prompt, n, vocab_size=4)
    with pytest.raises(ValueError, match="temperature"):
        check_generate_args([1], 1, vocab_size=4, temperature=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_diverged_logits_are_an_error_not_token_zero(bad):
    logits = LOGITS.copy()
    logits[0, 2] = bad
    with pytest.raises(ValueError, match="diverged"):
        sample(logits)
    masked = LOGITS.copy()
    masked[0, 0] = -np.inf                             # -inf is a masked token, still fine
    assert sample(masked, rng=0)[0] != 0
