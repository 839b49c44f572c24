# Two commands matter: `make train-kws LANG=lg` and `make test`. Both set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# LANG is also the locale variable. Take the keyword language only when given on the command line
# (make train-kws LANG=lg) and give the recipes a sane locale, so Python and Java don't see "lg" as a locale.
ifeq ($(origin LANG),command line)
KWS_LANG := $(LANG)
else
KWS_LANG := lg
endif
override LANG := C.UTF-8
export LANG

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
EXTRA ?= cpu
STAMP := $(VENV)/.installed-$(EXTRA)
JOBS ?= 2

KEYWORDS ?=
SHOTS ?= 5
DATA ?=

.PHONY: help setup java voices test test-fast train-kws bench bench-quick clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

setup: $(STAMP)  ## create .venv and install the project with pinned dependencies (EXTRA=gpu for CUDA TensorFlow)

$(STAMP): pyproject.toml
	@bash tools/ensure_python.sh "$(PYTHON)"
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRA),dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

java:  ## make sure a Java runtime exists for Spark (installs Debian's headless JRE when missing)
	@bash tools/ensure_java.sh

voices:  ## the second synthesizer family: CMU Flite (Debian package; skipped with a note when it cannot be installed)
	@bash tools/ensure_flite.sh

# --dist loadscope: a module's tests share one worker, so a module fixture (a trained model, a built corpus)
# is made once. (pytest 9 ignores xdist_group marks under --dist loadgroup.)
test: setup java voices  ## run the whole test suite (what CI runs)
	$(PY) -m pytest -n $(JOBS) --dist loadscope tests

test-fast: setup voices  ## the tests that train nothing and start no Spark
	$(PY) -m pytest -n $(JOBS) --dist loadscope -m "not slow" tests

train-kws: setup voices  ## keyword spotter for LANG (default lg): [KEYWORDS="w1 w2"] [SHOTS=5] [DATA=dir]
	$(PY) -m kws train --lang $(KWS_LANG) --shots $(SHOTS) \
		$(if $(KEYWORDS),--keywords $(KEYWORDS)) $(if $(DATA),--data $(DATA))

bench-quick: setup java voices  ## every benchmark with --quick (<= 5 min each on 2 cores)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

bench: setup java voices  ## every benchmark at full size
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:  ## remove .venv
	rm -rf $(VENV)
