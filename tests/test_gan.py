"""genlib.models.GAN: losses, the two-phase train step, saving and bad input (every backend)."""

import keras
import numpy as np
import pytest
from keras import ops

import genlib
from genlib.backend import differentiable_input_grad, value_and_grad
from genlib.models import GAN, dcgan, mlp_gan
from genlib.models.gan import discriminator_loss, generator_loss

LATENT = 4


def as_np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def weights(model):
    return [as_np(v.value).copy() for v in model.trainable_variables]


def changed(before, model):
    return [not np.allclose(a, b) for a, b in zip(before, weights(model))]


def tiny_gan(**kwargs):
    genlib.seed(0)
    gan = mlp_gan(latent_dim=LATENT, hidden=(8, 16), image_shape=(6, 6, 1), seed=1, **kwargs)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    return gan


def images(n=16, shape=(6, 6, 1)):
    return np.random.default_rng(0).uniform(size=(n, *shape)).astype("float32")


# --- losses against hand-computed values ----------------------------------------

def log_sigmoid(l):
    return -np.log1p(np.exp(-l))


REAL = np.array([[2.0], [-1.0], [0.3]])
FAKE = np.array([[0.5], [-3.0]])


def test_discriminator_loss_matches_hand_computed():
    expected = -log_sigmoid(REAL).mean() - np.log(1 - 1 / (1 + np.exp(-FAKE))).mean()
    got = as_np(discriminator_loss(ops.convert_to_tensor(REAL), ops.convert_to_tensor(FAKE)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_label_smoothing_softens_only_the_real_targets():
    t = 0.9
    d = 1 / (1 + np.exp(-REAL))
    expected = -(t * np.log(d) + (1 - t) * np.log(1 - d)).mean() - np.log(1 - 1 / (1 + np.exp(-FAKE))).mean()
    got = as_np(discriminator_loss(ops.convert_to_tensor(REAL), ops.convert_to_tensor(FAKE), label_smoothing=0.1))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_generator_losses_match_hand_computed():
    d_fake = 1 / (1 + np.exp(-FAKE))
    fake = ops.convert_to_tensor(FAKE)
    np.testing.assert_allclose(as_np(generator_loss(fake, "minimax")), np.log(1 - d_fake).mean(), rtol=1e-5)
    np.testing.assert_allclose(as_np(generator_loss(fake, "non_saturating")), -np.log(d_fake).mean(), rtol=1e-5)


def test_losses_from_logits_stay_finite_where_probabilities_round_off():
    # sigmoid(-200) is 0 in float32: log(D) would be -inf; the logit form gives 200.
    big = ops.convert_to_tensor(np.array([[-200.0]], dtype="float32"))
    assert np.isclose(as_np(discriminator_loss(big, -big)), 400.0, rtol=1e-4)  # 200 per half
    assert np.isclose(as_np(generator_loss(big, "non_saturating")), 200.0, rtol=1e-4)
    assert np.isfinite(as_np(generator_loss(-big, "minimax")))


# --- the train step ------------------------------------------------------------

def test_discriminator_step_updates_only_the_discriminator():
    gan = tiny_gan()
    d0, g0 = weights(gan.discriminator), weights(gan.generator)
    gan.discriminator_step(ops.convert_to_tensor(2 * images() - 1))
    assert all(changed(d0, gan.discriminator))
    assert not any(changed(g0, gan.generator))


def test_generator_step_updates_only_the_generator():
    gan = tiny_gan()
    d0, g0 = weights(gan.discriminator), weights(gan.generator)
    gan.generator_step(16)
    assert all(changed(g0, gan.generator))
    assert not any(changed(d0, gan.discriminator))


def test_fit_updates_both_and_logs_the_four_metrics():
    gan = tiny_gan(d_steps=3)
    d0, g0 = weights(gan.discriminator), weights(gan.generator)
    history = gan.fit(images(32), batch_size=16, epochs=2, verbose=0).history
    assert all(changed(d0, gan.discriminator)) and all(changed(g0, gan.generator))
    assert set(history) == {"d_loss", "g_loss", "D(x)", "D(G(z))"}
    assert all(0 < v < 1 for v in history["D(x)"] + history["D(G(z))"])
    assert all(np.isfinite(v) for v in history["d_loss"] + history["g_loss"])
    # k = 3 discriminator steps per generator step, 2 batches x 2 epochs.
    assert int(as_np(gan.g_optimizer.iterations)) == 4
    assert int(as_np(gan.d_optimizer.iterations)) == 12


def test_discriminator_learns_to_separate_real_from_fake():
    gan = tiny_gan()
    x = ops.convert_to_tensor(2 * images(64) - 1)
    first = [as_np(v) for v in gan.discriminator_step(x)]
    for _ in range(30):
        last = [as_np(v) for v in gan.discriminator_step(x)]
    assert last[0] < first[0]            # d_loss fell
    assert last[1] > last[2]             # D(x) > D(G(z))


def test_dcgan_trains_and_samples_in_range():
    genlib.seed(0)
    gan = dcgan(latent_dim=LATENT, preset="tiny", seed=1)
    gan.compile()
    gan.fit(images(16, (28, 28, 1)), batch_size=8, epochs=1, verbose=0)
    x = gan.sample(5, seed=3)
    assert x.shape == (5, 28, 28, 1) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x, gan.sample(5, seed=3), atol=1e-6)


# --- saving -------------------------------------------------------------------

def test_save_and_load_round_trip(tmp_path):
    gan = tiny_gan(d_steps=2, generator_loss="minimax", label_smoothing=0.1)
    gan.fit(images(), batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GAN)
    assert (loaded.d_steps, loaded.generator_loss_kind, loaded.label_smoothing) == (2, "minimax", 0.1)
    z = np.random.default_rng(1).standard_normal((3, LATENT)).astype("float32")
    np.testing.assert_allclose(as_np(loaded(z)), as_np(gan(z)), atol=1e-6)
    for a, b in zip(weights(gan.discriminator), weights(loaded.discriminator)):
        np.testing.assert_allclose(a, b)
    assert int(as_np(loaded.d_optimizer.iterations)) == int(as_np(gan.d_optimizer.iterations)) == 4
    loaded.fit(images(), batch_size=8, epochs=1, verbose=0)  # training continues
    assert int(as_np(loaded.g_optimizer.iterations)) == 4


# --- bad input ----------------------------------------------------------------

@pytest.mark.parametrize("latent_dim", [0, -3, 2.5])
def test_latent_dim_must_be_positive_integer(latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        mlp_gan(latent_dim=latent_dim)
    with pytest.raises(ValueError, match="latent_dim"):
        dcgan(latent_dim=latent_dim)


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_steps=0), "d_steps"), (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(generator_loss="wasserstein"), "generator_loss"),
])
def test_bad_gan_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp_gan(latent_dim=LATENT, hidden=(8,), image_shape=(6, 6, 1), **kwargs)


