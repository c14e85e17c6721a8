"""Benchmark: the cost and the small-sample bias of genlib's sample-quality scores.

1. Time and peak memory of each score in ``genlib.metrics`` on ``--n`` vs ``--n``
   feature vectors of 64 dimensions (standard normal, the second set shifted by 0.1):
   ``frechet_distance``, ``kernel_distance``, ``precision_recall`` (k = 3) and
   ``density_coverage`` (k = 5). Memory is the peak of NumPy's allocations during the
   call, traced with ``tracemalloc``.
2. Bias: FID and KID between two disjoint sets of *real* MNIST training images (the true
   distance is 0), in genlib's MNIST feature space, for n from 1,000 up to 30,000 (two
   disjoint halves of the 60,000 training images), ``--repeats`` draws each.

    python bench/metrics.py            # the benchmark (about a minute on 2 cores)
    python bench/metrics.py --check    # exit 1 when the goal in bench/README.md is missed

Goal (bench/README.md): all four scores on 10,000 x 10,000 features in under 10 s in
total on the 2-core CPU machine.
"""

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402

import genlib  # noqa: E402
from bench import common  # noqa: E402
from genlib import metrics  # noqa: E402

GOALS = [common.Goal("all four scores on 10,000 × 10,000 features in under 10 s in total", "<", 10, unit="s",
                     stated_at=("n",))]
TRAIN_IMAGES = 60_000  # two disjoint sets of n real images: n <= 30,000
NAMES = {"frechet_distance": "`frechet_distance`", "kernel_distance": "`kernel_distance` (unbiased KID)",
         "precision_recall": "`precision_recall` (k = 3)", "density_coverage": "`density_coverage` (k = 5)"}


def parse(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--n", type=int, default=10_000, help="feature vectors per set in the timing")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10_000, 30_000],
                   help="images per set in the bias table (at most 30,000: two disjoint halves of the training set)")
    p.add_argument("--repeats", type=int, default=3, help="draws per size in the bias table")
    args = p.parse_args(argv)
    if args.n < 2 or not all(2 <= n <= TRAIN_IMAGES // 2 for n in args.sizes) or args.repeats < 1:
        p.error(f"--n and --sizes need at least 2 vectors per set, --sizes at most {TRAIN_IMAGES // 2:,} "
                "(two disjoint sets of MNIST training images), --repeats at least 1")
    return p, args


def timed(score, a, b):
    tracemalloc.start()
    start = time.perf_counter()
    value = score(a, b)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, seconds, peak


def main(argv=None):
    parser, args = parse(argv)
    common.header()
    rng = np.random.default_rng(args.seed)
    a = rng.standard_normal((args.n, 64))
    b = rng.standard_normal((args.n, 64)) + 0.1
    print(f"\n{args.n:,} x {args.n:,} features of 64 dimensions")
    rows, total = [], 0.0
    for score in (metrics.frechet_distance, metrics.kernel_distance, metrics.precision_recall,
                  metrics.density_coverage):
        value, seconds, peak = timed(score, a, b)
        total += seconds
        shown = ", ".join(f"{v:.4f}" for v in np.atleast_1d(value))
        print(f"{score.__name__:18s} {shown:>22s} {seconds:8.2f} s {peak / 2**20:8.0f} MB", flush=True)
        rows.append([NAMES[score.__name__], f"{seconds:.2f}", f"{peak / 2**20:.0f}"])
    rows.append(["all four", f"{total:.2f}", ""])
    print()
    common.table(["score", "seconds", "peak MB"], rows)

    (x, _), _ = genlib.data.mnist()
    start = time.perf_counter()
    features = metrics.mnist_features(x[: 2 * max(args.sizes)])  # all 60,000 at the default sizes
    print(f"\nbias, real vs real MNIST training images (features of {len(features):,} in "
          f"{time.perf_counter() - start:.0f} s)")
    rows = []
    for n in args.sizes:
        fid, kid = [], []
        for _ in range(args.repeats):
            order = rng.permutation(len(features))
            first, second = features[order[:n]], features[order[n:2 * n]]   # disjoint
            fid.append(metrics.frechet_distance(first, second))
            kid.append(metrics.kernel_distance(first, second))
        rows.append([f"{n:,}", f"{np.mean(fid):.3f}", f"{np.std(fid):.3f}", f"{np.mean(kid):.5f}",
                     f"{np.std(kid):.5f}"])
    common.table(["n per set", "FID mean", "FID std", "KID mean", "KID std"], rows)
    common.check_goals([(GOALS[0], total)], args, parser)


if __name__ == "__main__":
    main()
