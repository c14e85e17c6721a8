"""Slider explorers for the notebooks, with a static picture for readers without a kernel.

Two explorers, one per idea that is easier to feel than to read:

- :class:`LatentExplorer` (chapter 02, "Code: genlib's convolutional VAE"): sliders over
  the latent code ``z`` of a trained VAE; the decoded image ``p(x | z)`` updates, next to
  the map of encoded test digits with a marker at ``z``.
- :class:`SamplingExplorer` (chapter 04, "Sampling: temperature, top-k and top-p", and
  chapter 05, "Sampling from the mini-GPT"): temperature, top-k and top-p sliders over a
  character model's next-token distribution ``genlib.sampling.probabilities(l, T, k, p)``
  (bars kept vs cut) and a short sample drawn with those settings and a fixed seed.

The logic is plain Python: ``explorer.set(name=value, ...)`` changes the settings and
returns what the picture shows (an image, or the distribution and the sample), and
``draw`` / ``figure`` make Matplotlib figures from it, so tests set values without a
browser. ``widget()`` wraps the same calls in ipywidgets sliders for a live kernel;
``show(static)`` draws a static figure over a few settings first (what nbval, the book
and a reader without a kernel see), then displays the widget.
"""

import io

import matplotlib.pyplot as plt
import numpy as np

from genlib.sampling import check_sampling_args, probabilities


