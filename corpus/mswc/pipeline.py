"""The MSWC builder: its seven stages, declared to the generic stage runner (`corpus.stages`).

    <out>/<lang>/                          the release, in MSWC's layout
        clips/<folder>/common_voice_<lang>_<id>[__N].opus
        wav/<folder>/...wav                (with write_wav)
        <lang>_splits.csv  <lang>_{train,dev,test}.csv  metadata.json
        <lang>_scores.csv                  outlier scores (LINK,WORD,SCORE)
        alphabet.json                      the derived alphabet and what it excluded
        keyword_frequency.png  report.json  build_config.json
        .work/<stage>/                     typed manifests, checkpoints, done markers (not part of the release)

Stages (`corpus.mswc.config.STAGES`), each a typed manifest in and out (JSONL.gz under `.work/`):

    ingest     TSV rows -> probe_clip per clip -> Recording, Supervision
    normalize  Supervision -> normalized Supervision, Alphabet                     (driver)
    align      Supervision -> aligner training (driver), align_sentence -> Alignment
    extract    Alignment -> extract_recording per sentence (writes clips/) -> ClipRecord, KeywordFolder
    score      ClipRecord -> embed_clip per clip, k-means per keyword -> ClipScore
    split      ClipRecord, KeywordFolder, ClipScore, Alphabet -> the release's tables  (driver)
    validate   the release on disk -> its problems (check_clip per clip)

Only extract (the clips) and split (the tables) write into the release, and nothing reads a release
file back before validate. The runner gives resume, fingerprints (`STAGE_FIELDS`), `on_error` and the
report. Every output is a pure function of the inputs and the config (items sorted, randomness from
hashes of ids and the seed, Ogg serials fixed), so a run killed at any point and restarted ends
byte-identical to an uninterrupted one, on either engine. Validation problems raise
`ValidationFailed` after the report is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from corpus.fsutil import sha256_file
from corpus.manifest import Alignment, Recording, Supervision, read_jsonl
from corpus.mswc.align_stage import AlignerTask, AlignOutcome, align_sentence, collect_align, plan_align
from corpus.mswc.config import STAGE_FIELDS, BuildConfig
from corpus.mswc.errors import BuildError, BuildStopped, ValidationFailed
from corpus.mswc.extract import (ClipRecord, Extracted, ExtractTask, KeywordFolder, collect_extract,
                                 extract_recording, plan_extract)
from corpus.mswc.ingest import Probe, ProbeTask, collect_ingest, ingest_problems, plan_ingest, probe_clip
from corpus.mswc.normalize import Alphabet, run_normalize
from corpus.mswc.score import ClipScore, EmbedTask, Embedded, collect_score, embed_clip, plan_score
from corpus.mswc.split import run_split
from corpus.mswc.validate import run_validate
from corpus.stages import Context, ItemStage, Manifest, StageRunner, WholeStage, builder_run, summary_table

__all__ = ["build_mswc", "mswc_stages", "BuildError", "BuildStopped", "ValidationFailed", "read_report",
           "read_clip_records", "summary_table"]


@dataclass
class MswcSource:
    """What the stages read besides the config: the Common Voice folder (found on first use) and language."""

    cv_arg: Path
    language: str
    _cv_dir: Path | None = field(default=None, repr=False)

    @property
    def cv_dir(self) -> Path:
        if self._cv_dir is None:
            from corpus.formats.common_voice import find_cv_language_dir

            try:
                self._cv_dir = find_cv_language_dir(self.cv_arg, self.language).resolve()
            except (FileNotFoundError, ValueError) as error:
                raise BuildError(str(error)) from None
        return self._cv_dir


def _tsv_hash(ctx: Context) -> dict:
    tsv = ctx.source.cv_dir / f"{ctx.config.tsv}.tsv"
    return {"tsv_sha256": sha256_file(tsv) if tsv.exists() else None}


def mswc_stages() -> tuple:
    """The builder, as declarations: per-item functions run on the engine, the rest on the driver."""
    return (
        ItemStage(name="ingest", fields=STAGE_FIELDS["ingest"], inputs=_tsv_hash, task=ProbeTask, result=Probe,
                  outputs=(Manifest("recordings", Recording), Manifest("supervisions", Supervision)),
                  plan=plan_ingest, func=probe_clip, problems=ingest_problems, collect=collect_ingest,
                  unit="clip", checkpoint="probe"),
        WholeStage(name="normalize", fields=STAGE_FIELDS["normalize"], run=run_normalize,
                   outputs=(Manifest("supervisions", Supervision), Manifest("alphabet", Alphabet, key="language"))),
        ItemStage(name="align", fields=STAGE_FIELDS["align"], task=AlignerTask, result=AlignOutcome,
                  outputs=(Manifest("alignments", Alignment),), plan=plan_align, func=align_sentence,
                  collect=collect_align, unit="sentence", caches=(".work/aligner-models",)),
        ItemStage(name="extract", fields=STAGE_FIELDS["extract"], task=ExtractTask, result=Extracted,
                  outputs=(Manifest("clips", ClipRecord, key="link"), Manifest("keywords", KeywordFolder, key="word")),
                  plan=plan_extract, func=extract_recording, collect=collect_extract,
                  unit="clip", weight=lambda task: len(task.occurrences), clears=("clips", "wav")),
        ItemStage(name="score", fields=STAGE_FIELDS["score"], task=EmbedTask, result=Embedded,
                  outputs=(Manifest("scores", ClipScore, key="link"),), plan=plan_score, func=embed_clip,
                  key=lambda task: task.link, collect=collect_score, unit="clip",
                  checkpoint="embed"),
        WholeStage(name="split", fields=STAGE_FIELDS["split"], run=run_split),
        WholeStage(name="validate", fields=STAGE_FIELDS["validate"], run=run_validate, stop_on_error=False,
                   done_when=lambda section: section.get("valid", False)),
    )


def read_report(lang_dir: str | os.PathLike[str]) -> dict:
    import json

    return json.loads((Path(lang_dir) / "report.json").read_text(encoding="utf-8"))


def read_clip_records(lang_dir: str | os.PathLike[str]) -> list[dict]:
    """The extraction records: per clip its link, word, recording, speaker, gender, and the recording span
    that went into the clip (`span_s`) and the aligned word (`word_s`), in seconds."""
    return list(read_jsonl(Path(lang_dir) / ".work" / "extract" / "clips.jsonl.gz"))


def build_mswc(cv_dir: str | os.PathLike[str], language: str, out: str | os.PathLike[str],
               config: BuildConfig = BuildConfig(), *, engine: str = "local", spark_master: str = "local[2]",
               spark_conf: Mapping[str, str] | None = None, jobs: int | None = None, from_stage: str | None = None,
               to_stage: str | None = None, progress: bool = True) -> Path:
    """Build (or resume building) the MSWC-layout release of `language` from a Common Voice folder.

    `cv_dir`: a Common Voice language folder (holding validated.tsv), a `cv-corpus-*` folder, or their
    parent. Returns `<out>/<language>`. Raises BuildError (and subclasses) on what cannot be built.
    """
    if engine not in ("local", "spark"):
        raise BuildError(f"engine must be local or spark, got {engine!r}")
    lang_dir = Path(out) / language
    runner = StageRunner(mswc_stages(), out_dir=lang_dir, config=config, source=MswcSource(Path(cv_dir), language),
                         engine=engine, jobs=jobs, spark_master=spark_master, spark_conf=spark_conf,
                         on_error=config.on_error, progress=progress, label=language, header={"language": language},
                         summary=lambda sections: {"valid": sections["validate"].get("valid", False)}
                         if "validate" in sections else {},
                         fingerprint_extra={"language": language}, config_file="build_config.json")
    with builder_run(runner, progress=progress, failed=BuildError, stopped=BuildStopped):
        runner.run(from_stage, to_stage)
    validation = runner.sections.get("validate")
    if validation is not None and not validation.get("valid", False):
        raise ValidationFailed(f"{lang_dir}: the release failed validation ({len(validation['problems'])} "
                               "problem(s), see report.json)", validation["problems"])
    return lang_dir
