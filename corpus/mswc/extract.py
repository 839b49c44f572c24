"""Stage 4, extract: keyword clips, 1.000 s each, Opus 48 kHz (and optionally 16 kHz WAV).

Keywords (`plan_extraction`, on the driver): words of >= `min_chars` characters (>= `min_chars_logographic`
for Chinese/Japanese-type scripts) with >= `min_clips` aligned occurrences. Each keyword gets a folder
name from `corpus.fsutil.safe_name` (NFC, no path separator, no `..`, no control characters, Windows
device names prefixed); two words that would share a folder get a short hash suffix, and the mapping
word -> folder is recorded in metadata.json.

Clips (`extract_recording`, per sentence on the engine): the sentence is decoded once at 48 kHz and
every occurrence is cut by `corpus.clips.cut_keyword_clip` (the one definition of the 1-s cut: a word
shorter than 1 s cut to its span, faded over 25 ms and zero-padded equally on both sides; a longer one a
1-s window around its midpoint kept inside the file). Names: `common_voice_<lang>_<id>.opus`, a word
repeated in the sentence `..._<id>__2.opus`, `__3`, ...

Determinism: libopus encodes the same samples to the same packets, and `corpus.audio.encode_audio`
fixes the Ogg serial number that libsndfile would draw at random, so a clip's bytes are a pure function
of its samples (checked across processes by the tests).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.audio import AudioError, encode_audio, load_audio, resample, save_audio
from corpus.clips import clip_span_s, cut_keyword_clip
from corpus.fsutil import atomic_write_bytes, safe_name
from corpus.manifest import Alignment
from corpus.stages import Context, Outcome, Problem, StageOutput
from corpus.text import min_keyword_chars

__all__ = ["Occurrence", "ExtractTask", "ClipCut", "Extracted", "ClipRecord", "KeywordFolder", "extract_recording",
           "encode_opus", "plan_extraction", "ExtractionPlan", "CLIP_RATE_HZ", "WAV_RATE_HZ", "clip_name",
           "plan_extract", "collect_extract"]

CLIP_RATE_HZ = 48000
WAV_RATE_HZ = 16000


def encode_opus(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    """Ogg Opus bytes at 48 kHz, identical for identical samples (see `corpus.audio.encode_audio`)."""
    return encode_audio(samples, sample_rate_hz, ".opus", file_rate_hz=CLIP_RATE_HZ)


# ---------------------------------------------------------------- per-sentence cutting

@dataclass(frozen=True, kw_only=True)
class Occurrence:
    word: str
    folder: str
    name: str  # file name without extension
    start_s: float
    end_s: float

    @property
    def link(self) -> str:
        return f"{self.folder}/{self.name}.opus"


@dataclass(frozen=True, kw_only=True)
class ExtractTask:
    id: str
    audio_path: str
    lang_dir: str
    occurrences: tuple[Occurrence, ...]
    fade_s: float = 0.025
    write_wav: bool = False


@dataclass(frozen=True, kw_only=True)
class ClipCut:
    """One clip written: its link, word, the recording span that went into it and the aligned word (s)."""

    link: str
    word: str
    span_s: tuple[float, float]
    word_s: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class Extracted(Outcome):
    """One sentence's clips, or why there are none (ok=False); `errors`: occurrences that could not be cut."""

    clips: tuple[ClipCut, ...] = ()
    errors: tuple[Problem, ...] = ()

    @property
    def problems(self) -> tuple[Problem, ...]:
        return super().problems + self.errors


@dataclass(frozen=True, kw_only=True)
class ClipRecord(ClipCut):
    """The extract stage's manifest: a clip with its recording, speaker and gender (key: link)."""

    recording_id: str
    speaker: str
    gender: str


@dataclass(frozen=True, kw_only=True)
class KeywordFolder:
    """A keyword, its folder under clips/ and the clips planned for it (key: word)."""

    word: str
    folder: str
    clips: int


def clip_name(recording_id: str, occurrence: int) -> str:
    """`common_voice_lg_1` for the first occurrence of a word in the sentence, `..._1__2` for the second."""
    return recording_id if occurrence == 1 else f"{recording_id}__{occurrence}"


def extract_recording(task: ExtractTask) -> Extracted:
    """Cut, encode and write every clip of one sentence (per item, on the engine)."""
    try:
        samples = load_audio(task.audio_path, sample_rate_hz=CLIP_RATE_HZ)
    except AudioError as error:
        return Extracted(id=task.id, reason="unreadable_audio", detail=f"{type(error).__name__}: {error.reason}")
    duration_s = len(samples) / CLIP_RATE_HZ
    lang_dir = Path(task.lang_dir)
    clips, errors = [], []
    for occ in task.occurrences:
        try:
            clip = cut_keyword_clip(samples, CLIP_RATE_HZ, occ.start_s, occ.end_s, clip_s=1.0, fade_s=task.fade_s)
            first, last = clip_span_s(occ.start_s, occ.end_s, duration_s)
        except ValueError as error:
            errors.append(Problem(item=occ.link, reason="bad_span", detail=str(error)))
            continue
        atomic_write_bytes(lang_dir / "clips" / occ.folder / f"{occ.name}.opus",
                           encode_opus(clip, CLIP_RATE_HZ))
        if task.write_wav:
            save_audio(lang_dir / "wav" / occ.folder / f"{occ.name}.wav",
                       resample(clip, CLIP_RATE_HZ, WAV_RATE_HZ)[:WAV_RATE_HZ], WAV_RATE_HZ)
        clips.append(ClipCut(link=occ.link, word=occ.word, span_s=(round(first, 6), round(last, 6)),
                             word_s=(round(occ.start_s, 6), round(occ.end_s, 6))))
    return Extracted(id=task.id, ok=True, clips=tuple(clips), errors=tuple(errors))


