"""Stage 3, align: word times for every kept sentence.

Two sources:

- `aligner="train"`: the project's forced aligner (`corpus.align`), trained on this language's own
  sentences (no outside model), then `align_item` per sentence on the engine. Training is cross-fitted
  (`aligner_folds`, 2 by default): the sentences are split into folds by a hash of their id and each
  fold is aligned by a model trained on the other folds, because a model aligning its own training
  data has fitted whatever transcripts it saw, wrong ones included (see `pipeline.train_aligners`;
  training runs on the driver, `corpus.align` parallelizes it itself). A sentence the aligner
  flags as not matching its transcript (`alignment.custom["mismatch"]`) is dropped unless
  `keep_mismatched`, when the flag is confirmed (`confirm_mismatches`); one scoring under
  `min_alignment_score` is dropped too.
- `aligner="textgrid"`: import TextGrids (MSWC publishes its alignments that way; MFA writes them):
  `<folder>/**/<clip id>.TextGrid`, words tier `words` (or MFA's `speaker - words`). The TextGrid's
  labels are normalized with the same rules as the transcripts and matched to the transcript's words
  in order (a longest-common-subsequence match): matched words take the TextGrid's times, the others
  stay untimed (they cannot become clips). A TextGrid sharing no word with its transcript, or missing,
  is reported and the sentence skipped.

Per-item functions return `AlignOutcome` (the `Alignment`, or why there is none, and the mismatch flag).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.fsutil import atomic_write_text
from corpus.manifest import AlignedWord, Alignment, Supervision
from corpus.configs import content_hash
from corpus.mswc.config import BuildConfig
from corpus.mswc.errors import BuildError
from corpus.stages import Context, Outcome, StageOutput
from corpus.text import TextRules, normalize_words

__all__ = ["TextGridTask", "textgrid_align", "AlignerTask", "aligner_align", "match_words", "confirm_mismatches",
           "train_fold_aligners", "align_fold", "AlignerUnavailable", "AlignOutcome", "align_sentence", "plan_align",
           "collect_align"]


@dataclass(frozen=True, kw_only=True)
class AlignOutcome(Outcome):
    """One sentence's alignment, or why there is none (ok=False: reason, detail)."""

    alignment: Alignment | None = None
    mismatch: bool = False

    @property
    def log_score(self) -> float | None:
        """The aligner's mismatch score (forced path vs free unit loop, per frame), when it gave one."""
        value = dict(self.alignment.custom or {}).get("log_score") if self.alignment is not None else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True, kw_only=True)
class TextGridTask:
    id: str
    textgrid: str | None  # path, or None when no TextGrid was found for the clip
    words: tuple[str, ...]  # normalized transcript
    rules: TextRules


def match_words(words: tuple[str, ...], timed: list[tuple[float, float, str]]) -> list[AlignedWord]:
    """Times for `words` from (start, end, word) intervals, matched in order; unmatched words are left out."""
    labels = [label for _, _, label in timed]
    matcher = difflib.SequenceMatcher(a=list(words), b=labels, autojunk=False)
    out: list[AlignedWord] = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            start, end, label = timed[block.b + k]
            out.append(AlignedWord(text=label, start_s=round(float(start), 6),
                                   duration_s=round(max(0.0, float(end) - float(start)), 6), score=1.0))
    return out


def textgrid_align(task: TextGridTask) -> AlignOutcome:
    from corpus.formats.textgrid import TextGridError, read_textgrid, word_intervals

    if task.textgrid is None:
        return AlignOutcome(id=task.id, reason="no_alignment", detail="no TextGrid for this clip")
    try:
        intervals = word_intervals(read_textgrid(task.textgrid))
    except (TextGridError, ValueError, OSError) as error:
        return AlignOutcome(id=task.id, reason="bad_textgrid", detail=str(getattr(error, "reason", error)))
    timed: list[tuple[float, float, str]] = []
    for start, end, label in intervals:
        for word in normalize_words(label, task.rules).words:  # a label may normalize to several words
            timed.append((start, end, word))
    words = match_words(task.words, timed)
    if not words:
        return AlignOutcome(id=task.id, reason="transcript_mismatch",
                            detail="the TextGrid shares no word with the transcript")
    alignment = Alignment(id=task.id, recording_id=task.id, words=tuple(words), score=1.0,
                          custom={"matched_words": len(words), "transcript_words": len(task.words)})
    return AlignOutcome(id=task.id, ok=True, alignment=alignment)


@dataclass(frozen=True, kw_only=True)
class AlignerTask:
    id: str
    audio_path: str
    words: tuple[str, ...]
    model_dir: str


