"""Readings of demo sentences by synthesizer families other than espeak-ng, for the head start's EM stage.

espeak-ng gives exact word times but one family's voice: a model trained on it alone hears espeak, not
people. Other families (`corpus.voices`: Flite's CMU voices, built from recordings of real speakers)
give no word times, but an alignment model does not need them to learn from speech whose text is known:
the espeak-trained model aligns these readings itself and is EM-adapted on them (`corpus.align.adapt`,
via `train_aligner(init="head_start")`). `family_readings` writes the readings as WAV files, degraded as
found audio sounds (the head start's noise plan), and returns them as `AlignItem`s.

Deterministic: the same sentences, voices and seed give the same bytes (every family here renders
deterministically; noise is drawn from a generator seeded per reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.align.types import AlignItem

__all__ = ["ReadingPlan", "available_families", "family_readings"]

_EDGE_PAUSE_S = (0.1, 0.5)  # silence drawn before and after each reading: real clips start and end in a pause


def available_families(language: str, families: Sequence[str]) -> tuple[str, ...]:
    """The families of `families` that speak `language` and can run on this machine (others are skipped)."""
    from corpus.voices import backends_for

    return tuple(b.family for b in backends_for(language, tuple(families)))


@dataclass(frozen=True, kw_only=True)
class ReadingPlan:
    """Who reads what: `readings` demo sentences spread over `voices` voices of each family, degraded by
    `noise` (a `corpus.demo.noise.NoisePlan`)."""

    language: str
    families: tuple[str, ...]
    readings: int
    voices: int
    seed: int
    noise: object
    # speed perturbation (as Kaldi's): each reading resampled by a factor drawn here, which scales its
    # tempo, pitch and formants together (a longer or shorter vocal tract); (1, 1): off
    speed: tuple[float, float] = (1.0, 1.0)


class _Read:
    """Picklable job: (index, sentence, voice) -> AlignItem of the degraded reading written under `folder`,
    or None when the synthesizer refuses the sentence."""

    def __init__(self, plan: ReadingPlan, folder: Path) -> None:
        self.plan, self.folder = plan, folder

    def __call__(self, job: tuple[int, str, object]) -> AlignItem | None:
        from corpus.audio import save_audio
        from corpus.demo.noise import degrade, draw_augmentation
        from corpus.text import normalize_words, rules_for
        from corpus.voices import VoiceError, backend, render

        index, sentence, voice = job
        words = normalize_words(sentence, rules_for(self.plan.language))
        if words.excluded or not words.words:
            return None
        try:
            speech = render(backend(voice.family), " ".join(words.words), language=self.plan.language,
                            voice=voice).samples
        except VoiceError:
            return None
        rng = np.random.default_rng([self.plan.seed, index])
        factor = float(rng.uniform(*self.plan.speed))
        if abs(factor - 1.0) > 1e-3:  # played `factor` times faster: resampled from 16 kHz * factor
            from corpus.audio import resample

            speech = resample(speech, int(round(16000 * factor)), 16000)
        pads = [np.zeros(int(rng.uniform(*_EDGE_PAUSE_S) * 16000), np.float32) for _ in range(2)]
        samples = degrade(np.concatenate([pads[0], speech, pads[1]]), draw_augmentation(self.plan.noise, rng), rng,
                          language=self.plan.language, seed=self.plan.seed)
        peak = float(np.abs(samples).max())
        if peak > 0.99:  # gain drawn too high for this reading: scale, do not clip
            samples = samples * (0.99 / peak)
        path = save_audio(self.folder / f"{voice.family}-{index:05d}.wav", samples.astype(np.float32), 16000)
        return AlignItem(id=f"{voice.family}-{index:05d}", audio_path=str(path), words=words.words)


def family_readings(plan: ReadingPlan, folder: Path, *, jobs: int | None = None,
                    progress: bool = False) -> list[AlignItem]:
    """`plan.readings` demo sentences (drawn apart from the espeak corpus's) read round-robin by
    `plan.voices` voices of each family, written under `folder`; sentences a synthesizer refuses are left out."""
    from corpus.demo.text import DemoText
    from corpus.engines import map_ordered
    from corpus.synth import stable_seed
    from corpus.voices import backend

    if not plan.families or plan.readings <= 0:
        return []
    voices = [v for family in plan.families
              for v in backend(family).voices(plan.language, plan.voices, seed=stable_seed("readers", plan.seed))]
    sentences = DemoText.load(plan.language).sentences(plan.readings, seed=stable_seed("readings", plan.seed))
    folder.mkdir(parents=True, exist_ok=True)
    jobs_list = [(k, s, voices[k % len(voices)]) for k, s in enumerate(sentences)]
    items = map_ordered(_Read(plan, folder), jobs_list, jobs=jobs, desc="head start: other voices", unit="utt",
                        chunksize=8, progress=progress)
    return [item for item in items if item is not None]
