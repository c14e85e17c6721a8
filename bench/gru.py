"""Benchmark: genlib's CharGRU against the TensorFlow tutorial's GRU, same wall-clock.

Both models train on Shakespeare (``genlib.data.shakespeare()``, first 90 % for
training, last 10 % for validation, ``genlib.windows.split``) for ``--seconds`` of
training each, one after the other in this process, on the CPU. Reported per model:
validation cross-entropy in nats and bits per character over the whole validation
split (``CharGRU.evaluate_nats``: every character after the first is scored once),
training tokens per second, steps, and parameters.

The reference is the model and recipe of the TensorFlow "Text generation with an
RNN" tutorial: Embedding 256 -> GRU 1024 -> Dense, sequences of 100 characters cut
without overlap (101 characters each, the last one only as a target), shuffled,
batch 64, Adam at its default learning rate 1e-3. Both models are ``CharGRU``
instances, so they share the evaluation code exactly.

    python bench/gru.py                  # 600 s per model (the recorded run)
    python bench/gru.py --seconds 20     # a quick check that it works
    python bench/gru.py --check          # exit 1 unless the goal in bench/README.md is met

Goal (bench/README.md): at ``--seconds 600``, CharGRU's validation loss at least 0.25
nats/char below the tutorial model's in the same run.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import genlib  # noqa: E402
from bench import common  # noqa: E402
from genlib.lm_metrics import bits_per_token  # noqa: E402
from genlib.models import CharGRU  # noqa: E402
from genlib.models.char_gru import PRESETS  # noqa: E402
from genlib.tokenizer import CharTokenizer  # noqa: E402
from genlib.training import CosineOverTime, TimeLimit  # noqa: E402
from genlib.windows import WindowDataset, make_windows, split  # noqa: E402

GOALS = [common.Goal("CharGRU's validation loss at least 0.25 nats/char below the tutorial model's in the same run",
                     "<=", -0.25, unit="nats/char", stated_at=("seconds", "eval_block"))]


def train(name, model, train_ids, seconds, block, batch, lr, clipnorm, decay, tutorial_windows, seed):
    model.compile(optimizer=keras.optimizers.Adam(lr, clipnorm=clipnorm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clock = TimeLimit(seconds)
    callbacks = [clock, CosineOverTime(clock, lr, lr / 10)] if decay else [clock]
    if tutorial_windows:
        # the tutorial's pipeline: non-overlapping 101-character chunks, shuffled each epoch
        x, y = make_windows(train_ids, block, stride=block + 1)
        model.fit(x, y, batch_size=batch, epochs=10_000, shuffle=True, callbacks=callbacks, verbose=0)
    else:
        data = WindowDataset(train_ids, block, batch, steps=1000, seed=seed)
        model.fit(data, epochs=10_000, callbacks=callbacks, verbose=0)
    took = clock.elapsed()
    return dict(name=name, steps=clock.steps, seconds=took, tokens_per_s=clock.steps * batch * block / took,
                params=model.count_params())


def parse(argv=None):
    parser = common.parser(__doc__, seconds=600)
    parser.add_argument("--preset", default="medium", choices=sorted(PRESETS), help="CharGRU size")
    parser.add_argument("--num-layers", type=int, default=None, help="override the preset's layers")
    parser.add_argument("--block", type=int, default=128, help="CharGRU training window")
    parser.add_argument("--batch", type=int, default=64, help="CharGRU batch size")
    parser.add_argument("--lr", type=float, default=3e-3, help="CharGRU peak learning rate")
    parser.add_argument("--eval-block", type=int, default=256, help="validation window (both models)")
    parser.add_argument("--skip-tutorial", action="store_true", help="train only CharGRU")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse(argv)
    common.header()
    text = genlib.data.shakespeare()
    tok = CharTokenizer.fit(text)
    train_ids, val_ids = split(np.array(tok.encode(text)), 0.9)
    print(f"train {len(train_ids):,} chars, validation {len(val_ids):,} chars, vocab {tok.vocab_size}")

    overrides = {} if args.num_layers is None else {"num_layers": args.num_layers}
    runs = [("CharGRU " + args.preset, dict(preset=args.preset, block=args.block, batch=args.batch, lr=args.lr,
                                            clipnorm=1.0, decay=True, tutorial_windows=False, overrides=overrides))]
    if not args.skip_tutorial:
        runs.append(("TF tutorial (Emb 256, GRU 1024)", dict(preset="tutorial", block=100, batch=64, lr=1e-3,
                                                              clipnorm=None, decay=False, tutorial_windows=True,
                                                              overrides={})))
    results = []
    for name, cfg in runs:
        genlib.seed(args.seed)
        model = CharGRU.from_preset(cfg["preset"], tokenizer=tok, **cfg["overrides"])
        result = train(name, model, train_ids, args.seconds, cfg["block"], cfg["batch"], cfg["lr"],
                       cfg["clipnorm"], cfg["decay"], cfg["tutorial_windows"], args.seed)
        t = time.perf_counter()
        result["val_nats"] = model.evaluate_nats(val_ids, block_size=args.eval_block)
        result["eval_s"] = time.perf_counter() - t
        result["val_bits"] = bits_per_token(result["val_nats"])
        results.append(result)
        print(f"{name}: {result['steps']} steps in {result['seconds']:.0f} s, "
              f"{result['tokens_per_s']:,.0f} tokens/s, validation {result['val_nats']:.3f} nats/char = "
              f"{result['val_bits']:.3f} bits/char (evaluated in {result['eval_s']:.0f} s)", flush=True)
        print("  sample:", repr(model.generate_text("ROMEO:", 120, temperature=0.8, seed=0)))

    print()
    common.table(["run", "model", "params", "steps", "train tokens/s", "val nats/char", "val bits/char"],
                 [[common.today(), r["name"], f"{r['params']:,}", f"{r['steps']:,}", f"{r['tokens_per_s']:,.0f}",
                   f"{r['val_nats']:.3f}", f"{r['val_bits']:.3f}"] for r in results], align="llrrrrr")
    difference = results[0]["val_nats"] - results[1]["val_nats"] if len(results) == 2 else None
    if difference is not None:
        print(f"\nCharGRU minus tutorial: {difference:+.3f} nats/char")
    common.check_goals([(GOALS[0], difference)], args, parser)


if __name__ == "__main__":
    main()
