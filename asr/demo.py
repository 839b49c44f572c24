"""The synthetic English demo corpus in the LibriSpeech layout: train, dev and test splits with their own
speaker banks (different seeds) and test sentences that never occur in training.

The splits are written by `corpus.demo.librispeech` (espeak-ng); a split already on disk is reused.
Speakers of different splits differ in voice settings (pitch, range, rate, volume) and are drawn
separately, but they share espeak's set of voice variants; `flite` voices (bench/asr.py) are the
test of a synthesizer training never heard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corpus.demo.librispeech import LibriSynthConfig, generate_librispeech

from asr.data import Utterance, read_source

__all__ = ["DemoSize", "DEMO_SIZES", "demo_corpus", "unseen_sentences"]


@dataclass(frozen=True, kw_only=True)
class DemoSize:
    train_speakers: int
    train_chapters: int
    train_utterances: int  # per chapter
    test_speakers: int
    test_utterances: int  # per chapter (2 chapters per test/dev speaker)


DEMO_SIZES = {
    "test": DemoSize(train_speakers=4, train_chapters=1, train_utterances=6, test_speakers=2, test_utterances=3),
    "quick": DemoSize(train_speakers=16, train_chapters=2, train_utterances=10, test_speakers=4, test_utterances=5),
    "full": DemoSize(train_speakers=60, train_chapters=3, train_utterances=10, test_speakers=10,
                     test_utterances=6),
}


def _split(out: Path, split: str, speakers: int, chapters: int, utterances: int, seed: int,
           jobs: int | None) -> Path:
    folder = out / "LibriSpeech" / split
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    return generate_librispeech(LibriSynthConfig(out=out, split=split, speakers=speakers, chapters_per_speaker=chapters,
                                                 utterances_per_chapter=utterances, seed=seed, jobs=jobs))


def demo_corpus(out: str | Path, size: str = "full", *, seed: int = 0, jobs: int | None = None) -> dict[str, Path]:
    """Write (or reuse) train-clean-100, dev-clean and test-clean under out/LibriSpeech."""
    spec, out = DEMO_SIZES[size], Path(out)
    return {
        "train": _split(out, "train-clean-100", spec.train_speakers, spec.train_chapters, spec.train_utterances,
                        seed, jobs),
        "dev": _split(out, "dev-clean", max(2, spec.test_speakers // 2), 2, spec.test_utterances, seed + 1, jobs),
        "test": _split(out, "test-clean", spec.test_speakers, 2, spec.test_utterances, seed + 2, jobs),
    }


def unseen_sentences(test: list[Utterance], train: list[Utterance]) -> tuple[list[Utterance], int]:
    """Test utterances whose sentence is not a training sentence, and how many were removed."""
    seen = {u.text for u in train}
    kept = [u for u in test if u.text not in seen]
    return kept, len(test) - len(kept)


def read_split(folder: Path) -> list[Utterance]:
    utterances, _ = read_source(folder)
    return utterances
