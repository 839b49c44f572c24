"""The People's Speech builder declared on `corpus.stages`: eight stages, typed manifests, resume, report.

    OUT/  audio/ <subset>/ shards/ credits.csv     the dataset (see `corpus.peoples_speech.write`)
          report.json  build_config.json  dedup.json  cer_histogram.png  utterance_lengths.png
          caption_offsets.png
          .work/<stage>/                             manifests (`records`), checkpoints, markers, aligners

Stages: ingest -> normalize -> align -> segment -> grade -> dedup -> split -> write. The runner
fingerprints each stage (its config fields, the item folders' listing for ingest, the previous stage),
skips finished stages and resumes unfinished ones from their checkpoint logs: per-document work
(ingest, caption timing, both alignment passes, refinement, grading, FLAC writing) runs on the engine
(local pool or Spark) and is logged as results arrive, so a killed build loses at most the documents in
flight and a rerun ends byte-identical to an uninterrupted run, on either engine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from corpus.configs import json_text
from corpus.fsutil import atomic_write_text
from corpus.peoples_speech.config import SUBSETS, BuildConfig, subset_name
from corpus.peoples_speech.records import (AlignedDocument, CaptionTiming, Document, DocumentAlignment, DocumentWords,
                                           Duplicate, FlacOutcome, Grade, GradedUtterance, GradeOutcome,
                                           IngestOutcome, RefineOutcome, Row, typed)
from corpus.peoples_speech.segment import Utterance
from corpus.stages import (Context, ItemStage, Manifest, StageError, StageOutput, StageRunner, StageStopped,
                           WholeStage, summary_table)

__all__ = ["build_peoples_speech", "peoples_speech_stages", "BuildError", "BuildStopped"]


class BuildError(RuntimeError):
    """The build cannot go on (bad arguments, no usable document, an engine that cannot start)."""


class BuildStopped(BuildError):
    """on_error='stop' and an item was bad."""


@dataclass(frozen=True)
class Source:
    items: Path
    language: str


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 4)


def _listing(ctx: Context) -> list:
    """Names and sizes of every file in the item folders: what invalidates ingest besides its config."""
    rows = []
    root = ctx.source.items
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        rows += [[folder.name, p.name, p.stat().st_size] for p in sorted(folder.iterdir()) if p.is_file()]
    return {"items": str(root.resolve()), "files": rows}


# ---------------------------------------------------------------------------------------------- ingest
def _ingest_adapt(value: dict) -> dict:
    return {"id": value["item"], "ok": True, "documents": value["documents"], "item_problems": value["problems"]}


def _plan_ingest(ctx: Context) -> list:
    from corpus.peoples_speech.ingest import IngestTask

    folders = sorted(p for p in ctx.source.items.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [IngestTask(item_dir=str(f), language=ctx.config.language,
                       min_words_per_audio_min=ctx.config.min_words_per_audio_min, min_audio_s=ctx.config.min_audio_s)
            for f in folders]


def _collect_ingest(ctx: Context, tasks: list, results: list[IngestOutcome]) -> StageOutput:
    documents = sorted((d for r in results for d in r.documents), key=lambda d: d.id)
    return StageOutput(count_in=len(tasks), kept=len(documents), manifests={"documents": documents},
                       report={"items_kept": len({d.item for d in documents}),
                               "hours": _hours(sum(d.duration_s for d in documents)),
                               "licenses": dict(Counter(d.license for d in documents))})


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
                         max_stretch=config.max_stretch)


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


def _train(ctx: Context, name: str, items: list) -> Path:
    from corpus.align import train_aligner
    from corpus.align.types import AlignerConfig

    model_dir = ctx.folder / name
    if (model_dir / "model.json").exists():  # trained before a kill: resume after it
        return model_dir
    c = ctx.config
    config = AlignerConfig(gmm_mixtures=c.train_gmm_mixtures, mlp_rounds=c.train_mlp_rounds,
                           mlp_epochs=c.train_mlp_epochs, max_train_utterances=c.train_max_utterances, seed=c.seed)
    tmp = ctx.folder / f"{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    try:
        train_aligner(items, language=c.language, out_dir=tmp, config=config, jobs=ctx.jobs, progress=ctx.progress)
    except Exception as error:  # noqa: BLE001 - no aligner, no build
        raise StageError(f"training the aligner ({name}) on {len(items)} utterances failed: {error}") from None
    os.replace(tmp, model_dir)
    ctx.add_timing(f"align_training_{name}", time.perf_counter() - started, len(items))
    return model_dir


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
                 "offset_s": timings[n.id].offset_s, "drift": timings[n.id].drift, "fit": timings[n.id].fit}
                for n in normalized]
    first = _train(ctx, "aligner-pass1", training_items(cue_docs, pad_s=ctx.config.train_pad_s,
                                                         max_items=ctx.config.train_max_utterances,
                                                         seed=ctx.config.seed))
    aligner = typed(align_document, DocumentAlignment)
    pass1 = ctx.map_items(aligner, _align_tasks(ctx, normalized, documents, timings, first), result=DocumentAlignment,
                          key=lambda t: t.id, name="pass1", unit="doc")
    second = _pass2_items(ctx, pass1, documents)
    model_dir = ctx.folder / "aligner"
    if len(second) >= 40:  # pass 2 retrains on what pass 1 aligned reliably
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
              "dropped_hours": {k: _hours(v) for k, v in sorted(dropped_s.items())},
              "hours": _hours(sum(documents[k.id].duration_s for k in kept)),
              "aligner_passes": 2 if len(second) >= 40 else 1,
              "aligner": {k: summary.get(k) for k in ("trained_on", "utterances", "frames", "held_out")}}
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
                               "hours": _hours(sum(r.end_s - r.start_s for r in rows)),
                               "words": sum(r.words for r in rows)})


# ---------------------------------------------------------------------------------------------- grade
def run_grade(ctx: Context) -> StageOutput:
    from corpus.peoples_speech.grade import GradeTask, grade_document

    c = ctx.config
    documents = {d.id: d for d in ctx.read("ingest", "documents")}
    words = {n.id: n.words for n in ctx.read("normalize", "words")}
    utterances = ctx.read("segment", "utterances")
    by_doc: dict[str, list[Utterance]] = {}
    for u in utterances:
        by_doc.setdefault(u.document, []).append(u)
    tasks = [GradeTask(id=d, audio_path=documents[d].audio_path, document_words=words[d],
                       utterances=tuple((u.id, u.audio_start_s, u.audio_end_s, u.text) for u in us),
                       recognizer=c.recognizer, model_dir=str(ctx.work_dir / "align" / "aligner"),
                       clean_max_cer=c.clean_max_cer, noisy_max_cer=c.noisy_max_cer, language=c.language)
             for d, us in sorted(by_doc.items())]
    grades: dict[str, Grade] = {}
    for result in ctx.map_items(typed(grade_document, GradeOutcome), tasks, result=GradeOutcome, key=lambda t: t.id,
                                unit="doc", check=lambda r: r.problems):
        if not result.ok:
            ctx.problem(result.id, result.reason, result.detail)
        grades.update({g.id: g for g in result.grades})
    rows = [GradedUtterance(**asdict(u), hypothesis=grades[u.id].hypothesis, cer=grades[u.id].cer,
                            tier=grades[u.id].tier) for u in utterances if u.id in grades]
    tiers, tier_s = Counter(r.tier for r in rows), Counter()
    for r in rows:
        tier_s[r.tier] += r.end_s - r.start_s
    return StageOutput(count_in=len(utterances), kept=sum(r.tier != "dropped" for r in rows),
                       manifests={"graded": rows},
                       report={"tiers": dict(tiers), "tier_hours": {k: _hours(v) for k, v in tier_s.items()},
                               "recognizer": c.recognizer})


# ---------------------------------------------------------------------------------------------- dedup
def run_dedup(ctx: Context) -> StageOutput:
    from corpus.peoples_speech.dedup import duplicate_groups, lsh_pairs, minhash, shingles
    from corpus.peoples_speech.split import split_of

    c = ctx.config
    documents = {d.id: d for d in ctx.read("ingest", "documents")}
    words = {n.id: n.words for n in ctx.read("normalize", "words")}
    aligned_s = Counter()
    for r in ctx.read("grade", "graded"):
        if r.tier != "dropped":
            aligned_s[r.document] += r.end_s - r.start_s
    candidates = sorted(aligned_s)
    signatures = {d: minhash(shingles(words[d], c.shingle_words), c.minhash_permutations, c.seed) for d in candidates}
    pairs = lsh_pairs(signatures, c.lsh_bands, c.dedup_threshold)
    meta = {d: {"id": d, "license": documents[d].license, "aligned_s": round(aligned_s[d], 3)} for d in candidates}
    groups = duplicate_groups(pairs, meta)
    dropped, cross = [], []
    for group in groups:
        for other in group[1:]:
            dropped.append(Duplicate(id=other, duplicate_of=group[0]))
            ctx.problem(other, "duplicate", f"near-duplicate of {group[0]}")
        licenses = {documents[d].license for d in group}
        splits = {split_of(documents[d].item, c.seed, c.shares) for d in group}
        if len(licenses) > 1 or len(splits) > 1:
            cross.append({"group": group, "licenses": sorted(licenses), "splits": sorted(splits)})
    atomic_write_text(ctx.out_dir / "dedup.json", json_text({"pairs": pairs, "groups": groups, "cross_license_or_split":
                                                             cross, "dropped": {d.id: d.duplicate_of for d in dropped}}))
    return StageOutput(count_in=len(candidates), kept=len(candidates) - len(dropped),
                       manifests={"dropped": sorted(dropped, key=lambda d: d.id)},
                       report={"pairs": len(pairs), "groups": len(groups), "cross_license_or_split": len(cross),
                               "dropped_hours": _hours(sum(aligned_s[d.id] for d in dropped))})


# ---------------------------------------------------------------------------------------------- split
def run_split(ctx: Context) -> StageOutput:
    from corpus.peoples_speech.split import split_of

    c = ctx.config
    documents = {d.id: d for d in ctx.read("ingest", "documents")}
    dropped = {d.id for d in ctx.read("dedup", "dropped")}
    graded = ctx.read("grade", "graded")
    rows = []
    for r in graded:
        if r.tier == "dropped" or r.document in dropped:
            continue
        doc = documents[r.document]
        split = split_of(doc.item, c.seed, c.shares)
        rows.append(Row(**asdict(r), item=doc.item, license=doc.license, license_url=doc.license_url, split=split,
                        subset=subset_name(r.tier, doc.license),
                        audio_filepath=f"audio/{split}/{doc.item}/{r.id}.flac"))
    return StageOutput(count_in=len(graded), kept=len(rows), manifests={"rows": rows},
                       report={"splits": dict(Counter(r.split for r in rows)),
                               "documents": {s: len({r.document for r in rows if r.split == s})
                                             for s in ("train", "dev", "test")}})


# ---------------------------------------------------------------------------------------------- write
def _flac_adapt(value: dict) -> dict:
    return {"id": value["id"], "ok": value["ok"], "reason": "" if value["ok"] else "write_error",
            "detail": value["detail"], "files": value["files"]}


def run_write(ctx: Context) -> StageOutput:
    from corpus.peoples_speech import plots
    from corpus.peoples_speech.write import (FlacTask, write_credits, write_flacs, write_lhotse, write_nemo,
                                             write_parquet, write_shards)

    c = ctx.config
    out = ctx.out_dir
    documents = {d.id: d for d in ctx.read("ingest", "documents")}
    rows = ctx.read("split", "rows")
    by_doc: dict[str, list[Row]] = {}
    for r in rows:
        by_doc.setdefault(r.document, []).append(r)
    tasks = [FlacTask(id=d, audio_path=documents[d].audio_path, out_root=str(out.resolve()),
                      utterances=tuple((r.id, r.audio_start_s, r.audio_end_s, r.audio_filepath) for r in rs))
             for d, rs in sorted(by_doc.items())]
    samples: dict[str, int] = {}
    for result in ctx.map_items(typed(write_flacs, FlacOutcome, _flac_adapt), tasks, result=FlacOutcome,
                                key=lambda t: t.id, unit="doc", check=lambda r: r.problems):
        if not result.ok:
            ctx.problem(result.id, result.reason, result.detail)
        samples.update(result.files)
    records = [{**asdict(r), "num_samples": samples[r.id], "duration_s": round(samples[r.id] / 16000, 4)}
               for r in rows if r.id in samples]
    subsets: dict[str, dict] = {}
    for subset in SUBSETS:
        for split in ("train", "dev", "test"):
            chosen = sorted((r for r in records if r["subset"] == subset and r["split"] == split), key=lambda r: r["id"])
            if not chosen:
                continue
            folder = out / subset / split
            write_nemo(folder / "nemo_manifest.jsonl", chosen)
            write_lhotse(folder, chosen, c.language)
            write_parquet(folder / "data.parquet", chosen, out)
            if c.shard_bytes > 0:
                write_shards(out / "shards" / subset, split, chosen, out, c.shard_bytes)
            subsets.setdefault(subset, {})[split] = {"utterances": len(chosen),
                                                     "hours": _hours(sum(r["duration_s"] for r in chosen))}
    credited = sorted({r["document"] for r in records})
    write_credits(out / "credits.csv", [asdict(documents[d]) for d in credited])
    graded = ctx.read("grade", "graded")
    plots.plot_cer([g.cer for g in graded], c.clean_max_cer, c.noisy_max_cer, out / "cer_histogram.png")
    plots.plot_lengths([r["end_s"] - r["start_s"] for r in records], out / "utterance_lengths.png")
    _plot_offsets(ctx, documents)
    return StageOutput(count_in=len(rows), kept=len(records),
                       report={"subsets": subsets, "hours": _hours(sum(r["duration_s"] for r in records)),
                               "items_credited": len({r["item"] for r in records})})


def _plot_offsets(ctx: Context, documents: dict[str, Document]) -> None:
    from corpus.manifest import read_jsonl
    from corpus.peoples_speech import plots

    words = {n.id: n for n in ctx.read("normalize", "words")}
    alignments = {a.id: a for a in ctx.read("align", "alignments")}
    offsets = []
    for a in alignments.values():
        first_of_cue: dict[int, float] = {}
        for index, _, start, _, _ in a.words:
            first_of_cue.setdefault(words[a.id].word_cue[index], start)
        offsets += [documents[a.id].cues[cue][0] - start for cue, start in first_of_cue.items()]
    truth = []
    truth_file = ctx.source.items / "synthetic_truth.jsonl.gz"
    if truth_file.exists():
        truth = [(r["captions"]["offset_s"], alignments[r["identifier"]].offset_s) for r in read_jsonl(truth_file)
                 if r["identifier"] in alignments]
    plots.plot_caption_offsets(offsets, ctx.out_dir / "caption_offsets.png", truth=truth)


# ---------------------------------------------------------------------------------------------- the builder
_ALIGN_FIELDS = ("seed", "train_max_utterances", "train_pad_s", "train_mlp_rounds", "train_mlp_epochs",
                 "train_gmm_mixtures", "window_s", "commit_s", "garbage_lp", "word_skip_lp", "probe_s",
                 "min_word_confidence", "min_matched_share", "timeout_s_per_audio_s", "max_utterance_s",
                 "min_utterance_s", "max_gap_s", "pad_s", "min_word_score", "max_word_s", "max_stretch")


def peoples_speech_stages() -> tuple:
    from corpus.peoples_speech.ingest import IngestTask, ingest_item

    return (
        ItemStage(name="ingest", fields=("language", "min_words_per_audio_min", "min_audio_s"), inputs=_listing,
                  outputs=(Manifest("documents", Document),), task=IngestTask, result=IngestOutcome,
                  func=typed(ingest_item, IngestOutcome, _ingest_adapt), plan=_plan_ingest, collect=_collect_ingest,
                  key=lambda t: Path(t.item_dir).name, unit="item"),
        WholeStage(name="normalize", fields=("language",), outputs=(Manifest("words", DocumentWords),),
                   run=run_normalize),
        WholeStage(name="align", fields=_ALIGN_FIELDS, outputs=(Manifest("alignments", AlignedDocument),),
                   run=run_align),
        WholeStage(name="segment", fields=("max_utterance_s", "min_utterance_s", "max_gap_s", "pad_s",
                                           "min_word_score", "max_word_s", "max_stretch", "refine"),
                   outputs=(Manifest("utterances", Utterance),), run=run_segment),
        WholeStage(name="grade", fields=("language", "recognizer", "clean_max_cer", "noisy_max_cer"),
                   outputs=(Manifest("graded", GradedUtterance),), run=run_grade),
        WholeStage(name="dedup", fields=("seed", "shares", "shingle_words", "minhash_permutations", "lsh_bands",
                                         "dedup_threshold"), outputs=(Manifest("dropped", Duplicate),),
                   clears=("dedup.json",), run=run_dedup),
        WholeStage(name="split", fields=("seed", "shares"), outputs=(Manifest("rows", Row),), run=run_split),
        WholeStage(name="write", fields=("shard_bytes",), run=run_write,
                   clears=("audio", "shards", *SUBSETS, "credits.csv", "cer_histogram.png", "utterance_lengths.png",
                           "caption_offsets.png")),
    )


def build_peoples_speech(items: str | os.PathLike[str], out: str | os.PathLike[str],
                         config: BuildConfig = BuildConfig(), *, engine: str = "local", spark_master: str = "local[2]",
                         spark_conf: dict | None = None, jobs: int | None = None, progress: bool = True) -> Path:
    """Build (or resume) the dataset from Internet Archive item folders under `items`; returns `out`."""
    if engine not in ("local", "spark"):
        raise BuildError(f"engine must be local or spark, got {engine!r}")
    if not Path(items).is_dir():
        raise BuildError(f"--items {items}: no such folder")
    runner = StageRunner(peoples_speech_stages(), out_dir=Path(out), config=config,
                         source=Source(Path(items), config.language), engine=engine, jobs=jobs,
                         spark_master=spark_master, spark_conf=spark_conf, on_error=config.on_error, progress=progress,
                         label=config.language, header={"language": config.language},
                         summary=lambda s: {"timeouts": s.get("align", {}).get("timeouts", 0),
                                            "subsets": s.get("write", {}).get("subsets", {})},
                         fingerprint_extra={"builder": "peoples_speech/1"}, config_file="build_config.json")
    try:
        if runner.run(to_stage="ingest")["stages"]["ingest"]["kept"] == 0:
            raise BuildError(f"{items}: no usable document (report.json lists each item and why)")
        runner.run()
    except StageStopped as error:
        raise BuildStopped(str(error)) from None
    except StageError as error:
        raise BuildError(str(error)) from None
    finally:
        runner.close()
        if progress:
            print(summary_table(runner.report(), runner.timings), file=sys.stdout, flush=True)
    return Path(out)
