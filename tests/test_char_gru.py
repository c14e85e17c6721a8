import keras
import numpy as np
import pytest

import genlib
from genlib.lm_metrics import bits_per_token
from genlib.models import CharGRU
from genlib.models.char_gru import PRESETS
from genlib.sampling import Watermark, sample
from genlib.tokenizer import CharTokenizer
from genlib.windows import WindowDataset, make_windows

TEXT = "to be, or not to be: that is the question.\n" * 20


def tiny(num_layers=2, vocab_size=11, **kwargs):
    genlib.seed(0)
    return CharGRU(vocab_size, embedding_dim=8, units=16, num_layers=num_layers, **kwargs)


def log_softmax(logits):
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def last_logits(model, prefix, width=16):
    """Logits after ``prefix`` (batch, t) from one pass over the whole prefix, from a zero state.

    The prefix is padded on the right to a fixed width: a recurrent model is causal, so
    the padding cannot change position t - 1, and with one input shape the compiled
    ``predict_on_batch`` is traced once instead of once per length.
    """
    t = prefix.shape[1]
    padded = np.zeros((prefix.shape[0], width), "int32")
    padded[:, :t] = prefix
    return np.asarray(model.predict_on_batch(padded))[:, t - 1]


def test_shapes_and_states():
    model = tiny()
    ids = np.random.default_rng(0).integers(0, 11, (3, 7))
    logits, states = model(ids, return_states=True)
    assert tuple(logits.shape) == (3, 7, 11)
    assert len(states) == 2 and all(tuple(s.shape) == (3, 16) for s in states)
    step_logits, step_states = model.step(ids[:, 0], model.initial_states(3))
    assert tuple(step_logits.shape) == (3, 11) and len(step_states) == 2


@pytest.mark.parametrize("kwargs", [dict(vocab_size=0), dict(units=0), dict(num_layers=0),
                                    dict(embedding_dim=2.5), dict(dropout=1.0)])
def test_bad_sizes(kwargs):
    args = dict(vocab_size=5, embedding_dim=4, units=4, num_layers=1)
    with pytest.raises(ValueError):
        CharGRU(**{**args, **kwargs})


def test_presets_and_tokenizer_size_check():
    tok = CharTokenizer.fit(TEXT)
    model = CharGRU.from_preset("tiny", tokenizer=tok)
    assert model.vocab_size == tok.vocab_size and model.units == PRESETS["tiny"]["units"]
    with pytest.raises(ValueError, match="unknown preset"):
        CharGRU.from_preset("huge", vocab_size=5)
    with pytest.raises(ValueError, match="tokenizer"):
        CharGRU(tok.vocab_size + 1, tokenizer=tok)


def test_step_carries_state_like_the_full_sequence():
    model = tiny()
    ids = np.random.default_rng(1).integers(0, 11, (2, 9)).astype("int32")
    full = keras.ops.convert_to_numpy(model(ids))
    states = model.initial_states(2)
    for t in range(ids.shape[1]):
        logits, states = model.step(ids[:, t], states)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), full[:, t], atol=1e-5)
    # the bug this guards against: a sampler that starts every step from a zero state
    forgetful, _ = model.step(ids[:, -1], model.initial_states(2))
    assert np.abs(keras.ops.convert_to_numpy(forgetful) - full[:, -1]).max() > 1e-3


def host_loop(model, prompt, n, seed, **sampling):
    """Today's host loop: the prompt read once, then model.step and genlib.sampling.sample per token."""
    rng, out = genlib.config.rng(seed), prompt
    logits, states = model(prompt.astype("int32"), return_states=True)
    logits = keras.ops.convert_to_numpy(logits)[:, -1]
    for _ in range(n):
        token = sample(logits, rng=rng, previous=out[:, -1], **sampling)
        out = np.concatenate([out, token[:, None]], axis=1)
        logits, states = model.step(token.astype("int32"), states)
        logits = keras.ops.convert_to_numpy(logits)
    return out


@pytest.mark.parametrize("sampling", [dict(), dict(temperature=0.5), dict(top_k=3), dict(top_p=0.7),
                                      dict(watermark=Watermark(3, delta=2.0))])
def test_compiled_generation_equals_the_host_loop(sampling):
    """The compiled loop (sampler inside) picks the host loop's tokens for the same seed."""
    model = tiny()
    for prompt in (np.array([[1, 2, 3], [4, 5, 6]]), np.array([[7]])):
        np.testing.assert_array_equal(model.generate(prompt, 30, seed=1, **sampling),
                                      host_loop(model, prompt, 30, 1, **sampling))


@pytest.mark.parametrize("sampling", [dict(), dict(temperature=0.7, top_k=4), dict(top_p=0.8)])
def test_stateful_generation_equals_full_recomputation(sampling):
    """generate() (one step per token) draws the same tokens as re-reading the prefix."""
    model = tiny()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    fast = model.generate(prompt, 8, seed=3, **sampling)
    rng = np.random.default_rng(3)
    slow = prompt.copy()
    for _ in range(8):
        logits = last_logits(model, slow)
        slow = np.concatenate([slow, sample(logits, rng=rng, **sampling)[:, None]], axis=1)
    np.testing.assert_array_equal(fast, slow)
    assert fast.shape == (2, 11) and (fast[:, :3] == prompt).all()


def test_top_k_one_is_greedy():
    model = tiny(num_layers=1)
    out = model.generate([0, 1], 6, top_k=1, seed=None)
    for t in range(2, 8):
        assert out[t] == last_logits(model, out[None, :t])[0].argmax()


