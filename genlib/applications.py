"""Tools of three fields for chapter 08 ("Core concepts"): chorale tokens and music
statistics, a small synthesiser, SMILES metrics with RDKit, and a 2-D navigation task.

Music ("Music: Bach chorales"). A chorale is four voices (soprano, alto, tenor, bass) on
an eighth-note grid, ``pitches`` (T, 4) MIDI numbers (0: rest) and ``onsets`` (T, 4)
bools (``genlib.data.bach_chorales``). As tokens it is read frame by frame, S A T B:

    token = REST                            the voice is silent
            END                             a frame of four END tokens separates chorales
            FIRST_PITCH_ID + midi - PITCH_LOW   a new note starts
            FIRST_HELD_ID + midi - PITCH_LOW    the note of the frame before goes on

A held note keeps its pitch in its token (DeepBach writes a bare "hold" symbol instead),
so that the last few tokens always say which notes sound: a small model, or an n-gram
that sees one frame back, does not have to look further back to find them.

so a language model learns p(x_1..x_n) = prod_i p(x_i | x_<i) over frames of four.

Molecules ("Molecules: SMILES generation"). Validity (RDKit parses the string into a
molecule), uniqueness, novelty, and the QED, logP and molecular weight of the valid ones.

Control ("Control: why a policy should be generative"). :class:`Navigation2D`: an agent
in the plane passes a round obstacle to reach a goal; its demonstrations go round on the
left or on the right.
"""

import numbers

import numpy as np

REST, END = 0, 1
PITCH_LOW, PITCH_HIGH = 24, 96  # MIDI C1 .. C7, wide enough for every transposition
FIRST_PITCH_ID = 2
FIRST_HELD_ID = FIRST_PITCH_ID + PITCH_HIGH - PITCH_LOW + 1
VOCAB_SIZE = FIRST_HELD_ID + PITCH_HIGH - PITCH_LOW + 1
VOICES = ("soprano", "alto", "tenor", "bass")


def _frames(pitches, onsets):
    pitches = np.asarray(pitches)
    onsets = np.asarray(onsets, bool)
    if pitches.ndim != 2 or pitches.shape[1] != 4 or onsets.shape != pitches.shape:
        raise ValueError(f"pitches and onsets must both be (T, 4), got {pitches.shape} and {onsets.shape}")
    sounding = pitches > 0
    if sounding.any() and (pitches[sounding].min() < PITCH_LOW or pitches[sounding].max() > PITCH_HIGH):
        raise ValueError(f"pitches must be 0 (rest) or MIDI numbers in {PITCH_LOW}..{PITCH_HIGH}")
    return pitches.astype(np.int64), onsets


# --- chorale tokens ------------------------------------------------------------------

def chorale_tokens(pitches, onsets):
    """Frames (T, 4) -> tokens (4 T,), int32: S A T B of frame 0, then of frame 1, ...

    A sounding frame without an onset that repeats the pitch of the frame before is a
    held id; a rest is REST; any other note is a new-note id. Inverse:
    :func:`tokens_to_frames`.
    """
    pitches, onsets = _frames(pitches, onsets)
    before = np.concatenate([np.zeros((1, 4), np.int64), pitches[:-1]])
    held = (pitches > 0) & ~onsets & (pitches == before)
    tokens = np.where(pitches == 0, REST, np.where(held, FIRST_HELD_ID, FIRST_PITCH_ID) + pitches - PITCH_LOW)
    return tokens.reshape(-1).astype(np.int32)


