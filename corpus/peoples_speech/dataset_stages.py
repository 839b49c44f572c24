"""The People's Speech builder's stages from utterances to the dataset (corpus.peoples_speech.pipeline
declares them): grade by CER, drop near-duplicates, split by document, and write the subsets and plots."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

import numpy as np

from corpus.configs import json_text
from corpus.fsutil import atomic_write_text
from corpus.peoples_speech.config import SUBSETS, subset_name
from corpus.peoples_speech.records import (Document, Duplicate, FlacOutcome, Grade, GradedUtterance, GradeOutcome, Row,
                                           hours, typed)
from corpus.peoples_speech.segment import Utterance
from corpus.stages import Context, StageOutput

__all__ = ["run_grade", "run_dedup", "run_split", "run_write"]


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
                       clean_max_cer=c.clean_max_cer, noisy_max_cer=c.noisy_max_cer, language=c.language,
                       context_words=c.grammar_context_words, lm_weight=c.grammar_lm_weight,
                       bigram_bonus=c.grammar_bigram_bonus,
                       word_spans=tuple((u.first_word, u.last_word) for u in us))
             for d, us in sorted(by_doc.items())]
    grades: dict[str, Grade] = {}
    for result in ctx.map_items(typed(grade_document, GradeOutcome), tasks, result=GradeOutcome, key=lambda t: t.id,
                                unit="doc", check=lambda r: r.problems):
        if not result.ok:
            ctx.problem(result.id, result.reason, result.detail)
        grades.update({g.id: g for g in result.grades})
    mismatched = _mismatched_documents(utterances, grades, c.document_max_median_cer)
    for doc, median in sorted(mismatched.items()):
        ctx.problem(doc, "transcript_mismatch", f"median utterance CER {median:.2f} >= "
                    f"{c.document_max_median_cer:.2f}: its few passing utterances are chance matches")
    placed = {a.id: len(a.words) for a in ctx.read("align", "alignments")}
    for doc, share in sorted(_thin_documents(utterances, grades, placed, c.min_kept_word_share).items()):
        if doc not in mismatched:
            mismatched[doc] = share
            ctx.problem(doc, "transcript_mismatch", f"utterances that pass the grader hold {share:.1%} of the "
                        f"words the aligner placed (< {c.min_kept_word_share:.0%}): chance matches of a wrong text")
    rows = [GradedUtterance(**asdict(u), hypothesis=grades[u.id].hypothesis, cer=grades[u.id].cer,
                            tier="dropped" if u.document in mismatched else grades[u.id].tier)
            for u in utterances if u.id in grades]
    tiers, tier_s = Counter(r.tier for r in rows), Counter()
    for r in rows:
        tier_s[r.tier] += r.end_s - r.start_s
    return StageOutput(count_in=len(utterances), kept=sum(r.tier != "dropped" for r in rows),
                       manifests={"graded": rows},
                       report={"tiers": dict(tiers), "tier_hours": {k: hours(v) for k, v in tier_s.items()},
                               "recognizer": c.recognizer, "documents_mismatched": len(mismatched)})


def _thin_documents(utterances: list[Utterance], grades: dict[str, Grade], placed: dict[str, int],
                    min_share: float) -> dict[str, float]:
    """{document: share} of the documents where the utterances that pass the grader hold under `min_share` of
    the words the aligner placed. A transcript in another language or of another item still gets words
    placed (by chance, 20-35 % of them confidently) and two or three short utterances of it may pass (a
    strong local grammar over few frames decodes its own text), but they hold a few percent of the placed
    words; a correct document keeps most of them, even in real voices the aligner matches poorly."""
    if min_share <= 0:
        return {}
    kept: dict[str, int] = {}
    for u in utterances:
        if u.id in grades:
            kept[u.document] = kept.get(u.document, 0) + (u.words if grades[u.id].tier != "dropped" else 0)
    return {d: round(n / max(1, placed.get(d, 0)), 4) for d, n in kept.items() if n < min_share * placed.get(d, 0)}


def _mismatched_documents(utterances: list[Utterance], grades: dict[str, Grade], max_median_cer: float
                          ) -> dict[str, float]:
    """{document: median CER} of the documents whose typical utterance fails the grader. The aligner's
    confidence cannot tell a transcript of another item (same language, much the same words) from a
    correct one read by voices unlike the model's (both match 20-35 % of the words), but the grader can:
    wrong text fails nearly every utterance (median CER 0.6-0.9), real voices with their own text mostly
    pass (median 0.2-0.3), and the odd utterance of wrong text that passes is a chance match."""
    if max_median_cer <= 0:
        return {}
    by_doc: dict[str, list[float]] = {}
    for u in utterances:
        if u.id in grades:
            by_doc.setdefault(u.document, []).append(grades[u.id].cer)
    medians = {d: float(np.median(v)) for d, v in by_doc.items()}
    return {d: round(m, 4) for d, m in medians.items() if m >= max_median_cer}


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
    meta = {d: {"id": d, "license": documents[d].license, "duration_s": documents[d].duration_s,
                "aligned_s": round(aligned_s[d], 3)} for d in candidates}
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
                               "dropped_hours": hours(sum(aligned_s[d.id] for d in dropped))})


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
                                                     "hours": hours(sum(r["duration_s"] for r in chosen))}
    credited = sorted({r["document"] for r in records})
    write_credits(out / "credits.csv", [asdict(documents[d]) for d in credited])
    graded = ctx.read("grade", "graded")
    plots.plot_cer([g.cer for g in graded], c.clean_max_cer, c.noisy_max_cer, out / "cer_histogram.png")
    plots.plot_lengths([r["end_s"] - r["start_s"] for r in records], out / "utterance_lengths.png")
    _plot_offsets(ctx, documents)
    return StageOutput(count_in=len(rows), kept=len(records),
                       report={"subsets": subsets, "hours": hours(sum(r["duration_s"] for r in records)),
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
