"""Benchmark: GAN sample quality on MNIST after a fixed wall-clock budget.

Trains genlib's DCGAN (and then the MLP GAN of source document 003) on the 60,000
MNIST training images for --seconds each, then reports the Fréchet distance on
genlib's MNIST features (genlib.metrics; NOT ImageNet-Inception FID) between
--n-eval generated images and the first --n-eval test images, next to the floor:
the same distance between the test images and --n-eval training images.

    python bench/gan.py                      # 300 s per model (the benchmark)
    python bench/gan.py --seconds 20         # a quick check that it runs
    python bench/gan.py --models dcgan --width 32 --batch-size 64
    python bench/gan.py --check              # exit 1 unless the goal in bench/README.md is met

Goal: DCGAN FID <= 20 at 300 s on the 2-core CI machine. See bench/README.md.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

import genlib  # noqa: E402
from bench import common  # noqa: E402
from genlib import metrics  # noqa: E402
from genlib.models import dcgan, mlp_gan  # noqa: E402
from genlib.training import TimeLimit  # noqa: E402

GOALS = [common.Goal("DCGAN FID <= 20 after 300 s", "<=", 20, stated_at=("seconds", "n_eval"))]


def train(gan, x, args):
    gan.compile(d_optimizer=keras.optimizers.Adam(args.lr, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(args.lr, beta_1=0.5))
    limit = TimeLimit(args.seconds)
    start = time.perf_counter()
    gan.fit(x, batch_size=args.batch_size, epochs=10_000, callbacks=[limit], verbose=0)
    return limit.steps, time.perf_counter() - start


def parse(argv=None):
    parser = common.parser(__doc__, seconds=300)
    parser.add_argument("--models", type=common.names("dcgan", "mlp"), default="dcgan,mlp",
                        help="comma-separated: dcgan, mlp")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate of G and D (beta_1 = 0.5)")
    parser.add_argument("--width", type=int, default=32, help="DCGAN width (channels of D's first conv)")
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--n-eval", type=int, default=10_000, help="samples for each FID")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse(argv)
    common.header()
    genlib.seed(args.seed)
    (x_train, _), (x_test, _) = genlib.data.mnist()
    metrics.classifier()  # train/load the feature classifier before any clock starts
    reference = metrics.mnist_features(x_test[: args.n_eval])
    floor = metrics.frechet_distance(reference, metrics.mnist_features(x_train[: args.n_eval]))
    print(f"backend {keras.backend.backend()}; floor FID(test, train) = {floor:.2f} "
          f"({args.n_eval} vs {args.n_eval} images)")

    rows, fids = [], {}
    for name in args.models:
        genlib.seed(args.seed)
        if name == "dcgan":
            gan = dcgan(latent_dim=args.latent_dim, width=args.width, seed=args.seed)
        else:
            gan = mlp_gan(latent_dim=100, seed=args.seed)
        steps, seconds = train(gan, x_train, args)
        fid = metrics.frechet_distance(reference, metrics.mnist_features(gan.sample(args.n_eval, seed=args.seed)))
        fids[name] = fid
        rows.append([name, keras.backend.backend(), f"{seconds:.0f}", f"{steps:,}", f"{steps / seconds:.1f}",
                     f"{fid:.2f}", f"{floor:.2f}"])
        print(f"{name:6s} steps {steps:6d}  {steps / seconds:6.1f} steps/s  train {seconds:6.1f} s  FID {fid:8.2f}",
              flush=True)

    print()
    common.table(["model", "backend", "train s", "steps", "steps/s", "FID (MNIST features)", "floor (test vs train)"],
                 rows, align="llrrrrr")
    common.check_goals([(GOALS[0], fids.get("dcgan"))], args, parser)


if __name__ == "__main__":
    main()