def tokens_to_frames(tokens):
    """Tokens -> ``(pitches, onsets)`` (T, 4): the inverse of :func:`chorale_tokens`.

    Made for a model's samples: a trailing incomplete frame is dropped, the piece ends
    at the first frame that holds an END token, and a held id whose pitch differs from
    the frame before (or in the first frame) starts a new note.
    """
    tokens = np.asarray(tokens).astype(np.int64).reshape(-1)
    tokens = tokens[:len(tokens) // 4 * 4].reshape(-1, 4)
    ends = np.flatnonzero((tokens == END).any(axis=1))
    if len(ends):
        tokens = tokens[:ends[0]]
    pitches = np.zeros(tokens.shape, np.int64)
    onsets = np.zeros(tokens.shape, bool)
    for t in range(len(tokens)):
        for v in range(4):
            tok = tokens[t, v]
            if tok >= FIRST_HELD_ID:
                pitches[t, v] = tok - FIRST_HELD_ID + PITCH_LOW
                onsets[t, v] = t == 0 or pitches[t - 1, v] != pitches[t, v]
            elif tok >= FIRST_PITCH_ID:
                pitches[t, v] = tok - FIRST_PITCH_ID + PITCH_LOW
                onsets[t, v] = True
    return pitches, onsets


def transpose(pitches, semitones):
    """Move every note by ``semitones`` (rests stay 0); ``ValueError`` if one leaves the range."""
    pitches = np.asarray(pitches)
    out = np.where(pitches > 0, pitches + int(semitones), 0)
    sounding = out[pitches > 0]
    if sounding.size and (sounding.min() < PITCH_LOW or sounding.max() > PITCH_HIGH):
        raise ValueError(f"transposing by {semitones} leaves the range {PITCH_LOW}..{PITCH_HIGH}")
    return out


def corpus_tokens(chorales, transpositions=(0,)):
    """One token array for a language model: an END frame, then a chorale, for each chorale
    and each transposition in ``transpositions`` (semitones), in that order.

    ``chorales``: objects with ``pitches`` and ``onsets`` (``genlib.data.Chorale``) or
    ``(pitches, onsets)`` pairs. Returns int32 (n,).
    """
    parts = []
    for shift in transpositions:
        for chorale in chorales:
            pitches, onsets = (chorale.pitches, chorale.onsets) if hasattr(chorale, "pitches") else chorale
            parts.append(np.full(4, END, np.int32))
            parts.append(chorale_tokens(transpose(pitches, shift), onsets))
    if not parts:
        raise ValueError("no chorales given")
    return np.concatenate(parts)


# --- music statistics ----------------------------------------------------------------

# Krumhansl and Kessler's (1982) key profiles: how well each pitch class fits a major or
# a minor key whose tonic is pitch class 0, as listeners rated it.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# the pitch classes of a key (tonic 0): the major scale; minor with both forms of the
# 6th and 7th degrees (natural, harmonic and melodic minor together)
SCALE = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 9, 10, 11)}


def pitch_class_histogram(pitches):
    """Share of sounding frames (all voices) on each pitch class 0 (C) .. 11 (B): (12,)."""
    pitches = np.asarray(pitches)
    sounding = pitches[pitches > 0]
    if sounding.size == 0:
        return np.full(12, 1 / 12)
    return np.bincount(sounding % 12, minlength=12) / sounding.size


def estimate_key(pitches):
    """``(tonic pitch class, "major" | "minor")`` by the Krumhansl-Schmuckler method.

    The duration-weighted pitch-class histogram is correlated with the 24 rotated key
    profiles :data:`KK_MAJOR` and :data:`KK_MINOR`; the best correlation wins.
    """
    hist = pitch_class_histogram(pitches)
    best = None
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(hist, np.roll(profile, tonic))[0, 1]
            if best is None or r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def in_key_share(pitches, onsets):
    """Share of the notes (onsets) whose pitch class belongs to the piece's estimated key."""
    pitches, onsets = _frames(pitches, onsets)
    notes = pitches[onsets & (pitches > 0)]
    if notes.size == 0:
        return float("nan")
    tonic, mode = estimate_key(pitches)
    scale = {(tonic + step) % 12 for step in SCALE[mode]}
    return float(np.isin(notes % 12, list(scale)).mean())


def parallel_motion(pitches, onsets, interval=7):
    """``(parallel, moves)``: parallel fifths (``interval=7``; 0 for octaves) and all moves.

    For every pair of voices and every two consecutive note events of the piece, a
    *move* is a pair in which both voices sound in both frames and both change pitch
    (``onsets`` True and a new pitch). It is *parallel* when the two voices are
    ``interval`` semitones apart modulo 12 before and after, moving in the same
    direction, as the rules of four-part writing forbid for fifths and octaves.
    """
    pitches, onsets = _frames(pitches, onsets)
    events = np.flatnonzero(onsets.any(axis=1))
    parallel = moves = 0
    for a, b in zip(events[:-1], events[1:]):
        p, q = pitches[a], pitches[b]
        moved = (p > 0) & (q > 0) & onsets[b] & (p != q)
        for i in range(4):
            for j in range(i + 1, 4):
                if not (moved[i] and moved[j]):
                    continue
                moves += 1
                same_way = np.sign(q[i] - p[i]) == np.sign(q[j] - p[j])
                if same_way and (p[i] - p[j]) % 12 == interval and (q[i] - q[j]) % 12 == interval:
                    parallel += 1
    return parallel, moves


