"""Generative adversarial networks (chapter 03).

A generator G maps noise z ~ N(0, I) to an image; a discriminator D maps an image to
one logit l, with D(x) = sigmoid(l) the probability that x is real. They play the
minimax game of Goodfellow et al. (NeurIPS 2014), chapter 03, "The math: the minimax
game":

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

Every loss below is written with the logit, never with D = sigmoid(l), because
log(sigmoid(l)) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l) stay finite
where the probability rounds to 0 or 1 in float32:

    d_loss          = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]
                    = E[softplus(-l_real)] + E[softplus(l_fake)]
    g_loss minimax  = E_z[log(1 - D(G(z)))]  = -E[softplus(l_fake)]
    g_loss non-sat. = -E_z[log D(G(z))]     =  E[softplus(-l_fake)]

Contents, top to bottom: the loss functions, the `GAN` model (its train step: k
discriminator steps, then one generator step), and two builders: `mlp_gan` (the
fully connected GAN of source document 003) and `dcgan` (a small convolutional GAN
for 28x28 images, sized for a CPU).

Images enter and leave in [0, 1] (genlib.data's convention); inside, the networks
work in [-1, 1] so that the generator can end in tanh, as in DCGAN (Radford, Metz and
Chintala, ICLR 2016).
"""

import numpy as np
import keras
from keras import layers, ops

from genlib.backend import custom_train_step, value_and_grad
from genlib.config import rng as make_rng

GENERATOR_LOSSES = ("non_saturating", "minimax")


# --- Losses, from logits (chapter 03, "The math: the minimax game") ----------------

def discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Binary cross-entropy of D on a real and a fake batch, from logits.

    real_logits: (n, 1); fake_logits: (m, 1). With target t for the real batch,

        d_loss = mean(softplus(l_real) - t * l_real) + mean(softplus(l_fake))

    which is -[t log D(x) + (1 - t) log(1 - D(x))] - log(1 - D(G(z))). t = 1 is
    the minimax objective's D part; t = 1 - label_smoothing is one-sided label
    smoothing (Salimans et al., NeurIPS 2016): only the real targets are softened.
    """
    target = 1.0 - label_smoothing
    real = ops.mean(ops.softplus(real_logits) - target * real_logits)
    fake = ops.mean(ops.softplus(fake_logits))
    return real + fake


def generator_loss(fake_logits, kind="non_saturating"):
    """The generator's loss from D's logits on a fake batch (fake_logits: (m, 1)).

    ``"minimax"``: E[log(1 - D(G(z)))] = -mean(softplus(l)), the term of V(D, G)
    that G minimises; its gradient w.r.t. l is -D(G(z)), which vanishes while D
    rejects the fakes (early in training). ``"non_saturating"``: -E[log D(G(z))] =
    mean(softplus(-l)), Goodfellow et al.'s practical alternative; gradient
    -(1 - D(G(z))), strong exactly when G is bad. Chapter 03, "Training
    instability and what helps", plots both.
    """
    if kind == "minimax":
        return -ops.mean(ops.softplus(fake_logits))
    if kind == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")


# --- The model ---------------------------------------------------------------------

class _OptimizerPair:
    """What Keras' trainer sees as ``model.optimizer``: D's and G's optimizers together.

    The trainer builds ``model.optimizer`` before training, and the JAX trainer
    threads ``model.optimizer.variables`` through its compiled step; listing both
    optimizers' variables here is what lets two optimizers train under ``fit``.
    ``optimizers`` is Keras' own convention for a model with several: its
    ``LearningRateScheduler``, ``ReduceLROnPlateau`` and ``TensorBoard`` callbacks (and
    ``genlib.training.CosineOverTime``) then set and log each optimizer's rate.
    ``iterations`` counts train steps: the generator's updates, one per batch.
    """

    def __init__(self, gan):
        self.gan = gan

    @property
    def built(self):
        return self.gan.d_optimizer.built and self.gan.g_optimizer.built

    def build(self, _variables=None):
        self.gan.d_optimizer.build(self.gan.discriminator.trainable_variables)
        self.gan.g_optimizer.build(self.gan.generator.trainable_variables)

    @property
    def variables(self):
        return list(self.gan.d_optimizer.variables) + list(self.gan.g_optimizer.variables)

    @property
    def optimizers(self):
        return [self.gan.d_optimizer, self.gan.g_optimizer]

    @property
    def iterations(self):
        return self.gan.g_optimizer.iterations


@keras.saving.register_keras_serializable(package="genlib")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit(x)``.

    generator: a Keras model (batch, latent_dim) -> (batch, *data_shape), ending in
    tanh when ``rescale`` is on. discriminator: (batch, *data_shape) -> (batch, 1)
    logits (no sigmoid). d_steps: k, discriminator steps per generator step
    (Goodfellow et al.'s Algorithm 1; each reuses the real batch with fresh noise).
    generator_loss: ``"non_saturating"`` (default) or ``"minimax"``.
    label_smoothing: s in [0, 1), real targets become 1 - s. rescale: data in [0, 1]
    is mapped to [-1, 1] for the networks and samples are mapped back; turn it off
    for data that is not an image (chapter 03's 2-D ring). seed: for the noise.
    num_classes: make it a conditional GAN (Mirza and Osindero, 2014): both networks
    then take a second input, the one-hot label (batch, num_classes), and training
    is ``fit(x, y)`` with integer labels y; the fakes in each step get the real
    batch's labels.

    Train with ``gan.compile(d_optimizer=..., g_optimizer=...)`` then ``gan.fit(x)``.
    Logged metrics: ``d_loss``, ``g_loss``, ``D(x)`` and ``D(G(z))`` (mean
    probabilities the discriminator gives real and fake images in its step).
    Chapter 03, "Code: the MLP GAN step by step" (the two phases) and "Code:
    genlib's DCGAN" (the train step).
    """

    def __init__(self, generator, discriminator, d_steps=1, generator_loss="non_saturating",
                 label_smoothing=0.0, rescale=True, seed=None, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        if int(d_steps) != d_steps or d_steps < 1:
            raise ValueError(f"d_steps (k) must be an integer >= 1, got {d_steps}")
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, got {generator_loss!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if num_classes is not None and (int(num_classes) != num_classes or num_classes < 2):
            raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes}")
        self.num_classes = None if num_classes is None else int(num_classes)
        g_in, d_in = generator.input_shape, discriminator.input_shape
        if self.num_classes:
            labels = (None, self.num_classes)
            if not (isinstance(g_in, list) and len(g_in) == 2 and tuple(g_in[1]) == labels
                    and isinstance(d_in, list) and len(d_in) == 2 and tuple(d_in[1]) == labels):
                raise ValueError(f"a conditional GAN needs generator inputs [z, y] and discriminator inputs "
                                 f"[x, y] with y of shape {labels}; got {g_in} and {d_in}")
            g_in, d_in = g_in[0], d_in[0]
        g_out = tuple(generator.output_shape[1:])
        d_in = tuple(d_in[1:])
        if g_out != d_in:
            raise ValueError(f"the generator makes {g_out} samples but the discriminator reads {d_in}")
        if tuple(discriminator.output_shape[1:]) != (1,):
            raise ValueError(f"the discriminator must output (batch, 1) logits, got {discriminator.output_shape}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(g_in[-1])
        self.data_shape = g_out
        self.d_steps = int(d_steps)
        self.generator_loss_kind = generator_loss
        self.label_smoothing = float(label_smoothing)
        self.rescale = bool(rescale)
        self.seed = seed
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "D(x)", "D(G(z))")}
        self.built = True

    # -- configuration and saving --
    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "d_steps": self.d_steps, "generator_loss": self.generator_loss_kind,
            "label_smoothing": self.label_smoothing, "rescale": self.rescale, "seed": self.seed,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set the two optimizers (default: Adam(2e-4, beta_1=0.5), DCGAN's choice).

        Other keyword arguments (``jit_compile``, ``run_eagerly``, ...) go to
        ``keras.Model.compile``; a ``loss`` or ``optimizer`` is refused because the
        GAN has its own two losses and two optimizers.
        """
        for unwanted in ("loss", "optimizer"):
            if kwargs.get(unwanted) is not None:
                raise ValueError(f"GAN.compile takes d_optimizer and g_optimizer, not {unwanted}=")
        super().compile(**kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        self.g_optimizer = keras.optimizers.get(g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        self.optimizer = _OptimizerPair(self)
        self._gan_compile_config = {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        }

    def get_compile_config(self):
        return getattr(self, "_gan_compile_config", None)

    def compile_from_config(self, config):
        self.compile(d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
                     g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]))
        self.optimizer.build()

    @property
    def metrics(self):
        return list(self.trackers.values())

    # -- sampling --
    def call(self, inputs, training=False):
        """G(z) in the data range: z (batch, latent_dim) -> (batch, *data_shape).

        A conditional GAN takes ``[z, y_onehot]``.
        """
        x = self.generator(inputs, training=training)
        return (x + 1.0) / 2.0 if self.rescale else x

    def sample(self, n, seed=None, labels=None):
        """n samples as a NumPy array (n, *data_shape); ``seed`` makes them repeatable.

        A conditional GAN needs ``labels``: n integers in [0, num_classes).
        """
        if int(n) != n or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n}")
        n = int(n)
        z = make_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        if self.num_classes:
            if labels is None or np.shape(labels) != (n,):
                raise ValueError(f"a conditional GAN needs labels of shape ({n},), got {np.shape(labels)}")
            y = np.eye(self.num_classes, dtype="float32")[np.asarray(labels)]
        elif labels is not None:
            raise ValueError("labels are for a conditional GAN (num_classes=...)")
        # Direct calls in chunks rather than predict(): no compiled function is traced
        # per model, which matters when a chapter builds many small GANs.
        out = []
        for i in range(0, n, 1000):
            inputs = [z[i:i + 1000], y[i:i + 1000]] if self.num_classes else z[i:i + 1000]
            out.append(ops.convert_to_numpy(self(inputs)))
        return np.concatenate(out)

    def _one_hot(self, y):
        return ops.one_hot(ops.cast(ops.reshape(y, (-1,)), "int32"), self.num_classes)

    def noise(self, n):
        """z ~ N(0, I) of shape (n, latent_dim), drawn with the GAN's seed generator."""
        return keras.random.normal((n, self.latent_dim), seed=self.noise_seed)

    # -- training --
    def discriminator_step(self, x_real, y=None):
        """One gradient step on D (G fixed). x_real: (n, *data_shape) in the networks' range.

        D sees the real and the fake batch in two separate calls, so layers that use
        batch statistics (batch norm, minibatch standard deviation) never mix them.
        y: the one-hot labels of a conditional GAN. Returns d_loss and the mean D(x),
        D(G(z)) on this batch.
        """
        n = ops.shape(x_real)[0]
        cond = (lambda x: [x, y]) if self.num_classes else (lambda x: x)  # noqa: E731
        # G's output is a constant in D's step: stop_gradient keeps the backends from
        # tracing a backward pass through G that would be thrown away.
        x_fake = ops.stop_gradient(self.generator(cond(self.noise(n)), training=True))

        def loss_fn():
            real_logits = self.discriminator(cond(x_real), training=True)
            fake_logits = self.discriminator(cond(x_fake), training=True)
            loss = discriminator_loss(real_logits, fake_logits, self.label_smoothing)
            return loss, (ops.mean(ops.sigmoid(real_logits)), ops.mean(ops.sigmoid(fake_logits)))

        variables = self.discriminator.trainable_variables
        (loss, (d_real, d_fake)), grads = value_and_grad(loss_fn, variables, self.variables)
        self.d_optimizer.apply(grads, variables)
        return loss, d_real, d_fake

    def generator_step(self, n, y=None):
        """One gradient step on G (D fixed) with a fresh noise batch of size n; returns g_loss.

        y: the one-hot labels (n, num_classes) of a conditional GAN.
        """
        cond = (lambda x: [x, y]) if self.num_classes else (lambda x: x)  # noqa: E731
        z = self.noise(n)

        def loss_fn():
            # training=True keeps D in the same mode (dropout) as in its own step.
            fake_logits = self.discriminator(cond(self.generator(cond(z), training=True)), training=True)
            return generator_loss(fake_logits, self.generator_loss_kind), ()

        variables = self.generator.trainable_variables
        (loss, _), grads = value_and_grad(loss_fn, variables, self.variables)
        self.g_optimizer.apply(grads, variables)
        return loss

    def _step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        if self.rescale:
            x = 2.0 * x - 1.0
        y = self._one_hot(y) if self.num_classes else None
        for _ in range(self.d_steps):
            d_loss, d_real, d_fake = self.discriminator_step(x, y)
        g_loss = self.generator_step(ops.shape(x)[0], y)
        for name, value in zip(self.trackers, (d_loss, g_loss, d_real, d_fake)):
            self.trackers[name].update_state(value)
        return {name: m.result() for name, m in self.trackers.items()}

    def train_step(self, *args):
        return custom_train_step(self, self._step, *args)

    def fit(self, x=None, y=None, **kwargs):
        """``keras.Model.fit`` on data alone (labels y only for a conditional GAN).

        NumPy arrays and tensors ``x`` and ``y`` are checked first (:meth:`check_data`:
        shape, NaN, values in [0, 1] when ``rescale``, so 8-bit pixels in [0, 255] are
        refused). A dataset (``tf.data``, a ``PyDataset``, a generator) is passed
        through unchecked: check a batch of it yourself with ``check_data``.
        """
        if isinstance(x, np.ndarray) or ops.is_tensor(x) or hasattr(x, "__array__"):
            x = self._numpy(x)
            y = None if y is None else self._numpy(y)
            self.check_data(x, y)
        return super().fit(x, y, **kwargs)

    @staticmethod
    def _numpy(value):
        return ops.convert_to_numpy(value) if ops.is_tensor(value) else np.asarray(value)

    def check_data(self, x, y=None):
        """Raise ValueError unless x is a finite (n, *data_shape) array, in [0, 1] if rescaled,
        and y (conditional GAN only) holds n integer labels in [0, num_classes)."""
        x = self._numpy(x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"got no data (shape {x.shape}): need at least one example")
        if self.num_classes:
            labels = self._numpy(y) if y is not None else None
            if labels is None or labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer) \
                    or labels.min() < 0 or labels.max() >= self.num_classes:
                raise ValueError(f"a conditional GAN trains with fit(x, y): {len(x)} integer labels "
                                 f"in [0, {self.num_classes}), got {None if y is None else labels.shape}")
        elif y is not None:
            raise ValueError("y (labels) is only for a conditional GAN (num_classes=...)")
        if x.shape[1:] != self.data_shape:
            raise ValueError(f"expected data of shape (n, {', '.join(map(str, self.data_shape))}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("the data contains NaN or infinite values")
        if self.rescale and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"expected images in [0, 1] (rescale=True), got values in [{x.min()}, {x.max()}]")


