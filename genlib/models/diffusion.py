"""A denoising diffusion probabilistic model (chapter 09, "What came next: diffusion").

DDPM (Ho, Jain and Abbeel, NeurIPS 2020). A fixed forward process adds Gaussian noise
in T steps with variances beta_1..beta_T,

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),
    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,   abar_t = prod_{s<=t} (1 - beta_s),

and a network eps_theta(x_t, t) learns to predict the noise eps, with the loss

    L = E_{t, x_0, eps} || eps - eps_theta(x_t, t) ||²          (per element, averaged)

Sampling runs the reverse process from x_T ~ N(0, I):

    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z,
    sigma_t² = beta_t, z ~ N(0, I) (z = 0 at the last step).

Steps are 0-based in the code: t = 0..T-1 stands for the paper's 1..T. Pieces:

    linear_betas        Ho et al.'s schedule (1e-4 to 0.02 over 1,000 steps), stretched to T
    TimeEmbedding       sinusoidal features of t, a layer (saved with the network)
    ChannelBias         adds a Dense projection of the step's features to every pixel
    DDPM                a keras.Model around eps_theta: fit(x) on data alone, sample(n)
    unet_ddpm           a small U-Net for 28x28 images
    mlp_ddpm            an MLP for points (chapter 09's 2-D toy data)

Everything uses ``keras.ops``: the model keeps Keras' ``train_step`` and only overrides
``compute_loss``, so it trains on TensorFlow, JAX and PyTorch.
"""

import math
import numbers

import keras
import numpy as np
from keras import layers, ops

from genlib.backend import inference_function
from genlib.config import rng as make_rng


def linear_betas(timesteps):
    """beta_t (T,) from Ho et al.: linear from 1e-4 to 0.02 for T = 1000, scaled by 1000 / T.

    Scaling keeps abar_T (how close x_T is to pure noise) about the same for fewer
    steps; T must be at least 50 so that every beta_t = 20 / T or less stays below 1.
    """
    if isinstance(timesteps, bool) or int(timesteps) != timesteps or timesteps < 50:
        raise ValueError(f"timesteps must be an integer >= 50 for the stretched linear schedule, got {timesteps!r}")
    timesteps = int(timesteps)
    return np.linspace(1e-4, 0.02, timesteps) * 1000 / timesteps


@keras.saving.register_keras_serializable(package="genlib")
class TimeEmbedding(layers.Layer):
    """t (batch, 1) -> (batch, dim): [sin(t w_k), cos(t w_k)], w_k = 1000^(-k / (dim/2))."""

    def __init__(self, dim=32, **kwargs):
        super().__init__(**kwargs)
        if int(dim) != dim or dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim!r}")
        self.dim = int(dim)

    def call(self, t):
        half = self.dim // 2
        freqs = ops.exp(-math.log(1000.0) * ops.arange(half, dtype="float32") / half)
        angles = ops.cast(t, "float32") * freqs[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="genlib")
