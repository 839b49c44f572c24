"""Noise for synthetic corpora: babble made of other synthetic talkers, and per-clip augmentation draws.

Babble costs several synthesis calls per second of noise, so each process builds one bank per
(language, seed) once and clips take random stretches of it. The bank depends only on its key, so
a clip's noise is the same whichever worker renders it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from corpus.augment import DegradeConfig, augment
from corpus.demo.text import DemoText
from corpus.synth import SpeakerBank, stable_seed, synthesize

__all__ = ["babble_bank", "babble_segment", "NoisePlan", "draw_augmentation", "degrade"]

_BANK_SECONDS = 30.0
_TALKERS = 5


@functools.lru_cache(maxsize=4)
def babble_bank(language: str, seed: int, sample_rate_hz: int = 16000, *, seconds: float = _BANK_SECONDS,
                talkers: int = _TALKERS) -> np.ndarray:
    """`seconds` of `talkers` overlapping synthetic talkers (speakers in no corpus bank: prefix 'babble').
    A model trained on noise should hear minutes of babble: 30 s is enough to degrade corpus clips,
    but a detector trained on one 30-s loop learns that loop, not babble."""
    text = DemoText.load(language)
    bank = SpeakerBank(talkers, seed=stable_seed("babble", seed), prefix="babble")
    sentences = text.sentences(max(80, int(seconds)), seed=stable_seed("babble-text", seed))
    total = int(seconds * sample_rate_hz)
    mix = np.zeros(total, np.float64)
    for talker, speaker in enumerate(bank):
        track: list[np.ndarray] = []
        length, index = 0, talker
        while length < total:
            samples = synthesize(sentences[index % len(sentences)], language=language, speaker=speaker,
                                 sample_rate_hz=sample_rate_hz).samples
            track.append(samples)
            length += len(samples)
            index += talkers
        voice = np.concatenate(track)[:total]
        mix += voice / (np.sqrt(np.mean(voice ** 2)) + 1e-9)
    return (mix / talkers).astype(np.float32)


def babble_segment(num_samples: int, language: str, seed: int, rng: np.random.Generator,
                   sample_rate_hz: int = 16000) -> np.ndarray:
    bank = babble_bank(language, seed, sample_rate_hz)
    reps = int(np.ceil(num_samples / len(bank))) + 1
    start = int(rng.integers(0, len(bank)))
    return np.tile(bank, reps)[start:start + num_samples]


@dataclass(frozen=True, kw_only=True)
class NoisePlan:
    """How a corpus degrades its clips: shares of clips and ranges the per-clip values are drawn from."""

    noisy_share: float = 1.0
    snr_db: tuple[float, float] = (20.0, 40.0)
    noise_kinds: tuple[str, ...] = ("white", "pink")
    reverb_share: float = 0.2
    rt60_s: tuple[float, float] = (0.2, 0.5)
    gain_db: tuple[float, float] = (-6.0, 3.0)


def draw_augmentation(plan: NoisePlan, rng: np.random.Generator) -> DegradeConfig:
    noisy = rng.random() < plan.noisy_share and plan.noise_kinds
    reverb = rng.random() < plan.reverb_share
    return DegradeConfig(
        noise_kind=str(plan.noise_kinds[int(rng.integers(len(plan.noise_kinds)))]) if noisy else None,
        snr_db=float(rng.uniform(*plan.snr_db)),
        rt60_s=float(rng.uniform(*plan.rt60_s)) if reverb else 0.0,
        gain_db=float(rng.uniform(*plan.gain_db)),
    )


def degrade(samples: np.ndarray, config: DegradeConfig, rng: np.random.Generator, *, language: str, seed: int,
            sample_rate_hz: int = 16000) -> np.ndarray:
    """`augment`, fetching babble from the process's bank when the config asks for it."""
    babble = None
    if config.noise_kind == "babble":
        babble = babble_segment(len(samples), language, seed, rng, sample_rate_hz)
    return augment(samples, config, rng, sample_rate_hz=sample_rate_hz, babble=babble)
