import keras
import numpy as np
import pytest

from genlib.sampling import Watermark, probabilities, probabilities_op, sample, sample_op, sampler_settings, sampling_dtype

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


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_diverged_logits_are_an_error_not_token_zero(bad):
    logits = LOGITS.copy()
    logits[0, 2] = bad
    with pytest.raises(ValueError, match="diverged"):
        sample(logits)
    masked = LOGITS.copy()
    masked[0, 0] = -np.inf                             # -inf is a masked token, still fine
    assert sample(masked, rng=0)[0] != 0


SETTINGS = [dict(), dict(temperature=0.5), dict(temperature=2.0, top_k=3), dict(top_k=1), dict(top_p=0.6),
            dict(top_p=1.0), dict(temperature=0.8, top_k=20, top_p=0.9), dict(watermark=Watermark(7, delta=2.0)),
            dict(watermark=Watermark("k", gamma=0.5, delta=4.0), top_p=0.8)]


def _random_logits(seed, batch=64, vocab=30):
    return (np.random.default_rng(seed).normal(size=(batch, vocab)) * 3).astype("float32")


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_the_compiled_sampler_has_the_same_distribution(kwargs):
    """probabilities_op (keras.ops) == probabilities (NumPy), the watermark's bias included."""
    logits = _random_logits(1)
    previous = np.random.default_rng(2).integers(0, 30, 64)
    watermark = kwargs.pop("watermark", None)
    settings = sampler_settings(30, watermark=watermark, **kwargs)
    got = keras.ops.convert_to_numpy(probabilities_op(logits, settings, previous))
    z = logits if watermark is None else watermark.bias(logits, previous)
    want = probabilities(z, **kwargs)
    tol = 1e-12 if sampling_dtype() == "float64" else 1e-5
    np.testing.assert_allclose(got, want, atol=tol)
    assert ((got > 0) == (want > 0)).all(), "the same tokens are kept"


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_the_compiled_sampler_draws_what_sample_draws(kwargs):
    """sample_op with the uniforms rng.random((B, 1)) gives sample(..., rng=rng)'s tokens."""
    logits = _random_logits(3, batch=500)
    previous = np.random.default_rng(4).integers(0, 30, 500)
    watermark = kwargs.pop("watermark", None)
    want = sample(logits, rng=np.random.default_rng(5), watermark=watermark, previous=previous, **kwargs)
    u = np.random.default_rng(5).random((500, 1))[:, 0]
    settings = sampler_settings(30, watermark=watermark, **kwargs)
    got = keras.ops.convert_to_numpy(sample_op(logits, u, settings, previous))
    np.testing.assert_array_equal(got, want)


def test_sampler_settings_checks_its_arguments():
    for kwargs in (dict(temperature=0), dict(top_k=0), dict(top_p=1.5), dict(watermark="key")):
        with pytest.raises(ValueError):
            sampler_settings(10, **kwargs)
    settings = sampler_settings(10, top_k=50)
    assert int(settings["top_k"]) == 10 and float(settings["delta"]) == 0
