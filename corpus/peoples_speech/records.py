"""Typed manifests and per-document outcomes of the People's Speech builder (what `corpus.stages` writes
under `OUT/.work/<stage>/<name>.jsonl.gz` and reads back as these types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from corpus.configs import from_jsonable
from corpus.engines import one_blas_thread
from corpus.stages import Outcome, Problem

__all__ = ["Document", "IngestOutcome", "DocumentWords", "CaptionTiming", "DocumentAlignment", "AlignedDocument",
           "RefineOutcome", "GradeOutcome", "Grade", "GradedUtterance", "Duplicate", "Row", "FlacOutcome", "typed", "hours"]


@dataclass(frozen=True, kw_only=True)
class Document:
    id: str
    item: str
    audio_path: str
    captions_path: str
    sample_rate_hz: int
    num_samples: int
    duration_s: float
    license: str
    license_url: str
    title: str
    creator: str
    language: str
    cues: tuple[tuple[float, float, str], ...]
    caption_problems: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IngestOutcome(Outcome):
    documents: tuple[Document, ...] = ()
    item_problems: tuple[Problem, ...] = ()

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.item_problems


@dataclass(frozen=True, kw_only=True)
class DocumentWords:
    id: str
    words: tuple[str, ...]
    word_cue: tuple[int, ...]
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CaptionTiming(Outcome):
    offset_s: float = 0.0
    drift: float = 0.0
    fit: float = 0.0
    cue_confidence: tuple[float, ...] = ()  # per cue with words (`align_stage.cue_confidence`)


@dataclass(frozen=True, kw_only=True)
class DocumentAlignment(Outcome):
    """`align_stage.align_document`'s result. `seconds` and `timeout` depend on machine load: they go to
    the report and timings, never into the dataset."""
    words: tuple[tuple[int, str, float, float, float], ...] = ()
    unaligned_words: tuple[int, ...] = ()
    unaligned_audio: tuple[tuple[float, float], ...] = ()
    errors: tuple[str, ...] = ()
    windows: int = 0
    window_bound: int = 0
    seconds: float = 0.0
    timeout: bool = False
    matched: int = 0
    probe: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class AlignedDocument:
    id: str
    words: tuple[tuple[int, str, float, float, float], ...]
    unaligned_words: tuple[int, ...]
    unaligned_audio: tuple[tuple[float, float], ...]
    windows: int
    matched: int
    offset_s: float
    drift: float
    fit: float


@dataclass(frozen=True, kw_only=True)
class RefineOutcome(Outcome):
    utterances: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Grade:
    id: str
    hypothesis: str
    cer: float
    tier: str


@dataclass(frozen=True, kw_only=True)
class GradeOutcome(Outcome):
    grades: tuple[Grade, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GradedUtterance:
    id: str
    document: str
    start_s: float
    end_s: float
    audio_start_s: float
    audio_end_s: float
    text: str
    words: int
    score: float
    min_word_score: float
    first_word: int
    last_word: int
    hypothesis: str
    cer: float
    tier: str


@dataclass(frozen=True, kw_only=True)
class Duplicate:
    id: str
    duplicate_of: str


@dataclass(frozen=True, kw_only=True)
class Row(GradedUtterance):
    item: str
    license: str
    license_url: str
    split: str
    subset: str
    audio_filepath: str


@dataclass(frozen=True, kw_only=True)
class FlacOutcome(Outcome):
    files: Mapping[str, int] = field(default_factory=dict)


class typed:
    """A per-item function returning a plain dict, as one returning `cls` (picklable, for the engines)."""

    def __init__(self, func: Callable[[Any], dict], cls: type, adapt: Callable[[dict], dict] | None = None) -> None:
        self.func, self.cls, self.adapt = func, cls, adapt

    def __call__(self, task: Any) -> Any:
        with one_blas_thread():  # one process per core: see corpus.engines.one_blas_thread
            value = self.func(task)
        if self.adapt is not None:
            value = self.adapt(value)
        import json

        return from_jsonable(self.cls, json.loads(json.dumps(value)))


def hours(seconds: float) -> float:
    """Seconds as hours for the build report (4 decimals)."""
    return round(seconds / 3600, 4)