def aligner_align(task: AlignerTask) -> AlignOutcome:
    from corpus.align import AlignItem, align_item

    try:
        aligned = align_item(AlignItem(id=task.id, audio_path=task.audio_path, words=task.words), task.model_dir)
    except Exception as error:  # noqa: BLE001 - one sentence's failure is reported, not fatal
        return AlignOutcome(id=task.id, reason="align_error", detail=f"{type(error).__name__}: {error}")
    if aligned.alignment is None or aligned.error:
        return AlignOutcome(id=task.id, reason="align_error", detail=str(aligned.error or "no alignment"))
    alignment = aligned.alignment
    return AlignOutcome(id=task.id, ok=True, alignment=alignment,
                        mismatch=bool(dict(alignment.custom or {}).get("mismatch", False)))


def confirm_mismatches(results: list[AlignOutcome], groups: dict[str, int], z: float) -> dict[str, str | None]:
    """{id: why it is a mismatch, or None} for aligned results, confirming the aligner's own flags.

    The aligner flags a sentence when its mismatch score (`custom["log_score"]`: forced alignment vs a
    free unit loop, per frame) falls under a threshold it calibrated on its training data. That
    threshold swings from model to model (on small corpora one fold's model flagged 13 of 79 correct
    sentences, the other none), while wrong transcripts sit far below everything else. So a flag is
    confirmed only when the score is also an outlier among the sentences the same model aligned
    (`groups`: id -> model): below median - z x 1.4826 x MAD. z = 0 takes the flags as they are, as does
    a result without a log_score. Measured on synthetic lg trees (200 and 400 sentences, 5% wrong
    transcripts, z = 10): every wrong transcript still dropped; correct sentences dropped with them
    went from 7-14% (the flags alone) to 0.3-1%.
    """
    scores: dict[int, list[float]] = {}
    for result in results:
        if result.ok and result.log_score is not None:
            scores.setdefault(groups.get(result.id, 0), []).append(result.log_score)
    limits = {}
    for group, values in scores.items():
        values_array = sorted(values)
        median = float(np.median(values_array))
        mad = float(np.median(np.abs(np.asarray(values_array) - median))) * 1.4826
        limits[group] = (median, mad)
    out: dict[str, str | None] = {}
    for result in results:
        if not result.ok:
            continue
        if not result.mismatch:
            out[result.id] = None
            continue
        score = result.log_score
        group = groups.get(result.id, 0)
        if z <= 0 or score is None or group not in limits or limits[group][1] <= 0:
            out[result.id] = "the aligner says the audio does not match the transcript"
            continue
        median, mad = limits[group]
        deviation = (float(score) - median) / mad
        out[result.id] = (f"the aligner says the audio does not match the transcript (mismatch score "
                             f"{float(score):.3f}, {deviation:.1f} MADs from the median)") if deviation < -z else None
    return out


class AlignerUnavailable(RuntimeError):
    """The aligner cannot be trained (not installed, a bad aligner_config, nothing to train on)."""


