"""The book's machinery: the nbval capture plugin, the execution cache's key, staging
helpers, the offline check of the built HTML and the browser test (tools/check_book.py).

The browser test needs Debian's chromium (/usr/bin/chromium; CI installs it) and skips
with a message without it. None of these tests depends on the Keras backend (the nbval
runs they start pick their own), so they run once, in `make test`, and not again for each
backend of `make test-backends`.
"""

import base64
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                                reason="backend-independent; runs with the default backend")


_spec = importlib.util.spec_from_file_location("genlib_book_tool", ROOT / "tools" / "book.py")
book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book)
capture = book.capture  # tools/nbval_capture.py
check_book = book._load("genlib_check_book", ROOT / "tools" / "check_book.py")


# a 2x2 red PNG
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4z8DAwMDAxAAGABsAAv3Q1cQAAAAASUVORK5CYII=")


def _notebook(path, sources):
    """A notebook of code cells (str) and markdown cells (("md", str))."""
    nb = nbformat.v4.new_notebook()
    for src in sources:
        if isinstance(src, tuple):
            nb.cells.append(nbformat.v4.new_markdown_cell(src[1]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(src))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# --- the cache key ----------------------------------------------------------------------

def test_cache_key_covers_notebook_genlib_profile_and_backend(tmp_path):
    (tmp_path / "genlib" / "models").mkdir(parents=True)
    (tmp_path / "genlib" / "a.py").write_text("x = 1\n")
    (tmp_path / "genlib" / "models" / "b.py").write_text("y = 2\n")
    nb = _notebook(tmp_path / "chapters" / "00_x.ipynb", ["print(1)"])
    key = capture.cache_key(nb, "smoke", "tensorflow", root=tmp_path)
    assert key == capture.cache_key(nb, "smoke", "tensorflow", root=tmp_path), "the key must be deterministic"
    assert key != capture.cache_key(nb, "cpu", "tensorflow", root=tmp_path)
    assert key != capture.cache_key(nb, "smoke", "jax", root=tmp_path)
    (tmp_path / "genlib" / "models" / "b.py").write_text("y = 3\n")
    key2 = capture.cache_key(nb, "smoke", "tensorflow", root=tmp_path)
    assert key2 != key, "a change in a nested genlib module must change the key"
    (tmp_path / "genlib" / "notes.txt").write_text("not python")
    assert capture.cache_key(nb, "smoke", "tensorflow", root=tmp_path) == key2, "only *.py counts"
    _notebook(nb, ["print(2)"])
    assert capture.cache_key(nb, "smoke", "tensorflow", root=tmp_path) != key2


def test_keras_backend_from_env_or_config(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert capture.keras_backend() == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert capture.keras_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert capture.keras_backend() == "jax"


def test_stale_chapters_reuses_only_a_matching_key(tmp_path, monkeypatch):
    chapters = [ROOT / "chapters" / "00_getting_started.ipynb", ROOT / "chapters" / "01_foundations.ipynb"]
    monkeypatch.setattr(book, "executed_dir", lambda profile: tmp_path / profile)
    assert book.stale_chapters("smoke", "tensorflow", chapters) == chapters, "nothing executed yet"
    (tmp_path / "smoke").mkdir()
    for nb, key in zip(chapters, [capture.cache_key(chapters[0], "smoke", "tensorflow"), "0" * 64]):
        data = json.loads(nb.read_text())
        data["metadata"][capture.META] = {"cache_key": key}
        (tmp_path / "smoke" / nb.name).write_text(json.dumps(data))
    assert book.stale_chapters("smoke", "tensorflow", chapters) == [chapters[1]]
    assert book.stale_chapters("smoke", "jax", chapters) == chapters, "another backend is another key"
    assert book.stale_chapters("cpu", "tensorflow", chapters) == chapters


def test_executed_notebook_fills_outputs_and_counts(tmp_path):
    from nbformat import NotebookNode

    src = _notebook(tmp_path / "nb.ipynb", [("md", "# T"), "print('hi')", "skipped()", "1 + 1", "show()"])
    outs = {
        0: [NotebookNode(output_type="stream", name="stdout", text="hi\n")],
        1: None,
        2: [NotebookNode(output_type="execute_result", data={"text/plain": "2"}, metadata={}, execution_count=7)],
        3: [NotebookNode(output_type="display_data", data={"image/png": base64.b64encode(PNG).decode(),
                                                           "text/plain": "<Figure>"}, metadata={})],
    }
    nb = capture.executed_notebook(src, outs, {"cache_key": "k"})
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, None, 2, 3]
    assert code[0].outputs[0].text == "hi\n" and code[1].outputs == []
    assert code[2].outputs[0].execution_count == 2, "execute_result carries its cell's count"
    assert nb.metadata[capture.META] == {"cache_key": "k"}
    assert nb.cells[0].cell_type == "markdown"
    capture.write_notebook(nb, tmp_path / "out" / "nb.ipynb")
    nbformat.validate(nbformat.read(str(tmp_path / "out" / "nb.ipynb"), as_version=4))


# --- the plugin under pytest (and pytest-xdist) ----------------------------------------------

def _run_capture(tmp_path, notebooks, *extra, env_dir=True):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tools"), str(ROOT)]),
               GENLIB_PROFILE="smoke", KERAS_BACKEND="tensorflow")
    env.pop("GENLIB_EXECUTED", None)
    if env_dir:
        env["GENLIB_EXECUTED"] = str(tmp_path / "executed")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "nbval_capture", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-current-env", "--rootdir", str(tmp_path), "-c", os.devnull, *extra, *map(str, notebooks)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_capture_plugin_writes_passing_notebooks_only(tmp_path):
    good = _notebook(tmp_path / "chapters" / "good.ipynb",
                     [("md", "# Good"), "print('hello')", "from IPython.display import display\ndisplay(41 + 1)",
                      "# NBVAL_SKIP\nraise RuntimeError('skipped')", "6 * 7"])
    bad = _notebook(tmp_path / "chapters" / "bad.ipynb", ["x = 1", "raise ValueError('no')", "print(x)"])
    other = _notebook(tmp_path / "elsewhere" / "other.ipynb", ["print(1)"])
    done = _run_capture(tmp_path, [good, bad, other], "-n", "2", "--dist", "loadscope")
    assert done.returncode == 1, done.stdout[-2000:]  # bad.ipynb fails, as it should
    written = sorted(p.name for p in (tmp_path / "executed").glob("*.ipynb"))
    assert written == ["good.ipynb"], (written, done.stdout[-2000:])
    nb = nbformat.read(str(tmp_path / "executed" / "good.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].outputs[0]["text"] == "hello\n"
    assert code[1].outputs[0]["data"]["text/plain"] == "42"
    assert code[2].outputs == [] and code[2].execution_count is None, "a skipped cell has no outputs"
    assert code[3].outputs[0]["data"]["text/plain"] == "42" and code[3].execution_count == 3
    meta = nb.metadata[capture.META]
    assert meta["cache_key"] == capture.cache_key(good, "smoke", "tensorflow")
    assert (meta["profile"], meta["backend"]) == ("smoke", "tensorflow")


def test_capture_plugin_is_off_without_the_env_var(tmp_path):
    good = _notebook(tmp_path / "chapters" / "good.ipynb", ["print('hello')"])
    done = _run_capture(tmp_path, [good], env_dir=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert not (tmp_path / "executed").exists()


# --- staging helpers and the offline check of the HTML ------------------------------------

def test_github_slug_and_jupyter_anchors():
    assert book.github_slug("Maximum likelihood and KL divergence") == "maximum-likelihood-and-kl-divergence"
    assert book.github_slug("2.3 The ELBO: a bound!") == "23-the-elbo-a-bound"
    nb = {"cells": [{"cell_type": "markdown", "source": "## Why it is hard\n\nSee [x](#Why-it-is-hard), "
                                                            "[y](#why-it-is-hard) and [z](#Nowhere)."}]}
    book.fix_notebook_anchors(nb)
    assert nb["cells"][0]["source"].endswith("[x](#why-it-is-hard), [y](#why-it-is-hard) and [z](#Nowhere).")


def test_gallery_image_fails_loudly():
    png = base64.b64encode(PNG).decode()
    nb = {"cells": [{"cell_type": "code", "id": "a", "outputs": [{"output_type": "stream", "text": "x"}]},
                    {"cell_type": "code", "id": "b", "outputs": [{"output_type": "display_data",
                                                                  "data": {"image/png": png}}]}]}
    assert book.gallery_image(nb, "b", "nb") == PNG
    with pytest.raises(SystemExit, match="shows no image"):
        book.gallery_image(nb, "a", "nb")
    with pytest.raises(SystemExit, match="no cell with id"):
        book.gallery_image(nb, "zz", "nb")


def test_every_chapter_has_a_gallery_cell():
    for path in book.chapter_paths():
        assert path.stem in book.GALLERY, f"{path.stem}: choose its gallery figure in tools/book.py GALLERY"
        ids = {c.get("id") for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"}
        assert book.GALLERY[path.stem][0] in ids, f"{path.stem}: gallery cell {book.GALLERY[path.stem][0]} is gone"


def test_remote_loads_finds_cdn_assets(tmp_path):
    (tmp_path / "a.html").write_text(textwrap.dedent("""\
        <link rel="stylesheet" href="https://cdn.example.com/x.css">
        <link rel="canonical" href="https://example.com/a.html">
        <script src="https://cdn.example.com/x.js"></script>
        <script src="_static/local.js"></script>
        <img src="//cdn.example.com/i.png"><a href="https://example.com">a link is fine</a>"""))
    (tmp_path / "s.css").write_text("@font-face { src: url(https://fonts.example.com/f.woff2) }")
    found = "\n".join(book.remote_loads(tmp_path))
    for needle in ("x.css", "x.js", "i.png", "f.woff2"):
        assert needle in found
    assert "canonical" not in found and "local.js" not in found and "a link is fine" not in found


# --- the Sphinx side: glued numbers render; a missing key or anchor fails the build ---------

def _glue_output(name, value):
    return nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": repr(value)},
                                  metadata={"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}})


def _sphinx_site(src, glossary_link, role_key):
    (src / "chapters").mkdir(parents=True)
    (src / "docs").mkdir()
    (src / "_static").mkdir()
    (src / "conf.py").write_bytes((ROOT / "book" / "conf.py").read_bytes())
    (src / "index.md").write_text("# Home\n\n```{toctree}\nchapters/01_t\ndocs/glossary\n```\n")
    (src / "docs" / "glossary.md").write_text(f"# Glossary\n\n- [ELBO]({glossary_link})\n")
    nb = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell(f"# T\n\n## The ELBO: a bound\n\nAccuracy {{glue:text}}`{role_key}:.1%`, "
                                              "[up](#The-ELBO:-a-bound)."),
                nbformat.v4.new_code_cell("glue(...)", execution_count=1, outputs=[_glue_output("acc", 0.73125)])]
    book.fix_notebook_anchors(nb)
    nbformat.write(nb, str(src / "chapters" / "01_t.ipynb"))
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(src),
                           str(src.parent / "html")], capture_output=True, text=True, timeout=300)


def test_sphinx_renders_glue_and_resolves_heading_anchors(tmp_path):
    done = _sphinx_site(tmp_path / "src", "../chapters/01_t.ipynb#the-elbo-a-bound", "acc")
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "html" / "chapters" / "01_t.html").read_text()
    assert '<span class="pasted-text">73.1%</span>' in page
    assert 'href="../chapters/01_t.html#the-elbo-a-bound"' in (tmp_path / "html" / "docs" / "glossary.html").read_text()


def test_sphinx_fails_on_a_missing_glue_key_or_anchor(tmp_path):
    done = _sphinx_site(tmp_path / "src", "../chapters/01_t.ipynb#no-such-heading", "accuracy")
    assert done.returncode != 0
    assert "No key 'accuracy' found in glue data" in done.stderr, done.stderr[-3000:]
    assert "no-such-heading" in done.stderr, done.stderr[-3000:]


def test_mathjax_unavailable_names_the_file_to_copy(tmp_path, monkeypatch):
    data = book._load("genlib_data_standalone", ROOT / "genlib" / "data.py")
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("GENLIB_NET_TIMEOUT", "5")
    with pytest.raises(data.DataUnavailableError) as error:
        book.mathjax_tarball()
    message = str(error.value)
    assert "npm is not installed" in message and "Connection refused" in message
    assert str(tmp_path / "cache" / book.MATHJAX_TGZ) in message and book.MATHJAX_SHA256 in message


# --- the browser test ------------------------------------------------------------------------

def _mathjax(dest):
    """MathJax into dest (from the data cache; fetched once if missing), or skip."""
    data = book._load("genlib_data_standalone", ROOT / "genlib" / "data.py")
    try:
        book.stage_mathjax(dest)
    except data.DataUnavailableError as error:
        pytest.skip(f"MathJax {book.MATHJAX_VERSION} not available offline: {str(error)[:200]}")


@pytest.mark.skipif(not Path(check_book.CHROMIUM).exists(),
                    reason=f"no Chromium at {check_book.CHROMIUM} (apt-get install chromium); CI installs it")
def test_check_book_catches_each_defect(tmp_path):
    site = tmp_path / "html"
    _mathjax(site / "_static" / "mathjax")
    (site / "fig.png").write_bytes(PNG)
    mj = '<script async src="_static/mathjax/tex-mml-chtml.js"></script>'
    (site / "index.html").write_text(f"""<!DOCTYPE html><html><head>{mj}</head><body>
        <h1 id="top">Good page</h1><p>Inline \\(a^2 + b^2\\) and display $$\\sum_i x_i$$.</p>
        <img src="fig.png"><a href="bad.html#present">to bad</a> <a href="#top">top</a>
        <a href="https://example.com/">an outside hyperlink is not a load</a>
        <pre>code may show $$ and \\( raw</pre></body></html>""")
    (site / "bad.html").write_text(f"""<!DOCTYPE html><html><head>{mj}
        <script src="https://cdn.jsdelivr.net/npm/nothing@1/x.js"></script></head><body>
        <h1 id="present">Bad page</h1>
        <script>throw new Error("boom in the page")</script>
        <img src="missing.png">
        <p class="tex2jax_ignore mathjax_ignore">raw $$x^2$$ left over</p>
        <p>\\(\\frac{{1}}\\)</p>
        <a href="nowhere.html">missing file</a> <a href="index.html#absent">missing anchor</a>
        </body></html>""")
    results = check_book.check_site(site, tmp_path / "shots", log=lambda *a: None)
    assert "index.html" not in results, results.get("index.html")
    bad = "\n".join(results["bad.html"])
    expected = {
        "network request": "network request (the site must work offline): https://cdn.jsdelivr.net",
        "JavaScript error": "JavaScript error: boom in the page",
        "image": "image did not load: missing.png",
        "raw math": "unrendered math ($$)",
        "MathJax error": "MathJax error:",
        "missing file": "broken link 'nowhere.html'",
        "missing anchor": "broken link 'index.html#absent': no id 'absent'",
    }
    missed = [what for what, needle in expected.items() if needle not in bad]
    assert not missed, f"not caught: {missed}\n{bad}"
    assert sorted(p.name for p in (tmp_path / "shots").glob("*.png")) == ["bad.png", "index.png"]


def test_check_book_command_line_without_site(tmp_path):
    assert check_book.main([str(tmp_path / "none")]) == 2
