"""The green-list watermark of genlib.sampling (Kirchenbauer et al., ICML 2023): it is
detected in text written with it, not in text written without it (false positives near
the nominal rate of the z-test), delta = 0 changes nothing, and bad arguments are
refused. The model tests run on every Keras backend."""

import numpy as np
import pytest
from scipy.stats import norm

import genlib
from genlib.models import CharGRU, MiniGPT
from genlib.models.causal_lm import check_generate_args
from genlib.sampling import Watermark, sample, watermark_z_score

V = 40


def _flat_model(n_seq, length, watermark, seed=0):
    """Sample from uniform logits (maximal entropy), token by token, with the watermark."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, V, (n_seq, 1))
    for _ in range(length):
        token = sample(np.zeros((n_seq, V)), rng=rng, watermark=watermark, previous=out[:, -1])
        out = np.concatenate([out, token[:, None]], axis=1)
    return out


def test_green_lists_have_the_right_size_and_depend_on_key_and_previous_token():
    wm = Watermark(key=1, gamma=0.25)
    assert wm.green_list(3, V).sum() == 10
    assert not np.array_equal(wm.green_list(3, V), wm.green_list(4, V))
    assert not np.array_equal(wm.green_list(3, V), Watermark(key=2).green_list(3, V))
    np.testing.assert_array_equal(wm.green_list(3, V), Watermark(key=1, gamma=0.25).green_list(3, V))
    assert "key" not in repr(wm) and "1," not in repr(wm)


def test_watermarked_text_is_detected():
    wm = Watermark(key="secret", gamma=0.25, delta=2.0)
    z = watermark_z_score(_flat_model(20, 100, wm), wm, V)
    assert (z > 4).all(), z
    # the expected green share is gamma e^delta / (1 - gamma + gamma e^delta)
    share = 0.25 * np.e**2 / (0.75 + 0.25 * np.e**2)
    expected_z = (share - 0.25) * 100 / np.sqrt(100 * 0.25 * 0.75)
    assert abs(z.mean() - expected_z) < 1.0, (z.mean(), expected_z)


def test_false_positive_rate_is_near_the_nominal_level():
    wm = Watermark(key="secret", gamma=0.25, delta=2.0)
    plain = np.random.default_rng(1).integers(0, V, (4000, 101))
    z = watermark_z_score(plain, wm, V)
    level = 0.05
    rate = (z > norm.ppf(1 - level)).mean()
    assert abs(rate - level) < 0.015, rate     # binomial sd of the rate at n=4000 is 0.0034
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1
    # the same text, read with the wrong key, is not flagged either
    marked = _flat_model(20, 100, wm)
    assert (watermark_z_score(marked, Watermark(key="other"), V) < 4).all()


def test_delta_zero_is_the_plain_sampler():
    logits = np.random.default_rng(2).normal(size=(64, V)) * 3
    previous = np.arange(64) % V
    for kwargs in (dict(), dict(temperature=0.7, top_k=5), dict(top_p=0.8)):
        plain = sample(logits, rng=np.random.default_rng(3), **kwargs)
        marked = sample(logits, rng=np.random.default_rng(3), watermark=Watermark(7, delta=0.0), previous=previous,
                        **kwargs)
        np.testing.assert_array_equal(plain, marked)


@pytest.mark.parametrize("kwargs", [dict(key=1.5), dict(key=None), dict(key=True), dict(key=1, gamma=0),
                                    dict(key=1, gamma=1), dict(key=1, gamma=float("nan")), dict(key=1, delta=-1),
                                    dict(key=1, delta=float("inf"))])
def test_bad_watermark_arguments(kwargs):
    with pytest.raises(ValueError):
        Watermark(**kwargs)


def test_bad_sampling_and_detector_arguments():
    wm = Watermark(1)
    logits = np.zeros((2, V))
    with pytest.raises(ValueError, match="previous"):
        sample(logits, watermark=wm)
    with pytest.raises(ValueError, match="one token per row"):
        sample(logits, watermark=wm, previous=[1, 2, 3])
    with pytest.raises(ValueError, match="Watermark"):
        sample(logits, watermark="secret", previous=[1, 2])
    with pytest.raises(ValueError, match="Watermark"):
        check_generate_args([1, 2], 3, V, watermark=0.5)
    with pytest.raises(ValueError, match="n >= 2"):
        watermark_z_score([3], wm, V)
    with pytest.raises(ValueError, match="integers in"):
        watermark_z_score([3, V], wm, V)
    with pytest.raises(ValueError, match="Watermark"):
        watermark_z_score([1, 2, 3], "secret", V)


@pytest.mark.parametrize("model_class", [CharGRU, MiniGPT])
def test_models_generate_with_the_watermark(model_class):
    genlib.seed(0)
    if model_class is CharGRU:
        model = CharGRU(vocab_size=V, embedding_dim=8, units=16)
    else:
        model = MiniGPT(vocab_size=V, block_size=64, n_layer=1, n_head=2, n_embd=16)
    prompt = np.arange(8).reshape(2, 4)
    plain = model.generate(prompt, 40, seed=5)
    same = model.generate(prompt, 40, seed=5, watermark=Watermark("k", delta=0.0))
    np.testing.assert_array_equal(plain, same)
    wm = Watermark("k", gamma=0.25, delta=6.0)
    marked = model.generate(prompt, 40, seed=5, watermark=wm)
    # an untrained model is nearly uniform: with delta = 6 almost every new token is green
    assert (watermark_z_score(marked[:, 3:], wm, V) > 4).all()
    assert (np.abs(watermark_z_score(plain[:, 3:], wm, V)) < 4).all()
