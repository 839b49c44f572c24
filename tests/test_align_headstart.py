"""The synthetic head start (a tiny one here): cached by configuration, adapted to a small corpus by EM,
the small-corpus fallback (`init="auto"`), and the CLI's report of it."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from corpus.align import AlignerConfig, AlignError, align_items, train_aligner
from corpus.align.cli import register
from corpus.align.headstart import HeadStartConfig, head_start_dir, head_start_model
from corpus.align.model import load_model
from corpus.align.voice_readings import ReadingPlan, family_readings
from corpus.align.sources import items_from_common_voice
from corpus.cli import run_cli
from corpus.demo.common_voice import SynthCVConfig, synth_common_voice
from corpus.demo.noise import NoisePlan
from corpus.manifest import read_jsonl
from corpus.text import normalize_words, rules_for

pytestmark = pytest.mark.slow

TINY = HeadStartConfig(sentences=60, speakers=8, seed=3,
                       aligner=AlignerConfig(min_unit_count=2, gmm_mixtures=(1, 1, 2, 4), mlp_rounds=2,
                                             mlp_hidden=(128, 128), mlp_epochs=(4, 2)))
NOISE = NoisePlan(noisy_share=1.0, snr_db=(12.0, 20.0), noise_kinds=("pink", "babble"), reverb_share=0.5)


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, head_start_model("lg", config=TINY, cache_dir=cache, jobs=2, progress=False)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """24 utterances of voices the head start never heard, noisier: the user's small corpus."""
    root = tmp_path_factory.mktemp("small")
    tree = synth_common_voice(SynthCVConfig(language="lg", sentences=24, speakers=4, seed=77, noise=NOISE,
                                            invalidated_share=0, other_share=0), root / "cv", jobs=2, progress=False)
    items, _ = items_from_common_voice(tree, "lg")
    truth = {Path(r["path"]).stem: r for r in read_jsonl(tree / "synthetic_truth.jsonl.gz")}
    return root, tree, items, truth


def _errors(results, truth) -> np.ndarray:
    rules = rules_for("lg")
    out = []
    for result in results:
        assert result.alignment is not None, result.error
        spoken = [w for w in truth[result.id]["words"] if len(normalize_words(w["text"], rules).words) == 1]
        if len(spoken) != len(result.alignment.words):
            continue
        for true, ours in zip(spoken, result.alignment.words):
            out += [ours.start_s - true["start_s"], ours.end_s - true["end_s"]]
    return np.abs(np.asarray(out))


def test_head_start_is_built_once_per_configuration(head):
    cache, model_dir = head
    assert model_dir == head_start_dir("lg", TINY, cache) and model_dir.name.startswith("lg-")
    assert (model_dir / "head_start.json").is_file() and not list(model_dir.parent.glob(".build-*"))
    started = time.perf_counter()
    assert head_start_model("lg", config=TINY, cache_dir=cache) == model_dir  # cached: no synthesis
    assert time.perf_counter() - started < 1.0
    other = HeadStartConfig(sentences=61, speakers=8, seed=3, aligner=TINY.aligner)
    assert head_start_dir("lg", other, cache) != model_dir
    with pytest.raises(AlignError, match="no synthetic head start"):
        head_start_model("xx-nope", config=TINY, cache_dir=cache)


def test_small_corpus_adapts_the_head_start_and_beats_a_flat_start(head, small_corpus, tmp_path, caplog):
    _, model_dir = head
    _, _, items, truth = small_corpus
    adapted = train_aligner(items, language="lg", out_dir=tmp_path / "adapted", jobs=1, progress=False,
                            config=AlignerConfig(init="auto", head_start=str(model_dir), adapt_synthetic_voices=1, adapt_rounds=2))
    summary = load_model(adapted).summary
    assert summary["init"] == "head_start" and summary["small_corpus"] and summary["trained_on"] == len(items)
    assert [h["stage"] for h in summary["history"]] == ["synthetic_readings", "adapt1", "adapt2"]
    assert summary["synthetic_readings"] == len(items)
    with caplog.at_level(logging.WARNING, logger="corpus.align.train"):
        flat = train_aligner(items, language="lg", out_dir=tmp_path / "flat", jobs=1, progress=False,
                             config=AlignerConfig(min_unit_count=1, mlp_hidden=(128, 128), mlp_rounds=2))
    assert "few for a flat start" in caplog.text
    head_errors = _errors(align_items(items, model_dir, jobs=1, progress=False), truth)
    adapted_errors = _errors(align_items(items, adapted, jobs=1, progress=False), truth)
    flat_errors = _errors(align_items(items, flat, jobs=1, progress=False), truth)
    assert adapted_errors.size > 100
    assert adapted_errors.mean() < 0.04 and np.mean(adapted_errors <= 0.04) > 0.8
    assert adapted_errors.mean() < flat_errors.mean()
    assert adapted_errors.mean() <= head_errors.mean() + 0.005  # adaptation does not lose what the head start had


