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

ITEMS ?=
TPS_OUT ?= data/tps
TPS_LANG ?= en

.PHONY: help setup java test test-fast train-kws build-tps bench bench-quick clean-venv

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

# --dist loadscope: a module's tests share one worker, so a module fixture (a trained model, a built corpus)
# is made once. (pytest 9 ignores xdist_group marks under --dist loadgroup.)
test: setup java  ## run the whole test suite (what CI runs)
	$(PY) -m pytest -n $(JOBS) --dist loadscope tests

test-fast: setup  ## the tests that train nothing and start no Spark
	$(PY) -m pytest -n $(JOBS) --dist loadscope -m "not slow" tests

train-kws: setup  ## keyword spotter for LANG (default lg): [KEYWORDS="w1 w2"] [SHOTS=5] [DATA=dir]
	$(PY) -m kws train --lang $(KWS_LANG) --shots $(SHOTS) \
		$(if $(KEYWORDS),--keywords $(KEYWORDS)) $(if $(DATA),--data $(DATA))

build-tps: setup  ## People's Speech-style dataset from Internet Archive items: [ITEMS=dir] [TPS_OUT=data/tps] [TPS_LANG=en]
	@if [ -z "$(ITEMS)" ]; then \
		echo "No ITEMS=dir given: building from the synthetic IA demo items in data/demo/ia-$(TPS_LANG) (made now if missing)."; \
		[ -f data/demo/ia-$(TPS_LANG)/synthetic_truth.jsonl.gz ] || \
			$(PY) -m corpus synth-ia --out data/demo/ia-$(TPS_LANG) --lang $(TPS_LANG) --items 8 --minutes 2 --force; \
		$(PY) -m corpus peoples-speech build --items data/demo/ia-$(TPS_LANG) --lang $(TPS_LANG) --out $(TPS_OUT); \
	else \
		$(PY) -m corpus peoples-speech build --items $(ITEMS) --lang $(TPS_LANG) --out $(TPS_OUT); \
	fi

bench-quick: setup java  ## every benchmark with --quick (<= 5 min each on 2 cores)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

bench: setup java  ## every benchmark at full size
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:  ## remove .venv
	rm -rf $(VENV)
