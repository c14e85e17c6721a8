"""The variational autoencoder (chapter 02), top to bottom in one file.

A VAE (Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014) is a
latent-variable model p(x) = ∫ p(x | z) p(z) dz with

    prior        p(z)       = N(0, I)                                  z: (latent_dim,)
    decoder      p(x | z)   = Π_i Bernoulli(x_i; sigmoid(logits_i(z)))  x: (28, 28, 1) in [0, 1]
    encoder      q(z | x)   = N(mu(x), diag(exp(log_var(x))))

trained by maximising the evidence lower bound (chapter 02, "The math: the evidence
lower bound"), i.e. by minimising, per example and then averaged over the batch,

    loss = reconstruction_loss + beta * kl_loss
    reconstruction_loss = -log p(x | z)  = Σ_i softplus(l_i) - x_i l_i,  z = mu + sigma * eps
    kl_loss = KL(q(z | x) || N(0, I))    = ½ Σ_j (exp(log_var_j) + mu_j² - 1 - log_var_j)

With beta = 1 the loss is the negative ELBO in nats; beta != 1 is the β-VAE of
Higgins et al. (ICLR 2017). Pieces, in reading order:

    gaussian_kl, bernoulli_nll   the two terms of the loss (keras.ops; shapes below)
    VAE                          a keras.Model: encode, decode, sample, reconstruct,
                                 neg_elbo, importance_weighted_nll; fit(x) on images alone
    dense_vae, conv_vae          builders: seed 003's 784-400-20 MLP, and a small CNN
    CONV_PRESETS                 named sizes for conv_vae

Everything is written with ``keras`` and ``keras.ops``: the same model trains with
``fit`` on the TensorFlow, JAX and PyTorch backends, because it keeps Keras' own
``train_step`` and only overrides ``compute_loss``.
"""

import math
import numbers

import keras
import numpy as np
from keras import layers, ops

from genlib.config import rng as make_rng

# --- the two terms of the loss -------------------------------------------------------


def gaussian_kl(mu, log_var):
    """KL(N(mu, diag(exp(log_var))) || N(0, I)) per example, in nats.

    ``mu``, ``log_var``: (batch, latent_dim) -> (batch,). The closed form
    ½ Σ_j (σ_j² + μ_j² - 1 - log σ_j²) is derived in chapter 02, "The Gaussian KL
    in closed form". Working with log σ² keeps σ² = exp(log_var) positive whatever
    the encoder outputs.
    """
    mu, log_var = ops.convert_to_tensor(mu), ops.convert_to_tensor(log_var)
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mu) - 1.0 - log_var, axis=-1)


def bernoulli_nll(x, logits):
    """-log p(x | z) for independent Bernoulli pixels, summed over pixels, in nats.

    ``x``: (batch, ...) targets in [0, 1]; ``logits``: the same shape, the decoder's
    pre-sigmoid outputs l. Returns (batch,). Per pixel,
    -[x log σ(l) + (1 - x) log(1 - σ(l))] = softplus(l) - x·l, which never takes the
    log of a probability that rounded to 0 (chapter 02, "Code: the dense VAE step by
    step"). This is binary cross-entropy summed, not averaged, over pixels: averaging
    would shrink the reconstruction term 784 times relative to the KL term.
    """
    logits = ops.convert_to_tensor(logits)
    x = ops.cast(x, logits.dtype)
    per_pixel = ops.softplus(logits) - x * logits
    return ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=-1)