def align_fold(item_id: str, folds: int) -> int:
    """The cross-fitting fold of a sentence: a hash of its id (stable, independent of the others)."""
    digest = hashlib.sha256(f"align-fold:{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % max(1, folds)


def _relative(path: str) -> str:
    """The clip's name inside the Common Voice folder: the model cache key must not depend on where the
    folder lives."""
    return Path(path).name


def train_fold_aligners(supervisions: list[Supervision], audio_paths: dict[str, str], *, language: str, cache: Path,
                        config: BuildConfig, jobs: int | None, progress: bool) -> tuple[list[Path], float]:
    """One aligner model per fold (`aligner_folds`), each trained on the other folds' sentences.

    Cross-fitting: no sentence is aligned by a model that trained on it. A model fits the
    transcripts it was trained on, wrong ones included, so its mismatch flag misses them on its own
    training data (measured on synthetic lg trees with 5% wrong transcripts: about half of them
    flagged by one model trained on everything, all of them with two folds, for about the same
    total training time, since each fold's model trains on half the sentences). Silent
    clips are never trained on. Models are cached by content in `.work/aligner-models/<hash of the
    training sentences and config>/`, so rerunning `align` with another `keep_mismatched` or
    `drop_silent`, or in a copy of the work folder, reuses them.
    """
    try:
        from corpus.align import AlignerConfig, AlignItem, train_aligner
    except ImportError as error:
        raise AlignerUnavailable(f"the forced aligner (corpus.align) is not available ({error}); import "
                                 "alignments with --textgrids DIR instead") from None
    overrides = {name: tuple(value) if isinstance(value, list) else value
                 for name, value in config.aligner_config}
    try:
        aligner_config = AlignerConfig(**overrides) if overrides else None
    except (TypeError, ValueError) as error:
        raise AlignerUnavailable(f"aligner_config: {error}") from None
    trainable = [s for s in supervisions if not s.custom.get("silent")]
    folds = config.aligner_folds
    if folds > 1 and len({align_fold(s.id, folds) for s in trainable}) < folds:
        folds = 1  # a corpus too small to split
    plans = []
    for fold in range(folds):
        training = [s for s in trainable if folds == 1 or align_fold(s.id, folds) != fold]
        if not training:
            raise AlignerUnavailable("no sentences left to train the aligner on")
        key = content_hash({"language": language, "config": aligner_config.to_json() if aligner_config else None,
                            "items": [[s.id, _relative(audio_paths[s.recording_id]), s.text] for s in training]})[:20]
        plans.append((key, training))
    wanted = {key for key, _ in plans}
    if cache.exists():  # models of other sentence sets or configs
        for entry in cache.iterdir():
            if entry.name.split(".")[0] not in wanted:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    models: list[Path] = []
    seconds = 0.0
    for key, training in plans:
        done = cache / f"{key}.done"
        if done.exists():
            models.append(cache / done.read_text(encoding="utf-8").strip())
            continue
        shutil.rmtree(cache / key, ignore_errors=True)
        items = [AlignItem(id=s.id, audio_path=audio_paths[s.recording_id], words=tuple(s.text.split()))
                 for s in training]
        started = time.perf_counter()
        trained = Path(train_aligner(items, language=language, out_dir=str(cache / key),
                                     config=aligner_config, jobs=jobs, progress=progress))
        seconds += time.perf_counter() - started
        atomic_write_text(done, Path(os.path.relpath(trained.resolve(), cache.resolve())).as_posix() + "\n")
        models.append(trained)
    return models, seconds


# ---------------------------------------------------------------- the stage

def align_sentence(task: TextGridTask | AlignerTask) -> AlignOutcome:
    """The stage's per-item function (on the engine): import a TextGrid or run the trained aligner."""
    return textgrid_align(task) if isinstance(task, TextGridTask) else aligner_align(task)


def plan_align(ctx: Context) -> list[TextGridTask | AlignerTask]:
    """One task per normalized sentence; with aligner=train the fold models are trained first (driver)."""
    from corpus.mswc.normalize import text_rules

    config, source = ctx.config, ctx.source
    supervisions = ctx.read("normalize", "supervisions")
    if config.aligner == "textgrid":
        folder = Path(config.textgrids)
        if not folder.is_dir():
            raise BuildError(f"--textgrids {folder}: no such folder")
        index: dict[str, str] = {}
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() == ".textgrid" and path.is_file():
                index.setdefault(path.stem, str(path.resolve()))
        rules = text_rules(source.language, config)
        return [TextGridTask(id=s.id, textgrid=index.get(s.id), words=tuple(s.text.split()), rules=rules)
                for s in supervisions]
    recordings = {r.id: r for r in ctx.read("ingest", "recordings")}
    paths = {rid: str(source.cv_dir / r.path) for rid, r in recordings.items()}
    try:
        models, seconds = train_fold_aligners(supervisions, paths, language=source.language,
                                              cache=ctx.work_dir / "aligner-models", config=config, jobs=ctx.jobs,
                                              progress=ctx.progress)
    except AlignerUnavailable as error:
        raise BuildError(str(error)) from None
    if seconds:
        ctx.add_timing("align_training", seconds, len(supervisions))
    ctx.notes["aligner_models"] = len(models)
    return [AlignerTask(id=s.id, audio_path=paths[s.recording_id], words=tuple(s.text.split()),
                        model_dir=str(models[align_fold(s.id, len(models))])) for s in supervisions]


def collect_align(ctx: Context, tasks: list, outcomes: list[AlignOutcome]) -> StageOutput:
    """Keep aligned sentences unless a confirmed mismatch or a low score drops them."""
    config = ctx.config
    folds = ctx.notes.get("aligner_models", 1)
    mismatches = confirm_mismatches(outcomes, {t.id: align_fold(t.id, folds) for t in tasks}, config.mismatch_outlier_z)
    report: dict = {"aligner": config.aligner, "mismatched_kept": 0,
                    "flags_not_confirmed": sum(r.ok and r.mismatch and mismatches[r.id] is None for r in outcomes)}
    if "aligner_models" in ctx.notes:
        report["aligner_models"] = folds
    alignments = []
    for outcome in outcomes:
        if not outcome.ok:
            continue  # reported by the runner
        if mismatches[outcome.id] is not None:
            if not config.keep_mismatched:
                ctx.problem(outcome.id, "transcript_mismatch", mismatches[outcome.id])
                continue
            report["mismatched_kept"] += 1
        if outcome.alignment.score < config.min_alignment_score:
            ctx.problem(outcome.id, "low_alignment_score",
                        f"{outcome.alignment.score:.3f} < {config.min_alignment_score}")
            continue
        alignments.append(outcome.alignment)
    alignments.sort(key=lambda a: a.id)
    return StageOutput(count_in=len(tasks), kept=len(alignments), manifests={"alignments": alignments}, report=report)
