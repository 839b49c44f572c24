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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.align.types import AlignItem
from corpus.audio import load_audio, save_audio
from corpus.augment import add_noise, pink_noise
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
    e = np.abs(np.asarray(errors, np.float64))
    if e.size == 0:
        return {"mae_ms": None, "median_ms": None, "within_40ms": 0.0, "boundaries": 0}
    return {"mae_ms": round(float(e.mean()) * 1000, 1), "median_ms": round(float(np.median(e)) * 1000, 1),
            "within_40ms": round(float(np.mean(e <= 0.04)), 4), "boundaries": int(e.size)}


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


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="align-real-")


__all__ = ["REAL", "Reference", "available", "reference_timings", "english_items", "agreement", "summarize",
           "long_recording", "add_noise"]