def music_statistics(pieces):
    """The statistics of chapter 08 over a list of ``(pitches, onsets)`` pieces, pooled.

    Returns a dict: ``pc_histogram`` (12,), the pitch-class histogram after moving each
    piece's estimated tonic to 0 (C), so pieces in different keys can be pooled;
    ``in_key`` (share of notes in the key); ``parallel_fifths`` (share of two-voice moves
    that are parallel fifths); ``ranges`` (4, 2), the 5th and 95th percentile MIDI pitch
    of each voice; ``notes`` (the number of notes).
    """
    pieces = [_frames(p, o) for p, o in pieces]
    if not pieces:
        raise ValueError("no pieces given")
    hist = np.zeros(12)
    notes = in_key = parallel = moves = 0
    voice_pitches = [[] for _ in range(4)]
    for pitches, onsets in pieces:
        if not (pitches > 0).any():
            continue
        tonic, _ = estimate_key(pitches)
        hist += np.roll(pitch_class_histogram(pitches), -tonic) * (pitches > 0).sum()
        n = int((onsets & (pitches > 0)).sum())
        notes += n
        in_key += in_key_share(pitches, onsets) * n
        f, m = parallel_motion(pitches, onsets, 7)
        parallel, moves = parallel + f, moves + m
        for v in range(4):
            voice_pitches[v].extend(pitches[:, v][onsets[:, v] & (pitches[:, v] > 0)])
    ranges = np.array([np.percentile(vp, [5, 95]) if vp else [np.nan, np.nan] for vp in voice_pitches])
    return {"pc_histogram": hist / max(hist.sum(), 1), "in_key": in_key / max(notes, 1),
            "parallel_fifths": parallel / max(moves, 1), "ranges": ranges, "notes": notes}