def test_generator_and_discriminator_shapes_must_agree():
    g = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(36), keras.layers.Reshape((6, 6, 1))])
    d = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="generator makes"):
        GAN(g, d)


@pytest.mark.parametrize("data, match", [
    (np.zeros((4, 28, 28, 1), "float32"), "shape"),
    (np.full((4, 6, 6, 1), np.nan, "float32"), "NaN"),
    (np.full((4, 6, 6, 1), 255.0, "float32"), r"\[0, 1\]"),
])
def test_fit_rejects_bad_data(data, match):
    with pytest.raises(ValueError, match=match):
        tiny_gan().fit(data, epochs=1, verbose=0)


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="divisible by 4"):
        dcgan(image_shape=(30, 30, 1))
    with pytest.raises(ValueError, match="preset"):
        dcgan(preset="huge")
    with pytest.raises(ValueError, match="d_optimizer"):
        tiny_gan().compile(optimizer="adam")
    with pytest.raises(ValueError, match="n must be"):
        tiny_gan().sample(0)


# --- genlib.backend.differentiable_input_grad, used by the WGAN-GP exercise -------

def test_differentiable_input_grad_of_a_quadratic():
    x = ops.convert_to_tensor(np.array([[1.0, -2.0], [0.5, 3.0]], dtype="float32"))
    grad = differentiable_input_grad(lambda v: ops.sum(v * v, axis=1), x)
    np.testing.assert_allclose(as_np(grad), 2 * as_np(x), rtol=1e-6)


# --- conditional GAN (num_classes) --------------------------------------------

def conditional_nets(classes=3):
    z, y = keras.Input((LATENT,)), keras.Input((classes,))
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([z, y]))
    g = keras.Model([z, y], keras.layers.Reshape((6, 6, 1))(keras.layers.Dense(36, activation="tanh")(h)))
    x, y2 = keras.Input((6, 6, 1)), keras.Input((classes,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), y2])
    d = keras.Model([x, y2], keras.layers.Dense(1)(keras.layers.Dense(16, activation="relu")(h)))
    return g, d


