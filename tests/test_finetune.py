"""genlib.finetune, genlib.pretrained and the play table of genlib.data (chapter 06)."""

import collections
import math
import warnings

import keras
import numpy as np
import pytest

import genlib
from genlib import finetune, pretrained
from genlib.data import GENRES, PLAY_GENRES, Play
from genlib.models import MiniGPT
from genlib.tokenizer import CharTokenizer


def fake_plays():
    rng = np.random.default_rng(0)
    plays = []
    for genre, count in (("comedy", 4), ("history", 3), ("tragedy", 3)):
        for i in range(count):
            text = "".join(rng.choice(list("abc \n"), size=200 + 40 * i))
            plays.append(Play(f"{genre}_{i}", f"{genre.title()} {i}", genre, text))
    return plays


def tiny_gpt(block_size=8, vocab_size=7, seed=0, **kwargs):
    genlib.seed(seed)
    return MiniGPT(vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=16, **kwargs)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    return tmp_path


# --- the genre table ------------------------------------------------------------------

def test_genre_table_is_the_37_plays_in_folio_groups():
    genres = collections.Counter(genre for _, genre in PLAY_GENRES.values())
    assert len(PLAY_GENRES) == 37
    assert genres == {"comedy": 15, "history": 10, "tragedy": 12}   # 14 Folio comedies + Pericles
    assert set(genres) == set(GENRES)
    assert PLAY_GENRES["hamlet"] == ("Hamlet", "tragedy") and PLAY_GENRES["henry_v"][1] == "history"


def test_shakespeare_plays_match_the_table_and_the_corpus():
    try:
        plays = genlib.data.shakespeare_plays()
    except genlib.data.DataUnavailableError as error:
        pytest.skip(f"Shakespeare corpus not in the cache: {error}")
    assert [p.slug for p in plays] == sorted(PLAY_GENRES)
    assert all(p.genre == PLAY_GENRES[p.slug][1] and len(p.text) > 50_000 for p in plays)
    assert "\n".join(p.text for p in plays) == genlib.data.shakespeare()


# --- splits and passages --------------------------------------------------------------

def test_split_holds_whole_plays_out_in_every_genre():
    plays = fake_plays()
    train, test = finetune.split_plays(plays, test_fraction=1 / 3, seed=3)
    assert not {p.slug for p in train} & {p.slug for p in test}
    assert len(train) + len(test) == len(plays)
    assert {p.genre for p in test} == set(GENRES) == {p.genre for p in train}
    other = finetune.split_plays(plays, test_fraction=1 / 3, seed=4)[1]
    assert finetune.split_plays(plays, test_fraction=1 / 3, seed=3)[1] == test   # seeded
    assert {p.slug for p in other} != {p.slug for p in test} or len(plays) < 4


def test_split_by_name_and_bad_names():
    plays = fake_plays()
    train, test = finetune.split_plays(plays, test=["comedy_0", "history_2"])
    assert [p.slug for p in test] == ["comedy_0", "history_2"]
    with pytest.raises(ValueError, match="unknown play.*hamlett"):
        finetune.split_plays(plays, test=["hamlett"])
    with pytest.raises(ValueError, match="test_fraction"):
        finetune.split_plays(plays, test_fraction=1.0)


def test_passages_are_labelled_slices_without_overlap():
    plays = fake_plays()
    texts, labels, which = finetune.passages(plays, 50, n=30, seed=1)
    assert len(texts) == 30 and all(len(t) == 50 for t in texts)
    for text, label, i in zip(texts, labels, which):
        assert text in plays[i].text and GENRES[label] == plays[i].genre
    everything = finetune.passages(plays, 50)[0]
    assert len(everything) == sum(len(p.text) // 50 for p in plays)
    assert len(set(texts)) == len(texts) or len(set(everything)) < len(everything)


def test_passages_refuse_a_budget_larger_than_the_data():
    plays = fake_plays()
    total = sum(len(p.text) // 50 for p in plays)
    with pytest.raises(ValueError, match=f"hold only {total}"):
        finetune.passages(plays, 50, n=total + 1)
    with pytest.raises(ValueError):
        finetune.passages(plays, 0, n=3)


# --- the classifier -------------------------------------------------------------------

def test_classifier_loss_is_task_plus_lambda_lm_by_hand():
    gpt = tiny_gpt()
    clf = finetune.GPTClassifier(gpt, 3, lm_weight=0.5, dropout=0.0)
    ids = np.random.default_rng(0).integers(0, 7, (4, 16)).astype("int32")   # two windows each
    y = np.array([0, 2, 1, 2])
    out = clf(ids)
    loss = float(keras.ops.convert_to_numpy(clf.compute_loss(ids, y, out)))
    # by hand, in NumPy: mean-pool over both windows, linear head, cross-entropies
    hidden = keras.ops.convert_to_numpy(gpt.hidden_states(ids.reshape(-1, 8))).reshape(4, 16, -1)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in clf.classifier.weights)
    logits = hidden.mean(axis=1) @ kernel + bias
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    task = -log_p[np.arange(4), y].mean()
    lm_logits = keras.ops.convert_to_numpy(gpt(ids.reshape(-1, 8)))[:, :-1]
    lm_log_p = lm_logits - np.log(np.exp(lm_logits).sum(-1, keepdims=True))
    targets = ids.reshape(-1, 8)[:, 1:]
    lm = -np.take_along_axis(lm_log_p, targets[..., None], -1).mean()
    assert math.isclose(loss, task + 0.5 * lm, rel_tol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["class_logits"]), logits, rtol=1e-4, atol=1e-5)