# --- the model -----------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="genlib")
class VAE(keras.Model):
    """A variational autoencoder built from an encoder and a decoder model.

    ``encoder``: a keras.Model from images (batch, *image_shape) to the pair
    ``[mu, log_var]``, each (batch, latent_dim). ``decoder``: a keras.Model from
    ``z`` (batch, latent_dim) to logits (batch, *image_shape). ``beta`` >= 0 weighs
    the KL term (1: the true negative ELBO). ``seed``: seeds the noise eps of the
    reparameterisation trick (a ``keras.random.SeedGenerator``, so that sampling also
    works inside JAX's traced train step).

    ``model(x)`` returns a dict of tensors: ``mu``, ``log_var``, ``z`` (one sample
    from q(z|x)) and ``logits`` (of p(x|z)). Train with ``compile(optimizer)`` and
    ``fit(x)``: the loss is built in, and ``fit`` reports ``loss``,
    ``reconstruction_loss`` and ``kl_loss`` (all in nats per example).
    """

    def __init__(self, encoder, decoder, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.seed = seed
        self.image_shape = tuple(encoder.inputs[0].shape[1:])
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        # Keras lists these trackers in self.metrics: fit resets them every epoch and
        # reports them next to `loss`. The encoder and decoder arrive built, so every
        # weight exists already: count_params, summary and load_weights work at once.
        self.built = True

    # The reparameterisation trick: z = mu + sigma * eps with eps ~ N(0, I) drawn
    # outside the network, so that z is a differentiable function of mu and log_var
    # (chapter 02, "The reparameterisation trick").
    def reparameterize(self, mu, log_var):
        """(batch, latent_dim) x 2 -> z (batch, latent_dim), z = mu + exp(log_var / 2) * eps."""
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps

    def call(self, x, training=False):
        mu, log_var = self.encoder(x, training=training)
        z = self.reparameterize(mu, log_var)
        logits = self.decoder(z, training=training)
        return {"mu": mu, "log_var": log_var, "z": z, "logits": logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """loss = mean over the batch of bernoulli_nll(x, logits) + beta * gaussian_kl(mu, log_var)."""
        reconstruction = bernoulli_nll(x, y_pred["logits"])
        kl = gaussian_kl(y_pred["mu"], y_pred["log_var"])
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        loss = ops.mean(reconstruction + self.beta * kl)
        if self.losses:  # weight regularisers, if a builder was given any
            loss = loss + ops.sum(self.losses)
        return loss

    # --- checks: clear errors instead of shape errors deep inside a layer ----------

    def check_images(self, x):
        """Return ``x`` as float32 NumPy after checking shape, size, NaN and range [0, 1]."""
        x = np.asarray(ops.convert_to_numpy(x) if ops.is_tensor(x) else x, dtype=np.float32)
        if x.ndim == len(self.image_shape) and x.shape == self.image_shape:
            raise ValueError(f"expected a batch of images (n, {', '.join(map(str, self.image_shape))}), "
                             f"got one image of shape {x.shape}: use x[None]")
        if x.shape[1:] != self.image_shape:
            raise ValueError(f"expected images of shape (n, {', '.join(map(str, self.image_shape))}), got {x.shape}")
        if len(x) == 0:
            raise ValueError(f"got no images (shape {x.shape}): need at least one")
        if not np.isfinite(x).all():
            raise ValueError(f"the images contain {int((~np.isfinite(x)).sum())} NaN or infinite values")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"pixels must be in [0, 1] for the Bernoulli likelihood, got [{x.min()}, {x.max()}]: "
                             "divide 8-bit images by 255")
        return x

    def _check_latents(self, z):
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latent codes of shape (n, {self.latent_dim}), got {z.shape}")
        if len(z) == 0:
            raise ValueError(f"got no latent codes (shape {z.shape}): need at least one")
        if not np.isfinite(z).all():
            raise ValueError("the latent codes contain NaN or infinite values")
        return z

    def fit(self, x=None, y=None, **kwargs):
        """``fit(x, ...)`` on images alone.

        NumPy arrays and tensors are checked with :meth:`check_images` (shape, NaN,
        values in [0, 1]: 8-bit pixels in [0, 255] are refused). A dataset
        (``tf.data``, a ``PyDataset``, a generator) is passed through unchecked: check a
        batch of it yourself with ``check_images``.
        """
        if y is not None:
            raise ValueError("a VAE learns p(x) from images alone: call fit(x), without y")
        if isinstance(x, np.ndarray) or ops.is_tensor(x) or hasattr(x, "__array__"):
            x = self.check_images(x)
        return super().fit(x, **kwargs)

    # --- using a trained model (NumPy in, NumPy out) ------------------------------

    def encode(self, x, batch_size=256):
        """Images (n, *image_shape) -> (mu, log_var), each (n, latent_dim) NumPy."""
        x = self.check_images(x)
        parts = [self.encoder(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
        return tuple(np.concatenate([ops.convert_to_numpy(p[j]) for p in parts]) for j in (0, 1))

    def decode(self, z, batch_size=256):
        """Latent codes (n, latent_dim) -> x_hat (n, *image_shape), the Bernoulli means σ(logits)."""
        logits = self._logits(self._check_latents(z), batch_size)
        return 1.0 / (1.0 + np.exp(-logits))

    def _logits(self, z, batch_size=256):
        # plain calls, batch by batch: predict() would retrace TensorFlow's graph for
        # every new input size, and these are small models
        parts = [self.decoder(z[i:i + batch_size], training=False) for i in range(0, len(z), batch_size)]
        return np.concatenate([ops.convert_to_numpy(p) for p in parts])

    def sample(self, n, seed=None):
        """n new images: z ~ N(0, I) (NumPy generator seeded by ``seed``; None follows
        ``genlib.seed``), x_hat = decode(z)."""
        if int(n) != n or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        z = make_rng(seed).standard_normal((int(n), self.latent_dim)).astype(np.float32)
        return self.decode(z)

    def reconstruct(self, x):
        """decode(mu(x)): the reconstruction through the posterior mean, (n, *image_shape)."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def neg_elbo(self, x, seed=0, batch_size=256):
        """Per-example -ELBO with one sample of z, in nats: ``(total, reconstruction, kl)``, each (n,).

        Uses beta = 1 whatever the training beta was: this is the bound on -log p(x).
        """
        x = self.check_images(x)
        mu, log_var = self.encode(x, batch_size)
        eps = np.random.default_rng(seed).standard_normal(mu.shape).astype(np.float32)
        z = mu + np.exp(0.5 * log_var) * eps
        logits = self._logits(z, batch_size)
        reconstruction = ops.convert_to_numpy(bernoulli_nll(x, logits))
        kl = ops.convert_to_numpy(gaussian_kl(mu, log_var))
        return reconstruction + kl, reconstruction, kl

    def importance_weighted_nll(self, x, k=50, seed=0, batch_size=64):
        """-log p(x) estimated with k importance samples from q(z|x) (Burda et al., ICLR 2016), (n,) nats.

        -log (1/k) Σ_k p(x|z_k) p(z_k) / q(z_k|x): an upper bound on -log p(x) that
        tightens as k grows; k = 1 gives the -ELBO.
        """
        if int(k) != k or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        x = self.check_images(x)
        mu, log_var = self.encode(x)
        rng = np.random.default_rng(seed)
        out = np.empty(len(x), dtype=np.float64)
        for start in range(0, len(x), batch_size):
            xb, mb, vb = x[start:start + batch_size], mu[start:start + batch_size], log_var[start:start + batch_size]
            eps = rng.standard_normal((len(xb), int(k), self.latent_dim)).astype(np.float32)
            z = mb[:, None] + np.exp(0.5 * vb)[:, None] * eps
            logits = self._logits(z.reshape(-1, self.latent_dim), batch_size=1024)
            x_rep = np.repeat(xb, int(k), axis=0)
            log_px_z = -ops.convert_to_numpy(bernoulli_nll(x_rep, logits)).reshape(len(xb), int(k))
            log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
            log_qz = -0.5 * np.sum(eps**2 + vb[:, None] + np.log(2 * np.pi), axis=-1)
            log_w = (log_px_z + log_pz - log_qz).astype(np.float64)
            top = log_w.max(axis=1, keepdims=True)
            out[start:start + len(xb)] = -(top[:, 0] + np.log(np.mean(np.exp(log_w - top), axis=1)))
        return out

    # --- saving ----------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            decoder=keras.saving.serialize_keras_object(self.decoder),
            beta=self.beta,
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


# --- builders ----------------------------------------------------------------------


def _check_sizes(latent_dim, image_shape):
    if int(latent_dim) != latent_dim or latent_dim < 1:
        raise ValueError(f"latent_dim must be an integer >= 1, got {latent_dim!r}")
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
    return int(latent_dim), image_shape


def _gaussian_head(h, latent_dim):
    # two linear heads: mu is unconstrained and so is log_var (σ² = exp(log_var) > 0)
    return layers.Dense(latent_dim, name="mu")(h), layers.Dense(latent_dim, name="log_var")(h)


def dense_vae(latent_dim=20, hidden=400, image_shape=(28, 28, 1), beta=1.0, seed=None):
    """Seed 003's VAE (784-400-20, ReLU) in Keras (chapter 02, "Code: the dense VAE step by step").

    encoder: flatten(x) (784) -> Dense(hidden, relu) -> mu, log_var (latent_dim each)
    decoder: z -> Dense(hidden, relu) -> Dense(784) logits -> reshape to image_shape
    """
    latent_dim, image_shape = _check_sizes(latent_dim, image_shape)
    if hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden!r}")
    pixels = int(np.prod(image_shape))
    x = keras.Input(image_shape, name="x")
    h = layers.Dense(hidden, activation="relu")(layers.Flatten()(x))
    encoder = keras.Model(x, list(_gaussian_head(h, latent_dim)), name="encoder")
    z = keras.Input((latent_dim,), name="z")
    h = layers.Dense(hidden, activation="relu")(z)
    logits = layers.Reshape(image_shape)(layers.Dense(pixels, name="logits")(h))
    decoder = keras.Model(z, logits, name="decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="dense_vae")


# Named sizes for conv_vae, as minGPT names its configurations. "keras_io" is the
# architecture of the keras.io VAE example; "small" is the benchmark's choice.
CONV_PRESETS = {
    "tiny": {"filters": (4, 8), "dense_units": 16},       # unit tests: trains in a second
    "keras_io": {"filters": (32, 64), "dense_units": 16},
    "small": {"filters": (32, 64), "dense_units": 256},
}


def conv_vae(latent_dim=2, preset="keras_io", image_shape=(28, 28, 1), beta=1.0, seed=None, **sizes):
    """A convolutional VAE for 28x28 images (chapter 02, "Code: genlib's convolutional VAE").

    encoder: x -> Conv(f1, 3, stride 2) -> Conv(f2, 3, stride 2) -> flatten
             -> Dense(dense_units, relu) -> mu, log_var
    decoder: z -> Dense(7*7*f2, relu) -> ConvT(f2, stride 2) -> ConvT(f1, stride 2)
             -> Conv(channels, 3) logits
    Each stride-2 layer halves (encoder) or doubles (decoder) the side: 28 -> 14 -> 7.
    ``preset`` names sizes in ``CONV_PRESETS``; ``filters=(f1, f2)`` and
    ``dense_units`` override them.
    """
    latent_dim, image_shape = _check_sizes(latent_dim, image_shape)
    if preset not in CONV_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(CONV_PRESETS)}")
    unknown = set(sizes) - {"filters", "dense_units"}
    if unknown:
        raise ValueError(f"unknown size argument(s) {sorted(unknown)}; conv_vae takes filters and dense_units")
    cfg = {**CONV_PRESETS[preset], **sizes}
    (f1, f2), units = cfg["filters"], cfg["dense_units"]
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"conv_vae needs a height and width divisible by 4 (two stride-2 steps), got {image_shape}")

    x = keras.Input(image_shape, name="x")
    h = layers.Conv2D(f1, 3, strides=2, padding="same", activation="relu")(x)
    h = layers.Conv2D(f2, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Dense(units, activation="relu")(layers.Flatten()(h))
    encoder = keras.Model(x, list(_gaussian_head(h, latent_dim)), name="encoder")

    z = keras.Input((latent_dim,), name="z")
    h = layers.Dense((height // 4) * (width // 4) * f2, activation="relu")(z)
    h = layers.Reshape((height // 4, width // 4, f2))(h)
    h = layers.Conv2DTranspose(f2, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(f1, 3, strides=2, padding="same", activation="relu")(h)
    logits = layers.Conv2D(channels, 3, padding="same", name="logits")(h)
    decoder = keras.Model(z, logits, name="decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="conv_vae")