# --- Builders ----------------------------------------------------------------------

def _check_latent_dim(latent_dim):
    if int(latent_dim) != latent_dim or latent_dim < 1:
        raise ValueError(f"latent_dim must be an integer >= 1, got {latent_dim}")
    return int(latent_dim)


def mlp_gan(latent_dim=100, hidden=(256, 512, 1024), image_shape=(28, 28, 1), dropout=0.3, **gan_kwargs):
    """The fully connected GAN of source document 003 §4.1, in Keras.

    Generator: z (latent_dim) -> 256 -> 512 -> 1024 -> 784, ReLU, tanh out.
    Discriminator: 784 -> 1024 -> 512 -> 256 -> 1 logit, LeakyReLU(0.2) and dropout.
    Unlike 003's PyTorch code the discriminator ends without a sigmoid: the losses
    take logits (chapter 03, "Code: the MLP GAN step by step"). ``gan_kwargs`` go to
    :class:`GAN`.
    """
    latent_dim = _check_latent_dim(latent_dim)
    size = int(np.prod(image_shape))
    g = keras.Sequential([keras.Input((latent_dim,))], name="generator")
    for width in hidden:
        g.add(layers.Dense(width, activation="relu"))
    g.add(layers.Dense(size, activation="tanh"))
    g.add(layers.Reshape(image_shape))
    d = keras.Sequential([keras.Input(image_shape), layers.Flatten()], name="discriminator")
    for width in reversed(hidden):
        d.add(layers.Dense(width))
        d.add(layers.LeakyReLU(0.2))
        d.add(layers.Dropout(dropout))
    d.add(layers.Dense(1))
    return GAN(g, d, **gan_kwargs)


