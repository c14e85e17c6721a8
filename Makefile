# The genlib course. `make lab` opens it; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install only when the pins change.
STAMP  := $(VENV)/.installed
KERNEL := genlib-course
PYTEST := $(BIN)/python -m pytest
# Jupyter refuses to run as root (containers, CI) unless told to.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test test-cpu test-backends data kernel install lock bench student grade formgrade book book-check readme-images clean help

help:
	@echo "make lab            install, fetch data, start JupyterLab on chapters/"
	@echo "make test           install, fetch data, run unit tests + every notebook (smoke profile)"
	@echo "make test-cpu       every chapter in the learner's cpu profile, with a table of wall times (long)"
	@echo "make test-backends  unit tests + every notebook (smoke) on the JAX and PyTorch backends"
	@echo "make data           fill the data cache (run once online; offline afterwards)"
	@echo "make lock           re-resolve requirements/lock.txt and backends.txt after a pin change in pyproject.toml"
	@echo "make bench          run the benchmarks in bench/ (long: minutes each)"
	@echo "make student        the student edition of every chapter in student/ (nbgrader; CHAPTERS=... for some)"
	@echo "make formgrade      JupyterLab in the repository root: Nbgrader > Formgrader grades written answers by hand"
	@echo "make grade          autograde SUBMISSIONS=folder (folder/<student>/<chapter>.ipynb) with nbgrader: grades.csv"
	@echo "make book           the book: every chapter executed (BOOK_PROFILE=cpu; cached) as a website in build/book/html"
	@echo "make book-check     open every page of the book in headless Chromium (offline); screenshots in build/book-screenshots"
	@echo "make readme-images  copy the book's gallery (a cpu or gpu build) to docs/images/ for the README"

# Everything at the versions of the lock (requirements/lock.txt, `make lock`), then genlib
# itself without asking pip to resolve again: two fresh machines get the same packages.
LOCK := requirements/lock.txt
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# After changing a pin in pyproject.toml: re-resolve requirements/lock.txt and backends.txt
lock: install
	$(BIN)/python tools/lock.py

install: $(STAMP)

data: install
	$(BIN)/python -c "import genlib; genlib.data.prepare()"

kernel: install
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "genlib course" >/dev/null

lab: data kernel
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --notebook-dir=chapters $(ALLOW_ROOT)

# Unit tests and every notebook under nbval, in the fast smoke profile. To test one
# chapter: make test TESTS=chapters/02_vae.ipynb. JOBS test files (a notebook is one) run
# at once; loadscope keeps each notebook's cells in order on one worker.
TESTS ?= tests chapters
JOBS ?= 2
PARALLEL := $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadscope)
# Every chapter nbval runs is kept, executed, in build/executed/smoke (tools/nbval_capture.py):
# `make book BOOK_PROFILE=smoke` afterwards executes nothing.
test: data
	GENLIB_PROFILE=smoke GENLIB_EXECUTED=build/executed/smoke $(PYTEST) $(PARALLEL) --nbval-lax $(TESTS)

# The learner's profile: every assertion, the gated ones included; one chapter at a time
# with its wall time. One chapter: make test-cpu CHAPTERS=chapters/07_evaluation.ipynb
CHAPTERS ?=
test-cpu: data
	$(BIN)/python tools/time_chapters.py --profile cpu $(CHAPTERS)

$(VENV)/.backends: $(STAMP) requirements/backends.txt
	$(BIN)/python -m pip install --quiet -r requirements/backends.txt
	touch $@

# TensorFlow is `make test`'s backend; this runs the same tests and notebooks on the other two.
test-backends: data $(VENV)/.backends
	for backend in jax torch; do \
	  echo "== KERAS_BACKEND=$$backend"; \
	  KERAS_BACKEND=$$backend GENLIB_PROFILE=smoke $(PYTEST) $(PARALLEL) --nbval-lax $(TESTS) || exit 1; \
	done

# bench/gpt.py times a PyTorch twin of MiniGPT, so the PyTorch extra is installed too
bench: data $(VENV)/.backends
	status=0; for b in metrics vae gan gru gpt finetune; do $(BIN)/python bench/$$b.py --check || status=1; done; exit $$status

# Homework with nbgrader (README, "Teaching with the course"). nbgrader's course folder is
# build/course; the student edition goes to student/. CHAPTERS (above) picks chapters.
student: install
	$(BIN)/python tools/nbgrader_course.py student $(CHAPTERS)

# Autograde SUBMISSIONS/<student>/<chapter>.ipynb (copied, never modified) in the smoke
# profile, TIMEOUT seconds per cell; writes grades.csv. GRADE_PROFILE=cpu grades in the cpu profile.
SUBMISSIONS ?=
TIMEOUT ?= 120
GRADE_PROFILE ?= smoke
grade: data
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder (folder/<student>/<chapter>.ipynb)"; exit 2; }
	GENLIB_PROFILE=$(GRADE_PROFILE) $(BIN)/python tools/nbgrader_course.py grade $(SUBMISSIONS) --timeout $(TIMEOUT)

# Manual grading (written answers) and review in nbgrader's formgrader, which needs the
# course folder build/course under the server's root: the repository root.
formgrade: kernel
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 $(ALLOW_ROOT)

# The book (README, "The book"): chapters executed with nbval in BOOK_PROFILE (an execution
# cache in build/executed/<profile>: only changed chapters re-run, JOBS at once), then
# Sphinx + MyST-NB into build/book/html, which works opened from disk with no network.
BOOK_PROFILE ?= cpu
book: data
	$(BIN)/python tools/book.py --profile $(BOOK_PROFILE) --jobs $(JOBS)

# Headless Chromium (Debian's chromium package) on every page of build/book/html.
book-check: install
	$(BIN)/python tools/check_book.py build/book/html --screenshots build/book-screenshots

readme-images: install
	$(BIN)/python tools/book.py --readme-images

clean:
	rm -rf $(VENV) build *.egg-info
