"""Benchmark: genlib's convolutional VAE on MNIST for a fixed wall-clock budget.

Trains ``genlib.models.conv_vae`` on the 60,000 MNIST training images (the train split
only) for ``--seconds`` of wall-clock time, then reports on all 10,000 test images:

- the negative ELBO in nats per image: summed binary cross-entropy of the [0, 1]
  pixels plus the closed-form KL, one sample of z per image, mean over the test set;
- the same in bits per dimension: nats / (784 ln 2);
- an importance-weighted estimate of -log p(x) with ``--iw-k`` samples per image
  (Burda et al., ICLR 2016), a tighter bound than the -ELBO;
- the training steps done, the time spent, and the exact command line.

The pixels are grey levels in [0, 1] scored with a Bernoulli likelihood, which is not a
normalised density over grey images: these numbers compare runs of this benchmark, not
published binarised-MNIST likelihoods (chapter 07, "Likelihood on binarised MNIST").

The learning rate follows a cosine from ``--lr`` down to ``--lr-min`` over the time
budget (updated at each epoch start, so it works on every Keras backend), and
training stops at the first step after the budget is spent.

    python bench/vae.py                      # the benchmark: 300 s
    python bench/vae.py --seconds 20         # a quick check that it runs
    KERAS_BACKEND=jax python bench/vae.py    # on another backend
"""

import argparse
import math
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import genlib  # noqa: E402  (quiets TensorFlow before keras is imported)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from genlib.backend import accelerators  # noqa: E402
from genlib.models import conv_vae  # noqa: E402
from genlib.models.vae import CONV_PRESETS  # noqa: E402


class TimeBudget(keras.callbacks.Callback):
    """Stop after ``seconds`` of training; cosine learning-rate decay over that time."""

    def __init__(self, seconds, lr, lr_min):
        super().__init__()
        self.seconds, self.lr, self.lr_min = seconds, lr, lr_min

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def on_epoch_begin(self, epoch, logs=None):
        progress = min(1.0, self.elapsed() / self.seconds)
        self.model.optimizer.learning_rate = self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * progress))

    def on_train_batch_end(self, batch, logs=None):
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="wall-clock training budget (default 300)")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--preset", default="small", choices=sorted(CONV_PRESETS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (Adam)")
    parser.add_argument("--lr-min", type=float, default=1e-4, help="learning rate at the end of the budget")
    parser.add_argument("--iw-k", type=int, default=50, help="importance samples per test image")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")

    genlib.seed(args.seed)
    (x_train, _), (x_test, _) = genlib.data.mnist()
    model = conv_vae(args.latent_dim, preset=args.preset, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    budget = TimeBudget(args.seconds, args.lr, args.lr_min)
    # epochs is only an upper bound: the budget callback ends training
    model.fit(x_train, epochs=10_000, batch_size=args.batch_size, shuffle=True, verbose=0, callbacks=[budget])
    train_seconds = budget.elapsed()
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))

    start = time.perf_counter()
    neg_elbo, reconstruction, kl = (v.mean() for v in model.neg_elbo(x_test, seed=args.seed))
    iw = model.importance_weighted_nll(x_test, k=args.iw_k, seed=args.seed).mean()
    eval_seconds = time.perf_counter() - start
    bits = 1.0 / (np.prod(x_test.shape[1:]) * math.log(2))

    print(f"backend            {keras.backend.backend()}  ({', '.join(accelerators()) or 'CPU only'})")
    print(f"model              conv_vae(latent_dim={args.latent_dim}, preset={args.preset!r}), "
          f"{model.count_params():,} parameters")
    print(f"training           {steps} steps of batch {args.batch_size} in {train_seconds:.1f} s "
          f"({steps * args.batch_size / len(x_train):.2f} epochs)")
    print(f"test -ELBO         {neg_elbo:.2f} nats  (reconstruction {reconstruction:.2f} + KL {kl:.2f}); "
          f"{neg_elbo * bits:.4f} bits/dim")
    print(f"test -log p(x) IW  {iw:.2f} nats (k={args.iw_k}); {iw * bits:.4f} bits/dim")
    print(f"evaluation         {len(x_test)} test images in {eval_seconds:.1f} s")
    env = f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} " if os.environ.get("KERAS_BACKEND") else ""
    print(f"command            {env}{shlex.join(['python', *sys.argv])}")
    return {"neg_elbo": neg_elbo, "iw": iw, "steps": steps}


if __name__ == "__main__":
    main()