def test_seeded_generation_repeats():
    model = tiny()
    a, b = model.generate([1, 2], 10, seed=5), model.generate([1, 2], 10, seed=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (12,) and 0 <= a.min() and a.max() < 11


@pytest.mark.parametrize("kwargs", [dict(temperature=0), dict(temperature=-1.0), dict(top_k=0),
                                    dict(top_p=0.0), dict(top_p=1.5), dict(max_new_tokens=-1),
                                    dict(prompt_ids=[]), dict(prompt_ids=[0, 11]),
                                    dict(prompt_ids=[0.5, 1.0])])
def test_generate_rejects_bad_arguments(kwargs):
    args = dict(prompt_ids=[1, 2], max_new_tokens=3)
    with pytest.raises(ValueError):
        tiny(num_layers=1).generate(**{**args, **kwargs})


def test_generate_text_needs_tokenizer():
    with pytest.raises(ValueError, match="tokenizer"):
        tiny().generate_text("ab", 3)


def test_save_load_round_trip(tmp_path):
    tok = CharTokenizer.fit(TEXT)
    genlib.seed(0)
    model = CharGRU(tok.vocab_size, embedding_dim=8, units=16, num_layers=2, dropout=0.1, tokenizer=tok)
    ids = np.array([tok.encode("to be or")], "int32")
    before = keras.ops.convert_to_numpy(model(ids))
    path = tmp_path / "gru.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, CharGRU) and loaded.tokenizer == tok
    assert (loaded.units, loaded.num_layers, loaded.dropout) == (16, 2, 0.1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(ids)), before, atol=1e-6)
    assert loaded.generate_text("to", 20, seed=1) == model.generate_text("to", 20, seed=1)


def test_evaluate_nats_scores_every_token_once():
    model = tiny(num_layers=1)
    ids = np.random.default_rng(2).integers(0, 11, 23)
    expected = []
    for s in (0, 5, 10, 15):  # four windows of 5 score ids[1:21]
        lp = log_softmax(keras.ops.convert_to_numpy(model(ids[None, s:s + 5].astype("int32"))))[0]
        expected += list(-lp[np.arange(5), ids[s + 1:s + 6]])
    lp = log_softmax(keras.ops.convert_to_numpy(model(ids[None, 17:22].astype("int32"))))[0]
    expected += list(-lp[[3, 4], ids[[21, 22]]])  # the last window adds ids[21], ids[22]
    assert len(expected) == len(ids) - 1
    np.testing.assert_allclose(model.evaluate_nats(ids, block_size=5, batch_size=2), np.mean(expected), rtol=1e-5)
    assert np.isclose(bits_per_token(np.log(2.0)), 1.0)


def test_fit_lowers_validation_loss():
    tok = CharTokenizer.fit(TEXT)
    ids = np.array(tok.encode(TEXT))
    genlib.seed(0)
    model = CharGRU(tok.vocab_size, embedding_dim=8, units=32, num_layers=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate_nats(ids[-200:], block_size=40)
    model.fit(WindowDataset(ids[:-200], 40, 16, steps=30, seed=0), epochs=1, verbose=0)
    after = model.evaluate_nats(ids[-200:], block_size=40)
    assert after < before - 0.5
    # Keras' own loss on windows that cover a text exactly agrees with evaluate_nats
    x, y = make_windows(ids[-161:], 40)
    assert x.shape == (4, 40)
    assert np.isclose(model.evaluate(x, y, verbose=0), model.evaluate_nats(ids[-161:], block_size=40), rtol=1e-4)


def test_python_source_is_offline_ascii_code():
    code = genlib.data.python_source(max_chars=5000)
    assert len(code) == 5000 and code.isascii() and "\t" not in code
    assert "def " in code or "import " in code


# --- issue 18 ------------------------------------------------------------------

def test_a_fresh_model_trains_with_resumable(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    tok = CharTokenizer.fit(TEXT)
    model = CharGRU(tok.vocab_size, embedding_dim=4, units=8)            # never called before fit
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = WindowDataset(tok.encode(TEXT), 10, 4, steps=2, seed=0)
    assert model.fit(data, epochs=1, verbose=0, callbacks=[genlib.training.resumable("gru")]).epoch == [0]


def test_out_of_range_ids_are_rejected_before_training():
    model = tiny(num_layers=1)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.zeros((2, 5), "int32")
    for bad_x, bad_y, match in ((x - 1, x, "input ids"), (x + 11, x, "input ids"), (x, x + 11, "targets"),
                                (x, x - 1, "targets"), (x.astype("float32") + 0.5, x, "integer")):
        with pytest.raises(ValueError, match=match):
            model.fit(bad_x, bad_y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="WindowDataset"):
        model.fit(WindowDataset(np.arange(30), 5, 2, steps=1), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"0\.\.10"):
        model.evaluate(x, x + 11, verbose=0)
    with pytest.raises(ValueError, match=r"0\.\.10"):
        model.evaluate_nats(np.array([0, 1, -1, 3]), block_size=2)


def test_seed_none_follows_genlib_seed():
    model = tiny(num_layers=1)
    genlib.seed(5)
    a = model.generate([1, 2], 8)
    genlib.seed(5)
    np.testing.assert_array_equal(model.generate([1, 2], 8), a)


def test_build_after_creation_is_a_no_op():
    # chapter 05 calls gru.build((None, block_size)) to count parameters; the model is
    # already built in __init__, so this must neither fail nor change a weight
    model = tiny(num_layers=1)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    model.build((None, 100))
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(w)) for a, w in zip(before, model.weights))
