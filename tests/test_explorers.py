"""genlib.explorers: slider values set in code change the picture and the text as they must."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import keras

import genlib
from genlib.explorers import LatentExplorer, SamplingExplorer
from genlib.models import CharGRU, MiniGPT
from genlib.sampling import probabilities
from genlib.tokenizer import CharTokenizer

TEXT = "to be, or not to be: that is the question.\n" * 4


@pytest.fixture(scope="module")
def vae():
    genlib.seed(0)
    return genlib.models.conv_vae(latent_dim=2, preset="tiny", seed=0)


def test_latent_explorer_decodes_the_slider_code(vae):
    explorer = LatentExplorer(vae.decode, latent_dim=2, codes=np.zeros((5, 2)), labels=np.arange(5))
    at_zero = explorer.image
    assert at_zero.shape == (28, 28)
    moved = explorer.set(z1=2.0, z2=-1.5)
    np.testing.assert_allclose(explorer.z, [2.0, -1.5])
    # the picture is exactly the decoder's output at the slider code, and it changed
    np.testing.assert_allclose(moved, np.asarray(vae.decode(np.array([[2.0, -1.5]], "float32")))[0, ..., 0], atol=1e-6)
    assert np.abs(moved - at_zero).sum() > 1e-3
    # moving back gives back the same image
    np.testing.assert_allclose(explorer.set(z1=0.0, z2=0.0), at_zero, atol=1e-6)
    assert explorer.values() == {"z1": 0.0, "z2": 0.0}


def test_latent_explorer_figures_and_widget(vae):
    explorer = LatentExplorer(vae.decode, latent_dim=2)
    fig = explorer.figure([{"z1": -2.0, "z2": 0.0}, {"z1": 0.0, "z2": 0.0}, {"z1": 2.0, "z2": 0.0}])
    assert len(fig.axes) == 4 and explorer.static_images.shape == (3, 28, 28)
    assert np.abs(explorer.static_images[0] - explorer.static_images[2]).sum() > 1e-3
    plt.close("all")
    box = explorer.widget()
    png = lambda: box.children[1].outputs[0]["data"]["image/png"]
    before = png()
    explorer.sliders["z1"].value = 1.0          # what a reader's drag does
    np.testing.assert_allclose(explorer.z, [1.0, 0.0])
    assert len(box.children[1].outputs) == 1 and png() != before   # one picture, redrawn
    plt.close("all")


def test_latent_explorer_rejects_bad_arguments(vae):
    with pytest.raises(ValueError, match="dims"):
        LatentExplorer(vae.decode, latent_dim=2, dims=(0, 2))
    explorer = LatentExplorer(vae.decode, latent_dim=2, dims=(1,), lim=1.0)
    with pytest.raises(ValueError, match="unknown slider"):
        explorer.set(z1=0.5)
    with pytest.raises(ValueError, match="must be in"):
        explorer.set(z2=3.0)


@pytest.fixture(scope="module", params=["gru", "gpt"])
def model(request):
    tok = CharTokenizer.fit(TEXT)
    genlib.seed(0)
    if request.param == "gru":
        return CharGRU.from_preset("tiny", tokenizer=tok)
    return MiniGPT.from_preset("tiny", tokenizer=tok)


def test_sampling_explorer_distribution_and_sample(model):
    explorer = SamplingExplorer(model, "to be, or no", max_new_tokens=20, seed=3)
    V = model.vocab_size
    state = explorer.state
    assert state["kept"].all() and len(state["text"]) == 20
    # the bars are genlib.sampling.probabilities of the model's last logits
    ids = np.asarray(model.tokenizer.encode("to be, or no"), "int32")[None]
    logits = keras.ops.convert_to_numpy(model(ids))[0, -1]
    np.testing.assert_allclose(state["p"], probabilities(logits), atol=1e-6)

    cut = explorer.set(top_k=3)
    assert cut["kept"].sum() == 3
    np.testing.assert_allclose(cut["p"], probabilities(logits, top_k=3), atol=1e-6)
    nucleus = explorer.set(top_k=0, top_p=0.5)
    assert 1 <= nucleus["kept"].sum() < V and nucleus["p_temperature"][nucleus["kept"]].sum() >= 0.5
    # same settings, same seed: same text; a slider move is the only thing that changes it
    again = explorer.set(top_p=0.5)
    assert again["text"] == nucleus["text"]
    cold, hot = explorer.set(top_p=1.0, temperature=0.05), explorer.set(temperature=2.0)
    entropy = lambda p: -(p[p > 0] * np.log(p[p > 0])).sum()
    assert entropy(cold["p"]) < entropy(hot["p"])
    assert cold["text"] != hot["text"]
    assert explorer.values() == {"temperature": 2.0, "top_k": 0, "top_p": 1.0}


def test_sampling_explorer_figures_and_widget(model):
    explorer = SamplingExplorer(model, "to be", max_new_tokens=10)
    fig = explorer.figure([dict(temperature=1.0), dict(top_k=2), dict(top_k=0, top_p=0.3)])
    assert len(fig.axes) == 3 and [s["kept"].sum() for s in explorer.static_states][1] == 2
    plt.close("all")
    explorer.set(temperature=1.0, top_k=0, top_p=1.0)
    explorer.widget()
    explorer.sliders["top_k"].value = 4
    assert explorer.state["kept"].sum() == 4
    explorer.draw()
    plt.close("all")
    explorer.show([dict(temperature=0.5)])      # the static figure, then the widget with its text
    assert explorer.values() == {"temperature": 1.0, "top_k": 4, "top_p": 1.0}
    plt.close("all")
    with pytest.raises(ValueError, match="temperature"):
        explorer.set(temperature=0.0)
