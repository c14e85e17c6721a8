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

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402

import genlib  # noqa: E402
from genlib import metrics  # noqa: E402

GOAL_SECONDS = 10.0


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="feature vectors per set in the timing")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10_000, 30_000])
    p.add_argument("--repeats", type=int, default=3, help="draws per size in the bias table")
    p.add_argument("--check", action="store_true", help="exit 1 when the time goal is missed")
    return p.parse_args()


def timed(score, a, b):
    tracemalloc.start()
    start = time.perf_counter()
    value = score(a, b)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, seconds, peak


def main():
    args = parse()
    print(f"command: python bench/metrics.py {' '.join(sys.argv[1:])}".rstrip())
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.n, 64))
    b = rng.standard_normal((args.n, 64)) + 0.1
    print(f"\n{args.n:,} x {args.n:,} features of 64 dimensions")
    print(f"{'score':18s} {'value':>22s} {'seconds':>8s} {'peak MB':>8s}")
    total = 0.0
    for score in (metrics.frechet_distance, metrics.kernel_distance, metrics.precision_recall,
                  metrics.density_coverage):
        value, seconds, peak = timed(score, a, b)
        total += seconds
        shown = ", ".join(f"{v:.4f}" for v in np.atleast_1d(value))
        print(f"{score.__name__:18s} {shown:>22s} {seconds:8.2f} {peak / 2**20:8.0f}")
    print(f"{'all four':18s} {'':>22s} {total:8.2f}   (goal: under {GOAL_SECONDS:.0f} s)")

    (x, _), _ = genlib.data.mnist()
    start = time.perf_counter()
    features = metrics.mnist_features(x)
    print(f"\nbias, real vs real MNIST training images (features of all 60,000 in {time.perf_counter() - start:.0f} s)")
    print(f"{'n':>7s} {'FID mean':>10s} {'FID std':>9s} {'KID mean':>11s} {'KID std':>9s}")
    for n in args.sizes:
        fid, kid = [], []
        for _ in range(args.repeats):
            order = rng.permutation(len(features))
            first, second = features[order[:n]], features[order[n:2 * n]]   # disjoint
            fid.append(metrics.frechet_distance(first, second))
            kid.append(metrics.kernel_distance(first, second))
        print(f"{n:>7,} {np.mean(fid):10.3f} {np.std(fid):9.3f} {np.mean(kid):11.5f} {np.std(kid):9.5f}")
    if args.check and total >= GOAL_SECONDS:
        print(f"goal missed: {total:.1f} s >= {GOAL_SECONDS:.0f} s")
        sys.exit(1)


if __name__ == "__main__":
    main()