# Widths of the DCGAN: `width` is the channel count of D's first convolution and of
# G's last hidden layer; each halving of the resolution doubles it.
DCGAN_PRESETS = {
    "tiny": dict(width=8),     # unit tests
    "small": dict(width=32),   # CPU: chapter 03 and bench/gan.py
    "base": dict(width=64),    # DCGAN paper-like proportions, for an accelerator
}


def dcgan(latent_dim=64, preset="small", width=None, image_shape=(28, 28, 1), **gan_kwargs):
    """A small DCGAN (Radford, Metz and Chintala, ICLR 2016) for 28x28 images.

    Generator: z -> Dense 7x7x(2w) -> BN, ReLU -> ConvT(w, 4, stride 2) 14x14 -> BN,
    ReLU -> ConvT(C, 4, stride 2) 28x28, tanh. Discriminator: Conv(w, 4, s2) 14x14 ->
    LeakyReLU(0.2) -> Conv(2w, 4, s2) 7x7 -> LeakyReLU -> Dense 1 logit. The DCGAN
    rules kept: strided (transposed) convolutions instead of pooling, batch norm in G,
    LeakyReLU in D; D has no batch norm, because its real and fake batches would then
    be normalised with different statistics. ``preset`` picks ``w`` from
    ``DCGAN_PRESETS`` unless ``width`` is given. Chapter 03, "Code: genlib's DCGAN".
    """
    latent_dim = _check_latent_dim(latent_dim)
    if width is None:
        if preset not in DCGAN_PRESETS:
            raise ValueError(f"preset must be one of {sorted(DCGAN_PRESETS)}, got {preset!r}")
        width = DCGAN_PRESETS[preset]["width"]
    h, w_, c = image_shape
    if h % 4 or w_ % 4:
        raise ValueError(f"dcgan needs a height and width divisible by 4, got {image_shape}")
    g = keras.Sequential([
        keras.Input((latent_dim,)),
        layers.Dense(h // 4 * w_ // 4 * 2 * width, use_bias=False),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Reshape((h // 4, w_ // 4, 2 * width)),
        layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="tanh"),
    ], name="generator")
    d = keras.Sequential([
        keras.Input(image_shape),
        layers.Conv2D(width, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(2 * width, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Flatten(), layers.Dense(1),
    ], name="discriminator")
    return GAN(g, d, **gan_kwargs)
