"""genlib.models.VAE: shapes, the loss, the KL formula, saving, bad input (chapter 02).

Runs on every backend: KERAS_BACKEND=jax (or torch) python -m pytest tests/test_vae.py
"""

import keras
import numpy as np
import pytest
from keras import ops

import genlib
from genlib.models import VAE, conv_vae, dense_vae
from genlib.models.vae import bernoulli_nll, gaussian_kl


@pytest.fixture(scope="module")
def images():
    (x, _), _ = genlib.data.mnist()
    return x[:256]


def _tiny(kind, latent_dim=3, beta=1.0, seed=1):
    if kind == "dense":
        return dense_vae(latent_dim, hidden=32, beta=beta, seed=seed)
    return conv_vae(latent_dim, preset="tiny", beta=beta, seed=seed)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_shapes(kind, images):
    model = _tiny(kind, latent_dim=3)
    out = model(images[:5])
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "mu": (5, 3), "log_var": (5, 3), "z": (5, 3), "logits": (5, 28, 28, 1)}
    mu, log_var = model.encode(images[:7])
    assert mu.shape == log_var.shape == (7, 3)
    x_hat = model.decode(np.zeros((4, 3)))
    assert x_hat.shape == (4, 28, 28, 1) and 0 <= x_hat.min() and x_hat.max() <= 1
    assert model.sample(6, seed=0).shape == (6, 28, 28, 1)
    np.testing.assert_allclose(model.sample(2, seed=3), model.sample(2, seed=3))
    assert model.reconstruct(images[:3]).shape == (3, 28, 28, 1)
    assert model.latent_dim == 3 and model.image_shape == (28, 28, 1)


def test_seed_003_sizes():
    model = dense_vae()  # 784-400-20, as in seed 003
    dense = [l for l in model.encoder.layers + model.decoder.layers if isinstance(l, keras.layers.Dense)]
    assert [tuple(l.kernel.shape) for l in dense] == [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]


def test_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(3, 4)).astype("float32")
    log_var = rng.normal(scale=0.5, size=(3, 4)).astype("float32")
    kl = ops.convert_to_numpy(gaussian_kl(mu, log_var))
    sigma = np.exp(0.5 * log_var)
    z = mu + sigma * rng.standard_normal((200_000, 3, 4))
    log_q = -0.5 * np.sum(((z - mu) / sigma) ** 2 + log_var + np.log(2 * np.pi), axis=-1)
    log_p = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
    np.testing.assert_allclose(kl, (log_q - log_p).mean(axis=0), rtol=0.03, atol=0.02)
    assert np.allclose(ops.convert_to_numpy(gaussian_kl(np.zeros((2, 5)), np.zeros((2, 5)))), 0.0)


def test_bernoulli_nll_is_summed_binary_cross_entropy():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(4, 28, 28, 1)).astype("float32")
    logits = rng.normal(scale=3, size=x.shape).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(ops.convert_to_numpy(bernoulli_nll(x, logits)), expected, rtol=1e-4)
    # stable where a naive log(sigmoid) would give log(0) = -inf
    extreme = ops.convert_to_numpy(bernoulli_nll(np.ones((1, 2)), np.array([[-200.0, 200.0]], "float32")))
    np.testing.assert_allclose(extreme, [200.0], rtol=1e-5)


