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
flight and a rerun ends byte-identical to an uninterrupted run, on either engine. This module declares
the stages and runs them; their bodies are in `utterance_stages` (normalize, align, segment) and
`dataset_stages` (grade, dedup, split, write).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from corpus.peoples_speech.config import SUBSETS, BuildConfig
from corpus.peoples_speech.records import (AlignedDocument, Document, DocumentWords, Duplicate, GradedUtterance,
                                           IngestOutcome, Row, hours, typed)
from corpus.peoples_speech.dataset_stages import run_dedup, run_grade, run_split, run_write
from corpus.peoples_speech.segment import Utterance
from corpus.peoples_speech.utterance_stages import run_align, run_normalize, run_segment
from corpus.stages import Context, ItemStage, Manifest, StageOutput, StageRunner, WholeStage, builder_run

__all__ = ["build_peoples_speech", "peoples_speech_stages", "BuildError", "BuildStopped"]


class BuildError(RuntimeError):
    """The build cannot go on (bad arguments, no usable document, an engine that cannot start)."""


class BuildStopped(BuildError):
    """on_error='stop' and an item was bad."""


@dataclass(frozen=True)
class Source:
    items: Path
    language: str


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
                               "hours": hours(sum(d.duration_s for d in documents)),
                               "licenses": dict(Counter(d.license for d in documents))})


# ---------------------------------------------------------------------------------------------- the builder
_ALIGN_FIELDS = ("seed", "aligner_init", "head_start", "adapt_rounds", "adapt_epochs", "adapt_max_s",
                 "train_max_utterances", "train_pad_s", "train_mlp_rounds", "train_mlp_epochs", "train_gmm_mixtures",
                 "window_s", "commit_s",
                 "garbage_lp", "word_skip_lp", "probe_s", "min_word_confidence", "min_matched_share",
                 "timeout_s_per_audio_s", "max_utterance_s", "min_utterance_s", "max_gap_s", "pad_s", "min_word_score",
                 "max_word_s", "max_stretch", "typical_word_score")


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
                                           "min_word_score", "max_word_s", "max_stretch", "trim_unsure_edges",
                                           "edge_word_score", "typical_word_score", "bridge_unreliable_words",
                                           "lengthened_touch_s", "refine"),
                   outputs=(Manifest("utterances", Utterance),), run=run_segment),
        WholeStage(name="grade", fields=("language", "recognizer", "grammar_context_words", "grammar_lm_weight",
                                          "grammar_bigram_bonus", "document_max_median_cer", "min_kept_word_share",
                                          "clean_max_cer", "noisy_max_cer"),
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
    with builder_run(runner, progress=progress, failed=BuildError, stopped=BuildStopped):
        if runner.run(to_stage="ingest")["stages"]["ingest"]["kept"] == 0:
            raise BuildError(f"{items}: no usable document (report.json lists each item and why)")
        runner.run()
    return Path(out)
