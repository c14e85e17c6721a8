"""genlib.models.causal_lm.CausalLM: what CharGRU and MiniGPT share, tested once on a toy model.

The toy is a bigram model (logits = a learned table row of the previous token): the
smallest model that fills the base's hooks, so these tests check the base itself; the
two real models are checked to take its behaviour rather than a copy of it.
"""

import keras
import numpy as np
import pytest

import genlib
from genlib.models import CharGRU, MiniGPT
from genlib.models.causal_lm import CausalLM, check_generate_args, padded_length
from genlib.sampling import Watermark, sample, sample_op
from genlib.tokenizer import CharTokenizer
from genlib.windows import WindowDataset

TEXT = "abcabcabd" * 30


@keras.saving.register_keras_serializable(package="genlib_tests")
class Bigram(CausalLM):
    """logits[:, t] = table[ids[:, t]]: p(x_{t+1} | x_<=t) depends on x_t only."""

    PRESETS = {"one": dict(width=1), "two": dict(width=2)}

    def __init__(self, vocab_size, width=1, dropout=0.0, tokenizer=None, **kwargs):
        super().__init__(vocab_size, dict(width=width), dropout, tokenizer, **kwargs)
        self.width = int(width)
        self.table = keras.layers.Embedding(self.vocab_size, self.vocab_size, name="table")
        self.table.build((None, None))
        self.built = True

    def call(self, ids, training=False):
        return self.table(ids)

    def generate_step(self, tokens, prompt_length, length, uniforms, settings, greedy_first=False):
        def body(t, tokens):
            logits = self.table(tokens[:, t])
            token = sample_op(logits, uniforms[t], settings, previous=tokens[:, t])
            if greedy_first:
                greedy = keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")
                token = keras.ops.where(t + 1 == prompt_length, greedy, token)
            return keras.ops.slice_update(tokens, (0, t + 1), token[:, None])

        return keras.ops.fori_loop(prompt_length - 1, length - 1, body, tokens)

    def _eval_block_size(self, block_size):
        return 16 if block_size is None else block_size

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def bigram(**kwargs):
    genlib.seed(0)
    return Bigram(5, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocab_size=0), "vocab_size"), (dict(vocab_size=2.5), "vocab_size"), (dict(width=0), "width"),
    (dict(dropout=1.0), "dropout"), (dict(tokenizer=CharTokenizer.fit("abc")), "tokenizer has 3"),
])
def test_constructor_checks(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Bigram(**{"vocab_size": 5, **kwargs})


def test_from_preset_reads_the_subclass_presets():
    tok = CharTokenizer.fit(TEXT)
    model = Bigram.from_preset("two", tokenizer=tok)
    assert (model.width, model.vocab_size, model.tokenizer) == (2, tok.vocab_size, tok)
    with pytest.raises(ValueError, match="unknown preset"):
        Bigram.from_preset("three", vocab_size=5)


def test_fit_and_evaluate_refuse_ids_outside_the_vocabulary():
    model = bigram()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    bad = np.array([[0, 1, 5]])
    with pytest.raises(ValueError):
        model.fit(bad, np.array([[1, 2, 3]]), verbose=0)
    with pytest.raises(ValueError):
        model.evaluate(np.array([[0, 1, 2]]), bad, verbose=0)


def test_generate_samples_with_the_course_sampler():
    """generate (compiled) = argument checks + the seeded genlib.sampling.sample, step by step."""
    model = bigram()
    prompt = np.array([[1, 2], [3, 4]])
    out = model.generate(prompt, 6, temperature=0.7, top_k=3, seed=11)
    rng = genlib.config.rng(11)
    expected = prompt
    for _ in range(6):
        logits = keras.ops.convert_to_numpy(model(expected[:, -1:]))[:, 0]
        token = sample(logits, 0.7, 3, None, rng=rng)
        expected = np.concatenate([expected, token[:, None]], axis=1)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.int64
    marked = Watermark(1, delta=3.0)
    out = model.generate(prompt, 6, top_p=0.9, seed=12, watermark=marked)
    rng, expected = genlib.config.rng(12), prompt
    for _ in range(6):
        logits = keras.ops.convert_to_numpy(model(expected[:, -1:]))[:, 0]
        token = sample(logits, top_p=0.9, rng=rng, watermark=marked, previous=expected[:, -1])
        expected = np.concatenate([expected, token[:, None]], axis=1)
    np.testing.assert_array_equal(out, expected)
    single = model.generate([1, 2], 4, seed=3)
    np.testing.assert_array_equal(single, model.generate([[1, 2]], 4, seed=3)[0])


def test_generate_passes_options_and_the_watermark():
    model = bigram()
    greedy = model.generate([2], 1, seed=0, greedy_first=True)
    table = keras.ops.convert_to_numpy(model.table.embeddings)
    assert greedy[-1] == table[2].argmax()
    marked = model.generate([2], 30, seed=0, watermark=Watermark("k", delta=50.0))
    plain = model.generate([2], 30, seed=0)
    assert not np.array_equal(marked, plain), "the watermark must reach the sampler"


def test_check_generate_args():
    ids, single = check_generate_args([1, 2, 3], 5, vocab_size=4)
    assert single and ids.shape == (1, 3) and ids.dtype == np.int64
    ids, single = check_generate_args(np.zeros((2, 1), "int32"), 0, vocab_size=4)
    assert not single and ids.shape == (2, 1)
    for prompt, n, message in (([], 1, "shape"), ([[[1]]], 1, "shape"), ([4], 1, "0..3"), ([-1], 1, "0..3"),
                               ([0.5], 1, "integers"), ([1], -1, "max_new_tokens"), ([1], 1.5, "max_new_tokens")):
        with pytest.raises(ValueError, match=message):
            check_generate_args(prompt, n, vocab_size=4)
    with pytest.raises(ValueError, match="temperature"):
        check_generate_args([1], 1, vocab_size=4, temperature=0)


def test_generate_lays_out_fixed_shapes():
    """One compiled trace serves many prompt lengths and max_new_tokens (padded buffers)."""
    assert [padded_length(n) for n in (1, 64, 65, 200)] == [64, 64, 128, 256]
    model = bigram()
    assert model.generate([1, 2, 3], 0).tolist() == [1, 2, 3]
    for prompt, n in (([1], 5), ([1, 2, 3, 4], 20), ([2, 2], 50)):
        assert model.generate(prompt, n, seed=0).shape == (len(prompt) + n,)
    assert len(model._generate_fns) == 1


@pytest.mark.parametrize("kwargs", [dict(temperature=0), dict(top_p=1.5), dict(max_new_tokens=-1),
                                    dict(prompt_ids=[0, 5]), dict(prompt_ids=[])])
def test_generate_checks_its_arguments(kwargs):
    with pytest.raises(ValueError):
        bigram().generate(**{"prompt_ids": [1], "max_new_tokens": 2, **kwargs})


def test_generate_text_needs_a_tokenizer_and_round_trips_text():
    with pytest.raises(ValueError, match="this Bigram has no tokenizer"):
        bigram().generate_text("ab", 2)
    tok = CharTokenizer.fit(TEXT)
    genlib.seed(0)
    text = Bigram(tok.vocab_size, tokenizer=tok).generate_text("ab", 5, seed=0)
    assert text.startswith("ab") and len(text) == 7 and set(text) <= set(TEXT)


def test_evaluate_nats_uses_the_models_window():
    model = bigram()
    ids = np.random.default_rng(0).integers(0, 5, 200)
    logp = keras.ops.convert_to_numpy(keras.ops.log_softmax(model.table.embeddings, axis=-1))
    # a bigram's loss does not depend on the window, so every window gives the exact mean
    exact = -np.mean(logp[ids[:-1], ids[1:]])
    assert model.evaluate_nats(ids) == pytest.approx(exact, rel=1e-5)
    assert model.evaluate_nats(ids, block_size=7, batch_size=3) == pytest.approx(exact, rel=1e-5)


def test_config_round_trip_keeps_sizes_and_tokenizer(tmp_path):
    tok = CharTokenizer.fit(TEXT)
    genlib.seed(0)
    model = Bigram(tok.vocab_size, width=2, dropout=0.25, tokenizer=tok)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert (loaded.width, loaded.dropout, loaded.tokenizer.get_config()) == (2, 0.25, tok.get_config())
    assert loaded.generate_text("ab", 5, seed=1) == model.generate_text("ab", 5, seed=1)


@pytest.mark.parametrize("cls, preset", [(CharGRU, "tiny"), (MiniGPT, "tiny")])
def test_both_language_models_take_the_base(cls, preset):
    """The two models inherit the shared methods (no copies) and fill the hooks."""
    assert issubclass(cls, CausalLM)
    for name in ("from_preset", "fit", "evaluate", "generate", "generate_text", "evaluate_nats"):
        assert name not in vars(cls), f"{cls.__name__} redefines {name}: it belongs to CausalLM"
    for name in ("call", "generate_step", "_eval_block_size", "get_config"):
        assert name in vars(cls), f"{cls.__name__} must fill the hook {name}"
    tok = CharTokenizer.fit(TEXT)
    genlib.seed(0)
    model = cls.from_preset(preset, tokenizer=tok)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(WindowDataset(tok.encode(TEXT), 16, 4, steps=2), verbose=0)
    text = model.generate_text("abc", 8, seed=0)
    assert text.startswith("abc") and len(text) == 11 and text == model.generate_text("abc", 8, seed=0)
    assert np.isfinite(model.evaluate_nats(tok.encode(TEXT)[:100], block_size=16))