def test_loss_is_reconstruction_plus_beta_kl(images):
    beta = 3.0
    model = _tiny("dense", beta=beta)
    model.compile(keras.optimizers.Adam(1e-3))
    y_pred = model(images[:32])
    loss = float(ops.convert_to_numpy(model.compute_loss(x=images[:32], y_pred=y_pred)))
    recon = ops.convert_to_numpy(bernoulli_nll(images[:32], y_pred["logits"]))
    kl = ops.convert_to_numpy(gaussian_kl(y_pred["mu"], y_pred["log_var"]))
    assert kl.mean() > 0
    np.testing.assert_allclose(loss, (recon + beta * kl).mean(), rtol=1e-5)
    # and fit reports the three numbers consistently
    history = model.fit(images, epochs=1, batch_size=64, verbose=0).history
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    np.testing.assert_allclose(history["loss"][0],
                               history["reconstruction_loss"][0] + beta * history["kl_loss"][0], rtol=1e-4)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_training_lowers_the_loss(kind, images):
    genlib.seed(0)
    model = _tiny(kind)
    model.compile(keras.optimizers.Adam(3e-3))
    history = model.fit(images, epochs=4, batch_size=32, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 10, history["loss"]
    total, recon, kl = model.neg_elbo(images[:64])
    np.testing.assert_allclose(total, recon + kl, rtol=1e-6)
    assert np.all(kl >= 0) and np.all(recon > 0)


def test_importance_weighted_bound_is_tighter_than_elbo(images):
    genlib.seed(0)
    model = _tiny("dense", latent_dim=4)
    model.compile(keras.optimizers.Adam(3e-3))
    model.fit(images, epochs=3, batch_size=32, verbose=0)
    x = images[:64]
    elbo = model.neg_elbo(x, seed=0)[0]
    iw = model.importance_weighted_nll(x, k=32, seed=0)
    iw1 = model.importance_weighted_nll(x, k=1, seed=0)
    # k = 1 estimates the same ELBO, with a sampled instead of a closed-form KL
    assert abs(iw1.mean() - elbo.mean()) < 3.0, (iw1.mean(), elbo.mean())
    assert iw.mean() < elbo.mean()


def test_reparameterisation_passes_gradients_to_mu_and_log_var():
    from genlib.backend import numpy_input_grads

    model = _tiny("dense", latent_dim=2)
    x = ops.convert_to_tensor(np.full((3, 28, 28, 1), 0.5, "float32"))

    def loss(mu, log_var):
        logits = model.decoder(model.reparameterize(mu, log_var))
        return ops.mean(bernoulli_nll(x, logits))

    g_mu, g_log_var = numpy_input_grads(loss, np.zeros((3, 2)), np.zeros((3, 2)))
    for g in (g_mu, g_log_var):
        assert g.shape == (3, 2) and np.isfinite(g).all() and np.abs(g).sum() > 0


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_save_and_load_give_identical_outputs(kind, images, tmp_path):
    genlib.seed(0)
    model = _tiny(kind, beta=0.5)
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(images[:64], epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VAE) and loaded.beta == 0.5 and loaded.latent_dim == model.latent_dim
    x = images[:8]
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.reconstruct(x), loaded.reconstruct(x))
    np.testing.assert_array_equal(model.sample(4, seed=2), loaded.sample(4, seed=2))
    np.testing.assert_array_equal(model.neg_elbo(x)[0], loaded.neg_elbo(x)[0])


def test_bad_arguments_raise_clear_errors(images):
    with pytest.raises(ValueError, match="latent_dim"):
        dense_vae(latent_dim=0)
    with pytest.raises(ValueError, match="latent_dim"):
        conv_vae(latent_dim=-1)
    with pytest.raises(ValueError, match="beta"):
        dense_vae(4, beta=-1.0)
    with pytest.raises(ValueError, match="preset"):
        conv_vae(2, preset="huge")
    with pytest.raises(ValueError, match="divisible by 4"):
        conv_vae(2, image_shape=(30, 30, 1))
    model = _tiny("dense")
    model.compile(keras.optimizers.Adam(1e-3))
    with pytest.raises(ValueError, match=r"shape \(n, 28, 28, 1\)"):
        model.encode(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="one image"):
        model.reconstruct(images[0])
    with pytest.raises(ValueError, match="NaN"):
        bad = images[:8].copy()
        bad[0, 0, 0, 0] = np.nan
        model.fit(bad, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.fit(images[:8] * 255, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="without y"):
        model.fit(images[:8], images[:8], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"latent codes of shape \(n, 3\)"):
        model.decode(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="n must be"):
        model.sample(0)
    with pytest.raises(ValueError, match="k must be"):
        model.importance_weighted_nll(images[:2], k=0)


# --- issue 18 ------------------------------------------------------------------

def test_tensors_and_empty_input_are_checked(images):
    model = _tiny("dense")
    model.compile(keras.optimizers.Adam(1e-3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.fit(ops.convert_to_tensor(images[:8] * 255), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="no images"):
        model.encode(np.zeros((0, 28, 28, 1)))
    with pytest.raises(ValueError, match="no latent codes"):
        model.decode(np.zeros((0, 3)))


def test_plain_import_genlib_loads_a_saved_vae(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "vae.keras"
    _tiny("dense").save(path)
    code = ("import genlib, keras, sys; assert genlib.models.VAE; "
            "print(type(keras.saving.load_model(sys.argv[1])).__name__)")
    root = Path(genlib.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)}, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip().endswith("VAE"), done.stderr[-2000:]