def test_conditional_gan_trains_with_labels_and_samples_by_label(tmp_path):
    genlib.seed(0)
    gan = GAN(*conditional_nets(), num_classes=3, seed=1)
    gan.compile()
    d0, g0 = weights(gan.discriminator), weights(gan.generator)
    labels = np.arange(16) % 3
    gan.fit(images(), labels, batch_size=8, epochs=1, verbose=0)
    assert all(changed(d0, gan.discriminator)) and all(changed(g0, gan.generator))
    a, b = gan.sample(4, seed=0, labels=[0] * 4), gan.sample(4, seed=0, labels=[2] * 4)
    assert a.shape == (4, 6, 6, 1) and not np.allclose(a, b)  # same z, other label
    gan.save(tmp_path / "cgan.keras")
    loaded = keras.saving.load_model(tmp_path / "cgan.keras")
    np.testing.assert_allclose(loaded.sample(4, seed=0, labels=[2] * 4), b, atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        gan.fit(images(), np.full(16, 3), epochs=1, verbose=0)     # label out of range
    with pytest.raises(ValueError, match="labels"):
        gan.sample(4, seed=0)
    with pytest.raises(ValueError, match="conditional"):
        GAN(*conditional_nets(), num_classes=4)                       # label width mismatch


def test_second_order_gradient_through_differentiable_input_grad_and_the_sqrt_at_zero():
    # The WGAN-GP penalty differentiates an input gradient w.r.t. the weights. For a
    # flat critic the input gradient is 0: a bare sqrt then gives NaN weight gradients,
    # sqrt(sum(g^2) + eps) does not (chapter 03, exercise 2).
    flat = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    x = np.random.default_rng(0).uniform(size=(8, 2)).astype("float32")

    def penalty(eps):
        def loss_fn():
            g = differentiable_input_grad(lambda v: flat(v), x)
            return 10.0 * ops.mean((ops.sqrt(ops.sum(g ** 2, axis=1) + eps) - 1.0) ** 2), ()
        (value, _), grads = value_and_grad(loss_fn, flat.trainable_variables, flat.variables)
        return float(as_np(value)), [as_np(g) for g in grads]

    value, grads = penalty(0.0)
    assert np.isclose(value, 10.0) and np.isnan(grads[0]).all()
    value, grads = penalty(1e-12)
    assert np.isclose(value, 10.0, rtol=1e-5) and all(np.isfinite(g).all() for g in grads)
    # and a critic with slope: the penalty's weight gradient matches the analytic one
    sloped = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
    def sloped_penalty():
        g = differentiable_input_grad(lambda v: sloped(v), x)
        return ops.mean((ops.sqrt(ops.sum(g ** 2, axis=1)) - 1.0) ** 2), ()

    (value, _), grads = value_and_grad(sloped_penalty, sloped.trainable_variables, sloped.variables)
    # |w| = sqrt(2): penalty (sqrt(2) - 1)^2, d/dw = 2 (|w| - 1) w / |w|
    assert np.isclose(float(as_np(value)), (np.sqrt(2) - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(as_np(grads[0]).ravel(), 2 * (np.sqrt(2) - 1) / np.sqrt(2) * np.ones(2), rtol=1e-5)


# --- issue 18: Keras' learning-rate callbacks, tensors, empty input -----------------

def test_keras_learning_rate_callbacks_work():
    gan = tiny_gan()
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="d_loss", mode="max", factor=0.5, patience=0,
                                                min_delta=1e9)   # never "improves": reduce every epoch
    history = gan.fit(images(16), batch_size=8, epochs=2, verbose=0, callbacks=[halve, plateau]).history
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        # halved by the scheduler at epoch 1, then by the plateau rule after it (epoch 0
        # is the first value the plateau rule sees, an improvement by definition)
        assert np.isclose(float(as_np(optimizer.learning_rate)), 1e-2 / 4, rtol=1e-5)
    assert int(as_np(gan.optimizer.iterations)) == 4
    assert any(key.startswith("learning_rate") for key in history)


def test_tensorboard_reads_the_optimizers(tmp_path):
    gan = tiny_gan()
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"), write_steps_per_second=True)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        # no TensorBoard to write to: exercise the parts of the callback that read the optimizer
        board.set_model(gan)
        board.on_epoch_begin(0)
        assert set(board._collect_learning_rate({})) == {f"learning_rate_{gan.d_optimizer.name}",
                                                         f"learning_rate_{gan.g_optimizer.name}"}
        assert np.isfinite(float(as_np(board._compute_steps_per_second())))
        return
    gan.fit(images(16), batch_size=8, epochs=1, verbose=0, callbacks=[board])
    assert any((tmp_path / "logs").rglob("*"))


def test_cosine_over_time_sets_both_optimizers():
    gan = tiny_gan()
    limit = genlib.training.TimeLimit(1e-9)
    gan.fit(images(16), batch_size=8, epochs=1, verbose=0,
            callbacks=[limit, genlib.training.CosineOverTime(limit, peak=1e-2, floor=1e-4)])
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert np.isclose(float(as_np(optimizer.learning_rate)), 1e-4, rtol=1e-5)


@pytest.mark.parametrize("data, match", [
    (np.zeros((0, 6, 6, 1), "float32"), "no data"),
    (ops.convert_to_tensor(np.full((4, 6, 6, 1), 255.0, "float32")), r"\[0, 1\]"),
    (ops.convert_to_tensor(np.full((4, 6, 6, 1), np.nan, "float32")), "NaN"),
])
def test_fit_checks_tensors_and_empty_data(data, match):
    with pytest.raises(ValueError, match=match):
        tiny_gan().fit(data, epochs=1, verbose=0)
