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
budget (``genlib.training.CosineOverTime``, set before every batch), and training stops
at the first step after the budget is spent (``genlib.training.TimeLimit``).

    python bench/vae.py                      # the benchmark: 300 s
    python bench/vae.py --seconds 20         # a quick check that it runs
    python bench/vae.py --check              # exit 1 unless the goal in bench/README.md is met
    KERAS_BACKEND=jax python bench/vae.py    # on another backend

Goal (bench/README.md): test -ELBO <= 140 nats at 300 s.
"""

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import genlib  # noqa: E402  (quiets TensorFlow before keras is imported)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench import common  # noqa: E402
from genlib.backend import accelerators  # noqa: E402
from genlib.models import conv_vae  # noqa: E402
from genlib.models.vae import CONV_PRESETS  # noqa: E402
from genlib.training import CosineOverTime, TimeLimit  # noqa: E402

GOALS = [common.Goal("test −ELBO ≤ 140 nats at 300 s", "<=", 140, unit="nats", stated_at=("seconds",))]


def parse(argv=None):
    parser = common.parser(__doc__, seconds=300)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--preset", default="small", choices=sorted(CONV_PRESETS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (Adam)")
    parser.add_argument("--lr-min", type=float, default=1e-4, help="learning rate at the end of the budget")
    parser.add_argument("--iw-k", type=int, default=50, help="importance samples per test image")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse(argv)
    common.header()
    genlib.seed(args.seed)
    (x_train, _), (x_test, _) = genlib.data.mnist()
    model = conv_vae(args.latent_dim, preset=args.preset, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    limit = TimeLimit(args.seconds)
    # epochs is only an upper bound: the time limit ends training
    model.fit(x_train, epochs=10_000, batch_size=args.batch_size, shuffle=True, verbose=0,
              callbacks=[limit, CosineOverTime(limit, args.lr, args.lr_min)])
    train_seconds = limit.elapsed()
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
    print()
    common.table(["date", "backend", "command", "steps", "train s", "test −ELBO (nats)", "bits/dim",
                  f"IW −log p(x) (nats, k = {args.iw_k})"],
                 [[common.today(), keras.backend.backend(), f"`{common.command_line()}`", f"{steps:,}",
                   f"{train_seconds:.1f}", f"{neg_elbo:.2f} (reconstruction {reconstruction:.2f} + KL {kl:.2f})",
                   f"{neg_elbo * bits:.4f}", f"{iw:.2f}"]], align="lllrrrrr")
    common.check_goals([(GOALS[0], float(neg_elbo))], args, parser)
    return {"neg_elbo": neg_elbo, "iw": iw, "steps": steps}


if __name__ == "__main__":
    main()
