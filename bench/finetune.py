"""Benchmark: what generative pre-training buys, measured as chapter 06 measures it.

1. Label efficiency on the genre task (comedy / history / tragedy of a 256-character
   passage, whole plays held out): for each of ``--splits`` held-out-play splits, a
   MiniGPT "baby" (block_size 128) is pre-trained on the training plays (cached by
   ``genlib.pretrained``; split 0 is the chapter's own model), then at every label
   budget and for ``--seeds`` label draws:
   - n-gram TF-IDF + logistic regression (no pre-training),
   - a linear probe on random-network features and on pre-trained features,
   - the network trained from scratch, and fine-tuned from the pre-trained weights with
     and without the auxiliary LM loss (``--finetune-budgets``, ``--finetune-steps``
     steps of 8 passages).
2. Target-token saving (split 0's model): validation nats/char on Python source after
   ``--adapt-steps`` steps on a small target set, pre-trained vs from scratch on larger
   sets, and the scratch data size that matches the pre-trained model.

    python bench/finetune.py                    # the benchmark (about 20 minutes on 2 cores)
    python bench/finetune.py --quick            # a few minutes: one split, smaller budgets
    python bench/finetune.py --check            # exit 1 when a goal in bench/README.md is missed

Goals (bench/README.md): at 128 labels the best fine-tuned network beats scratch by >= 10
points; the best pre-trained variant beats the n-gram baseline at every budget.
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import genlib  # noqa: E402
from bench import common  # noqa: E402
from genlib import finetune  # noqa: E402
from genlib.models import MiniGPT, compile_for_training  # noqa: E402
from genlib.tokenizer import CharTokenizer  # noqa: E402
from genlib.windows import WindowDataset, split  # noqa: E402

PASSAGE, BLOCK, PRESET, BATCH, LR = 256, 128, "baby", 12, 1e-3
# the settings the goals are stated at (their defaults; --quick changes them)
SETTINGS = ("quick", "splits", "seeds", "budgets", "finetune_budgets", "finetune_steps", "pretrain_steps", "pool",
            "test_passages")
GOALS = [common.Goal("at 128 labels, the best fine-tuned network beats the network from scratch by at least 10 points",
                     ">=", 10, unit="points", stated_at=SETTINGS),
         common.Goal("the best pre-trained variant beats the n-gram baseline at every budget", ">", 0,
                     unit="points", stated_at=SETTINGS)]
# the table's names of the methods, as bench/README.md shows them
LABELS = {"scratch": "network from scratch", "fine-tune": "fine-tuned", "fine-tune + LM": "fine-tuned + LM loss"}


def parse(argv=None):
    p = common.parser(__doc__, seed=None)
    p.add_argument("--splits", type=int, default=3)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budgets", type=int, nargs="+", default=[32, 128, 512, 2048])
    p.add_argument("--finetune-budgets", type=int, nargs="+", default=[128])
    p.add_argument("--finetune-steps", type=int, default=60)
    p.add_argument("--pretrain-steps", type=int, default=1500)
    p.add_argument("--pool", type=int, default=2500)
    p.add_argument("--test-passages", type=int, default=600)
    p.add_argument("--adapt-steps", type=int, default=150)
    p.add_argument("--adapt-sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000, 640_000])
    p.add_argument("--quick", action="store_true", help="one split, 2 seeds, small budgets")
    args = p.parse_args(argv)
    if args.quick:
        args.splits, args.seeds, args.pretrain_steps, args.finetune_steps = 1, 2, 300, 20
        args.budgets, args.finetune_budgets, args.pool, args.test_passages = [32, 128], [128], 300, 150
        args.adapt_steps, args.adapt_sizes = 40, [5_000, 20_000]
    return p, args


def pretrained_gpt(tok, train_plays, steps):
    """The chapter's pre-training, with the chapter's cache key (split 0 reuses its weights)."""
    text = "\n".join(p.text for p in train_plays)
    ids = np.array(tok.encode(text), np.int32)
    train_ids, _ = split(ids, 0.95)

    def pretrain(model):
        compile_for_training(model, max_steps=steps, learning_rate=LR, min_learning_rate=LR / 10,
                             warmup_steps=min(100, steps // 10))
        model.fit(WindowDataset(train_ids, BLOCK, BATCH, steps=steps, seed=0), epochs=1, verbose=0)

    genlib.seed(0)
    gpt = MiniGPT.from_preset(PRESET, tokenizer=tok, block_size=BLOCK)
    key = {"steps": steps, "batch": BATCH, "learning_rate": LR, "seed": 0,
           "text_sha256": genlib.pretrained.text_sha256(text)}
    cached = genlib.pretrained.cached(gpt, "ch06-shakespeare-gpt", key, pretrain)
    return gpt, train_ids, cached


def fine_tune(method, weights, ids, labels, x_test, y_test, steps, seed):
    genlib.seed(seed)
    backbone = MiniGPT.from_preset(PRESET, tokenizer=CharTokenizer.ascii(), block_size=BLOCK)
    if method != "scratch":
        backbone.set_weights(weights)
    model = finetune.GPTClassifier(backbone, 3, lm_weight=0.5 if method == "fine-tune + LM" else 0.0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3 if method == "scratch" else 3e-4, weight_decay=0.01))
    n, batch = len(ids), 8
    order = np.concatenate([np.random.default_rng(seed).permutation(n) for _ in range(steps * batch // n + 1)])
    order = order[:steps * batch]
    model.fit(ids[order], labels[order], batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return float(np.mean(model.predict_classes(x_test) == y_test))


def label_efficiency(args, plays, tok):
    encode = lambda texts: np.array([tok.encode(t) for t in texts], np.int32)  # noqa: E731
    results = {}                                          # (method, n) -> list of accuracies
    for split_seed in range(args.splits):
        t0 = time.perf_counter()
        train_plays, test_plays = finetune.split_plays(plays, test_fraction=1 / 3, seed=split_seed)
        gpt, _, cached = pretrained_gpt(tok, train_plays, args.pretrain_steps)
        test_texts, y_test, _ = finetune.passages(test_plays, PASSAGE, n=args.test_passages, seed=1)
        x_test = encode(test_texts)
        pool_texts, pool_y, _ = finetune.passages(train_plays, PASSAGE, n=args.pool, seed=2)
        genlib.seed(1)
        random_gpt = MiniGPT.from_preset(PRESET, tokenizer=tok, block_size=BLOCK)
        feats = {name: (finetune.pooled_features(net, encode(pool_texts)), finetune.pooled_features(net, x_test))
                 for name, net in (("pre-trained", gpt), ("random", random_gpt))}
        weights = gpt.get_weights()
        for n in args.budgets:
            for seed in range(args.seeds):
                index = np.random.default_rng(100 + seed).choice(len(pool_texts), size=n, replace=False)
                texts = [pool_texts[i] for i in index]
                tfidf = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
                                      LogisticRegression(C=10, max_iter=3000)).fit(texts, pool_y[index])
                results.setdefault(("n-gram TF-IDF", n), []).append(float(np.mean(tfidf.predict(test_texts) == y_test)))
                for name, (train_f, test_f) in feats.items():
                    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
                    probe.fit(train_f[index], pool_y[index])
                    results.setdefault((f"probe, {name} features", n), []).append(
                        float(np.mean(probe.predict(test_f) == y_test)))
                if n in args.finetune_budgets:
                    for method in ("scratch", "fine-tune", "fine-tune + LM"):
                        results.setdefault((method, n), []).append(fine_tune(
                            method, weights, encode(texts), pool_y[index], x_test, y_test, args.finetune_steps, seed))
        print(f"split {split_seed}: test plays {', '.join(p.slug for p in test_plays)}; pre-training "
              f"{'cached' if cached else 'trained'}; {time.perf_counter() - t0:.0f} s", flush=True)
    return results


def target_saving(args, plays, tok):
    train_plays, _ = finetune.split_plays(plays, test_fraction=1 / 3, seed=0)
    gpt, _, _ = pretrained_gpt(tok, train_plays, args.pretrain_steps)
    weights = gpt.get_weights()
    code = genlib.data.python_source()
    code = "".join(c if c in set(tok.vocab) else " " for c in code)
    code_train, code_val = split(np.array(tok.encode(code), np.int32), 0.9)
    code_val = code_val[:50_000]

    def run(n_chars, pretrained):
        genlib.seed(0)
        model = MiniGPT.from_preset(PRESET, tokenizer=tok, block_size=BLOCK)
        if pretrained:
            model.set_weights(weights)
        lr = 3e-4 if pretrained else LR           # the chapter's ADAPT_LR: a smaller step for fine-tuning
        compile_for_training(model, max_steps=args.adapt_steps, learning_rate=lr, min_learning_rate=lr / 10,
                             warmup_steps=min(100, args.adapt_steps // 10))
        model.fit(WindowDataset(code_train[:n_chars], BLOCK, BATCH, steps=args.adapt_steps, seed=0), verbose=0)
        return model.evaluate_nats(code_val)

    scratch = {n: run(n, False) for n in args.adapt_sizes}
    small = args.adapt_sizes[0]
    pre = run(small, True)
    sizes, losses = np.array(list(scratch), float), np.array(list(scratch.values()))
    equivalent = None if pre < losses.min() else float(np.exp(np.interp(pre, losses[::-1], np.log(sizes)[::-1])))
    return {"scratch": scratch, "pre-trained": {small: pre}, "equivalent_chars": equivalent}


def size(n):
    """A column name of the target-saving table: 10k, 640k, 5,500."""
    return f"{n // 1000}k" if n % 1000 == 0 else f"{n:,}"


def main(argv=None):
    parser, args = parse(argv)
    common.header()
    t0 = time.perf_counter()
    tok, plays = CharTokenizer.ascii(), genlib.data.shakespeare_plays()
    results = label_efficiency(args, plays, tok)
    print(f"\nlabel efficiency: accuracy on held-out plays, mean ± std over {args.splits} splits x {args.seeds} seeds")
    methods = ["n-gram TF-IDF", "probe, random features", "probe, pre-trained features", "scratch", "fine-tune",
               "fine-tune + LM"]
    common.table(["method", *map(str, args.budgets)],
                 [[LABELS.get(m, m)] + [f"{np.mean(results[m, n]):.3f} ± {np.std(results[m, n]):.3f}"
                                        if (m, n) in results else "" for n in args.budgets] for m in methods],
                 align="l" * (1 + len(args.budgets)))
    saving = target_saving(args, plays, tok)
    print(f"\ntarget-token saving (Python, {args.adapt_steps} steps), validation nats/char:")
    common.table(["training", *map(size, args.adapt_sizes)],
                 [["from scratch", *(f"{saving['scratch'][n]:.3f}" for n in args.adapt_sizes)],
                  ["pre-trained on Shakespeare", f"{saving['pre-trained'][args.adapt_sizes[0]]:.3f}",
                   *[""] * (len(args.adapt_sizes) - 1)]],
                 align="l" * (1 + len(args.adapt_sizes)))
    print(f"pre-trained on {args.adapt_sizes[0]:,}: "
          + ("better than every scratch size" if saving["equivalent_chars"] is None
             else f"matches scratch at {saving['equivalent_chars']:,.0f} characters"))
    print(f"total {time.perf_counter() - t0:.0f} s, backend {keras.backend.backend()}")
    print(json.dumps({"results": {f"{m}|{n}": v for (m, n), v in results.items()}, "saving": saving},
                     default=float))

    gain = None
    if ("fine-tune", 128) in results:
        gain = max(np.mean(results[m, 128]) for m in ("fine-tune", "fine-tune + LM")) - np.mean(results["scratch", 128])
    best = {n: max(np.mean(results[m, n]) for m in ("probe, pre-trained features", "fine-tune", "fine-tune + LM")
                   if (m, n) in results)
            for n in args.budgets}
    margin = min(best[n] - np.mean(results["n-gram TF-IDF", n]) for n in args.budgets)
    common.check_goals([(GOALS[0], None if gain is None else 100 * float(gain)), (GOALS[1], 100 * float(margin))],
                       args, parser)


if __name__ == "__main__":
    main()