def test_pooled_features_equal_the_classifier_pooling():
    gpt = tiny_gpt()
    ids = np.random.default_rng(1).integers(0, 7, (3, 24)).astype("int32")
    features = finetune.pooled_features(gpt, ids, batch_size=2)
    hidden = keras.ops.convert_to_numpy(gpt.hidden_states(ids.reshape(-1, 8))).reshape(3, 24, -1)
    np.testing.assert_allclose(features, hidden.mean(axis=1), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of block_size"):
        finetune.pooled_features(gpt, ids[:, :12])


def test_fine_tuning_learns_a_separable_task():
    # class = which half of the vocabulary a passage is drawn from
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    ids = (rng.integers(0, 3, (64, 8)) + 4 * y[:, None]).astype("int32")
    clf = finetune.GPTClassifier(tiny_gpt(), 2)
    clf.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = clf.fit(ids, y, batch_size=16, epochs=8, verbose=0)
    assert set(history.history) >= {"loss", "class_loss", "lm_loss"}
    assert (clf.predict_classes(ids) == y).mean() >= 0.95


def test_classifier_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        finetune.GPTClassifier(tiny_gpt(), 1)
    with pytest.raises(ValueError, match="lm_weight"):
        finetune.GPTClassifier(tiny_gpt(), 3, lm_weight=-1)


def test_lora_freezes_all_but_the_low_rank_factors():
    gpt = tiny_gpt()
    ids = np.random.default_rng(2).integers(0, 7, (2, 8)).astype("int32")
    before = keras.ops.convert_to_numpy(gpt(ids))
    trainable = finetune.enable_lora(gpt, rank=2)
    # per block: Q/K/V 16x48, attention out 16x16, MLP 16x64 and 64x16, each (d_in + d_out) * r
    per_block = 2 * ((16 + 48) + (16 + 16) + (16 + 64) + (64 + 16))
    assert trainable == 2 * per_block
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gpt(ids)), before, atol=1e-6)  # B = 0 at the start
    with pytest.raises(ValueError, match="rank"):
        finetune.enable_lora(tiny_gpt(), 0)


# --- the pre-trained weights cache -----------------------------------------------------

def test_cached_trains_once_then_loads(cache):
    calls = []

    def train(model):
        calls.append(1)
        model.wte.embeddings.assign(np.full(model.wte.embeddings.shape, 0.5, "float32"))

    key = {"steps": 3, "data": "abc"}
    assert pretrained.cached(tiny_gpt(), "toy", key, train) is False
    fresh = tiny_gpt(seed=1)
    assert pretrained.cached(fresh, "toy", key, train) is True
    assert calls == [1]
    assert np.allclose(keras.ops.convert_to_numpy(fresh.wte.embeddings), 0.5)
    assert pretrained.cached(tiny_gpt(), "toy", {"steps": 4, "data": "abc"}, train) is False   # new key
    assert pretrained.cached(tiny_gpt(), "toy", key, train, force=True) is False
    assert calls == [1, 1, 1]
    assert not list((cache / "pretrained").glob(".*")), "no temporary file may be left behind"


def test_corrupt_cache_is_retrained_not_used(cache):
    calls = []
    key = {"steps": 1}
    pretrained.cached(tiny_gpt(), "toy", key, lambda m: calls.append(1))
    weights, _ = pretrained.paths(tiny_gpt(), "toy", key)
    weights.write_bytes(weights.read_bytes()[:100])          # a half-copied file
    with pytest.warns(UserWarning, match="SHA-256"):
        assert pretrained.cached(tiny_gpt(), "toy", key, lambda m: calls.append(1)) is False
    assert calls == [1, 1]
    assert pretrained.cached(tiny_gpt(), "toy", key, lambda m: calls.append(1)) is True


def test_weights_of_another_preset_are_refused(cache):
    key = {"steps": 1}
    path = pretrained.save(tiny_gpt(), "toy", key)
    other = MiniGPT(7, block_size=8, n_layer=1, n_head=2, n_embd=16)
    with pytest.raises(ValueError, match="another architecture.*n_layer: file 2 vs model 1"):
        pretrained.load(other, path)
    with pytest.raises(ValueError, match="plain file name"):
        pretrained.paths(other, "../escape", key)


def test_cached_weights_cross_the_backend_format(cache):
    # the manifest records the backend; the file is Keras' backend-neutral .weights.h5
    model = tiny_gpt(tokenizer=CharTokenizer(list("abcdefg")))
    path = pretrained.save(model, "toy", {"steps": 1})
    record = pretrained.load(tiny_gpt(seed=5, tokenizer=CharTokenizer(list("abcdefg"))), path)
    assert record["backend"] == keras.backend.backend() and path.name.endswith(".weights.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = tiny_gpt(seed=7, tokenizer=CharTokenizer(list("abcdefg")))
        pretrained.load(loaded, path)
    ids = np.arange(8, dtype="int32")[None] % 7
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(ids)), keras.ops.convert_to_numpy(model(ids)),
                               atol=1e-6)
