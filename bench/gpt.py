"""Benchmark: genlib's MiniGPT against a plain-PyTorch twin, side by side, on the CPU.

Both train the "baby GPT" configuration (n_layer 4, n_head 4, n_embd 128, block_size
64, batch 12, no dropout, no biases; AdamW lr 1e-3, betas 0.9/0.99, weight decay 0.1 on
matrices, global-norm clipping 1.0, 100 linear warm-up steps then a cosine to 1e-4 at
2,000 iterations) on the course's Shakespeare corpus (``genlib.data.shakespeare()``,
first 90 % for training, last 10 % for validation), on exactly the same batches of
random windows, each in its own subprocess so that neither slows the other. Reported
for each:

- training tokens/s in the steady state (iterations 50 to the end; compilation and
  warm-up excluded) and over the whole run, and the fraction of the machine's measured
  fp32 matmul throughput that this is, counting the model's FLOPs per token;
- validation loss in nats/char after the last iteration, over the whole validation
  split (``genlib.lm_metrics.evaluate_nats``: windows of 64, every character scored once);
- peak resident memory of the process;
- for MiniGPT, generation speed at 256 new tokens with and without the KV cache, and
  CharGRU "medium"'s (``--generation-only`` measures just these, without training:
  the speed of generation does not depend on the weights).

    python bench/gpt.py                          # the benchmark (a few minutes per model)
    python bench/gpt.py --iters 200              # a quick check that it runs
    python bench/gpt.py --jit-compile false      # MiniGPT without XLA (TensorFlow)
    python bench/gpt.py --models keras --dtype-policy mixed_bfloat16   # MiniGPT in bfloat16 mixed precision
    KERAS_BACKEND=jax python bench/gpt.py        # MiniGPT on JAX
    python bench/gpt.py --check                  # exit 1 unless the goals in bench/README.md are met
    python bench/gpt.py --generation-only        # generation speed only (seconds, no training)

Goals (bench/README.md): MiniGPT's steady-state training tokens/s at least 1.75x the
PyTorch twin's; with the KV cache, generation at least 5x as fast as without, at 256 new
tokens; on TensorFlow, MiniGPT at least 5,000 new tokens/s and CharGRU "medium" at least
3,000 tokens/s, at batch 1.
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench import common  # noqa: E402

BABY = dict(n_layer=4, n_head=4, n_embd=128, block_size=64)
GOALS = [common.Goal("MiniGPT's steady-state training tokens/s at least 1.75× the PyTorch twin's", ">=", 1.75,
                     unit="×", stated_at=("iters", "batch_size")),
         common.Goal("with the KV cache, generation at least 5× as fast as without, at 256 new tokens", ">=", 5,
                     unit="×", stated_at=("gen_tokens",))]
GENERATION_GOALS = [
    common.Goal("on TensorFlow, baby MiniGPT generates at least 5,000 new tokens/s at batch 1 with the KV cache",
                ">=", 5000, unit="tokens/s", stated_at=("gen_tokens",)),
    common.Goal("on TensorFlow, CharGRU \"medium\" generates at least 3,000 tokens/s at batch 1", ">=", 3000,
                unit="tokens/s", stated_at=("gen_tokens",))]
GOALS = GOALS + GENERATION_GOALS


def flops_per_token(vocab_size, n_layer, n_embd, block_size, **_):
    """Training FLOPs per token: 6 x (matmul parameters, tied head included) + attention.

    Forward, per token: 2 FLOPs per weight of every matmul (12 C^2 per block, V C for
    the head), plus Q K^T and A V over the whole window (2 x 2 T C per block, the
    masked half included because it is computed). Backward costs twice the forward.
    """
    matmul = n_layer * 12 * n_embd * n_embd + vocab_size * n_embd
    return 3 * (2 * matmul + n_layer * 4 * block_size * n_embd)


def data(seed, iters, batch_size, block_size):
    """Tokenizer, validation ids, and the training windows of every iteration (same in both workers)."""
    import numpy as np

    import genlib
    from genlib.tokenizer import CharTokenizer
    from genlib.windows import split

    text = genlib.data.shakespeare()
    tok = CharTokenizer.fit(text)
    train_ids, val_ids = split(np.array(tok.encode(text), "int32"), 0.9)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(train_ids) - block_size, size=(iters * batch_size))
    window = starts[:, None] + np.arange(block_size)[None, :]
    return tok, val_ids, train_ids[window], train_ids[window + 1]


def matmul_gflops(matmul, n=2048, repeats=10):
    """fp32 throughput of an n x n matmul, best of ``repeats``."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def generation_speed(model, tok, args, repeats=3):
    """New tokens/s at batch 1: MiniGPT with and without the KV cache, and CharGRU "medium".

    Each is called once first (compilation is not counted), then the three are timed
    back to back, ``repeats`` times, and the best time of each is kept.
    """

    import numpy as np

    from genlib.models import CharGRU

    gru = CharGRU.from_preset("medium", tokenizer=tok)
    prompt = np.array(tok.encode("ROMEO:"))
    runs = {"cache": lambda n: model.generate(prompt, n, seed=0),
            "no_cache": lambda n: model.generate(prompt, n, seed=0, use_cache=False),
            "gru": lambda n: gru.generate(prompt, n, seed=0)}
    for run in runs.values():
        run(8)
    best = {name: math.inf for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t = time.perf_counter()
            run(args.gen_tokens)
            best[name] = min(best[name], time.perf_counter() - t)
    return {name: args.gen_tokens / seconds for name, seconds in best.items()}


def generation_only(args, parser):
    """``--generation-only``: the generation rows, from untrained models (speed does not depend on the weights)."""
    import keras

    import genlib
    from genlib.models import MiniGPT
    from genlib.tokenizer import CharTokenizer

    genlib.seed(args.seed)
    tok = CharTokenizer.fit(genlib.data.shakespeare())
    gen = generation_speed(MiniGPT(tok.vocab_size, **BABY, tokenizer=tok), tok, args)
    backend = keras.backend.backend()
    speedup = gen["cache"] / gen["no_cache"]
    print()
    common.table(["date", "backend", "command", "MiniGPT new tokens/s, cache", "no cache", "cache / no cache",
                  "CharGRU medium tokens/s", "load average"],
                 [[common.today(), backend, f"`{common.command_line()}`", f"{gen['cache']:,.0f}",
                   f"{gen['no_cache']:,.0f}", f"{speedup:.1f}×", f"{gen['gru']:,.0f}",
                   f"{os.getloadavg()[0]:.1f} at the end"]])
    if backend != "tensorflow":
        # issue 19 sets the generation goals on TensorFlow and asks for the other rows as reports
        print(f"generation goals are judged on TensorFlow; this {backend} row is reported, not judged")
        return
    common.check_goals([(GOALS[1], speedup), (GENERATION_GOALS[0], gen["cache"]),
                        (GENERATION_GOALS[1], gen["gru"])], args, parser)


def keras_worker(args):
    import keras
    import numpy as np

    import genlib
    from genlib.models import MiniGPT, compile_for_training
    from genlib.training import StepTimer

    # "mixed_bfloat16": float32 weights and optimizer, bfloat16 activations and matmuls;
    # MiniGPT keeps its final LayerNorm, logits and loss in float32
    keras.config.set_dtype_policy(args.dtype_policy)
    genlib.seed(args.seed)
    tok, val_ids, x, y = data(args.seed, args.iters, args.batch_size, BABY["block_size"])
    model = MiniGPT(tok.vocab_size, **BABY, tokenizer=tok)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    compile_for_training(model, max_steps=args.iters, learning_rate=1e-3, min_learning_rate=1e-4,
                         warmup_steps=100, jit_compile=jit, steps_per_execution=args.steps_per_execution)

    timer = StepTimer()
    model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=False, callbacks=[timer], verbose=0)
    t0 = time.perf_counter()
    val = model.evaluate_nats(val_ids, batch_size=128)
    eval_s = time.perf_counter() - t0

    a = keras.random.normal((2048, 2048))
    gflops = matmul_gflops(lambda: keras.ops.convert_to_numpy(keras.ops.matmul(a, a)[0, 0]))

    gen = generation_speed(model, tok, args)
    sample = model.generate_text("ROMEO:", 200, temperature=0.8, seed=0)
    return dict(name=f"MiniGPT ({keras.backend.backend()}, jit_compile={model.jit_compile}, "
                     f"steps_per_execution={args.steps_per_execution}, dtype policy {args.dtype_policy})",
                times=[0.0, *timer.step_ends], steps_per_callback=args.steps_per_execution, val_nats=val, eval_s=eval_s,
                params=model.count_params(), vocab_size=tok.vocab_size, matmul_gflops=gflops, gen=gen,
                sample=sample)