def test_cli_train_init_head_start_reports_it(head, small_corpus, tmp_path, capsys):
    _, model_dir = head
    _, tree, _, _ = small_corpus
    (tmp_path / "a.json").write_text(AlignerConfig(adapt_synthetic_voices=0, adapt_rounds=1).to_json(), encoding="utf-8")
    argv = ["align", "train", "--corpus", str(tree), "--lang", "lg", "--out", str(tmp_path / "m"), "--init",
            "head-start", "--head-start", str(model_dir), "--jobs", "1", "--quiet", "--seed", "1", "--config",
            str(tmp_path / "a.json")]
    assert run_cli("python -m corpus", "", [register], argv) == 0
    assert "adapted from the synthetic head start" in capsys.readouterr().out
    flat = ["align", "train", "--corpus", str(tree), "--lang", "lg", "--out", str(tmp_path / "f"), "--init", "flat",
            "--jobs", "1", "--quiet", "--config", str(tmp_path / "c.json")]
    (tmp_path / "c.json").write_text(AlignerConfig(min_unit_count=1, mlp_rounds=0).to_json(), encoding="utf-8")
    assert run_cli("python -m corpus", "", [register], flat) == 0
    assert "few for a flat start" in capsys.readouterr().out


def test_espeak_only_where_no_other_family_speaks_the_language(tmp_path):
    # Flite speaks English only: for lg the configured other families change nothing, key included
    assert head_start_dir("lg", TINY, tmp_path) == head_start_dir("lg", replace(TINY, other_readings=0), tmp_path)
    assert head_start_dir("en", replace(TINY, other_families=()), tmp_path) == \
        head_start_dir("en", replace(TINY, other_readings=0), tmp_path)
    with pytest.raises(ValueError, match="other_readings"):
        HeadStartConfig(other_readings=-1)


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed (make test installs it: "
                                                            "tools/ensure_flite.sh)")
def test_english_head_start_is_adapted_to_flite_voices(tmp_path):
    config = replace(TINY, other_readings=30, other_voices=4)
    espeak_only = replace(config, other_readings=0)
    model_dir = head_start_model("en", config=config, cache_dir=tmp_path, jobs=2, progress=False)
    base_dir = head_start_dir("en", espeak_only, tmp_path)
    assert model_dir != base_dir and (base_dir / "model.npz").is_file()  # the espeak model is built first, kept
    record = json.loads((model_dir / "head_start.json").read_text(encoding="utf-8"))
    assert record["adapted_to"] == ["flite"] and record["readings"] >= 25 and record["espeak_model"] == base_dir.name
    summary = load_model(model_dir).summary
    assert summary["init"] == "head_start" and summary["trained_on"] + summary["held_out"] == record["readings"]
    assert not list(tmp_path.glob("align-headstart/.build-*"))
    started = time.perf_counter()
    assert head_start_model("en", config=config, cache_dir=tmp_path) == model_dir
    assert time.perf_counter() - started < 1.0
    # Flite speech the model never heard (other sentences and voices) fits the adapted model better
    plan = ReadingPlan(language="en", families=("flite",), readings=12, voices=3, seed=99,
                       noise=NoisePlan(noisy_share=1.0, snr_db=(15.0, 25.0), noise_kinds=("pink",)))
    unseen = family_readings(plan, tmp_path / "unseen", jobs=1)
    assert len(unseen) == 12
    again = family_readings(plan, tmp_path / "again", jobs=2)  # same plan, same bytes, whatever the pool
    assert [Path(i.audio_path).read_bytes() for i in again] == [Path(i.audio_path).read_bytes() for i in unseen]

    def fit(model) -> float:
        results = align_items(unseen, model, jobs=1, progress=False)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        return float(np.mean([r.alignment.custom["frame_log_ratio"] for r in results]))

    assert fit(model_dir) > fit(base_dir)
