"""genlib.models.DDPM: the forward process, the loss, training, sampling, saving and bad
input (chapter 09, "What came next: diffusion").

Runs on every backend: KERAS_BACKEND=jax (or torch) python -m pytest tests/test_diffusion.py
"""

import keras
import numpy as np
import pytest
from keras import ops

import genlib
from genlib.models import DDPM, mlp_ddpm, unet_ddpm
from genlib.models.diffusion import linear_betas


@pytest.fixture(scope="module")
def images():
    (x, _), _ = genlib.data.mnist()
    return x[:128]


def test_schedule_reaches_noise():
    for T in (50, 100, 1000):
        betas = linear_betas(T)
        assert betas.shape == (T,) and betas.max() < 1 and np.all(np.diff(betas) > 0)
        assert np.prod(1 - betas) < 1e-3       # x_T is nearly pure noise
    np.testing.assert_allclose(linear_betas(1000)[[0, -1]], [1e-4, 0.02])


def test_q_sample_matches_stepwise_noising_in_distribution():
    model = mlp_ddpm(timesteps=50, seed=0)
    x0 = np.random.default_rng(1).normal(2.0, 0.5, (20000, 2)).astype("float32")
    t = 20
    rng = np.random.default_rng(2)
    x = x0.copy()
    for s in range(t + 1):
        x = np.sqrt(model.alphas[s]) * x + np.sqrt(model.betas[s]) * rng.standard_normal(x.shape)
    y = ops.convert_to_numpy(model.q_sample(x0, np.full(len(x0), t, "int32"), rng.standard_normal(x0.shape)
                                            .astype("float32")))
    np.testing.assert_allclose(x.mean(0), y.mean(0), atol=0.03)
    np.testing.assert_allclose(x.std(0), y.std(0), atol=0.03)


def test_call_and_loss(images):
    model = unet_ddpm(width=8, timesteps=50, seed=0)
    out = model(images[:4])
    assert {k: tuple(v.shape) for k, v in out.items()} == {"eps": (4, 28, 28, 1), "eps_pred": (4, 28, 28, 1),
                                                           "t": (4,)}
    t = ops.convert_to_numpy(out["t"])
    assert t.min() >= 0 and t.max() < 50
    loss = float(ops.convert_to_numpy(model.compute_loss(images[:4], None, out)))
    expected = np.mean((ops.convert_to_numpy(out["eps"]) - ops.convert_to_numpy(out["eps_pred"])) ** 2)
    assert abs(loss - expected) < 1e-5


def test_training_learns_two_modes_in_2d():
    genlib.seed(0)
    rng = np.random.default_rng(0)
    centres = np.array([[-2.0, 0.0], [2.0, 0.0]], "float32")
    data = (centres[rng.integers(0, 2, 20480)] + rng.normal(0, 0.1, (20480, 2))).astype("float32")
    model = mlp_ddpm(width=64, depth=2, timesteps=50, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(np.tile(data, (6, 1)), batch_size=256, epochs=1, verbose=0)   # 480 steps
    assert np.isfinite(history.history["loss"][-1])
    samples = model.sample(1000, seed=0)
    distance = np.linalg.norm(samples[:, None] - centres[None], axis=-1)
    near = distance.min(axis=1) < 0.5
    assert near.mean() > 0.7, near.mean()                       # pure noise: about 0.05
    assert min(np.mean(near & (distance.argmin(1) == k)) for k in (0, 1)) > 0.25   # both modes


def test_sample_shapes_range_seed_and_path(images):
    model = unet_ddpm(width=8, timesteps=50, seed=0)
    x = model.sample(3, seed=1)
    assert x.shape == (3, 28, 28, 1) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, model.sample(3, seed=1))
    x0, path = model.sample(2, seed=1, keep=(25, 0))
    assert sorted(path) == [0, 25, 50] and all(v.shape == (2, 28, 28, 1) for v in path.values())
    np.testing.assert_array_equal(path[0], x0)


def test_save_and_load_give_identical_outputs(images, tmp_path):
    model = unet_ddpm(width=8, timesteps=60, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(images[:64], batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "ddpm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DDPM) and loaded.timesteps == 60 and loaded.rescale
    np.testing.assert_allclose(loaded.sample(2, seed=4), model.sample(2, seed=4), atol=1e-5)


@pytest.mark.parametrize("build, match", [
    (lambda: linear_betas(20), "timesteps"),
    (lambda: linear_betas(60.5), "timesteps"),
    (lambda: unet_ddpm(image_shape=(30, 30, 1)), "divisible by 4"),
    (lambda: unet_ddpm(width=0), "width"),
    (lambda: mlp_ddpm(data_dim=True), "data_dim"),
    (lambda: DDPM(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])), "two inputs"),
])
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_data_and_sampling_arguments(images):
    model = unet_ddpm(width=8, timesteps=50, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    with pytest.raises(ValueError, match="255"):
        model.fit(images[:8] * 255, verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.fit(images[:8, :27], verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((4, 28, 28, 1), np.nan, "float32"), verbose=0)
    with pytest.raises(ValueError, match="without y"):
        model.fit(images[:8], images[:8], verbose=0)
    with pytest.raises(ValueError, match="n must be"):
        model.sample(0)
    with pytest.raises(ValueError, match="keep"):
        model.sample(2, keep=(50,))