# ---------------------------------------------------------------- planning on the driver

@dataclass
class ExtractionPlan:
    tasks: list[ExtractTask]
    keywords: dict[str, int]  # word -> clips planned
    folders: dict[str, str]  # word -> folder name
    word_counts: dict[str, Counter]  # "not_keyword_short", "not_keyword_rare", "empty_span" -> word counts
    occurrences: int  # timed word occurrences seen


def _folders(words: list[str]) -> dict[str, str]:
    folders: dict[str, str] = {}
    taken: set[str] = set()
    for word in sorted(words):
        folder = safe_name(word)
        if folder.casefold() in taken:  # two words, one folder name (or a case-insensitive clash)
            folder = safe_name(f"{word}_{hashlib.sha1(word.encode('utf-8')).hexdigest()[:8]}")
        taken.add(folder.casefold())
        folders[word] = folder
    return folders


def plan_extraction(alignments: list[Alignment], audio_paths: dict[str, str], lang_dir: str, config) -> ExtractionPlan:
    """Keywords and per-sentence extraction tasks from the alignments."""
    counts: Counter = Counter()
    skipped: dict[str, Counter] = defaultdict(Counter)
    seen = 0
    for alignment in alignments:
        for word in alignment.words:
            seen += 1
            if word.duration_s <= 0:
                skipped["empty_span"][word.text] += 1
                continue
            text = word.text
            if len(text) < min_keyword_chars(text, alphabetic=config.min_chars,
                                             logographic=config.min_chars_logographic):
                skipped["not_keyword_short"][text] += 1
                continue
            counts[text] += 1
    keywords = {w: n for w, n in counts.items() if n >= config.min_clips}
    for word, n in counts.items():
        if word not in keywords:
            skipped["not_keyword_rare"][word] += n
    folders = _folders(list(keywords))
    tasks = []
    for alignment in sorted(alignments, key=lambda a: a.id):
        seen_in_sentence: Counter = Counter()
        occurrences = []
        for word in alignment.words:
            text = word.text
            if text not in keywords or word.duration_s <= 0:
                continue
            seen_in_sentence[text] += 1
            occurrences.append(Occurrence(word=text, folder=folders[text],
                                          name=clip_name(alignment.recording_id, seen_in_sentence[text]),
                                          start_s=float(word.start_s),
                                          end_s=float(word.start_s) + float(word.duration_s)))
        if occurrences:
            tasks.append(ExtractTask(id=alignment.id, audio_path=audio_paths[alignment.recording_id],
                                     lang_dir=lang_dir, occurrences=tuple(occurrences), fade_s=config.fade_s,
                                     write_wav=config.write_wav))
    return ExtractionPlan(tasks=tasks, keywords=dict(sorted(keywords.items())), folders=folders,
                          word_counts=dict(skipped), occurrences=seen)


# ---------------------------------------------------------------- the stage

def plan_extract(ctx: Context) -> list[ExtractTask]:
    recordings = ctx.read("ingest", "recordings")
    paths = {r.id: str(ctx.source.cv_dir / r.path) for r in recordings}
    plan = plan_extraction(ctx.read("align", "alignments"), paths, str(ctx.out_dir.resolve()), ctx.config)
    ctx.notes["plan"] = plan
    return plan.tasks


def collect_extract(ctx: Context, tasks: list[ExtractTask], results: list[Extracted]) -> StageOutput:
    plan: ExtractionPlan = ctx.notes["plan"]
    supervisions = {s.id: s for s in ctx.read("ingest", "supervisions")}
    clips = []
    for result in results:
        sup = supervisions[result.id]
        clips += [ClipRecord(**vars(c), recording_id=sup.recording_id, speaker=sup.speaker, gender=sup.gender)
                  for c in result.clips]
    clips.sort(key=lambda c: c.link)
    keywords = [KeywordFolder(word=w, folder=plan.folders[w], clips=n) for w, n in plan.keywords.items()]
    not_keywords = {reason: {"occurrences": sum(c.values()), "distinct": len(c)}
                    for reason, c in sorted(plan.word_counts.items())}
    return StageOutput(count_in=sum(len(t.occurrences) for t in tasks), kept=len(clips),
                       manifests={"clips": clips, "keywords": keywords},
                       report={"sentences": len(tasks), "keywords": len(plan.keywords),
                               "timed_words": plan.occurrences, "words_not_extracted": not_keywords})
