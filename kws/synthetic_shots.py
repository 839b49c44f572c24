"""TTS-augmented few-shot: a keyword rendered by many synthetic speakers of every available synthesizer
family (`corpus.voices`), as extra 1-s training clips beside the K real shots.

Each rendition is the word said in isolation (the spelling the user gave, or `pronounce` for synthesis
only), trimmed to its spoken part by energy and centred in a 1-s clip; the few-shot augmentation
(speed, tempo, noise, neighbours, placement) then treats it like a shot. Families rotate over the
renditions (espeak, flite, ... in turn) and each family's speakers come from its own seeded bank, so the
same (keyword, count, families, seed) always gives the same clips; renders are cached on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from corpus.audio import to_int16
from corpus.augment import centre_fit
from corpus.voices import FAMILIES, VoiceError, backends_for, render, skipped_lines

__all__ = ["SyntheticShots", "synthetic_shots", "centre_word", "keyword_renditions"]

RATE = 16000


@dataclass(frozen=True)
class SyntheticShots:
    keyword: str
    audio: np.ndarray  # int16 [N, 16000]
    speakers: tuple[str, ...]  # voice id of each row
    families: tuple[str, ...]  # the families used, in rotation order
    skipped: tuple[str, ...]  # one line per family that serves the language but cannot run here


def centre_word(samples: np.ndarray, length: int = RATE, floor_db: float = 35.0) -> np.ndarray:
    """The spoken part of `samples` (10-ms frames within `floor_db` of the loudest), centred in `length`
    samples (cut around its middle if longer)."""
    frame = RATE // 100
    usable = len(samples) // frame * frame
    power = np.square(samples[:usable].astype(np.float64)).reshape(-1, frame).mean(axis=1)
    if usable == 0 or power.max() <= 0:
        return np.zeros(length, np.float32)
    loud = np.flatnonzero(power >= power.max() * 10 ** (-floor_db / 10))
    word = samples[max(0, (loud[0] - 2) * frame):(loud[-1] + 3) * frame].astype(np.float32)
    return centre_fit(word, length)


def synthetic_shots(keyword: str, language: str, count: int, *, seed: int, pronounce: str | None = None,
                    families: Sequence[str] = FAMILIES, cache_dir: str | os.PathLike[str] | None = None
                    ) -> SyntheticShots:
    """`count` renditions of `keyword` (text `pronounce` when given) by speakers of every family in
    `families` that serves `language` and runs here. A rendition that fails is replaced by the next
    speaker of the same family; VoiceError when no family serves the language."""
    available = backends_for(language, families)
    skipped = tuple(skipped_lines(language, families))
    if not available:
        raise VoiceError(f"no synthesizer family among {', '.join(families)} serves language {language!r}"
                         + (f" ({'; '.join(skipped)})" if skipped else ""))
    text = (pronounce or keyword).strip()
    per_family = [-(-count // len(available))] * len(available)
    voices = {b.family: b.voices(language, 2 * n + 4, seed=seed) for b, n in zip(available, per_family)}
    next_voice = {b.family: 0 for b in available}
    rows, speakers = [], []
    failures = []
    while len(rows) < count:
        progressed = False
        for candidate in available:
            if len(rows) >= count:
                break
            pool = voices[candidate.family]
            while next_voice[candidate.family] < len(pool):
                voice = pool[next_voice[candidate.family]]
                next_voice[candidate.family] += 1
                try:
                    result = render(candidate, text, language=language, voice=voice, cache_dir=cache_dir)
                except VoiceError as error:
                    failures.append(str(error))
                    continue
                rows.append(to_int16(np.clip(centre_word(result.samples), -1.0, 1.0)))
                speakers.append(voice.speaker_id)
                progressed = True
                break
        if not progressed:
            raise VoiceError(f"could not synthesize {text!r} in {language}: {failures[-1] if failures else 'no voices'}")
    return SyntheticShots(keyword=keyword, audio=np.stack(rows), speakers=tuple(speakers),
                          families=tuple(b.family for b in available), skipped=skipped)


def keyword_renditions(keywords: Sequence[str], language: str, count: int, *, seed: int,
                       pronounce: dict[str, str] | None = None, families: Sequence[str] = FAMILIES,
                       cache_dir: str | os.PathLike[str] | None = None) -> tuple[dict[str, np.ndarray] | None, str]:
    """(keyword -> int16 renditions, or None for pure K-shot; one line saying what was done and why)."""
    if count <= 0:
        return None, "synthetic shots: none (pure K-shot, --synthetic-shots 0)"
    if not backends_for(language, families):
        skipped = skipped_lines(language, families)
        return None, (f"synthetic shots: none, no synthesizer family serves {language!r} here (pure K-shot)"
                      + (f"; {'; '.join(skipped)}" if skipped else ""))
    made = {k: synthetic_shots(k, language, count, seed=seed, pronounce=(pronounce or {}).get(k), families=families,
                               cache_dir=cache_dir) for k in keywords}
    first = next(iter(made.values()))
    by_family = {f: sum(1 for s in first.speakers if s.startswith(f + "-")) for f in first.families}
    note = (f"synthetic shots: {count} SYNTHETIC renditions of each keyword ("
            + ", ".join(f"{f} {n}" for f, n in by_family.items()) + ") added to the K given shots")
    if pronounce:
        note += f"; pronounced as {', '.join(f'{k}={t!r}' for k, t in pronounce.items())}"
    if first.skipped:
        note += "; " + "; ".join(first.skipped)
    return {k: v.audio for k, v in made.items()}, note
