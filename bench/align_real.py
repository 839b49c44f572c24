"""Real-speech figures for bench/align.py: agreement with other aligners' word timings on real English.

`../shared/real_speech/` holds 31 English sentences (FLEURS, LibriVox, VCTK, LJSpeech, ...) and word timings
for six of them: five LibriVox clips aligned by pocketsphinx and one clip with Picovoice Leopard's ASR word
times. Those timings are other systems' output, not hand labels, so the figures here measure *agreement*
with them, not accuracy against the truth.

- `reference_timings()`: the six clips' reference words (pocketsphinx `<sil>` entries and `(2)` variant
  marks dropped; Leopard's words as given, zero-length ones included);
- `english_items()`: every English sentence as an `AlignItem` (transcript normalized by `corpus.text`;
  sentences with digits are left out by its digits policy);
- `agreement()`: signed start and end differences of our words against a reference, words matched in order;
- `long_recording()`: the English sentences joined into one recording with pauses and noise, and where
  each reference clip sits in it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.align.types import AlignItem
from corpus.audio import load_audio, save_audio
from corpus.augment import pink_noise
from corpus.text import normalize_words, rules_for

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real_speech"
_RATE = 16000


@dataclass(frozen=True)
class Reference:
    audio: str                                   # file name in sentences/
    source: str                                  # "pocketsphinx" or "leopard"
    words: tuple[tuple[str, float, float], ...]  # (normalized word, start_s, end_s)


def available() -> bool:
    return (REAL / "sentences" / "transcripts.tsv").is_file() and (REAL / "alignments" / "index.tsv").is_file()


def _normalized(text: str) -> list[str]:
    return list(normalize_words(text, rules_for("en")).words)


def reference_timings() -> list[Reference]:
    refs = []
    for path in sorted((REAL / "alignments").glob("sense_and_sensibility_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        words = []
        for w in data["w"]:
            token = re.sub(r"\(\d+\)$", "", w["t"])
            if token.startswith("<") or token.startswith("["):
                continue
            for n in _normalized(token):
                words.append((n, float(w["b"]), float(w["b"]) + float(w["d"])))
        refs.append(Reference(audio=path.stem + ".wav", source="pocketsphinx", words=tuple(words)))
    leopard = json.loads((REAL / "alignments" / "test_data.json").read_text(encoding="utf-8"))
    for test in leopard["tests"]["language_tests"]:
        if test["language"] != "en":
            continue
        words = [(n, float(w["start_sec"]), float(w["end_sec"])) for w in test["words"] for n in _normalized(w["word"])]
        refs.append(Reference(audio=test["audio_file"], source="leopard", words=tuple(words)))
    return refs


def _read(path: Path) -> np.ndarray:
    if path.suffix == ".raw":
        import soundfile as sf

        data, _ = sf.read(str(path), samplerate=_RATE, channels=1, subtype="PCM_16", endian="LITTLE", format="RAW",
                          dtype="float32")
        return data
    return load_audio(path, sample_rate_hz=_RATE)


def english_items(work: Path) -> list[AlignItem]:
    """Every usable English sentence as an item (audio converted to 16 kHz WAV under `work`: .raw has no header)."""
    items = []
    work.mkdir(parents=True, exist_ok=True)
    for line in (REAL / "sentences" / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] != "en":
            continue
        name, _, text = parts
        normalized = normalize_words(text, rules_for("en"))
        if normalized.excluded or not normalized.words:
            continue
        target = work / (Path(name).stem + ".wav")
        if not target.exists():
            save_audio(target, _read(REAL / "sentences" / name), _RATE)
        items.append(AlignItem(id=Path(name).stem, audio_path=str(target), words=normalized.words))
    return items


def agreement(words, reference: Reference, offset_s: float = 0.0) -> list[float] | None:
    """Signed (ours - reference) start and end differences, or None when the word sequences differ."""
    ours = [(w.text, w.start_s - offset_s, w.end_s - offset_s) for w in words]
    if [w[0] for w in ours] != [w[0] for w in reference.words]:
        return None
    out = []
    for (_, start, end), (_, ref_start, ref_end) in zip(ours, reference.words):
        out += [start - ref_start, end - ref_end]
    return out


def summarize(errors: list[float]) -> dict:
    """MAE, median, share within 40 ms and the signed mean (ours - reference) of starts and of ends, from
    `agreement()`'s interleaved start/end differences."""
    signed = np.asarray(errors, np.float64)
    e = np.abs(signed)
    if e.size == 0:
        return {"mae_ms": None, "median_ms": None, "within_40ms": 0.0, "boundaries": 0}
    return {"mae_ms": round(float(e.mean()) * 1000, 1), "median_ms": round(float(np.median(e)) * 1000, 1),
            "within_40ms": round(float(np.mean(e <= 0.04)), 4), "boundaries": int(e.size),
            "start_bias_ms": round(float(signed[0::2].mean()) * 1000, 1),
            "end_bias_ms": round(float(signed[1::2].mean()) * 1000, 1)}


def long_recording(items: list[AlignItem], work: Path, seed: int) -> tuple[Path, list[str], dict[str, float]]:
    """All items' audio in one recording, 0.3-2 s pauses and pink noise at 25 dB between and under them;
    (path, transcript words, start offset of each item)."""
    rng = np.random.default_rng(seed)
    pieces = [np.zeros(int(0.8 * _RATE), np.float32)]
    offsets: dict[str, float] = {}
    t = 0.8
    words: list[str] = []
    for item in items:
        samples = load_audio(item.audio_path, sample_rate_hz=_RATE)
        samples = samples / max(float(np.abs(samples).max()), 1e-6) * 0.5
        offsets[item.id] = t
        words += list(item.words)
        pause = float(rng.uniform(0.3, 2.0))
        pieces += [samples, np.zeros(int(pause * _RATE), np.float32)]
        t += len(samples) / _RATE + int(pause * _RATE) / _RATE
    audio = np.concatenate(pieces)
    audio = audio + pink_noise(len(audio), rng) * 10 ** (-25 / 20) * float(np.sqrt(np.mean(audio ** 2)))
    path = save_audio(work / "real_long_en.wav", audio.astype(np.float32), _RATE)
    return path, words, offsets


