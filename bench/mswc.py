"""MSWC builder: keyword clip quality, outlier detection, determinism, local vs Spark, speed.

Synthetic Common Voice trees (espeak-ng speech with exact word times, noise at 20-40 dB SNR, some
reverb) for Luganda (`lg`) and Swahili (`sw`) with planted faults: 5% wrong transcripts, 3% silent
clips, 3 corrupt MP3s, 3% odd-Unicode sentences, 3% hostile words (`../x`, `con`, ...). Each tree is
built by `corpus.mswc.build_mswc` with the real forced aligner trained on the tree itself (no outside
model, default `AlignerConfig`), local engine, default `BuildConfig`.

Figures (last line, JSON):
- `keyword_precision`: share of extracted clips whose cut span (the recording stretch that went into
  the clip) covers >= 80% of the true spoken word and <= 20% of every other word (goal >= 0.97);
- `keyword_recall`: share of eligible word occurrences that became a clip (goal >= 0.95). Eligible: in
  a decodable clip whose transcript is what was spoken (not a planted wrong transcript or silence),
  whose words are all inside the builder's derived alphabet, of a word with >= 3 characters and >= 5
  such occurrences;
- `outlier_auc`: the lg tree rebuilt with `keep_mismatched` and `drop_silent=False` (so clips of the
  planted wrong-transcript and silent sentences reach scoring): ROC AUC of `<lang>_scores.csv`
  separating those clips from all others (goal >= 0.85). The aligner model is reused from the first
  build (it is cached by its training sentences, which exclude silent clips either way);
- `deterministic`: a second build from scratch (aligner retrained) gives identical CSVs, metadata and
  clip bytes (full: lg; --quick: sw, the smaller tree);
- `spark_equals_local`: the lg tree built with `--engine spark --spark-master local[2]` gives a
  byte-identical release (every file). The aligner model is copied from the local build's work folder
  (training runs on the driver with either engine; everything else runs on Spark);
- `clips_per_s_local`, `clips_per_s_spark`: clips in the release per second of the lg build's wall time,
  aligner training excluded (reported as `align_train_seconds`); Spark's includes its JVM start.

--quick: lg 200 sentences / 20 speakers, sw 100 / 16 (full: 2,000 / 40 and 1,000 / 40).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from common import emit, parser  # noqa: E402

from corpus.demo.common_voice import SynthCVConfig, synth_common_voice  # noqa: E402
from corpus.engines import default_jobs  # noqa: E402
from corpus.formats.mswc import read_scores  # noqa: E402
from corpus.manifest import read_jsonl  # noqa: E402
from corpus.mswc import BuildConfig, build_mswc, read_clip_records  # noqa: E402
from corpus.mswc.normalize import text_rules  # noqa: E402
from corpus.text import normalize_words  # noqa: E402

BAD = {"wrong_transcript", "silent_clip"}


def synth(lang: str, sentences: int, speakers: int, work: Path, seed: int) -> Path:
    config = SynthCVConfig(language=lang, sentences=sentences, speakers=speakers, seed=seed,
                           wrong_transcript_share=0.05, silent_clip_share=0.03, corrupt_clips=3,
                           odd_unicode_share=0.03, hostile_word_share=0.03)
    return synth_common_voice(config, work / f"cv_{lang}", progress=False)


def build(cv: Path, lang: str, out: Path, config: BuildConfig, **kwargs) -> tuple[Path, float, dict]:
    started = time.perf_counter()
    lang_dir = build_mswc(cv, lang, out, config, progress=False, **kwargs)
    elapsed = time.perf_counter() - started
    timings = json.loads((lang_dir / ".work" / "timings.json").read_text())
    return lang_dir, elapsed, timings


def files(lang_dir: Path, *, only_tables: bool = False) -> dict[str, bytes]:
    out = {}
    for path in sorted(lang_dir.rglob("*")):
        rel = path.relative_to(lang_dir)
        if not path.is_file() or ".work" in rel.parts:
            continue
        if only_tables and not (path.suffix in (".csv", ".opus", ".wav") or path.name == "metadata.json"):
            continue
        out[rel.as_posix()] = path.read_bytes()
    return out


def truth_words(record: dict, rules) -> list[tuple[str, float, float]]:
    words = []
    for w in record["words"]:
        for word in normalize_words(w["text"], rules).words:
            words.append((word, w["start_s"], w["end_s"]))
    return words


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def clip_quality(cv: Path, lang_dir: Path, lang: str, config: BuildConfig) -> dict:
    """(precision hits, clips, recall hits, eligible) against the synthetic ground truth."""
    rules = text_rules(lang, config)
    truth = {Path(r["path"]).stem: r for r in read_jsonl(cv / "synthetic_truth.jsonl.gz") if r["tsv"] == "validated"}
    alphabet = set(json.loads((lang_dir / "alphabet.json").read_text())["characters"])
    spoken = {rid: truth_words(r, rules) for rid, r in truth.items()}
    good = {rid for rid, r in truth.items()
            if not set(r["faults"]) & (BAD | {"corrupt_clip"}) and spoken[rid]
            and all(set(w) <= alphabet for w, _, _ in spoken[rid])
            and len(normalize_words(r["sentence"], rules).words) > 0}
    counts = Counter(w for rid in good for w, _, _ in spoken[rid] if len(w) >= config.min_chars)
    keywords = {w for w, n in counts.items() if n >= config.min_clips}
    eligible = {(rid, w, k) for rid in good for w, k in _occurrences(spoken[rid]) if w in keywords}
    hits = 0
    extracted = set()
    clips = read_clip_records(lang_dir)
    for clip in clips:
        rid, word = clip["recording_id"], clip["word"]
        name = clip["link"].rsplit("/", 1)[1][: -len(".opus")]
        k = int(name.rsplit("__", 1)[1]) if "__" in name else 1
        extracted.add((rid, word, k))
        occurrences = [(w, a, b) for (w, a, b) in spoken.get(rid, [])]
        matches = [i for i, (w, _, _) in enumerate(occurrences) if w == word]
        if len(matches) < k:
            continue  # the word was not spoken (a wrong transcript): a bad clip
        target = matches[k - 1]
        span = tuple(clip["span_s"])
        _, a, b = occurrences[target]
        covers = overlap(span, (a, b)) / max(b - a, 1e-6) >= 0.8
        others = all(overlap(span, (oa, ob)) / max(ob - oa, 1e-6) <= 0.2
                     for i, (_, oa, ob) in enumerate(occurrences) if i != target and (oa, ob) != (a, b))
        hits += covers and others
    return {"precise": hits, "clips": len(clips), "recalled": len(eligible & extracted), "eligible": len(eligible),
            "keywords": len(json.loads((lang_dir / "metadata.json").read_text())[lang]["wordcounts"])}


def _occurrences(words: list[tuple[str, float, float]]) -> list[tuple[str, int]]:
    seen: Counter = Counter()
    out = []
    for w, _, _ in words:
        seen[w] += 1
        out.append((w, seen[w]))
    return out


def outlier_auc(cv: Path, lang_dir: Path, lang: str) -> tuple[float, int, int]:
    truth = {Path(r["path"]).stem: r for r in read_jsonl(cv / "synthetic_truth.jsonl.gz")}
    scores = read_scores(lang_dir / f"{lang}_scores.csv")
    recording = {c["link"]: c["recording_id"] for c in read_clip_records(lang_dir)}
    positive, negative = [], []
    for link, (_, score) in scores.items():
        faults = set(truth[recording[link]]["faults"])
        (positive if faults & BAD else negative).append(score)
    if not positive or not negative:
        return float("nan"), len(positive), len(negative)
    pos, neg = np.array(positive), np.array(negative)
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg))), len(pos), len(neg)


def main() -> None:
    args = parser(__doc__).parse_args()
    sizes = {"lg": (200, 20), "sw": (100, 16)} if args.quick else {"lg": (2000, 40), "sw": (1000, 40)}
    config = BuildConfig(seed=args.seed)
    figures: dict = {"quick": args.quick, "jobs": default_jobs()}
    per_language: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        trees = {lang: synth(lang, n, speakers, work, args.seed) for lang, (n, speakers) in sizes.items()}
        figures["synth_seconds"] = round(time.perf_counter() - started, 1)
        built = {}
        for lang, cv in trees.items():
            lang_dir, elapsed, timings = build(cv, lang, work / "local", config)
            built[lang] = lang_dir
            training = timings.get("align_training", {}).get("seconds", 0.0)
            quality = clip_quality(cv, lang_dir, lang, config)
            per_language[lang] = {"sentences": sizes[lang][0], "build_seconds": round(elapsed, 1),
                                  "align_train_seconds": round(training, 1),
                                  "clips_per_s": round(quality["clips"] / max(elapsed - training, 1e-9), 1),
                                  **quality, "stages": {s: t["seconds"] for s, t in timings.items()}}
        lg = per_language["lg"]
        figures["clips_per_s_local"] = lg["clips_per_s"]
        figures["align_train_seconds"] = lg["align_train_seconds"]

        # Spark: same tree, same config; the aligner model comes from the local build's cache
        spark_out = work / "spark"
        shutil.copytree(built["lg"] / ".work" / "aligner-models", spark_out / "lg" / ".work" / "aligner-models")
        spark_dir, spark_elapsed, spark_timings = build(trees["lg"], "lg", spark_out, config, engine="spark",
                                                        spark_master="local[2]")
        figures["clips_per_s_spark"] = round(lg["clips"] / spark_elapsed, 1)
        figures["spark_equals_local"] = files(spark_dir) == files(built["lg"])
        figures["spark_stage_seconds"] = {s: t["seconds"] for s, t in spark_timings.items()}

        # determinism: the same build again from scratch, aligner retrained
        again_lang = "sw" if args.quick else "lg"
        again, _, _ = build(trees[again_lang], again_lang, work / "again", config)
        figures["deterministic"] = files(again, only_tables=True) == files(built[again_lang], only_tables=True)
        figures["deterministic_checked"] = again_lang

        # outliers: wrong-transcript and silent sentences kept, scored with everything else
        keep = work / "keep"
        shutil.copytree(built["lg"], keep / "lg")
        kept_dir, _, kept_timings = build(trees["lg"], "lg", keep, dataclasses.replace(
            config, keep_mismatched=True, drop_silent=False))
        auc, n_bad, n_good = outlier_auc(trees["lg"], kept_dir, "lg")
        figures.update(outlier_auc=round(auc, 4), outlier_bad_clips=n_bad, outlier_other_clips=n_good,
                       outlier_run_retrained=("align_training" in kept_timings))

    precise = sum(v["precise"] for v in per_language.values())
    clips = sum(v["clips"] for v in per_language.values())
    recalled = sum(v["recalled"] for v in per_language.values())
    eligible = sum(v["eligible"] for v in per_language.values())
    figures.update(keyword_precision=round(precise / max(clips, 1), 4), keyword_recall=round(recalled / max(eligible, 1), 4),
                   clips=clips, per_language=per_language)
    summary = (f"mswc: precision {figures['keyword_precision']} (goal >= 0.97), recall {figures['keyword_recall']} "
               f"(>= 0.95), outlier AUC {figures['outlier_auc']} (>= 0.85), deterministic {figures['deterministic']}, "
               f"spark == local {figures['spark_equals_local']}; {figures['clips_per_s_local']} clips/s local, "
               f"{figures['clips_per_s_spark']} clips/s Spark on {default_jobs()} cores")
    emit("mswc", figures, summary)


if __name__ == "__main__":
    main()