def torch_worker(args):
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    from genlib.lm_metrics import evaluate_nats

    torch.manual_seed(args.seed)
    tok, val_ids, x, y = data(args.seed, args.iters, args.batch_size, BABY["block_size"])
    V, T, L, H, C = tok.vocab_size, BABY["block_size"], BABY["n_layer"], BABY["n_head"], BABY["n_embd"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C, bias=False), nn.Linear(4 * C, C, bias=False)

        def forward(self, h):
            B = h.shape[0]
            q, k, v = self.c_attn(self.ln_1(h)).view(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            h = h + self.c_proj(a)
            return h + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.blocks = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C, bias=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    residual = name.endswith(("c_proj.weight", "mlp_proj.weight"))
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L) if residual else 0.02)

        def forward(self, ids):
            h = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
            for block in self.blocks:
                h = block(h)
            return self.ln_f(h) @ self.wte.weight.T

    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))

    def lr_at(step):
        if step < 100:
            return 1e-3 * step / 100
        progress = min(1.0, (step - 100) / (args.iters - 100))
        return 1e-4 + 0.5 * (1e-3 - 1e-4) * (1 + math.cos(math.pi * progress))

    xs, ys = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    times = [time.perf_counter()]
    for step in range(args.iters):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        sl = slice(step * args.batch_size, (step + 1) * args.batch_size)
        loss = F.cross_entropy(model(xs[sl]).view(-1, V), ys[sl].view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter())
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        val = evaluate_nats(lambda w: model(torch.from_numpy(w.astype(np.int64))).numpy(), val_ids, T, 128)
    eval_s = time.perf_counter() - t0
    a = torch.randn(2048, 2048)
    gflops = matmul_gflops(lambda: a @ a)
    return dict(name=f"plain PyTorch {torch.__version__}, eager", times=times, steps_per_callback=1, val_nats=val,
                eval_s=eval_s, params=sum(p.numel() for p in model.parameters()), vocab_size=V,
                matmul_gflops=gflops, gen={}, sample="")


