"""genlib.tokenizer: characters to ids and back."""

import numpy as np
import pytest

from genlib.tokenizer import CharTokenizer, UnknownCharacterError


def test_round_trip():
    text = "To be, or not to be:\nthat is the question."
    tok = CharTokenizer.fit(text)
    assert tok.vocab == sorted(set(text))
    ids = tok.encode(text)
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(np.array(ids)) == text


def test_unknown_characters_are_named():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(UnknownCharacterError, match=r"'z'.*'é'|'é'.*'z'"):
        tok.encode("abz é")


def test_out_of_range_ids():
    with pytest.raises(ValueError, match="out of range"):
        CharTokenizer.fit("ab").decode([0, 5])


def test_config_round_trip():
    tok = CharTokenizer.fit("hello\nworld")
    again = CharTokenizer.from_config(tok.get_config())
    assert again == tok and again.encode("low") == tok.encode("low")


def test_decode_a_batch_gives_one_string_per_row():
    tok = CharTokenizer.fit("abc")
    assert tok.decode(np.array([[0, 1], [2, 2]])) == ["ab", "cc"]
    assert tok.decode([[0], [1]]) == ["a", "b"]
    with pytest.raises(ValueError, match="integers"):
        tok.decode([0.0, 1.0])