def total_variation(p, q):
    """Total-variation distance between two histograms, ``0.5 * sum |p - q|``, in [0, 1]."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    return 0.5 * float(np.abs(p / p.sum() - q / q.sum()).sum())


# --- hearing and writing music -------------------------------------------------------

def synthesize(pitches, onsets, step_seconds=0.3, rate=16000):
    """A waveform, float32 in [-1, 1], of the four voices: a small additive synthesiser.

    Each note (an onset and the frames that hold it) is a tone at
    ``f = 440 * 2 ** ((midi - 69) / 12)`` Hz with three harmonics (amplitudes 1, 1/2,
    1/4) under an envelope that rises in 10 ms and decays exponentially; the voices
    are summed and the result scaled to a peak of 0.9. ``step_seconds``: the length of
    one frame (an eighth note). Play it with ``IPython.display.Audio(wave, rate=rate)``.
    """
    pitches, onsets = _frames(pitches, onsets)
    if not step_seconds > 0 or not rate > 0:
        raise ValueError("step_seconds and rate must be > 0")
    step = int(round(step_seconds * rate))
    wave = np.zeros(len(pitches) * step + 1, np.float64)
    for v in range(4):
        t = 0
        while t < len(pitches):
            if pitches[t, v] == 0:
                t += 1
                continue
            end = t + 1
            while end < len(pitches) and pitches[end, v] == pitches[t, v] and not onsets[end, v]:
                end += 1
            n = (end - t) * step
            time = np.arange(n) / rate
            freq = 440.0 * 2 ** ((pitches[t, v] - 69) / 12)
            tone = sum(a * np.sin(2 * np.pi * k * freq * time) for k, a in ((1, 1.0), (2, 0.5), (3, 0.25)))
            envelope = np.minimum(1.0, time / 0.01) * np.exp(-2.5 * time) * np.minimum(1.0, (n - np.arange(n)) / (0.01 * rate))
            wave[t * step:t * step + n] += tone * envelope
            t = end
    peak = np.abs(wave).max()
    return (0.9 * wave / peak if peak > 0 else wave).astype(np.float32)


def to_score(pitches, onsets, step=0.5):
    """A ``music21.stream.Score`` with four parts, for ``score.write("midi", fp=path)``.

    ``step``: quarter notes per frame (0.5: the eighth-note grid). Needs music21.
    """
    from genlib.data import _import_music21

    music21 = _import_music21()
    pitches, onsets = _frames(pitches, onsets)
    score = music21.stream.Score()
    for v, name in enumerate(VOICES):
        part = music21.stream.Part()
        part.partName = name.capitalize()
        t = 0
        while t < len(pitches):
            end = t + 1
            while end < len(pitches) and pitches[end, v] == pitches[t, v] and not onsets[end, v]:
                end += 1
            length = (end - t) * step
            if pitches[t, v] > 0:
                element = music21.note.Note(int(pitches[t, v]), quarterLength=length)
            else:
                element = music21.note.Rest(quarterLength=length)
            part.append(element)
            t = end
        score.insert(0, part)
    return score


# --- molecules -----------------------------------------------------------------------

def _rdkit():
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise ModuleNotFoundError("the molecule metrics need RDKit: pip install rdkit==2026.9.1 "
                                  "(a dependency of the course; `make install` installs it)") from None
    RDLogger.DisableLog("rdApp.*")  # invalid strings are expected here, not errors
    return Chem


def canonical_smiles(smiles):
    """RDKit's canonical SMILES of ``smiles``, or None when it is not a valid molecule.

    Valid: RDKit parses it and sanitises it (valences, aromaticity, ring closures); the
    empty string is not a molecule.
    """
    Chem = _rdkit()
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None or mol.GetNumAtoms() == 0 else Chem.MolToSmiles(mol)


def smiles_metrics(generated, training):
    """Validity, uniqueness and novelty of generated SMILES strings, as MOSES defines them.

    ``validity``: share of ``generated`` that are valid molecules; ``uniqueness``: share of
    distinct canonical SMILES among the valid ones; ``novelty``: share of those distinct
    molecules that are not in ``training`` (a set or list of canonical SMILES). Returns
    a dict with the three shares and ``unique_valid``, the sorted distinct canonical
    SMILES.
    """
    generated = list(generated)
    if not generated:
        raise ValueError("no generated strings")
    training = training if isinstance(training, (set, frozenset)) else set(training)
    canonical = [canonical_smiles(s) for s in generated]
    valid = [c for c in canonical if c is not None]
    unique = sorted(set(valid))
    novel = [c for c in unique if c not in training]
    return {"validity": len(valid) / len(generated), "uniqueness": len(unique) / max(len(valid), 1),
            "novelty": len(novel) / max(len(unique), 1), "unique_valid": unique}


PROPERTIES = ("QED", "logP", "MW")


def molecular_properties(smiles):
    """(n, 3) float: QED (Bickerton et al. 2012), Crippen logP and molecular weight (g/mol).

    ``smiles``: valid SMILES strings (``ValueError`` names the first invalid one).
    """
    Chem = _rdkit()
    from rdkit.Chem import QED, Crippen, Descriptors

    rows = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s else None
        if mol is None:
            raise ValueError(f"not a valid molecule: {s!r}")
        rows.append((QED.qed(mol), Crippen.MolLogP(mol), Descriptors.MolWt(mol)))
    return np.array(rows, float).reshape(-1, 3)


def wasserstein_1d(a, b):
    """The 1-D Wasserstein (earth mover's) distance between two samples: the area
    between their empirical cumulative distribution functions, integral |F_a - F_b|."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if a.size == 0 or b.size == 0:
        raise ValueError("both samples need at least one value")
    grid = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(a, grid[:-1], side="right") / a.size
    fb = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * np.diff(grid)))


# --- control: a 2-D navigation task --------------------------------------------------

