"""People's Speech builder benchmark: synthetic IA items with planted faults and near-duplicates (English +
Swahili), plus one item of real English speech and the same recording captioned with other items' sentences,
built end to end and scored against the truth.

Figures: boundary_mae_ms, words_in_wrong_utterance, bad_transcript_recall, good_dropped_rate,
clean_precision, dedup_precision/recall (ours and datasketch on the same shingles), rtf (audio s per wall
s, whole pipeline with the head start's adaptation to the corpus; also without that training), and
rtf_with_head_start_build (as if each language's one-time head start were built for this corpus alone:
it is cached under models/ and timed when this bench builds it, data/bench_tps/head_start_seconds.json),
timeouts, hours/utterances per tier and subset,
spark_equals_local (the Swahili build on both engines), real_boundary_mae_ms and the tiers of the real
sentences, real_wrong_text_kept (utterances of the wrongly captioned real recording not dropped; goal 0). Synthetic items are cached under data/bench_tps/ (git-ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from common import emit, parser  # noqa: E402

from corpus.demo.internet_archive import IASynthConfig, generate_ia  # noqa: E402
from corpus.manifest import read_jsonl  # noqa: E402
from corpus.peoples_speech.config import BuildConfig  # noqa: E402
from corpus.peoples_speech.evaluate import score_build  # noqa: E402
from corpus.peoples_speech.pipeline import build_peoples_speech  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real_speech" / "sentences"
REAL_ID = "real_en_sentences"
WRONG_ID = "real_en_sentences_wrong_text"  # the same audio with other captions


def synth(folder: Path, language: str, items: int, minutes: float, seed: int, duplicates: int) -> Path:
    if (folder / "synthetic_truth.jsonl.gz").exists():
        return folder
    generate_ia(IASynthConfig(out=folder, items=items, minutes=minutes, language=language, seed=seed,
                              bad_transcript_share=0.25, near_duplicates=duplicates, force=True))
    return folder


def real_item(folder: Path, seed: int) -> list[dict]:
    """One IA item of the real English sentences joined with pauses, music and noise; returns the joins."""
    import soundfile as sf

    from corpus.audio import load_audio
    from corpus.demo.ia_audio import music
    from corpus.formats.internet_archive import file_entry, write_metadata
    from corpus.formats.srt import format_timestamp

    rows = [line.split("\t") for line in (REAL / "transcripts.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    rows = [r for r in rows if len(r) == 3 and r[1] == "en" and not r[0].endswith(".raw")]  # .raw: headerless
    rng = np.random.default_rng(seed)
    item = folder / REAL_ID
    item.mkdir(parents=True, exist_ok=True)
    pieces, joins, position = [], [], 0.0
    for number, (name, _, text) in enumerate(rows):
        samples = load_audio(REAL / name, sample_rate_hz=16000)
        level = np.sqrt(np.convolve(samples ** 2, np.ones(160) / 160, mode="same"))
        loud = np.flatnonzero(level > max(1e-3, 0.05 * level.max()))
        onset, offset = (loud[0] / 16000, loud[-1] / 16000) if loud.size else (0.0, len(samples) / 16000)
        joins.append({"file": name, "text": text, "start_s": round(position + onset, 3),
                      "end_s": round(position + offset, 3)})
        pieces.append(samples * (0.3 / max(1e-6, float(np.abs(samples).max()))))
        position += len(samples) / 16000
        gap_s = float(rng.uniform(0.6, 1.5)) if number % 7 != 6 else 4.0
        gap = np.zeros(int(gap_s * 16000), np.float32)
        if number % 7 == 6:
            gap = music(len(gap), 16000, rng)
        pieces.append(gap + rng.normal(0, 3e-4, len(gap)).astype(np.float32))
        position += gap_s
    audio = np.concatenate(pieces).astype(np.float32)
    sf.write(item / f"{REAL_ID}.mp3", audio, 16000, format="MP3")
    offset_s, blocks = float(rng.uniform(-1.5, 1.5)), []
    for number, join in enumerate(joins, start=1):
        start = max(0.0, join["start_s"] + offset_s + float(rng.uniform(-0.3, 0.3)))
        end = max(start + 0.5, join["end_s"] + offset_s + float(rng.uniform(-0.3, 0.3)))
        blocks.append(f"{number}\n{format_timestamp(start)} --> {format_timestamp(end)}\n{join['text']}\n")
    (item / f"{REAL_ID}.srt").write_text("\n".join(blocks), encoding="utf-8")
    write_metadata(item, {"identifier": REAL_ID, "title": "Real English sentences", "mediatype": "audio",
                          "creator": "see shared/real_speech/MANIFEST.tsv", "language": "en",
                          "licenseurl": "https://creativecommons.org/licenses/by/4.0/"},
                   [file_entry(item / f"{REAL_ID}.mp3", "VBR MP3"), file_entry(item / f"{REAL_ID}.srt", "SubRip")])
    wrong_text_item(folder, item, blocks)
    return joins


def wrong_text_item(folder: Path, real: Path, blocks: list[str]) -> None:
    """The same real recording captioned with the sentences of the synthetic English items (an other-item
    transcript on real voices, same cue times): the grader must drop all of it."""
    import shutil as sh

    from corpus.formats.internet_archive import file_entry, write_metadata

    texts = [s["text"] for r in read_jsonl(folder / "synthetic_truth.jsonl.gz") if not r["faults"]["bad_transcript"]
             for s in r["sentences"]]
    item = folder / WRONG_ID
    item.mkdir(parents=True, exist_ok=True)
    sh.copyfile(real / f"{REAL_ID}.mp3", item / f"{WRONG_ID}.mp3")
    wrong = [block.rsplit("\n", 2)[0] + f"\n{texts[k % len(texts)]}\n" for k, block in enumerate(blocks)]
    (item / f"{WRONG_ID}.srt").write_text("\n".join(wrong), encoding="utf-8")
    write_metadata(item, {"identifier": WRONG_ID, "title": "Real English sentences, wrong captions",
                          "mediatype": "audio", "creator": "see shared/real_speech/MANIFEST.tsv", "language": "en",
                          "licenseurl": "https://creativecommons.org/licenses/by/4.0/"},
                   [file_entry(item / f"{WRONG_ID}.mp3", "VBR MP3"), file_entry(item / f"{WRONG_ID}.srt", "SubRip")])


def head_start_seconds(work: Path, language: str) -> float | None:
    """The one-time build of the language's synthetic head start (cached under models/): built here when
    missing and timed; a cached one reports the time recorded when this bench built it (None if unknown)."""
    from corpus.align.headstart import head_start_dir, head_start_model

    record = work / "head_start_seconds.json"
    known = json.loads(record.read_text()) if record.exists() else {}
    key = head_start_dir(language).name
    started = time.perf_counter()
    head_start_model(language, progress=False)
    seconds = time.perf_counter() - started
    if seconds > 5.0:  # it was built now, not found in the cache
        known[key] = round(seconds, 1)
        record.write_text(json.dumps(known, indent=1, sort_keys=True))
    return known.get(key)


class CpuMeter:
    """CPU seconds used by this process and every process under it (the pool's workers are the forkserver's
    children, so resource.getrusage misses them): /proc is sampled every `period_s` and each process's last
    reading kept. On a shared machine, wall time measures the neighbours too; CPU time does not.
    Linux only (elsewhere `seconds` is None)."""

    def __init__(self, period_s: float = 0.2) -> None:
        import threading

        self.period_s, self.seen, self.stop = period_s, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.base = {}

    def _sample(self) -> None:
        parents, times = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self.tick
        me = os.getpid()
        for pid, cpu in times.items():
            p, depth = pid, 0
            while p not in (me, 0, 1) and depth < 16:
                p, depth = parents.get(p, 0), depth + 1
            if p == me:
                self.seen[pid] = cpu

    def _run(self) -> None:
        while not self.stop.wait(self.period_s):
            self._sample()

    def __enter__(self) -> "CpuMeter":
        if Path("/proc/self/stat").exists():
            self._sample()
            self.base = dict(self.seen)
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    @property
    def seconds(self) -> float | None:
        if not self.base:
            return None
        children = sum(v - self.base.get(k, 0.0) for k, v in self.seen.items() if k != os.getpid())
        return round(children + os.times().user + os.times().system - self.base.get(os.getpid(), 0.0), 1)


def dataset_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_file() and rel.parts[0] not in (".work",) and path.name not in ("report.json",) \
                and path.suffix != ".png":
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def dedup_figures(out: Path, items: Path, config: BuildConfig) -> dict:
    from datasketch import MinHash, MinHashLSH

    from corpus.peoples_speech.dedup import shingles

    truth = {r["identifier"]: r for r in read_jsonl(items / "synthetic_truth.jsonl.gz")}
    report = json.loads((out / "dedup.json").read_text())
    words = {n["id"]: n["words"] for n in read_jsonl(out / ".work" / "normalize" / "words.jsonl.gz")}
    candidates = sorted({d for d in words if d in truth})
    kept_docs = {a["id"] for a in read_jsonl(out / ".work" / "align" / "alignments.jsonl.gz")}
    candidates = [d for d in candidates if d in kept_docs]
    # a family: an original and its re-uploads; every pair inside one is a true duplicate pair
    family = {d: r["faults"]["duplicate_of"] or d for d, r in truth.items()}
    planted = {(a, b) for i, a in enumerate(candidates) for b in candidates[i + 1:] if family[a] == family[b]}

    def pr(found: set) -> tuple[float | None, float | None]:
        p = len(found & planted) / len(found) if found else (1.0 if not planted else 0.0)
        r = len(found & planted) / len(planted) if planted else None
        return round(p, 3), (round(r, 3) if r is not None else None)

    ours = {tuple(sorted((a, b))) for a, b, _ in report["pairs"]}
    lsh = MinHashLSH(threshold=config.dedup_threshold, num_perm=config.minhash_permutations)
    sigs = {}
    for d in candidates:
        m = MinHash(num_perm=config.minhash_permutations, seed=config.seed)
        for s in sorted(shingles(words[d], config.shingle_words)):
            m.update(s)
        sigs[d] = m
        lsh.insert(d, m)
    peer = set()
    for d in candidates:
        for other in lsh.query(sigs[d]):
            if other != d and sigs[d].jaccard(sigs[other]) >= config.dedup_threshold:
                peer.add(tuple(sorted((d, other))))
    (p, r), (pp, rp) = pr(ours), pr(peer)
    return {"dedup_precision": p, "dedup_recall": r, "dedup_precision_datasketch": pp, "dedup_recall_datasketch": rp,
            "planted_duplicate_pairs": len(planted)}


def real_figures(out: Path, joins: list[dict]) -> dict:
    graded = [g for g in read_jsonl(out / ".work" / "grade" / "graded.jsonl.gz") if g["document"] == REAL_ID]
    errors, tiers = [], {}
    for join in joins:
        overlapping = [g for g in graded if g["start_s"] < join["end_s"] and g["end_s"] > join["start_s"]]
        if not overlapping:
            tiers[join["file"]] = "not_aligned"
            continue
        order = {"clean": 0, "noisy": 1, "dropped": 2}
        tiers[join["file"]] = max((g["tier"] for g in overlapping), key=lambda t: order[t])
        first = min(overlapping, key=lambda g: g["start_s"])
        last = max(overlapping, key=lambda g: g["end_s"])
        if abs(first["start_s"] - join["start_s"]) < 1.0:
            errors.append(abs(first["start_s"] - join["start_s"]) * 1000)
        if abs(last["end_s"] - join["end_s"]) < 1.0:
            errors.append(abs(last["end_s"] - join["end_s"]) * 1000)
    counts = {t: sum(v == t for v in tiers.values()) for t in ("clean", "noisy", "dropped", "not_aligned")}
    wrong = [g for g in read_jsonl(out / ".work" / "grade" / "graded.jsonl.gz") if g["document"] == WRONG_ID]
    return {"real_boundary_mae_ms": round(float(np.mean(errors)), 1) if errors else None,
            "real_sentences": len(joins), "real_tiers": counts,
            "real_wrong_text_utterances": len(wrong),  # reaching the grader
            "real_wrong_text_kept": sum(g["tier"] != "dropped" for g in wrong)}  # goal 0


def main() -> None:
    args = parser(__doc__).parse_args()
    quick = args.quick
    work = Path(args.work) if args.work else ROOT / "data" / "bench_tps"
    size = dict(en=(5, 1.0, 1), sw=(4, 1.0, 1)) if quick else dict(en=(12, 2.0, 2), sw=(5, 1.6, 1))
    tag = "quick" if quick else "full"
    items_en = synth(work / f"items-{tag}-en", "en", *size["en"][:2], args.seed, size["en"][2])
    items_sw = synth(work / f"items-{tag}-sw", "sw", *size["sw"][:2], args.seed, size["sw"][2])
    joins = real_item(items_en, args.seed) if REAL.is_dir() else []
    figures: dict = {"quick": quick}
    audio_s = 0.0
    head_start_s = {lang: head_start_seconds(work, lang) for lang in ("en", "sw")}
    for lang, items in (("en", items_en), ("sw", items_sw)):
        out = work / f"out-{tag}-{lang}"
        shutil.rmtree(out, ignore_errors=True)
        config = BuildConfig(language=lang, seed=args.seed)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        with CpuMeter() as meter:
            build_peoples_speech(items, out, config, engine="local", progress=False)
        wall = time.perf_counter() - started
        report = json.loads((out / "report.json").read_text())
        timings = json.loads((out / ".work" / "timings.json").read_text())
        training_s = sum(v["seconds"] for k, v in timings.items() if k.startswith("align_training"))
        seconds = report["stages"]["ingest"]["hours"] * 3600
        audio_s += seconds
        scores = score_build(out, items, lang)
        figures[lang] = {**scores, **dedup_figures(out, items, config), "audio_s": round(seconds, 1),
                         "wall_s": round(wall, 1), "rtf": round(seconds / wall, 1), "cpu_s": meter.seconds,
                         "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                         "rtf_excluding_training": round(seconds / max(1e-3, wall - training_s), 1),
                         "training_s": round(training_s, 1), "head_start_build_s": head_start_s[lang],
                         "stage_s": {k: v["seconds"] for k, v in timings.items()},
                         "timeouts": report["timeouts"], "tiers": report["stages"]["grade"]["tiers"],
                         "tier_hours": report["stages"]["grade"]["tier_hours"], "subsets": report["subsets"]}
        if lang == "en" and joins:
            figures.update(real_figures(out, joins))
        if lang == "sw":
            spark_out = work / f"out-{tag}-{lang}-spark"
            shutil.rmtree(spark_out, ignore_errors=True)
            build_peoples_speech(items, spark_out, config, engine="spark", progress=False)
            figures["spark_equals_local"] = dataset_digest(out) == dataset_digest(spark_out)
    en, sw = figures["en"], figures["sw"]

    def mean(key: str):
        values = [f[key] for f in (en, sw) if f.get(key) is not None]
        return round(float(np.mean(values)), 3) if values else None

    for key in ("boundary_mae_ms", "words_in_wrong_utterance", "bad_transcript_recall", "good_dropped_rate",
                "clean_precision", "dedup_precision", "dedup_recall", "dedup_precision_datasketch",
                "dedup_recall_datasketch"):
        figures[key] = mean(key)
    figures["rtf"] = round(audio_s / (en["wall_s"] + sw["wall_s"]), 1)
    if en["cpu_s"] and sw["cpu_s"]:  # what 2 idle cores would give if every CPU second ran in parallel
        figures["rtf_cpu_2_cores"] = round(audio_s / ((en["cpu_s"] + sw["cpu_s"]) / 2), 1)
    figures["load_average"] = max(en["load_average"] + sw["load_average"])
    if None not in head_start_s.values():  # as if both head starts were built for this corpus alone
        figures["rtf_with_head_start_build"] = round(audio_s / (en["wall_s"] + sw["wall_s"]
                                                               + sum(head_start_s.values())), 1)
    figures["timeouts"] = en["timeouts"] + sw["timeouts"]
    figures["audio_minutes"] = round(audio_s / 60, 1)
    real = figures.get("real_tiers", {})
    built = figures.get("rtf_with_head_start_build")  # None when the head starts came from an older cache
    with_build = f"{built}x with the head-start builds" if built is not None else "head starts were cached"
    summary = (f"people's speech ({'quick' if quick else 'full'}, {figures['audio_minutes']} min): boundary MAE "
               f"{figures['boundary_mae_ms']} ms, bad recall {figures['bad_transcript_recall']}, good dropped "
               f"{figures['good_dropped_rate']}, clean precision {figures['clean_precision']}, dedup P/R "
               f"{figures['dedup_precision']}/{figures['dedup_recall']}, rtf {figures['rtf']}x at load "
               f"{figures['load_average']} (CPU: {figures.get('rtf_cpu_2_cores')}x on 2 cores; "
               f"{with_build}), real sentences kept "
               f"{real.get('clean')} clean + {real.get('noisy')} noisy of {figures.get('real_sentences')} (wrong "
               f"captions on them: {figures.get('real_wrong_text_kept')} kept), "
               f"timeouts {figures['timeouts']}, spark==local {figures['spark_equals_local']}")
    emit("peoples_speech", figures, summary)


if __name__ == "__main__":
    main()
