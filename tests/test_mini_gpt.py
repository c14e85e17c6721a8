import math
import warnings

import keras
import numpy as np
import pytest

import genlib
from genlib.lm_metrics import evaluate_nats
from genlib.models import MiniGPT, compile_for_training
from genlib.models.mini_gpt import PRESETS, CausalSelfAttention
from genlib.sampling import Watermark, sample
from genlib.tokenizer import CharTokenizer
from genlib.windows import WindowDataset, make_windows

TEXT = "to be, or not to be: that is the question.\n" * 20


def tiny(block_size=12, n_layer=2, vocab_size=11, **kwargs):
    genlib.seed(0)
    return MiniGPT(vocab_size, block_size=block_size, n_layer=n_layer, n_head=2, n_embd=16, **kwargs)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_shapes_and_shorter_inputs():
    model = tiny()
    ids = np.random.default_rng(0).integers(0, 11, (3, 7)).astype("int32")
    assert tuple(model(ids).shape) == (3, 7, 11)
    assert tuple(model(ids[:, :1]).shape) == (3, 1, 11)


def test_causal_mask_hides_the_future():
    model = tiny()
    ids = np.random.default_rng(1).integers(0, 11, (2, 12)).astype("int32")
    changed = ids.copy()
    changed[:, 7] = (changed[:, 7] + 1) % 11
    a, b = numpy(model(ids)), numpy(model(changed))
    np.testing.assert_allclose(a[:, :7], b[:, :7], atol=1e-6)       # earlier positions: unchanged
    assert np.abs(a[:, 7:] - b[:, 7:]).max(axis=-1).min() > 1e-4     # position 7 and later: all changed


