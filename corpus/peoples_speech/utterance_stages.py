"""The People's Speech builder's stages from documents to utterances (corpus.peoples_speech.pipeline
declares them): normalize the captions, align the transcripts to the audio, and cut and refine utterances."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from corpus.peoples_speech.config import BuildConfig
from corpus.peoples_speech.records import (AlignedDocument, CaptionTiming, Document, DocumentAlignment, DocumentWords,
                                           RefineOutcome, hours, typed)
from corpus.peoples_speech.segment import Utterance
from corpus.stages import Context, StageError, StageOutput

__all__ = ["run_normalize", "run_align", "run_segment"]


# ---------------------------------------------------------------------------------------------- normalize
def run_normalize(ctx: Context) -> StageOutput:
    from corpus.peoples_speech.normalize import normalize_document

    documents = ctx.read("ingest", "documents")
    out, totals = [], Counter()
    for doc in documents:
        result = normalize_document(doc.cues, ctx.config.language)
        totals.update(result["counts"])
        if not result["words"]:
            ctx.problem(doc.id, "no_speech_text", "the captions hold only annotations or unusable cues")
            continue
        out.append(DocumentWords(id=doc.id, words=tuple(result["words"]), word_cue=tuple(result["word_cue"]),
                                 counts=result["counts"]))
    return StageOutput(count_in=len(documents), kept=len(out), manifests={"words": out},
                       report={k: int(v) for k, v in sorted(totals.items())})


# ---------------------------------------------------------------------------------------------- align
def _align_tasks(ctx: Context, normalized: list[DocumentWords], documents: dict[str, Document],
                 timings: dict[str, CaptionTiming], model_dir: Path) -> list:
    from corpus.peoples_speech.align_stage import AlignTask

    c = ctx.config
    tasks = []
    for n in normalized:
        doc, timing = documents[n.id], timings[n.id]
        offset, drift = (timing.offset_s, timing.drift) if timing.ok else (0.0, 0.0)
        hints = tuple(round((doc.cues[i][0] - offset) / (1 + drift), 3) for i in n.word_cue)
        tasks.append(AlignTask(id=n.id, audio_path=doc.audio_path, duration_s=doc.duration_s, words=n.words,
                               word_hint_s=hints, model_dir=str(model_dir), window_s=c.window_s, commit_s=c.commit_s,
                               probe_s=c.probe_s, min_word_confidence=c.min_word_confidence,
                               min_matched_share=c.min_matched_share, timeout_s_per_audio_s=c.timeout_s_per_audio_s,
                               garbage_lp=c.garbage_lp, word_skip_lp=c.word_skip_lp))
    return tasks


def _segment_params(config: BuildConfig, *, pad_s: float | None = None):
    from corpus.peoples_speech.segment import SegmentParams

    return SegmentParams(max_utterance_s=config.max_utterance_s, min_utterance_s=config.min_utterance_s,
                         max_gap_s=config.max_gap_s, pad_s=config.pad_s if pad_s is None else pad_s,
                         min_word_score=config.min_word_score, max_word_s=config.max_word_s,
                         max_stretch=config.max_stretch, edge_word_score=config.edge_word_score,
                         trim_unsure_edges=config.trim_unsure_edges, typical_score=config.typical_word_score,
                         bridge=config.bridge_unreliable_words, lengthened_touch_s=config.lengthened_touch_s)


def _pass2_items(ctx: Context, pass1: list[DocumentAlignment], documents: dict[str, Document]) -> list:
    """The reliable utterances pass 1 found in the documents it matched (exact spans, exact words)."""
    from corpus.align.types import AlignItem
    from corpus.configs import stable_hash
    from corpus.peoples_speech.segment import segment_document

    items = []
    for result in pass1:
        if not result.ok:
            continue
        doc = documents[result.id]
        utterances, _ = segment_document(result.id, result.words, result.unaligned_audio, doc.duration_s,
                                         _segment_params(ctx.config))
        items += [AlignItem(id=u.id, audio_path=doc.audio_path, words=tuple(u.text.split()), start_s=u.audio_start_s,
                            duration_s=round(u.audio_end_s - u.audio_start_s, 4)) for u in utterances]
    if len(items) > ctx.config.train_max_utterances:
        chosen = sorted(items, key=lambda it: stable_hash(ctx.config.seed, it.id))[:ctx.config.train_max_utterances]
        items = sorted(chosen, key=lambda it: it.id)
    return items


def _train(ctx: Context, name: str, items: list, head_start: Path | None = None) -> Path:
    """Train (flat start) or adapt (`head_start` given: a short EM from it) the aligner `name` on `items`."""
    from corpus.align import train_aligner
    from corpus.align.types import AlignerConfig

    model_dir = ctx.folder / name
    if (model_dir / "model.json").exists():  # trained before a kill: resume after it
        return model_dir
    c = ctx.config
    config = AlignerConfig(gmm_mixtures=c.train_gmm_mixtures, mlp_rounds=c.train_mlp_rounds,
                           mlp_epochs=c.train_mlp_epochs, max_train_utterances=c.train_max_utterances, seed=c.seed)
    if head_start is not None:
        config = replace(config, init="head_start", head_start=str(head_start), adapt_rounds=c.adapt_rounds,
                         adapt_epochs=c.adapt_epochs)
    tmp = ctx.folder / f"{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    try:
        # a budgeted adaptation has a few hundred cues: worker processes would cost more to start than they save
        jobs = 1 if head_start is not None and c.adapt_max_s > 0 else ctx.jobs
        train_aligner(items, language=c.language, out_dir=tmp, config=config, jobs=jobs, progress=ctx.progress)
    except Exception as error:  # noqa: BLE001 - no aligner, no build
        raise StageError(f"training the aligner ({name}) on {len(items)} utterances failed: {error}") from None
    os.replace(tmp, model_dir)
    ctx.add_timing(f"align_training_{name}", time.perf_counter() - started, len(items))
    return model_dir


def _head_start(ctx: Context) -> tuple[Path | None, str]:
    """(the head-start model folder, "") or (None, why not): the configured folder, else the language's cached
    synthetic head start, built here the first time (minutes, once per language and machine; its time is
    the `align_head_start_build` line of timings.json, not part of any later build)."""
    from corpus.align.headstart import head_start_model
    from corpus.align.types import AlignError

    c = ctx.config
    if c.aligner_init != "head_start":
        return None, "aligner_init is flat"
    if c.head_start:
        if not (Path(c.head_start) / "model.json").is_file():
            raise StageError(f"head start {c.head_start}: no model.json there")
        return Path(c.head_start), ""
    started = time.perf_counter()
    try:
        model_dir = head_start_model(c.language, jobs=ctx.jobs, progress=ctx.progress)
    except AlignError as error:  # a language espeak-ng cannot speak: the flat start still works
        return None, str(error)
    if time.perf_counter() - started > 1.0:
        ctx.add_timing("align_head_start_build", time.perf_counter() - started, 1)
    return model_dir, ""


def run_align(ctx: Context) -> StageOutput:
    from corpus.peoples_speech.align_stage import TimingTask, align_document, estimate_timing, training_items

    documents = {d.id: d for d in ctx.read("ingest", "documents")}
    normalized = ctx.read("normalize", "words")
    timing_tasks = [TimingTask(id=n.id, audio_path=documents[n.id].audio_path,
                               cues=tuple(tuple(documents[n.id].cues[i][:2]) for i in sorted(set(n.word_cue))))
                    for n in normalized]
    timings = {t.id: t for t in ctx.map_items(typed(estimate_timing, CaptionTiming), timing_tasks, result=CaptionTiming,
                                              key=lambda t: t.id, name="timing", unit="doc")}
    cue_docs = [{**asdict(documents[n.id]), "words": n.words, "word_cue": n.word_cue,
                 "offset_s": timings[n.id].offset_s, "drift": timings[n.id].drift, "fit": timings[n.id].fit,
                 "cue_confidence": timings[n.id].cue_confidence}
                for n in normalized]
    head, no_head = _head_start(ctx)
    # adapting the head start needs minutes of audio, not the corpus: a fixed budget keeps its cost flat
    cue_items = training_items(cue_docs, pad_s=ctx.config.train_pad_s, max_items=ctx.config.train_max_utterances,
                               seed=ctx.config.seed, max_seconds=ctx.config.adapt_max_s if head is not None else 0.0)
    aligner = typed(align_document, DocumentAlignment)
    model_dir = ctx.folder / "aligner"
    if head is not None:  # one short adaptation of the head start on the caption cues, one alignment pass
        _train(ctx, "aligner", cue_items, head_start=head)
        passes = 1
    else:  # flat start: pass 1 with the cue-trained aligner, pass 2 with one retrained on pass 1's utterances
        first = _train(ctx, "aligner-pass1", cue_items)
        pass1 = ctx.map_items(aligner, _align_tasks(ctx, normalized, documents, timings, first),
                              result=DocumentAlignment, key=lambda t: t.id, name="pass1", unit="doc")
        second = _pass2_items(ctx, pass1, documents)
        passes = 2 if len(second) >= 40 else 1
        if passes == 2:
            _train(ctx, "aligner", second)
        elif not (model_dir / "model.json").exists():  # too little of it (a tiny corpus): keep pass 1's model
            shutil.copytree(first, model_dir)
    results = ctx.map_items(aligner, _align_tasks(ctx, normalized, documents, timings, model_dir),
                            result=DocumentAlignment, key=lambda t: t.id, name="align", unit="doc",
                            check=lambda r: r.problems)
    kept, dropped_s = [], Counter()
    for r in results:
        if not r.ok:
            ctx.problem(r.id, r.reason, r.detail)
            dropped_s[r.reason] += documents[r.id].duration_s
            continue
        t = timings[r.id]
        kept.append(AlignedDocument(id=r.id, words=r.words, unaligned_words=r.unaligned_words,
                                    unaligned_audio=r.unaligned_audio, windows=r.windows, matched=r.matched,
                                    offset_s=t.offset_s, drift=t.drift, fit=t.fit))
    summary = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))["summary"]
    ctx.runner.timings["align_documents"] = {"seconds": round(sum(r.seconds for r in results), 3),
                                             "items": len(results)}
    report = {"timeouts": sum(r.timeout for r in results), "windows": sum(r.windows for r in results),
              "window_bound": sum(r.window_bound for r in results),
              "probes_stopped": sum(bool(r.probe) and r.reason == "transcript_mismatch" for r in results),
              "dropped_hours": {k: hours(v) for k, v in sorted(dropped_s.items())},
              "hours": hours(sum(documents[k.id].duration_s for k in kept)),
              "aligner_passes": passes, "aligner_init": "head_start" if head is not None else "flat",
              **({"no_head_start": no_head} if head is None else {}),
              "aligner": {k: summary.get(k) for k in ("trained_on", "utterances", "frames", "held_out", "init")}}
    return StageOutput(count_in=len(normalized), kept=len(kept), manifests={"alignments": kept}, report=report)


# ---------------------------------------------------------------------------------------------- segment
def _refine_adapt(value: dict) -> dict:
    return {"id": value["id"], "ok": True, "utterances": value["utterances"]}


def run_segment(ctx: Context) -> StageOutput:
    from corpus.peoples_speech.segment import RefineTask, refine_document, segment_document

    c = ctx.config
    documents = {d.id: d for d in ctx.read("ingest", "documents")}
    alignments = ctx.read("align", "alignments")
    candidates, counts = [], Counter()
    # windows: the long alignment's utterances with a wide margin (at most half the pause to a neighbour)
    for a in alignments:
        utterances, dropped = segment_document(a.id, a.words, a.unaligned_audio, documents[a.id].duration_s,
                                               _segment_params(c, pad_s=0.5))
        counts.update(dropped)
        candidates.extend(utterances)
    refined: dict[str, Any] = {}
    if c.refine:
        by_doc: dict[str, list[Utterance]] = {}
        for u in candidates:
            by_doc.setdefault(u.document, []).append(u)
        tasks = [RefineTask(id=d, audio_path=documents[d].audio_path, model_dir=str(ctx.work_dir / "align" / "aligner"),
                            utterances=tuple((u.id, u.audio_start_s, u.audio_end_s, u.text) for u in us), pad_s=c.pad_s)
                 for d, us in sorted(by_doc.items())]
        for result in ctx.map_items(typed(refine_document, RefineOutcome, _refine_adapt), tasks, result=RefineOutcome,
                                    key=lambda t: t.id, unit="doc"):
            refined.update({r["id"]: r for r in result.utterances})
    else:
        refined = {u.id: {"ok": True, "start_s": u.start_s, "end_s": u.end_s,
                          "audio_start_s": round(max(u.audio_start_s, u.start_s - c.pad_s), 4),
                          "audio_end_s": round(min(u.audio_end_s, u.end_s + c.pad_s), 4)} for u in candidates}
    rows = []
    for u in candidates:
        r = refined[u.id]
        if not r["ok"]:
            counts["refine_failed"] += 1
        elif r["end_s"] - r["start_s"] < c.min_utterance_s:
            counts["too_short"] += 1
        else:
            rows.append(replace(u, start_s=r["start_s"], end_s=r["end_s"], audio_start_s=r["audio_start_s"],
                                audio_end_s=r["audio_end_s"]))
    return StageOutput(count_in=len(alignments), kept=len(rows), manifests={"utterances": rows},
                       report={"candidates": len(candidates), "utterances_dropped": dict(sorted(counts.items())),
                               "hours": hours(sum(r.end_s - r.start_s for r in rows)),
                               "words": sum(r.words for r in rows)})
