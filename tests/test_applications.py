"""genlib.applications: chorale tokens, music statistics, the synthesiser, SMILES metrics
and the navigation task, on small hand-made cases whose answers are known."""

import numpy as np
import pytest

from genlib import applications as A

# C major, four frames: C-E-G-C chord held, then a G chord (bass G2), then rests
PITCHES = np.array([[72, 64, 55, 48], [72, 64, 55, 48], [71, 62, 55, 43], [0, 0, 0, 0]])
ONSETS = np.array([[1, 1, 1, 1], [0, 1, 0, 0], [1, 1, 0, 1], [0, 0, 0, 0]], bool)


def test_tokens_round_trip_and_layout():
    tokens = A.chorale_tokens(PITCHES, ONSETS)
    assert tokens.shape == (16,) and tokens.dtype == np.int32
    assert tokens[0] == A.FIRST_PITCH_ID + 72 - A.PITCH_LOW  # soprano, frame 0
    assert list(tokens[4:8]) == [A.FIRST_HELD_ID + 72 - A.PITCH_LOW, A.FIRST_PITCH_ID + 64 - A.PITCH_LOW,
                                 A.FIRST_HELD_ID + 55 - A.PITCH_LOW, A.FIRST_HELD_ID + 48 - A.PITCH_LOW]
    assert tokens[10] == A.FIRST_HELD_ID + 55 - A.PITCH_LOW, "the tenor holds G3 over three frames"
    assert list(tokens[12:]) == [A.REST] * 4
    pitches, onsets = A.tokens_to_frames(tokens)
    assert np.array_equal(pitches, PITCHES) and np.array_equal(onsets, ONSETS & (PITCHES > 0))


def test_tokens_to_frames_repairs_samples():
    held = A.FIRST_HELD_ID
    first = [held + 40, A.REST, A.REST, A.FIRST_PITCH_ID]           # a held note in the first frame
    second = [held + 40, A.REST, held + 30, held + 1]                  # held, and two "held" pitches that changed
    pitches, onsets = A.tokens_to_frames(first + second + [A.END] * 4 + [A.FIRST_PITCH_ID] * 4 + [A.REST])
    assert pitches.shape == (2, 4), "the piece stops at the END frame"
    assert list(pitches[0]) == [A.PITCH_LOW + 40, 0, 0, A.PITCH_LOW] and list(onsets[0]) == [True, False, False, True]
    assert list(pitches[1]) == [A.PITCH_LOW + 40, 0, A.PITCH_LOW + 30, A.PITCH_LOW + 1]
    assert list(onsets[1]) == [False, False, True, True]


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="(T, 4)"):
        A.chorale_tokens(PITCHES[:, :3], ONSETS[:, :3])
    with pytest.raises(ValueError, match="MIDI"):
        A.chorale_tokens(PITCHES + 100, ONSETS)
    with pytest.raises(ValueError, match="leaves the range"):
        A.transpose(PITCHES, 40)


def test_corpus_tokens_transposes_each_chorale():
    tokens = A.corpus_tokens([(PITCHES, ONSETS)], transpositions=(0, 2))
    assert tokens.shape == (2 * (4 + 16),)
    assert list(tokens[:4]) == [A.END] * 4
    assert tokens[24] == tokens[4] + 2, "the second copy is two semitones up"
    assert tokens.max() < A.VOCAB_SIZE


def test_key_and_in_key_share():
    assert A.estimate_key(PITCHES) == (0, "major")
    assert A.estimate_key(A.transpose(PITCHES, 7)) == (7, "major")
    assert A.in_key_share(PITCHES, ONSETS) == 1.0
    wrong = PITCHES.copy()
    wrong[2, 0] = 73  # C sharp: outside C major
    assert A.in_key_share(wrong, ONSETS) == pytest.approx(7 / 8)


def test_parallel_fifths_are_counted_and_contrary_motion_is_not():
    # soprano and bass a fifth apart (modulo octaves), both moving up a step
    up = np.array([[67, 64, 55, 48], [69, 65, 57, 50]])
    both = np.ones((2, 4), bool)
    parallel, moves = A.parallel_motion(up, both)
    assert moves == 6 and parallel == 2  # S-B (67/48 -> 69/50) and T-B (55/48 -> 57/50)
    contrary = np.array([[67, 64, 55, 48], [60, 64, 55, 55]])
    assert A.parallel_motion(contrary, np.array([[1, 1, 1, 1], [1, 0, 0, 1]], bool)) == (0, 1)
    assert A.parallel_motion(up, both, interval=0)[0] == 1  # S-T: 67/55 -> 69/57, octaves


