"""Sphinx configuration of the course's book (`make book`; tools/book.py runs it).

Why this tool: Sphinx with MyST-NB and sphinx-book-theme is the engine of Jupyter Book 1,
maintained by the Executable Books project. Every piece installs from the Python package
index (pinned in pyproject.toml) and the build needs no other network: Jupyter Book 2
(mystmd) downloads its site template from GitHub at build time, which the course's
machines and many readers' firewalls cannot reach, and MkDocs' notebook plugin renders
MyST-NB's glue roles (numbers from the run) not at all. MathJax comes from npm's
`mathjax` package (tools/book.py fetches it once, SHA-256 verified) and is served from
the site's own _static/ folder, so the built site opened from disk needs no network.

This file is copied into the staged source tree build/book-src/ (the repository's
chapters/, docs/ and bench/ with executed notebooks in chapters/); it is not meant to be
run on the repository itself. Notebooks are never executed here (nb_execution_mode =
"off"): they arrive executed by nbval (tools/nbval_capture.py).
"""

project = "genlib: generative models with Keras 3"
author = "the genlib course authors"
copyright = "the genlib course authors, MIT licence"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# --- notebooks: executed already, outputs and glue values come from the run -------------
nb_execution_mode = "off"
nb_merge_streams = True
# ipywidgets' views (the explorers of chapters 02, 04 and 05) need widget JavaScript from a CDN: show their text instead
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", None),
    ("html", "application/vnd.jupyter.widget-state+json", None),
]

# --- MyST: math, and GitHub-style heading anchors so that links such as
# ../chapters/02_vae.ipynb#the-elbo (glossary, syllabus) resolve ------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4
myst_dmath_double_inline = True

# --- offline math: MathJax 3 from npm, copied to _static/mathjax by tools/book.py -----------
html_static_path = ["_static"]
mathjax_path = "mathjax/tex-mml-chtml.js"

# --- theme ------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "genlib: generative models with Keras 3"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
# the download button offers the executed notebook (_sources/chapters/NN_name.ipynb)
html_copy_source = True
# the theme's colour mode; without it pydata-sphinx-theme logs "invalid theme mode" on a
# reader's first visit
html_context = {"default_mode": "auto"}

# tools/book.py builds with -W: every warning fails the build (a glue key the notebook
# does not produce, a link to a missing page or heading, an output nothing can render).
# The one exception is harmless: a notebook whose heading levels skip (#### after #).
suppress_warnings = ["myst.header"]
