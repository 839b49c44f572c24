"""The MSWC builder with the real forced aligner (`corpus.align`), trained on the small synthetic tree
itself with a tiny configuration: the default path of `python -m corpus mswc build`. Slow (trains)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from corpus.manifest import read_jsonl
from corpus.mswc import BuildConfig, build_mswc, read_clip_records, read_report
from corpus.text import normalize_words, rules_for
from corpus.demo.common_voice import SynthCVConfig
from test_mswc_common import synthetic_cv

pytestmark = pytest.mark.slow

SMALL = (("gmm_mixtures", (1, 1, 2, 4)), ("mlp_rounds", 2), ("mlp_hidden", (128, 128)), ("mlp_epochs", (4, 2)),
         ("calibration_share", 0.15))
TREE = SynthCVConfig(language="lg", sentences=120, speakers=12, seed=8, wrong_transcript_share=0.05,
                     silent_clip_share=0.03, corrupt_clips=1, invalidated_share=0.0, other_share=0.0)


def _overlap(a, b):
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def test_build_with_the_trained_aligner(tmp_path_factory, tmp_path):
    cv = synthetic_cv(tmp_path_factory, TREE)
    config = BuildConfig(min_clips=3, alphabet_min_count=2, aligner_config=SMALL)
    lang_dir = build_mswc(cv, "lg", tmp_path / "out", config, jobs=2, progress=False)
    report = read_report(lang_dir)
    assert report["valid"] and report["stages"]["align"]["aligner"] == "train"
    timings = json.loads((lang_dir / ".work" / "timings.json").read_text())
    assert report["stages"]["align"]["aligner_models"] == 2  # cross-fitted: every sentence trained on once
    assert timings["align_training"]["items"] == report["stages"]["normalize"]["kept"]
    truth = {Path(r["path"]).stem: r for r in read_jsonl(cv / "synthetic_truth.jsonl.gz")}
    mismatched = {p["item"] for p in report["stages"]["align"]["problems"] if p["reason"] == "transcript_mismatch"}
    wrong = {k for k, r in truth.items() if "wrong_transcript" in r["faults"] and r["tsv"] == "validated"}
    assert len(wrong) >= 5 and len(mismatched & wrong) >= len(wrong) // 2
    assert len(mismatched - wrong) <= 0.1 * report["stages"]["align"]["in"]
    rules = rules_for("lg")
    clips = read_clip_records(lang_dir)
    assert len(clips) > 100
    precise = 0
    for clip in clips:
        record = truth.get(clip["recording_id"])
        spoken = [(w, t["start_s"], t["end_s"]) for t in (record or {"words": []})["words"]
                  for w in normalize_words(t["text"], rules).words]
        name = clip["link"].rsplit("/", 1)[1][:-5]
        k = int(name.rsplit("__", 1)[1]) if "__" in name else 1
        matches = [s for s in spoken if s[0] == clip["word"]]
        if len(matches) >= k:
            _, a, b = matches[k - 1]
            precise += _overlap(clip["span_s"], (a, b)) / (b - a) >= 0.8
    assert precise / len(clips) >= 0.85

    # keep what the defaults drop: the cached model is reused, the planted bad clips are cut and scored
    keep = tmp_path / "keep"
    shutil.copytree(lang_dir, keep / "lg")
    kept = build_mswc(cv, "lg", keep, dataclasses.replace(config, keep_mismatched=True, drop_silent=False), jobs=2,
                      progress=False)
    timings = json.loads((kept / ".work" / "timings.json").read_text())
    assert "align_training" not in timings and "ingest" in timings
    kept_report = read_report(kept)
    assert kept_report["stages"]["align"]["mismatched_kept"] >= len(wrong) and kept_report["valid"]
    recordings = {c["recording_id"] for c in read_clip_records(kept)}
    assert recordings & wrong and recordings & {k for k, r in truth.items() if "silent_clip" in r["faults"]}