class Navigation2D:
    """Reach the goal from the start line without touching a round obstacle in the way.

    State: the position ``s = (x, y)``. Action: a step ``a``; the agent moves by ``a``
    with its length clipped to ``max_step``. Episodes start at ``(x0, 0)`` with ``x0``
    uniform in ``[-start_width, start_width]``; the obstacle is a disc of radius
    ``radius`` at ``(0, obstacle_y)``; success is reaching within ``goal_radius`` of
    ``(0, goal_y)`` without ever entering the disc, within ``horizon`` steps.

    The expert goes round on the left or on the right, each with probability 1/2,
    whatever the start: straight ahead up to ``fork_y``, then towards
    ``(side * detour, obstacle_y)``, then to the goal, with Gaussian noise of std
    ``noise`` on each step. Both ways are equally good, so at the fork the
    demonstrations disagree (chapter 08, "Control: why a policy should be generative").
    """

    def __init__(self, obstacle_y=3.0, radius=1.0, goal_y=6.0, detour=1.9, max_step=0.25, start_width=0.05,
                 goal_radius=0.4, horizon=45, noise=0.02, fork_y=1.5):
        self.obstacle = np.array([0.0, float(obstacle_y)])
        self.goal = np.array([0.0, float(goal_y)])
        self.radius, self.detour, self.max_step = float(radius), float(detour), float(max_step)
        self.start_width, self.goal_radius = float(start_width), float(goal_radius)
        self.horizon, self.noise, self.fork_y = int(horizon), float(noise), float(fork_y)
        if not 0 < self.radius < self.detour:
            raise ValueError("need 0 < radius < detour, or the expert's way round hits the obstacle")

    def reset(self, n, rng):
        """``n`` start states (n, 2)."""
        return np.stack([rng.uniform(-self.start_width, self.start_width, n), np.zeros(n)], axis=1)

    def step(self, states, actions):
        """Next states: ``s + a``, the step length clipped to ``max_step``. (n, 2) each."""
        actions = np.asarray(actions, float).reshape(states.shape)
        length = np.linalg.norm(actions, axis=1, keepdims=True)
        return states + actions * np.minimum(1.0, self.max_step / np.maximum(length, 1e-12))

    def collided(self, states):
        return np.linalg.norm(states - self.obstacle, axis=-1) < self.radius

    def reached(self, states):
        return np.linalg.norm(states - self.goal, axis=-1) < self.goal_radius

    def expert_action(self, states, sides):
        """The expert's step at ``states`` (n, 2) for ``sides`` (n,) in {-1, +1}, noise-free."""
        waypoint = np.stack([sides * self.detour, np.full(len(sides), self.obstacle[1])], axis=1)
        target = np.where((states[:, 1] < self.obstacle[1] - 0.1)[:, None], waypoint, self.goal)
        # straight ahead while below the fork (a little slack, so that noise on the steps
        # before cannot move the fork one step later)
        direction = np.where((states[:, 1] < self.fork_y - 0.1)[:, None], [0.0, 1.0], target - states)
        return direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12) * self.max_step

    def demonstrations(self, n_episodes, seed=0):
        """Expert episodes: ``(states, actions, sides)``, (N, 2), (N, 2) and (N,) per step.

        Each episode picks its side at random (left -1 or right +1) and runs until the
        goal is reached or ``horizon`` steps pass.
        """
        rng = np.random.default_rng(seed)
        states = self.reset(n_episodes, rng)
        sides = rng.choice([-1.0, 1.0], n_episodes)
        active = np.ones(n_episodes, bool)
        out_s, out_a, out_side = [], [], []
        for _ in range(self.horizon):
            if not active.any():
                break
            action = self.expert_action(states, sides) + rng.normal(0, self.noise, states.shape)
            out_s.append(states[active])
            out_a.append(action[active])
            out_side.append(sides[active])
            states = np.where(active[:, None], self.step(states, action), states)
            active &= ~self.reached(states)
        return np.concatenate(out_s), np.concatenate(out_a), np.concatenate(out_side)

    def rollout(self, policy, n, seed=0):
        """Run ``policy`` for ``n`` episodes: ``(paths, success, collided)``.

        ``policy(states (n, 2), t) -> actions (n, 2)``. ``paths``: (n, horizon + 1, 2),
        an episode stays where it ended (goal or obstacle). ``success`` and ``collided``:
        (n,) bools.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        rng = np.random.default_rng(seed)
        states = self.reset(n, rng)
        paths = [states]
        done = np.zeros(n, bool)
        success, hit = np.zeros(n, bool), np.zeros(n, bool)
        for t in range(self.horizon):
            actions = np.asarray(policy(states, t), float)
            nxt = self.step(states, actions)
            states = np.where(done[:, None], states, nxt)
            hit |= ~done & self.collided(states)
            success |= ~done & ~hit & self.reached(states)
            done |= hit | success
            paths.append(states)
        return np.stack(paths, axis=1), success, hit

