"""The real-speech protocol on `../shared/real_speech/` (Speech Commands keyword clips and real sentences;
see its README): figures on human voices, which no synthesizer of this suite made.

- `real_keyword_tree`: the Speech Commands clips as an MSWC-layout tree (WAV clips, so every reader of
  the suite applies), speaker-disjoint: speakers are taken in a seeded order into TRAIN until every keyword
  has `shots` TRAIN speakers; every other speaker is TEST. K shots of a keyword come from TRAIN speakers;
  tests use every TEST clip, the TEST speakers' other words being the unknown class.
- `real_stream`: TEST clips of the keywords spliced into the real sentences (all languages; each used
  once) with noise, padded to `negative_s` with noise only -- never with synthetic speech -- so the
  stream's FA/h mixes real running speech (`speech_s`) and noise; both are stated.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.audio import AudioError, load_audio
from corpus.formats.mswc import MswcClip, MswcRelease, write_splits
from kws.data import DataError, NoiseBank, open_tree
from kws.streams import Stream, StreamConfig, keyword_clips, make_stream

__all__ = ["REAL_KEYWORDS", "real_speech_root", "real_keyword_tree", "real_sentences", "real_stream", "RealStream"]

REAL_KEYWORDS = ("down", "yes", "stop")  # the words with the most speakers (15, 15, 13)
RATE = 16000


def real_speech_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """`../shared/real_speech` beside the repository (or beside `start`), or None when absent."""
    base = Path(start) if start is not None else Path(__file__).resolve().parents[1]
    for candidate in (base / ".." / "shared" / "real_speech", base / "shared" / "real_speech"):
        if (candidate / "MANIFEST.tsv").exists():
            return candidate.resolve()
    return None


def _manifest(root: Path) -> list[dict]:
    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def real_keyword_tree(root: str | os.PathLike[str], out: str | os.PathLike[str], keywords: Sequence[str], *,
                      shots: int, seed: int) -> MswcRelease:
    """The Speech Commands clips of `root` as an MSWC-layout English tree in `<out>/en/` (see the module
    docstring). DataError when a keyword has fewer than `shots` + 1 speakers."""
    root, lang_dir = Path(root), Path(out) / "en"
    rows = [r for r in _manifest(root) if r["file"].startswith("keywords/") and r["file"].endswith(".wav")]
    by_word: dict[str, set[str]] = {}
    for r in rows:
        by_word.setdefault(r["label"], set()).add(r["speaker"])
    for keyword in keywords:
        if len(by_word.get(keyword, ())) < shots + 1:
            raise DataError(f"real speech: {keyword!r} has {len(by_word.get(keyword, ()))} speakers in {root}; "
                            f"{shots} shots and a test speaker need {shots + 1}")
    speakers = sorted({r["speaker"] for r in rows})
    order = [speakers[i] for i in np.random.default_rng([seed, 0x8EA1]).permutation(len(speakers))]
    train: set[str] = set()
    for speaker in order:  # a speaker joins TRAIN only if some keyword still needs shot speakers
        needed = [k for k in keywords if len(by_word[k] & train) < shots]
        if not needed:
            break
        if any(speaker in by_word[k] for k in needed):
            train.add(speaker)
    clips = []
    for r in rows:
        word, name = r["label"], Path(r["file"]).name
        target = lang_dir / "clips" / word / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / r["file"], target)
        clips.append(MswcClip(set="TRAIN" if r["speaker"] in train else "TEST", link=f"{word}/{name}", word=word,
                              valid=True, speaker=r["speaker"], gender="NAN"))
    write_splits(lang_dir, "en", clips)
    return open_tree(lang_dir)


def real_sentences(root: str | os.PathLike[str]) -> list[tuple[np.ndarray, list[tuple[float, float]]]]:
    """Every readable sentence recording of `root/sentences` at 16 kHz (no word times), in file order."""
    folder = Path(root) / "sentences"
    out = []
    with open(folder / "transcripts.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            try:
                out.append((load_audio(folder / row["file"], sample_rate_hz=RATE).astype(np.float32), []))
            except AudioError:
                continue  # named in the MANIFEST as decodable; a broken copy just leaves the stream shorter
    return out


@dataclass
class RealStream:
    stream: Stream
    speech_s: float  # real running speech in it (each sentence once)
    keyword_clips: int  # distinct real keyword clips (reused in turn)


def real_stream(root: str | os.PathLike[str], tree: MswcRelease, keywords: Sequence[str], noise: NoiseBank, *,
                negative_s: float, seed: int) -> RealStream:
    """Real keyword clips (TEST speakers of `tree`) in the real sentences, padded with noise (see the docstring)."""
    sentences = real_sentences(root)
    if not sentences:
        raise DataError(f"no readable sentences in {Path(root) / 'sentences'}")
    speech_s = sum(len(a) for a, _ in sentences) / RATE
    rng = np.random.default_rng([seed, 0x9AD])
    padding = max(0.0, negative_s - speech_s)
    pads = [(np.zeros(int(8.0 * RATE), np.float32), []) for _ in range(int(padding // 8.0))]
    items = sentences + pads
    items = [items[i] for i in rng.permutation(len(items))]
    clips = keyword_clips(tree, keywords, sets=("TEST",))
    total_s = sum(len(a) for a, _ in items) / RATE
    # make_stream stops at duration_s: just short of one pass, so no sentence is heard twice
    config = StreamConfig(duration_s=max(10.0, total_s * 0.98), seed=seed, long_silence_prob=0.0)
    stream = make_stream(None, keywords, noise, config, clips=clips, sentences=items, language="en")
    return RealStream(stream=stream, speech_s=speech_s, keyword_clips=len(clips))