class ChannelBias(layers.Layer):
    """[h (batch, H, W, C), emb (batch, E)] -> h + Dense_C(emb), broadcast over H and W."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.dense = layers.Dense(self.channels)

    def build(self, input_shape):
        self.dense.build(input_shape[1])
        self.built = True

    def call(self, inputs):
        h, emb = inputs
        return h + ops.reshape(self.dense(emb), (-1, 1, 1, self.channels))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="genlib")
class DDPM(keras.Model):
    """A denoising diffusion model around a noise predictor ``network``.

    ``network``: a keras.Model ``[x_t (batch, *data_shape), t (batch, 1) float] -> eps``
    of shape (batch, *data_shape). ``timesteps``: T (>= 50, :func:`linear_betas`).
    ``rescale``: data in [0, 1] (images) is mapped to [-1, 1] for the network and
    samples are mapped back and clipped; turn it off for data that is not an image.
    ``seed``: seeds the t and eps drawn in each training step (a
    ``keras.random.SeedGenerator``, so that it also works in JAX's traced step).

    ``model(x0)`` draws t and eps, forms x_t and returns ``{"eps", "eps_pred", "t"}``;
    train with ``compile(optimizer)`` and ``fit(x)`` (the loss is built in).
    ``sample(n, seed)`` runs the reverse process. Chapter 09, "What came next:
    diffusion".
    """

    def __init__(self, network, timesteps=100, rescale=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(network, keras.Model) or len(network.inputs) != 2:
            raise ValueError("network must be a keras.Model with two inputs [x_t, t]")
        data_shape = tuple(network.inputs[0].shape[1:])
        if tuple(network.inputs[1].shape[1:]) != (1,):
            raise ValueError(f"the network's second input is the step t of shape (batch, 1), got {network.inputs[1].shape}")
        if tuple(network.outputs[0].shape[1:]) != data_shape:
            raise ValueError(f"the network must predict eps of the data's shape {data_shape}, "
                             f"got {tuple(network.outputs[0].shape[1:])}")
        self.betas = linear_betas(timesteps)
        self.timesteps = len(self.betas)
        self.alphas = 1.0 - self.betas
        self.alpha_bars = np.cumprod(self.alphas)
        self.network = network
        self.data_shape = data_shape
        self.rescale = bool(rescale)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._abar = ops.convert_to_tensor(self.alpha_bars.astype("float32"))
        self._predict = None
        self.built = True

    def q_sample(self, x0, t, eps):
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps; t int (batch,), 0-based; tensors."""
        a = ops.reshape(ops.take(self._abar, t), (-1,) + (1,) * len(self.data_shape))
        return ops.sqrt(a) * x0 + ops.sqrt(1.0 - a) * eps

    def call(self, x0, training=False):
        x0 = ops.convert_to_tensor(x0, dtype="float32")
        if self.rescale:
            x0 = 2.0 * x0 - 1.0
        batch = ops.shape(x0)[0]
        t = keras.random.randint((batch,), 0, self.timesteps, seed=self.seed_generator)
        eps = keras.random.normal(ops.shape(x0), seed=self.seed_generator)
        x_t = self.q_sample(x0, t, eps)
        eps_pred = self.network([x_t, ops.cast(ops.reshape(t, (-1, 1)), "float32")], training=training)
        return {"eps": eps, "eps_pred": eps_pred, "t": t}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """L = mean (eps - eps_theta(x_t, t))², over the batch and every element."""
        loss = ops.mean(ops.square(y_pred["eps"] - y_pred["eps_pred"]))
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def check_data(self, x):
        """Return ``x`` as float32 NumPy after checking its shape, NaN and (with rescale) the range [0, 1]."""
        x = np.asarray(ops.convert_to_numpy(x) if ops.is_tensor(x) else x, dtype=np.float32)
        if x.shape[1:] != self.data_shape or len(x) == 0:
            raise ValueError(f"expected data of shape (n >= 1, {', '.join(map(str, self.data_shape))}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("the data contains NaN or infinite values")
        if self.rescale and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"with rescale=True the data must be in [0, 1] (it is mapped to [-1, 1]); got values in "
                             f"[{x.min():g}, {x.max():g}]; divide 8-bit images by 255")
        return x

    def fit(self, x=None, y=None, **kwargs):
        """``fit(x, ...)`` on data alone; arrays and tensors are checked with :meth:`check_data`."""
        if y is not None:
            raise ValueError("a DDPM learns from data alone: call fit(x) without y")
        if isinstance(x, np.ndarray) or ops.is_tensor(x):
            x = self.check_data(x)
        return super().fit(x, **kwargs)

    def sample(self, n, seed=None, keep=(), batch_size=1000):
        """n samples (n, *data_shape) by the reverse process; ``seed`` repeats them.

        ``keep``: 0-based steps t whose x_t to return too: then the result is
        ``(x_0, {t: x_t})``, also holding x_T under the key T. Values are in [0, 1]
        (clipped) when ``rescale`` is on.
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        keep = set(int(k) for k in keep)
        if any(not 0 <= k < self.timesteps for k in keep):
            raise ValueError(f"keep must hold steps in 0..{self.timesteps - 1}, got {sorted(keep)}")
        if self._predict is None:
            self._predict = inference_function(self.network)
        rng = make_rng(seed)
        n = int(n)
        x = rng.standard_normal((n,) + self.data_shape).astype("float32")
        kept = {self.timesteps: self._out(x)} if keep else None
        for t in range(self.timesteps - 1, -1, -1):
            step = np.full((n, 1), t, "float32")
            eps = np.concatenate([ops.convert_to_numpy(self._predict([x[i:i + batch_size], step[i:i + batch_size]]))
                                  for i in range(0, n, batch_size)])
            x = (x - self.betas[t] / np.sqrt(1 - self.alpha_bars[t]) * eps) / np.sqrt(self.alphas[t])
            if t > 0:
                x = x + np.sqrt(self.betas[t]) * rng.standard_normal(x.shape)
            x = x.astype("float32")
            if t in keep:
                kept[t] = self._out(x)
        return (self._out(x), kept) if keep else self._out(x)

    def _out(self, x):
        return np.clip((x + 1) / 2, 0, 1) if self.rescale else x.copy()

    def get_config(self):
        config = super().get_config()
        config.update(network=keras.saving.serialize_keras_object(self.network), timesteps=self.timesteps,
                      rescale=self.rescale, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def _check_width(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def unet_ddpm(image_shape=(28, 28, 1), width=32, timesteps=100, seed=None):
    """A DDPM whose eps_theta is a small U-Net (Ronneberger et al., 2015).

    Convolutions at full, half and quarter resolution (16, ``width`` and
    ``2 * width`` channels), skip connections between matching resolutions, SiLU, and
    the step's features added to each block's channels (:class:`ChannelBias`). Height
    and width must be divisible by 4. ``seed`` fixes the initial weights too.
    """
    width = _check_width("width", width)
    if len(image_shape) != 3 or image_shape[0] % 4 or image_shape[1] % 4:
        raise ValueError(f"image_shape must be (H, W, C) with H and W divisible by 4, got {image_shape}")
    init = keras.initializers.GlorotUniform(seed=seed)

    def conv(channels, kernel=3, strides=1, activation="silu"):
        return layers.Conv2D(channels, kernel, strides, padding="same", activation=activation, kernel_initializer=init)

    def up(channels):
        return layers.Conv2DTranspose(channels, 4, 2, padding="same", activation="silu", kernel_initializer=init)

    x, t = keras.Input(tuple(image_shape), name="x_t"), keras.Input((1,), name="t")
    emb = layers.Dense(64, activation="silu", kernel_initializer=init)(TimeEmbedding(32)(t))

    def block(h, channels):
        h = ChannelBias(channels)([conv(channels)(h), emb])
        return conv(channels)(h)

    h0 = conv(16)(x)
    h1 = block(conv(width, strides=2)(h0), width)
    h2 = block(conv(2 * width, strides=2)(h1), 2 * width)
    u1 = block(layers.Concatenate()([up(width)(h2), h1]), width)
    u0 = conv(16)(layers.Concatenate()([up(16)(u1), h0]))
    network = keras.Model([x, t], conv(image_shape[-1], 1, activation=None)(u0), name="eps_theta_unet")
    return DDPM(network, timesteps=timesteps, rescale=True, seed=seed)


def mlp_ddpm(data_dim=2, width=128, depth=3, timesteps=100, seed=None):
    """A DDPM for points (n, data_dim): eps_theta an MLP of [x_t, features of t], no rescaling."""
    data_dim, width, depth = _check_width("data_dim", data_dim), _check_width("width", width), _check_width("depth", depth)
    init = keras.initializers.GlorotUniform(seed=seed)
    x, t = keras.Input((data_dim,), name="x_t"), keras.Input((1,), name="t")
    h = layers.Concatenate()([x, layers.Dense(width, activation="silu", kernel_initializer=init)(TimeEmbedding(32)(t))])
    for _ in range(depth):
        h = layers.Dense(width, activation="silu", kernel_initializer=init)(h)
    network = keras.Model([x, t], layers.Dense(data_dim, kernel_initializer=init)(h), name="eps_theta_mlp")
    return DDPM(network, timesteps=timesteps, rescale=False, seed=seed)