def _agreement_of(results, refs: list[Reference], by_audio: dict[str, str]) -> tuple[list[float], int]:
    errors, failed = [], 0
    by_id = {r.id: r for r in results}
    for ref in refs:
        result = by_id.get(by_audio[ref.audio])
        found = agreement(result.alignment.words, ref) if result is not None and result.alignment else None
        if found is None:
            failed += 1
            continue
        errors += found
    return errors, failed


def real_speech_figures(work: Path, seed: int, quick: bool, jobs: int) -> dict:
    """The real-speech figures (agreement with pocketsphinx / Leopard word timings, not truth)."""
    from corpus.align import AlignerConfig, align_items, train_aligner
    from corpus.align.headstart import HeadStartConfig, head_start_model
    from corpus.align.long_audio import align_long
    from corpus.align.model import load_model

    items = english_items(work / "real_en")
    refs = reference_timings()
    by_audio = {ref.audio: Path(ref.audio).stem for ref in refs}
    ref_items = [i for i in items if i.id in set(by_audio.values())]
    head_config = HeadStartConfig()  # the one users get (cached after its first build, also by --quick)
    started = time.perf_counter()
    head = head_start_model("en", config=head_config, jobs=jobs, progress=False)
    head_s = time.perf_counter() - started
    head_lexicon = load_model(head).lexicon
    head_record = json.loads((head / "head_start.json").read_text(encoding="utf-8"))
    figures: dict = {"real_head_start_seconds": round(head_s, 1), "real_head_start_sentences": head_config.sentences,
                     "real_head_start_other_families": head_record.get("adapted_to", []),
                     "real_head_start_other_readings": head_record.get("readings", 0),
                     "real_units": head_lexicon.kind, "real_unit_count": len(head_lexicon.units)}
    runs = {"head_start_only": head}
    started = time.perf_counter()
    runs["small_corpus"] = train_aligner(items, language="en", out_dir=work / "real_small", jobs=jobs, progress=False,
                                         config=AlignerConfig(init="auto", head_start=str(head), seed=seed))
    figures["real_small_corpus_train_seconds"] = round(time.perf_counter() - started, 1)
    runs["small_corpus_flat"] = train_aligner(items, language="en", out_dir=work / "real_flat", jobs=jobs,
                                              progress=False, config=AlignerConfig(init="flat", min_unit_count=1,
                                                                                   seed=seed))
    per_run = {}
    for name, model in runs.items():
        errors, failed = _agreement_of(align_items(ref_items, model, jobs=jobs, progress=False), refs, by_audio)
        per_run[name] = {**summarize(errors), "clips_failed": failed}
        per_source = {}
        for source in ("pocketsphinx", "leopard"):
            subset = [r for r in refs if r.source == source]
            e, _ = _agreement_of(align_items([i for i in ref_items if i.id in {by_audio[r.audio] for r in subset}],
                                             model, jobs=1, progress=False), subset, by_audio)
            per_source[source] = summarize(e)
        per_run[name]["by_reference"] = per_source
    path, words, offsets = long_recording(items, work, seed)
    started = time.perf_counter()
    result = align_long(path, words, runs["small_corpus"])
    long_s = time.perf_counter() - started
    long_errors = []
    aligned = {}
    for index, word in zip(result.word_indices, result.alignment.words):
        aligned[index] = word
    first = 0
    item_first = {}
    for item in items:
        item_first[item.id] = first
        first += len(item.words)
    for ref in refs:
        item_id = by_audio[ref.audio]
        base = item_first[item_id]
        for k, (_, start, end) in enumerate(ref.words):
            word = aligned.get(base + k)
            if word is not None:
                long_errors += [word.start_s - offsets[item_id] - start, word.end_s - offsets[item_id] - end]
    long_summary = summarize(long_errors)
    head_only, small = per_run["head_start_only"], per_run["small_corpus"]
    figures.update({
        "real_agreement_mae_ms": small["mae_ms"], "real_agreement_within_40ms": small["within_40ms"],
        "real_agreement_median_ms": small["median_ms"],
        "real_head_start_only_mae_ms": head_only["mae_ms"], "real_head_start_only_within_40ms": head_only["within_40ms"],
        "real_small_corpus_within_40ms": small["within_40ms"],
        "real_small_corpus_flat_within_40ms": per_run["small_corpus_flat"]["within_40ms"],
        "real_long_words_aligned": round(len(result.alignment.words) / max(1, len(words)), 4),
        "real_long_minutes": round(result.duration_s / 60, 2),
        "real_long_mae_ms": long_summary["mae_ms"], "real_long_within_40ms": long_summary["within_40ms"],
        "real_long_rtf": round(result.duration_s / long_s, 1),
        "real_long_unaligned_words": [t for _, t in result.unaligned_words][:20],
        "real_utterances": len(items), "real_reference_clips": len(refs),
        "real_reference_boundaries": small["boundaries"], "real_runs": per_run,
    })
    return figures


__all__ = ["REAL", "Reference", "available", "reference_timings", "english_items", "agreement", "summarize",
           "long_recording", "real_speech_figures"]
