"""Chapter 03's exercise checks: the reference solution passes, the empty stub and
plausible wrong answers (kept here, out of the notebook) fail."""

import genlib
import keras
import numpy as np
from exercise_harness import exercise_tests
from keras import layers, ops

from genlib.backend import differentiable_input_grad, value_and_grad
from genlib.models import GAN

NOTEBOOK = "03_gan.ipynb"


def _interpolate_normal(x_real, x_fake, seed=None):
    # the classic bug: weights from a normal distribution, points off the segment
    shape = (ops.shape(x_real)[0],) + (1,) * (len(ops.shape(x_real)) - 1)
    eps = keras.random.normal(shape, seed=seed)
    return eps * x_real + (1.0 - eps) * x_fake, eps


def _interpolate_one_weight(x_real, x_fake, seed=None):
    # one weight for the whole batch
    eps = keras.random.uniform((1,), seed=seed) * ops.ones((ops.shape(x_real)[0],))
    shape = (ops.shape(x_real)[0],) + (1,) * (len(ops.shape(x_real)) - 1)
    e = ops.reshape(eps, shape)
    return e * x_real + (1.0 - e) * x_fake, eps


def _interpolate_swapped(x_real, x_fake, seed=None):
    # eps weighs the fake, not the real sample
    shape = (ops.shape(x_real)[0],) + (1,) * (len(ops.shape(x_real)) - 1)
    eps = keras.random.uniform(shape, seed=seed)
    return eps * x_fake + (1.0 - eps) * x_real, eps


def _grad_rows(critic, x_hat):
    grad = differentiable_input_grad(lambda v: critic(v, training=True), x_hat)
    return ops.reshape(grad, (ops.shape(grad)[0], -1))


def _penalty_bare_sqrt(critic, x_hat, weight=10.0):
    # NaN weight gradients where the critic is flat
    norm = ops.sqrt(ops.sum(_grad_rows(critic, x_hat) ** 2, axis=1))
    return weight * ops.mean((norm - 1.0) ** 2)


def _penalty_batch_norm(critic, x_hat, weight=10.0):
    # one norm over the whole batch instead of one per sample
    norm = ops.sqrt(ops.sum(_grad_rows(critic, x_hat) ** 2) + 1e-12)
    return weight * (norm - 1.0) ** 2


def _penalty_no_target(critic, x_hat, weight=10.0):
    # penalises the norm itself (towards 0), not its distance from 1
    return weight * ops.mean(ops.sum(_grad_rows(critic, x_hat) ** 2, axis=1))


def _cond_networks(use_label_in_g, use_label_in_d):
    def build(latent_dim=64):
        z, y = keras.Input((latent_dim,)), keras.Input((10,))
        y_g = y if use_label_in_g else layers.Lambda(lambda t: t * 0.0)(y)
        h = layers.Dense(7 * 7 * 8, activation="relu")(layers.Concatenate()([z, y_g]))
        h = layers.Reshape((7, 7, 8))(h)
        h = layers.Conv2DTranspose(8, 4, strides=2, padding="same", activation="relu")(h)
        image = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(h)
        x_in, y_in = keras.Input((28, 28, 1)), keras.Input((10,))
        y_d = y_in if use_label_in_d else layers.Lambda(lambda t: t * 0.0)(y_in)
        f = layers.Flatten()(layers.Conv2D(8, 4, strides=2, padding="same", activation="relu")(x_in))
        logit = layers.Dense(1)(layers.Concatenate()([f, y_d]))
        return keras.Model([z, y], image), keras.Model([x_in, y_in], logit)
    return build


def _cond_networks_sigmoid(latent_dim=64):
    # images in [0, 1] (a sigmoid-like output): the GAN works in [-1, 1]
    g, d = _cond_networks(True, True)(latent_dim)
    return keras.Model(g.inputs, layers.Lambda(lambda t: (t + 1.0) / 2.0)(g.outputs[0])), d


WRONG = {
    "d_star_smoothed": [lambda p_data, p_g, t: (t * np.asarray(p_data) + (1 - t) * np.asarray(p_g))
                        / (np.asarray(p_data) + np.asarray(p_g)),                       # two-sided smoothing
                        lambda p_data, p_g, t: np.asarray(p_data) / (np.asarray(p_data) + np.asarray(p_g)),
                        lambda p_data, p_g, t: t * np.asarray(p_data) / (t * np.asarray(p_data) + np.asarray(p_g))],
    "interpolate": [_interpolate_normal, _interpolate_one_weight, _interpolate_swapped],
    "gradient_penalty": [_penalty_bare_sqrt, _penalty_batch_norm, _penalty_no_target],
    "wgan_losses": [lambda c_real, c_fake: (ops.mean(c_real) - ops.mean(c_fake), ops.mean(c_fake)),   # signs flipped
                    lambda c_real, c_fake: (ops.mean(ops.softplus(-c_real)) + ops.mean(ops.softplus(c_fake)),
                                            ops.mean(ops.softplus(-c_fake))),                   # the standard GAN's
                    lambda c_real, c_fake: (ops.sum(c_fake) - ops.sum(c_real), -ops.sum(c_fake))],  # sums
    "conditional_networks": [_cond_networks(False, True), _cond_networks(True, False), _cond_networks_sigmoid],
}


SCOPE = dict(np=np, keras=keras, layers=layers, ops=ops, genlib=genlib, GAN=GAN,
             differentiable_input_grad=differentiable_input_grad, value_and_grad=value_and_grad)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