def summarise(result, args):
    times, k = result["times"], result["steps_per_callback"]
    tokens_per_step = args.batch_size * BABY["block_size"]
    total_s = times[-1] - times[0]
    first = min(len(times) - 1, max(1, 50 // k))           # skip compilation and warm-up
    steady_s = times[-1] - times[first]
    steady_steps = (len(times) - 1 - first) * k
    result["train_s"] = total_s
    result["tokens_per_s_all"] = args.iters * tokens_per_step / total_s
    result["tokens_per_s"] = steady_steps * tokens_per_step / steady_s if steady_steps else float("nan")
    result["flops_per_token"] = flops_per_token(result["vocab_size"], **BABY)
    return result


def parse(argv=None):
    parser = common.parser(__doc__)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--jit-compile", default="true", choices=["auto", "true", "false"],
                        help="XLA for MiniGPT's train step (TensorFlow and JAX)")
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--dtype-policy", default="float32", choices=["float32", "mixed_bfloat16"],
                        help="MiniGPT's Keras dtype policy (mixed_bfloat16: float32 weights, bfloat16 compute)")
    parser.add_argument("--gen-tokens", type=int, default=256)
    parser.add_argument("--generation-only", action="store_true",
                        help="measure generation speed only (untrained models, no training, no PyTorch twin)")
    parser.add_argument("--models", type=common.names("keras", "torch"), default="keras,torch",
                        help="which of keras,torch to run")
    parser.add_argument("--worker", choices=["keras", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.iters <= 100:
        parser.error(f"--iters must exceed the 100 warm-up steps, got {args.iters}")
    return parser, args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser, args = parse(argv)
    if args.worker:
        result = (keras_worker if args.worker == "keras" else torch_worker)(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(result))
        return

    common.header()
    if args.generation_only:
        return generation_only(args, parser)
    results = {}
    for worker in args.models:
        cmd = [sys.executable, __file__, *argv, "--worker", worker]
        out = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode or not lines:
            sys.exit(f"the {worker} worker failed:\n{out.stderr[-3000:]}")
        results[worker] = summarise(json.loads(lines[-1][7:]), args)

    # the machine's matmul throughput: the better of the two frameworks' 2048 x 2048 fp32 matmul
    peak = max(r["matmul_gflops"] for r in results.values())
    for r in results.values():
        r["matmul_fraction"] = r["tokens_per_s"] * r["flops_per_token"] / (peak * 1e9)
    first = next(iter(results.values()))
    print(f"{args.iters} iterations of {args.batch_size} x {BABY['block_size']} tokens; "
          f"{first['flops_per_token'] / 1e6:.2f} MFLOP per training token; fp32 matmul "
          + ", ".join(f"{w} {r['matmul_gflops']:.0f}" for w, r in results.items()) + " GFLOP/s")
    for r in results.values():
        print(f"{r['name']}: {r['params']:,} parameters, {r['train_s']:.0f} s, {r['tokens_per_s']:,.0f} tokens/s "
              f"steady ({r['tokens_per_s_all']:,.0f} over the whole run), {r['matmul_fraction']:.0%} of peak matmul, "
              f"validation {r['val_nats']:.4f} nats/char (evaluated in {r['eval_s']:.0f} s), "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB")
    keras_r, torch_r = results.get("keras"), results.get("torch")
    ratio = keras_r["tokens_per_s"] / torch_r["tokens_per_s"] if keras_r and torch_r else None
    gen = keras_r["gen"] if keras_r else {}
    speedup = gen["cache"] / gen["no_cache"] if gen else None
    if gen:
        print("sample:", repr(keras_r["sample"]))

    print()
    common.table(["run (command)", "MiniGPT tokens/s (steady)", "PyTorch twin tokens/s", "ratio",
                  "MiniGPT val nats/char", "twin val nats/char", "of peak matmul (MiniGPT / twin)",
                  "peak RSS MB (MiniGPT / twin)", "generation tokens/s, cache / no cache",
                  "CharGRU medium generation tokens/s"],
                 [[f"`{common.command_line()}`",
                   f"{keras_r['tokens_per_s']:,.0f}" if keras_r else "",
                   f"{torch_r['tokens_per_s']:,.0f}" if torch_r else "",
                   f"{ratio:.2f}×" if ratio is not None else "",
                   f"{keras_r['val_nats']:.3f}" if keras_r else "",
                   f"{torch_r['val_nats']:.3f}" if torch_r else "",
                   " / ".join(f"{100 * r['matmul_fraction']:.0f} %" for r in (keras_r, torch_r) if r)
                   + f" of {peak:.0f} GFLOP/s",
                   " / ".join(f"{r['peak_rss_mb']:,.0f}" for r in (keras_r, torch_r) if r),
                   f"{gen['cache']:,.0f} / {gen['no_cache']:,.0f} = {speedup:.1f}×" if gen else "",
                   f"{gen['gru']:,.0f}" if gen else ""]])
    if ratio is not None:
        print(f"\nvalidation difference (MiniGPT - twin): {keras_r['val_nats'] - torch_r['val_nats']:+.3f} nats/char")
    on_tf = keras_r is not None and keras_r["name"].startswith("MiniGPT (tensorflow")
    common.check_goals([(GOALS[0], ratio), (GOALS[1], speedup),
                        (GENERATION_GOALS[0], gen["cache"] if gen and on_tf else None),
                        (GENERATION_GOALS[1], gen["gru"] if gen and on_tf else None)], args, parser)


if __name__ == "__main__":
    main()