def _to_numpy(x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


class _Explorer:
    """What both explorers share: named slider values, a widget, a static figure."""

    def _slider_specs(self):  # name -> (min, max, step, description)
        raise NotImplementedError

    def values(self):
        """The current slider values, ``{name: value}``."""
        raise NotImplementedError

    def defaults(self):
        """The starting values; each setting of ``figure(static)`` starts from them."""
        raise NotImplementedError

    def widget(self):
        """ipywidgets sliders and an output area; moving a slider calls ``set`` and redraws."""
        try:
            import ipywidgets as widgets
            from IPython.display import Image
        except ImportError as e:
            raise ImportError("the explorers' sliders need ipywidgets (the course extra: "
                              "pip install 'genlib[course]'); figure() works without it") from e

        sliders = {}
        current = self.values()
        for name, (lo, hi, step, description) in self._slider_specs().items():
            cls = widgets.IntSlider if isinstance(step, int) else widgets.FloatSlider
            sliders[name] = cls(value=current[name], min=lo, max=hi, step=step, description=description,
                                continuous_update=False, style={"description_width": "initial"})
        out = widgets.Output()

        def redraw(change=None):
            self.set(**{name: s.value for name, s in sliders.items()})
            # the figure goes into the widget's own state, not into the cell's outputs
            # (which hold the static figure): nothing is printed twice without a browser
            fig = self.draw()
            png = io.BytesIO()
            fig.savefig(png, format="png", bbox_inches="tight")
            plt.close(fig)
            out.outputs = ()
            out.append_display_data(Image(data=png.getvalue(), format="png"))

        for s in sliders.values():
            s.observe(redraw, names="value")
        redraw()
        self.sliders = sliders
        return widgets.VBox([widgets.HBox(list(sliders.values())), out])

    def show(self, static):
        """Draw ``figure(static)`` (the picture without a kernel), then display the widget."""
        from IPython.display import display

        start = self.values()
        self.figure(static)
        plt.show()
        self.set(**start)
        bundle = self.widget()._repr_mimebundle_()
        # what the book and a page without a kernel show in place of the sliders
        bundle["text/plain"] = ("[sliders: " + ", ".join(spec[3] for spec in self._slider_specs().values())
                                + "; they move in a running Jupyter kernel, the figure above shows fixed settings]")
        display(bundle, raw=True)


class LatentExplorer(_Explorer):
    """Sliders over a VAE's latent code (chapter 02, "Code: genlib's convolutional VAE").

    ``decode``: ``z (n, latent_dim) -> images (n, H, W[, 1])`` in [0, 1] (a VAE's
    ``decode``). ``dims``: the latent coordinates that get a slider (the others stay at
    0, the prior's mean); ``lim``: each slider runs over ``[-lim, lim]`` (2.5 prior
    standard deviations by default). ``codes`` (n, latent_dim) and ``labels`` (n,):
    optional encoded digits drawn as the map behind the marker at ``z``.

    ``set(z1=..., z2=...)`` (names ``z<d + 1>`` for ``d`` in ``dims``) moves the code and
    returns the decoded image (H, W).
    """

    def __init__(self, decode, latent_dim=2, dims=(0, 1), lim=2.5, codes=None, labels=None, step=0.05):
        if not callable(decode):
            raise ValueError("decode must be callable: z (n, latent_dim) -> images")
        dims = tuple(int(d) for d in dims)
        if not dims or any(not 0 <= d < latent_dim for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(f"dims must be distinct latent coordinates in 0..{latent_dim - 1}, got {dims}")
        if not lim > 0:
            raise ValueError(f"lim must be > 0, got {lim}")
        self.decode, self.latent_dim, self.dims, self.lim, self.step = decode, int(latent_dim), dims, float(lim), step
        self.codes = None if codes is None else np.asarray(codes)
        self.labels = labels
        self.z = np.zeros(self.latent_dim, np.float32)
        self.image = self.update()

    def _slider_specs(self):
        return {f"z{d + 1}": (-self.lim, self.lim, self.step, f"z{d + 1}") for d in self.dims}

    def values(self):
        return {f"z{d + 1}": float(self.z[d]) for d in self.dims}

    def defaults(self):
        return {f"z{d + 1}": 0.0 for d in self.dims}

    def set(self, **values):
        """Move the code: ``set(z1=0.5, z2=-1.0)``; returns the decoded image (H, W)."""
        names = self._slider_specs()
        for name, v in values.items():
            if name not in names:
                raise ValueError(f"unknown slider {name!r}; the sliders are {sorted(names)}")
            if not -self.lim <= v <= self.lim:
                raise ValueError(f"{name} must be in [-{self.lim}, {self.lim}], got {v}")
            self.z[int(name[1:]) - 1] = v
        self.image = self.update()
        return self.image

    def update(self):
        """Decode the current ``z`` -> image (H, W)."""
        image = _to_numpy(self.decode(self.z[None].astype(np.float32)))[0]
        return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image

    def _map(self, ax):
        a, b = (self.dims + self.dims)[:2] if len(self.dims) == 1 else self.dims[:2]
        if self.codes is not None:
            ax.scatter(self.codes[:, a], self.codes[:, b], c=self.labels, cmap="tab10", s=2, alpha=0.5)
        ax.set_xlim(-self.lim * 1.05, self.lim * 1.05); ax.set_ylim(-self.lim * 1.05, self.lim * 1.05)
        ax.set_xlabel(f"$z_{a + 1}$"); ax.set_ylabel(f"$z_{b + 1}$"); ax.set_aspect("equal")
        return a, b

    def draw(self, fig=None):
        """The map with a marker at ``z`` and the decoded digit, side by side."""
        fig = fig or plt.figure(figsize=(6, 3))
        ax_map, ax_img = fig.subplots(1, 2)
        a, b = self._map(ax_map)
        ax_map.plot(self.z[a], self.z[b], "k*", ms=14, mec="w")
        ax_img.imshow(np.clip(self.image, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax_img.set_axis_off()
        ax_img.set_title(", ".join(f"{k} = {v:+.2f}" for k, v in self.values().items()), fontsize=9)
        fig.tight_layout()
        return fig

    def figure(self, static):
        """Static picture: the map with lettered markers at each setting of ``static``
        (a list of ``{"z1": .., "z2": ..}``; a slider not named is at 0) and the digit each one decodes to."""
        n = len(static)
        fig = plt.figure(figsize=(3 + 1.3 * n, 3))
        grid = fig.add_gridspec(1, n + 2)
        ax_map = fig.add_subplot(grid[0, :2])
        a, b = self._map(ax_map)
        images = []
        for i, setting in enumerate(static):
            images.append(self.set(**{**self.defaults(), **setting}))
            ax_map.annotate(chr(65 + i), (self.z[a], self.z[b]), ha="center", va="center", fontsize=11,
                            fontweight="bold", bbox=dict(boxstyle="circle,pad=0.15", fc="w", ec="k"))
            ax = fig.add_subplot(grid[0, i + 2])
            ax.imshow(np.clip(images[-1], 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off(); ax.set_title(chr(65 + i), fontsize=10)
        fig.tight_layout()
        self.static_images = np.stack(images)
        return fig


class SamplingExplorer(_Explorer):
    """Temperature, top-k and top-p sliders over a character model's next-token
    distribution (chapter 04, "Sampling: temperature, top-k and top-p"; chapter 05,
    "Sampling from the mini-GPT").

    ``model``: a trained ``genlib.models.CharGRU`` or ``MiniGPT`` (anything with
    ``model(ids)`` -> logits (batch, T, V) and ``generate``); ``tokenizer``: its
    ``CharTokenizer`` (default ``model.tokenizer``). The next-token logits ``l`` after
    ``prompt`` are computed once; ``set(temperature=T, top_k=k, top_p=p)`` (``top_k=0``
    and ``top_p=1`` switch a cut off) returns a dict with ``p_temperature``
    (``softmax(l / T)``, before any cut), ``p`` (``genlib.sampling.probabilities(l, T,
    k, p)``, what is sampled from), ``kept`` (bool, V) and ``text``: ``max_new_tokens``
    characters generated after ``sample_prompt`` with ``seed``, so a slider is the only
    thing that changes between two samples.
    """

    def __init__(self, model, prompt, tokenizer=None, sample_prompt=None, max_new_tokens=80, seed=0, n_top=15,
                 max_temperature=2.0):
        self.model, self.tokenizer = model, tokenizer or getattr(model, "tokenizer", None)
        if self.tokenizer is None:
            raise ValueError("the model has no tokenizer: pass tokenizer=")
        if not prompt:
            raise ValueError("prompt must be a non-empty string")
        self.prompt, self.sample_prompt = prompt, sample_prompt or prompt
        self.max_new_tokens, self.seed, self.n_top = int(max_new_tokens), seed, int(n_top)
        self.max_temperature = float(max_temperature)
        ids = np.asarray(self.tokenizer.encode(prompt), np.int32)
        block = getattr(model, "block_size", None)
        if block:
            ids = ids[-int(block):]
        self.logits = _to_numpy(model(ids[None]))[0, -1].astype(np.float64)
        self.temperature, self.top_k, self.top_p = 1.0, None, None
        self.state = self.update()

    def _slider_specs(self):
        return {"temperature": (0.05, self.max_temperature, 0.05, "temperature T"),
                "top_k": (0, len(self.logits), 1, "top-k (0 = off)"),
                "top_p": (0.05, 1.0, 0.01, "top-p (1 = off)")}

    def defaults(self):
        return {"temperature": 1.0, "top_k": 0, "top_p": 1.0}

    def values(self):
        return {"temperature": self.temperature, "top_k": self.top_k or 0, "top_p": 1.0 if self.top_p is None else self.top_p}

    def set(self, temperature=None, top_k=None, top_p=None):
        """Change any of the three settings (``top_k=0``, ``top_p=1``: off); returns ``update()``."""
        t = self.temperature if temperature is None else float(temperature)
        k = self.top_k if top_k is None else (None if top_k == 0 else int(top_k))
        p = self.top_p if top_p is None else (None if top_p >= 1 else float(top_p))
        check_sampling_args(t, k, p)
        self.temperature, self.top_k, self.top_p = t, k, p
        self.state = self.update()
        return self.state

    def update(self):
        """The distribution before and after the cuts, and a seeded sample with these settings."""
        kw = dict(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        p = probabilities(self.logits, **kw)
        ids = self.model.generate(self.tokenizer.encode(self.sample_prompt), self.max_new_tokens, seed=self.seed, **kw)
        return {"p_temperature": probabilities(self.logits, self.temperature), "p": p, "kept": p > 0,
                "text": self.tokenizer.decode(np.asarray(ids)[len(self.tokenizer.encode(self.sample_prompt)):])}

    def _label(self):
        parts = [f"T = {self.temperature:g}"]
        parts += [f"top-k = {self.top_k}"] if self.top_k else []
        parts += [f"top-p = {self.top_p:g}"] if self.top_p else []
        return ", ".join(parts)

    def _bars(self, ax, with_text=True):
        s = self.state
        top = np.argsort(-s["p_temperature"])[: self.n_top]
        colours = np.where(s["kept"][top], "tab:blue", "lightgrey")
        ax.bar(range(len(top)), s["p_temperature"][top], color=colours)
        ax.set_xticks(range(len(top)), [repr(self.tokenizer.decode([i]))[1:-1] for i in top], fontsize=8)
        ax.set_title(f"{self._label()}: keeps {int(s['kept'].sum())} of {len(s['p'])}", fontsize=9)
        if with_text:
            ax.set_xlabel(_wrap(self.sample_prompt + s["text"]), fontsize=8, family="monospace", loc="left")

    def draw(self, fig=None):
        """Bars of ``softmax(l / T)`` for the most likely characters, blue where kept, grey
        where top-k / top-p cut them; the seeded sample underneath."""
        fig = fig or plt.figure(figsize=(7, 3.4))
        ax = fig.subplots()
        self._bars(ax)
        ax.set_ylabel(f"p(next | {self.prompt[-12:]!r})")
        fig.tight_layout()
        return fig

    def figure(self, static):
        """Static picture: one bar chart per setting of ``static`` (a list of dicts for
        ``set``; a setting not named is at its default: T = 1, no cut), each with its seeded sample underneath; also printed."""
        fig, axes = plt.subplots(1, len(static), figsize=(3.4 * len(static), 3.4), sharey=True, squeeze=False)
        self.static_states = []
        for ax, setting in zip(axes[0], static):
            self.static_states.append(self.set(**{**self.defaults(), **setting}))
            self._bars(ax, with_text=False)
            print(f"--- {self._label()} ---\n{self.sample_prompt}{self.state['text']}\n")
        axes[0, 0].set_ylabel(f"p(next | {self.prompt[-12:]!r})")
        fig.tight_layout()
        return fig


def _wrap(text, width=70, lines=3):
    text = text.replace("\n", "⏎")
    return "\n".join(text[i:i + width] for i in range(0, min(len(text), width * lines), width))
