"""Configuration of `python -m kws train` (kws.train): the run's config, the demo corpus sizes, the default
keywords and embedding languages, and the error the run raises."""

from __future__ import annotations

from dataclasses import dataclass, field

from kws.embedding import EmbeddingConfig

__all__ = ["TrainConfig", "DemoConfig", "TrainError", "DEFAULT_KEYWORDS", "EMBEDDING_LANGUAGES"]

DEFAULT_KEYWORDS = {"lg": ("akawuka", "senyiga", "okugema")}  # COVID-19 radio monitoring in Uganda
EMBEDDING_LANGUAGES = ("en", "es", "de", "sw")


class TrainError(Exception):
    """The training run cannot go on: no usable data, an unknown language, keywords not in the data."""


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Sizes of the synthetic demo corpus (per language)."""

    embedding_words: int = 40
    embedding_clips_per_word: int = 30
    target_words: int = 24
    target_clips_per_word: int = 40
    speakers: int = 40
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    language: str
    keywords: tuple[str, ...] = ()
    shots: int = 5
    data: str | None = None
    embedding_data: str | None = None
    embedding_languages: tuple[str, ...] = EMBEDDING_LANGUAGES
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    fine_tune_layers: int = -1  # fine-tune the embedding with the shots: -1 all layers, N the last N, 0 frozen
    fine_tune_epochs: int = 10
    augmentations_per_shot: int = 40
    negative_speech_s: float = 240.0  # running speech without the keywords, cut into unknown windows
    stream_minutes: float = 15.0  # each of the DEV and TEST streams (1 FA in 15 min is 4 FA/h)
    target_fa_per_hour: float = 0.5
    demo: DemoConfig = field(default_factory=DemoConfig)
    # TTS-augmented few-shot (kws.synthetic_shots): renditions of each keyword by synthetic speakers of every
    # synthesizer family that serves the language, beside the real shots; 0 = pure K-shot
    synthetic_shots: int = 40
    pronounce: tuple[tuple[str, str], ...] = ()  # (keyword, text to synthesize instead of its spelling)
    # kws.real_check: a real_speech folder or a real MSWC-layout language folder; "auto": ../shared/real_speech
    # when present; None / "none": no real-speech check
    real_check: str | None = "auto"
    seed: int = 0