def test_attention_layer_matches_the_formula():
    """softmax(Q K^T / sqrt(d) + causal mask) V per head, then W_O, from the layer's own weights."""
    genlib.seed(3)
    layer = CausalSelfAttention(n_embd=8, n_head=2)
    x = np.random.default_rng(3).normal(size=(2, 5, 8)).astype("float32")
    y = numpy(layer(x))
    w_qkv, w_o = (numpy(w) for w in layer.weights)
    q, k, v = np.split(x @ w_qkv, 3, axis=-1)
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        scores = q[..., sl] @ k[..., sl].transpose(0, 2, 1) / math.sqrt(4)
        scores = np.where(np.tril(np.ones((5, 5), bool)), scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        heads.append(weights @ v[..., sl])
    np.testing.assert_allclose(y, np.concatenate(heads, -1) @ w_o, atol=1e-5)


def test_tied_output_projection_and_parameter_count():
    model = tiny(vocab_size=13)
    C, V, S, L = 16, 13, 12, 2
    # no (C, V) output matrix: the logits reuse the token embedding wte (V, C)
    assert not any(tuple(v.shape) == (C, V) for v in model.trainable_variables)
    # per block: W_QKV 3C^2 + W_O C^2 + MLP 8C^2, two LayerNorm scales; plus ln_f
    assert model.count_params() == V * C + S * C + L * (12 * C * C + 2 * C) + C
    ids = np.array([[1, 2, 3]], "int32")
    before = numpy(model(ids))
    wte = numpy(model.wte.embeddings)
    wte[5] += np.random.default_rng(0).normal(size=C)   # token 5 is not in the input...
    model.wte.embeddings.assign(wte)
    after = numpy(model(ids))
    assert np.abs(after[..., 5] - before[..., 5]).min() > 1e-3      # ...yet its logit moved
    np.testing.assert_allclose(np.delete(after, 5, -1), np.delete(before, 5, -1), atol=1e-6)


def test_gpt2_initialisation_scales():
    genlib.seed(0)
    model = MiniGPT(50, block_size=16, n_layer=8, n_head=4, n_embd=128)
    stds = {v.path.split("/", 1)[1]: float(np.std(numpy(v))) for v in model.weights if len(v.shape) == 2}
    residual = 0.02 / math.sqrt(2 * 8)
    for path, std in stds.items():
        expected = residual if path.endswith(("c_proj/kernel", "mlp_proj/kernel")) else 0.02
        assert abs(std - expected) < 0.1 * expected, (path, std, expected)
    assert any(path.endswith("mlp_proj/kernel") for path in stds)


def test_cached_step_logits_equal_the_full_pass():
    model = tiny()
    ids = np.random.default_rng(4).integers(0, 11, (2, 9)).astype("int32")
    full = numpy(model(ids))
    # generate_step's prefill reads a window padded to block_size: the padding changes nothing
    tokens = np.zeros((2, 12), "int32")
    tokens[:, :4] = ids[:, :4]
    logits, cache, filled = model._prefill(tokens, 0, 4)
    np.testing.assert_allclose(numpy(logits), full[:, 3], atol=1e-5)
    for t in range(4, 9):
        logits, cache, filled = model._step(ids[:, t], cache, filled)
        np.testing.assert_allclose(numpy(logits), full[:, t], atol=1e-5)
    assert int(filled) == 9
    # the same cached call, eager (not compiled): a whole prompt at once, then one token
    logits, cache = model.call_with_cache(ids[:, :5], model.empty_cache(2), 0)
    np.testing.assert_allclose(numpy(logits), full[:, :5], atol=1e-5)
    assert tuple(cache.shape) == (2, 2, 2, 12, 2, 8)
    logits, cache = model.call_with_cache(ids[:, 5:6], cache, 5)
    np.testing.assert_allclose(numpy(logits)[:, 0], full[:, 5], atol=1e-5)


def test_the_cache_write_lands_at_index_and_nowhere_else():
    model = tiny()
    ids = np.random.default_rng(5).integers(0, 11, (1, 3)).astype("int32")
    _, cache = model.call_with_cache(ids, model.empty_cache(1), 4)
    written = np.abs(numpy(cache)).sum(axis=(0, 1, 2, 4, 5))            # (block_size,)
    assert (written[4:7] > 0).all() and (written[:4] == 0).all() and (written[7:] == 0).all()


def test_attention_dropout_acts_only_when_training():
    genlib.seed(0)
    attn = CausalSelfAttention(16, 2, dropout=0.5)
    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    attn.build(x.shape)
    fused = numpy(attn(x))                                  # inference: the fused kernel
    # the spelled-out softmax (training with dropout) equals the fused kernel at rate 0
    attn.attn_drop.rate = attn.resid_drop.rate = 0.0
    np.testing.assert_allclose(numpy(attn(x, training=True)), fused, atol=1e-5)
    attn.attn_drop.rate = 0.5                               # attention dropout alone
    a, b = numpy(attn(x, training=True)), numpy(attn(x, training=True))
    assert not np.allclose(a, fused, atol=1e-3) and not np.allclose(a, b, atol=1e-3)
    np.testing.assert_allclose(numpy(attn(x)), fused, atol=1e-6)


@pytest.mark.parametrize("sampling", [dict(), dict(temperature=0.7, top_k=4), dict(top_p=0.8)])
def test_generation_with_and_without_cache_agree(sampling):
    model = tiny()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    fast = model.generate(prompt, 9, seed=3, **sampling)                  # 3 + 9 = block_size
    slow = model.generate(prompt, 9, seed=3, use_cache=False, **sampling)
    np.testing.assert_array_equal(fast, slow)
    # and both equal a loop that recomputes the whole prefix with model(...) itself
    rng = np.random.default_rng(3)
    ref = prompt.copy()
    for _ in range(9):
        logits = numpy(model(ref.astype("int32")))[:, -1]
        ref = np.concatenate([ref, sample(logits, rng=rng, **sampling)[:, None]], axis=1)
    np.testing.assert_array_equal(fast, ref)


def test_generation_reads_the_last_block_size_tokens():
    """The bug this guards against: feeding the first block_size tokens of a long context."""
    model = tiny()

    def next_greedy(window):
        return numpy(model(window[None].astype("int32")))[0, -1].argmax()

    # a prompt whose first and last 12 tokens predict different next tokens, so the
    # test can tell which end the model read
    for seed in range(50):
        long_prompt = np.random.default_rng(seed).integers(0, 11, 30)
        if next_greedy(long_prompt[-12:]) != next_greedy(long_prompt[:12]):
            break
    expected = next_greedy(long_prompt[-12:])
    assert expected != next_greedy(long_prompt[:12])
    for use_cache in (False, True):
        with pytest.warns(UserWarning, match="last block_size"):
            out = model.generate(long_prompt, 1, top_k=1, use_cache=use_cache)
        assert out[-1] == expected and out.shape == (31,)


def host_loop(model, prompt, n, seed, use_cache=True, **sampling):
    """Today's host loop, one genlib.sampling.sample per token; with the cache, it restarts
    from the last block_size // 2 tokens when the window is full."""
    rng, out, size = genlib.config.rng(seed), prompt, model.block_size

    def prefill(window):
        logits, cache = model.call_with_cache(window.astype("int32"), model.empty_cache(len(window)), 0)
        return numpy(logits)[:, -1], cache, window.shape[1]

    if use_cache:
        logits, cache, filled = prefill(out[:, -size:])
    for _ in range(n):
        if not use_cache:
            logits = numpy(model(out[:, -size:].astype("int32")))[:, -1]
        token = sample(logits, rng=rng, previous=out[:, -1], **sampling)
        out = np.concatenate([out, token[:, None]], axis=1)
        if use_cache and filled == size:
            logits, cache, filled = prefill(out[:, -(size // 2):])
        elif use_cache:
            logits, cache = model.call_with_cache(token[:, None].astype("int32"), cache, filled)
            logits, filled = numpy(logits)[:, 0], filled + 1
    return out


@pytest.mark.parametrize("sampling", [dict(), dict(temperature=0.5), dict(top_k=3), dict(top_p=0.7),
                                      dict(watermark=Watermark(3, delta=2.0))])
@pytest.mark.parametrize("use_cache", [True, False])
def test_compiled_generation_equals_the_host_loop(sampling, use_cache):
    """Same seed, same tokens as the host loop, past block_size too (30 new tokens, window 8)."""
    model = tiny(block_size=8)
    for prompt in (np.array([[1, 2, 3], [4, 5, 6]]), np.arange(10)[None]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)           # the 10-token prompt is cropped
            out = model.generate(prompt, 30, seed=1, use_cache=use_cache, **sampling)
        np.testing.assert_array_equal(out, host_loop(model, prompt, 30, 1, use_cache, **sampling))


def test_generation_past_the_window_with_the_cache():
    model = tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)        # no cropping warning for a short prompt
        out = model.generate([1, 2], 40, seed=0)
    assert out.shape == (42,) and 0 <= out.min() and out.max() < 11
    a, b = model.generate([1, 2], 40, seed=7), model.generate([1, 2], 40, seed=7)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs", [dict(vocab_size=0), dict(n_layer=0), dict(block_size=2.5),
                                    dict(n_embd=15), dict(dropout=1.0)])
def test_bad_sizes(kwargs):
    args = dict(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=8)
    with pytest.raises(ValueError):
        MiniGPT(**{**args, **kwargs})


@pytest.mark.parametrize("kwargs", [dict(temperature=0), dict(temperature=-1.0), dict(top_k=0),
                                    dict(top_p=0.0), dict(top_p=1.5), dict(max_new_tokens=-1),
                                    dict(prompt_ids=[]), dict(prompt_ids=[0, 11]), dict(prompt_ids=[0.5])])
def test_generate_rejects_bad_arguments(kwargs):
    args = dict(prompt_ids=[1, 2], max_new_tokens=3)
    with pytest.raises(ValueError):
        tiny(n_layer=1).generate(**{**args, **kwargs})


def test_input_longer_than_the_window_is_an_error():
    with pytest.raises(ValueError, match="block_size"):
        tiny()(np.zeros((1, 13), "int32"))


def test_presets_and_tokenizer():
    tok = CharTokenizer.fit(TEXT)
    model = MiniGPT.from_preset("tiny", tokenizer=tok)
    assert model.block_size == PRESETS["tiny"]["block_size"] and model.vocab_size == tok.vocab_size
    with pytest.raises(ValueError, match="unknown preset"):
        MiniGPT.from_preset("huge", vocab_size=5)
    with pytest.raises(ValueError, match="tokenizer"):
        MiniGPT(tok.vocab_size + 1, 8, 1, 1, 8, tokenizer=tok)
    with pytest.raises(ValueError, match="tokenizer"):
        tiny().generate_text("ab", 3)


def test_save_load_round_trip(tmp_path):
    tok = CharTokenizer.fit(TEXT)
    genlib.seed(0)
    model = MiniGPT(tok.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.1, bias=True,
                    tokenizer=tok)
    ids = np.array([tok.encode("to be or")], "int32")
    before = numpy(model(ids))
    path = tmp_path / "gpt.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, MiniGPT) and loaded.tokenizer == tok
    assert (loaded.block_size, loaded.n_layer, loaded.dropout, loaded.bias) == (16, 2, 0.1, True)
    np.testing.assert_allclose(numpy(loaded(ids)), before, atol=1e-6)
    assert loaded.generate_text("to", 20, seed=1) == model.generate_text("to", 20, seed=1)


def test_training_recipe():
    model = tiny()
    schedule = compile_for_training(model, max_steps=50, learning_rate=1e-3, min_learning_rate=1e-4,
                                    warmup_steps=10)
    lr = [float(numpy(schedule(step))) for step in (0, 5, 10, 50, 80)]
    np.testing.assert_allclose(lr, [0.0, 5e-4, 1e-3, 1e-4, 1e-4], rtol=1e-5, atol=1e-9)
    optimizer = model.optimizer
    assert (optimizer.weight_decay, optimizer.beta_2, optimizer.global_clipnorm) == (0.1, 0.99, 1.0)
    assert model.jit_compile == (keras.backend.backend() != "torch")
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed == {v.path for v in model.trainable_variables if len(v.shape) == 2}
    assert any("wte" in p for p in decayed) and not any("ln_" in p for p in decayed)
    with pytest.raises(ValueError):
        compile_for_training(model, max_steps=10, warmup_steps=10)


def test_fit_lowers_validation_loss_and_evaluate_nats_agrees_with_keras():
    tok = CharTokenizer.fit(TEXT)
    ids = np.array(tok.encode(TEXT))
    genlib.seed(0)
    model = MiniGPT(tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32, tokenizer=tok)
    compile_for_training(model, max_steps=60, learning_rate=3e-3, warmup_steps=5)
    before = model.evaluate_nats(ids[-200:])
    model.fit(WindowDataset(ids[:-200], 32, 16, steps=60, seed=0), epochs=1, verbose=0)
    after = model.evaluate_nats(ids[-200:])
    assert after < before - 0.5
    x, y = make_windows(ids[-129:], 32)
    assert x.shape == (4, 32)
    assert np.isclose(model.evaluate(x, y, verbose=0), model.evaluate_nats(ids[-129:]), rtol=1e-4)
    assert np.isclose(evaluate_nats(model.predict_on_batch, ids[-129:], 32), model.evaluate_nats(ids[-129:]))


# --- issue 18 ------------------------------------------------------------------

def test_reloaded_model_keeps_its_weight_decay_exclusions(tmp_path):
    model = tiny()
    compile_for_training(model, max_steps=20, warmup_steps=2)
    ids = np.random.default_rng(0).integers(0, 11, (4, 12)).astype("int32")
    model.fit(ids, ids, epochs=1, verbose=0)
    path = tmp_path / "gpt.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    decayed = {v.path for v in loaded.trainable_variables if loaded.optimizer._use_weight_decay(v)}
    assert decayed == {v.path for v in loaded.trainable_variables if len(v.shape) == 2}
    loaded.fit(ids, ids, epochs=1, verbose=0)        # and training goes on
    assert loaded.get_compile_config().get("genlib_no_decay") == "non_matrices"


def test_out_of_range_ids_are_rejected_before_training():
    model = tiny(n_layer=1)
    compile_for_training(model, max_steps=20, warmup_steps=2)
    x = np.zeros((2, 12), "int32")
    for bad_x, bad_y, match in ((x + 11, x, "input ids"), (x - 1, x, "input ids"), (x, x + 11, "targets")):
        with pytest.raises(ValueError, match=match):
            model.fit(bad_x, bad_y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="WindowDataset"):
        model.fit(WindowDataset(np.arange(40), 12, 2, steps=1), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"0\.\.10"):
        model.evaluate_nats(np.array([0, 1, 11, 3, 4]))