def test_music_statistics_of_a_piece_against_itself():
    stats = A.music_statistics([(PITCHES, ONSETS), (A.transpose(PITCHES, 5), ONSETS)])
    assert stats["pc_histogram"].sum() == pytest.approx(1.0)
    assert stats["in_key"] == 1.0 and stats["notes"] == 2 * int((ONSETS & (PITCHES > 0)).sum())
    assert stats["ranges"].shape == (4, 2)
    # keys are normalised to C, so the transposed copy has the same histogram
    alone = A.music_statistics([(PITCHES, ONSETS)])
    assert A.total_variation(stats["pc_histogram"], alone["pc_histogram"]) == pytest.approx(0.0, abs=1e-12)
    assert A.total_variation([1, 0], [0, 1]) == 1.0


def test_synthesize_is_a_bounded_waveform_of_the_right_length_and_pitch():
    one = np.zeros((8, 4), int)
    one[:, 0] = 69  # A4 = 440 Hz held for 8 frames
    on = np.zeros((8, 4), bool)
    on[0, 0] = True
    wave = A.synthesize(one, on, step_seconds=0.125, rate=8000)
    assert wave.dtype == np.float32 and len(wave) == 8 * 1000 + 1
    assert np.abs(wave).max() == pytest.approx(0.9, abs=1e-6)
    spectrum = np.abs(np.fft.rfft(wave[:8000]))
    assert np.argmax(spectrum) * 8000 / 8000 == pytest.approx(440, abs=2)
    with pytest.raises(ValueError):
        A.synthesize(one, on, step_seconds=0)


def test_to_score_keeps_the_notes():
    pytest.importorskip("music21")
    score = A.to_score(PITCHES, ONSETS)
    soprano = list(score.parts[0].flatten().notesAndRests)
    assert [n.quarterLength for n in soprano] == [1.0, 0.5, 0.5]
    assert soprano[0].pitch.midi == 72 and soprano[2].isRest


def test_smiles_metrics():
    pytest.importorskip("rdkit")
    generated = ["OCC", "CCO", "c1ccccc1", "C1CC", "", "CC(C"]  # OCC and CCO are one molecule
    metrics = A.smiles_metrics(generated, {"CCO"})
    assert metrics["validity"] == pytest.approx(3 / 6)
    assert metrics["uniqueness"] == pytest.approx(2 / 3)
    assert metrics["novelty"] == pytest.approx(1 / 2)
    assert metrics["unique_valid"] == ["CCO", "c1ccccc1"]
    assert A.canonical_smiles("C1CC") is None and A.canonical_smiles("OCC") == "CCO"


def test_molecular_properties():
    pytest.importorskip("rdkit")
    props = A.molecular_properties(["CCO", "c1ccccc1"])
    assert props.shape == (2, 3)
    assert props[0, 2] == pytest.approx(46.07, abs=0.01) and props[1, 2] == pytest.approx(78.11, abs=0.01)
    assert 0 < props[0, 0] < 1 and props[1, 1] > props[0, 1], "benzene is more lipophilic than ethanol"
    with pytest.raises(ValueError, match="C1CC"):
        A.molecular_properties(["CCO", "C1CC"])


def test_wasserstein_1d():
    assert A.wasserstein_1d([0, 0], [1, 1]) == pytest.approx(1.0)
    assert A.wasserstein_1d([0, 1, 2], [0, 1, 2]) == 0.0
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=300) + 3
    assert A.wasserstein_1d(a, b) == pytest.approx(3.0, abs=0.2)
    scipy_stats = pytest.importorskip("scipy.stats")
    assert A.wasserstein_1d(a, b) == pytest.approx(scipy_stats.wasserstein_distance(a, b))


def test_navigation_expert_succeeds_and_straight_line_fails():
    env = A.Navigation2D()
    states, actions, sides = env.demonstrations(100, seed=0)
    assert states.shape == actions.shape and len(sides) == len(states)
    assert set(np.unique(sides)) == {-1.0, 1.0}
    assert not env.collided(states).any(), "the demonstrations never touch the obstacle"

    def expert(side):
        return lambda s, t: env.expert_action(s, np.full(len(s), side))

    for side in (-1.0, 1.0):
        paths, success, hit = env.rollout(expert(side), 50, seed=1)
        assert paths.shape == (50, env.horizon + 1, 2) and success.all() and not hit.any()
    paths, success, hit = env.rollout(lambda s, t: np.tile([0.0, 1.0], (len(s), 1)), 50)
    assert hit.all() and not success.any()
    assert np.allclose(np.linalg.norm(np.diff(paths[:, :2], axis=1), axis=-1), env.max_step)
    with pytest.raises(ValueError):
        env.rollout(expert(1.0), 0)
    with pytest.raises(ValueError):
        A.Navigation2D(radius=2.0, detour=1.0)
