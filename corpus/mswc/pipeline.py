"""The MSWC builder: stages, resume, report.

    <out>/<lang>/                          the release, in MSWC's layout
        clips/<folder>/common_voice_<lang>_<id>[__N].opus
        wav/<folder>/...wav                (with write_wav)
        <lang>_splits.csv  <lang>_{train,dev,test}.csv  metadata.json
        <lang>_scores.csv                  outlier scores (LINK,WORD,SCORE)
        alphabet.json                      the derived alphabet and what it excluded
        keyword_frequency.png  report.json  build_config.json
        .work/<stage>/                     manifests, checkpoints, done markers (not part of the release)

Stages (`corpus.mswc.config.STAGES`): ingest -> normalize -> align -> extract -> score -> split ->
validate. Each reads the previous stage's manifest (JSONL.gz, validated, written atomically) and writes
its own, then a done marker holding its fingerprint (hash of the config fields it reads, its input and
the previous stage's fingerprint) and its section of the report. A rerun skips stages whose marker
matches; inside a stage, per-item work is logged to a `CheckpointLog` as results arrive, so a killed
run loses at most the items in flight. Every output is a pure function of the inputs and the config
(items sorted, randomness from hashes of ids and the seed, Ogg serials fixed), so a run killed at any
point and restarted ends byte-identical to an uninterrupted one, on either engine.

Bad input is reported per item (id, reason, detail) in `report.json` and skipped; with
`on_error="stop"` the first one raises `BuildStopped` instead. Validation problems raise
`ValidationFailed` after the report is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from corpus.fsutil import atomic_write_text, sha256_file
from corpus.manifest import (Alignment, CheckpointLog, Recording, Supervision, read_jsonl, read_manifest,
                             validate_supervisions, write_jsonl, write_manifest)
from corpus.configs import content_hash
from corpus.mswc.config import STAGE_FIELDS, STAGES, BuildConfig, config_to_json

__all__ = ["build_mswc", "BuildError", "BuildStopped", "ValidationFailed", "read_report", "read_clip_records",
           "summary_table"]

log = logging.getLogger("corpus.mswc")


class BuildError(RuntimeError):
    """The build cannot go on (bad arguments, a missing earlier stage, an engine that cannot start)."""


class BuildStopped(BuildError):
    """on_error='stop' and an item was bad."""


class ValidationFailed(BuildError):
    """The written release failed validation; `problems` lists why (also in report.json)."""

    def __init__(self, message: str, problems: list[dict]) -> None:
        super().__init__(message)
        self.problems = problems


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False))


def _canonical(value: Any) -> Any:
    """JSON data with every object's keys sorted, so a section reads the same fresh or from a marker."""
    value = _jsonable(value)

    def sort(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: sort(item[k]) for k in sorted(item)}
        if isinstance(item, list):
            return [sort(v) for v in item]
        return item

    return sort(value)


class _Section:
    """One stage's part of the report: items in, kept, dropped by reason, and the problems."""

    def __init__(self, stage: str, on_error: str) -> None:
        self.stage = stage
        self.on_error = on_error
        self.data: dict[str, Any] = {"in": 0, "kept": 0, "dropped": {}}
        self.problems: list[dict] = []

    def problem(self, item: str, reason: str, detail: str = "") -> None:
        self.problems.append({"item": item, "reason": reason, "detail": detail})
        if self.on_error == "stop":
            raise BuildStopped(f"{self.stage}: {item}: {reason}: {detail} (on_error=stop; use --on-error skip "
                               "to report and skip bad items)")

    def finish(self, count_in: int, kept: int, **extra: Any) -> dict:
        dropped = Counter(p["reason"] for p in self.problems)
        self.data.update({"in": count_in, "kept": kept, "dropped": dict(sorted(dropped.items()))}, **extra)
        self.data["problems"] = sorted(self.problems, key=lambda p: (p["item"], p["reason"], p["detail"]))
        return _canonical(self.data)


class _Build:
    def __init__(self, cv_dir: Path, language: str, out: Path, config: BuildConfig, *, engine: str,
                 spark_master: str, jobs: int | None, progress: bool) -> None:
        self.cv_arg = cv_dir
        self.language = language
        self.lang_dir = out / language
        self.work = self.lang_dir / ".work"
        self.config = config
        self.engine_name = engine
        self.spark_master = spark_master
        self.jobs = jobs
        self.progress = progress
        self._engine = None
        self._cv_dir: Path | None = None
        self.sections: dict[str, dict] = {}
        self.timings: dict[str, dict] = {}

    # ------------------------------------------------------------------ plumbing
    @property
    def engine(self):
        if self._engine is None:
            from corpus.engines import EngineError, make_engine

            try:
                self._engine = make_engine(self.engine_name, jobs=self.jobs, spark_master=self.spark_master)
            except EngineError as error:
                raise BuildError(str(error)) from None
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    @property
    def cv_dir(self) -> Path:
        if self._cv_dir is None:
            from corpus.formats.common_voice import find_cv_language_dir

            try:
                self._cv_dir = find_cv_language_dir(self.cv_arg, self.language).resolve()
            except (FileNotFoundError, ValueError) as error:
                raise BuildError(str(error)) from None
        return self._cv_dir

    def stage_dir(self, stage: str) -> Path:
        return self.work / stage

    def marker(self, stage: str) -> dict | None:
        path = self.stage_dir(stage) / "done.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def fingerprint(self, stage: str, previous: str) -> str:
        fields = {name: getattr(self.config, name) for name in STAGE_FIELDS[stage]}
        extra: dict[str, Any] = {"language": self.language, "format": 1}
        if stage == "ingest":
            tsv = self.cv_dir / f"{self.config.tsv}.tsv"
            extra["tsv_sha256"] = sha256_file(tsv) if tsv.exists() else None
        return content_hash({"stage": stage, "fields": fields, "extra": extra, "previous": previous})

    def run_items(self, stage: str, name: str, func: Callable, tasks: list, key: Callable[[Any], str], *,
                  unit: str, check: Callable[[dict], None] | None = None,
                  weight: Callable[[Any], int] | None = None) -> list[dict]:
        """Results of `func` over `tasks` in task order, resuming from (and recording to) a checkpoint log.

        With on_error=stop, `check` sees each new result as it arrives, so the first bad item stops the
        run at once (it is logged first: a rerun stops at the same item).
        """
        if self.config.on_error != "stop":
            check = None
        path = self.stage_dir(stage) / f"{name}.checkpoint.jsonl"
        with CheckpointLog(path) as done:
            todo = [task for task in tasks if key(task) not in done]
            if todo:
                weigh = weight or (lambda task: 1)
                bar = tqdm(total=sum(weigh(t) for t in tasks), initial=sum(weigh(t) for t in tasks) - sum(
                    weigh(t) for t in todo), desc=f"{self.language} {name}", unit=unit, leave=False,
                    dynamic_ncols=True, disable=not self.progress)
                try:
                    results = self.engine.map(func, todo, desc=name, unit=unit, progress=False)
                    for task, result in zip(todo, results):
                        result = _jsonable(result)
                        done.append(key(task), result)
                        bar.update(weigh(task))
                        if check is not None:
                            check(result)
                finally:
                    bar.close()
            return [done.get(key(task))["value"] for task in tasks]

    def sweep_temporaries(self) -> None:
        """Remove temporary files a killed run left behind (atomic writes name them `.<stem>.*.tmp*`)."""
        if not self.lang_dir.exists():
            return
        for root, _, files in os.walk(self.lang_dir):
            for name in files:
                if name.startswith(".") and ".tmp" in name:
                    Path(root, name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ the run
    def run(self, from_stage: str | None, to_stage: str | None) -> None:
        first = STAGES.index(from_stage) if from_stage else 0
        last = STAGES.index(to_stage) if to_stage else len(STAGES) - 1
        if first > last:
            raise BuildError(f"--from-stage {from_stage} comes after --to-stage {to_stage}")
        self.lang_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_temporaries()
        atomic_write_text(self.lang_dir / "build_config.json", config_to_json(self.config))
        previous = ""
        for index, stage in enumerate(STAGES[: last + 1]):
            fingerprint = self.fingerprint(stage, previous)
            previous = fingerprint
            marker = self.marker(stage)
            finished = marker is not None and marker.get("fingerprint") == fingerprint
            if index < first:
                if not finished:
                    raise BuildError(f"--from-stage {from_stage}: stage {stage} has not run with this input and "
                                     f"config; start from {stage} (or leave out --from-stage)")
                self.sections[stage] = _canonical(marker["report"])
                continue
            if finished and from_stage is None:
                log.info("%s: %s already done", self.language, stage)
                self.sections[stage] = _canonical(marker["report"])
                continue
            self.prepare(stage, fingerprint, fresh=from_stage is not None)
            started = time.perf_counter()
            log.info("%s: %s", self.language, stage)
            section = getattr(self, f"stage_{stage}")()
            elapsed = time.perf_counter() - started
            self.timings[stage] = {"seconds": round(elapsed, 3), "items": section.get("in", 0)}
            self.sections[stage] = section
            if stage != "validate" or section.get("valid", False):
                atomic_write_text(self.stage_dir(stage) / "done.json", json.dumps(
                    {"stage": stage, "fingerprint": fingerprint, "report": section}, ensure_ascii=False,
                    sort_keys=True, indent=1) + "\n")
            self.write_report()
        self.write_report()

    def prepare(self, stage: str, fingerprint: str, *, fresh: bool) -> None:
        """Wipe a stage's work (and its outputs in the release) unless it is a resume of the same work."""
        folder = self.stage_dir(stage)
        stamp = folder / "fingerprint"
        same = stamp.exists() and stamp.read_text(encoding="utf-8").strip() == fingerprint
        if same and not fresh:
            (folder / "done.json").unlink(missing_ok=True)
            return
        if folder.exists():
            shutil.rmtree(folder)
        if stage in ("ingest", "normalize", "align") and fresh:  # --from-stage: retrain the aligner too
            shutil.rmtree(self.work / "aligner-models", ignore_errors=True)
        for later in STAGES[STAGES.index(stage):]:  # later stages' markers are stale now
            (self.stage_dir(later) / "done.json").unlink(missing_ok=True)
        if stage == "extract":
            for name in ("clips", "wav"):
                shutil.rmtree(self.lang_dir / name, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, fingerprint + "\n")

    def write_report(self) -> None:
        report = {"language": self.language, "stages": {s: self.sections[s] for s in STAGES if s in self.sections}}
        if "validate" in self.sections:
            report["valid"] = self.sections["validate"].get("valid", False)
        atomic_write_text(self.lang_dir / "report.json", json.dumps(report, ensure_ascii=False, indent=1) + "\n")
        atomic_write_text(self.work / "timings.json", json.dumps(self.timings, indent=1, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ stages
    def stage_ingest(self) -> dict:
        from corpus.formats.common_voice import normalize_gender, read_cv_tsv
        from corpus.mswc.ingest import ProbeTask, probe_clip, recording_id_for

        section = _Section("ingest", self.config.on_error)
        tsv = self.cv_dir / f"{self.config.tsv}.tsv"
        try:
            rows, row_problems = read_cv_tsv(tsv)
        except (FileNotFoundError, ValueError) as error:
            raise BuildError(str(error)) from None
        for p in row_problems:
            section.problem(f"{tsv.name}:{p.line}", "bad_tsv_row", p.reason)
        by_id: dict[str, Any] = {}
        for row in rows:
            clip_id = recording_id_for(row.path)
            if clip_id in by_id:
                section.problem(clip_id, "duplicate_clip", f"{row.path} listed again; its first row is kept")
                continue
            by_id[clip_id] = row
        tasks = []
        for clip_id, row in by_id.items():
            path = self.cv_dir / "clips" / row.path
            if not path.exists() and not Path(row.path).suffix and path.with_name(row.path + ".mp3").exists():
                path = path.with_name(row.path + ".mp3")  # the oldest releases list paths without .mp3
            tasks.append(ProbeTask(id=clip_id, path=str(path), min_duration_s=self.config.min_duration_s,
                                   silence_range_db=self.config.silence_range_db))

        def usable(result: dict) -> bool:
            return result["ok"] and not (result["silent"] and self.config.drop_silent)

        def check(result: dict) -> None:
            if not usable(result):
                section.problem(result["id"], result["reason"], result["detail"])

        results = self.run_items("ingest", "probe", probe_clip, tasks, key=lambda t: t.id, unit="clip",
                                 check=check)
        recordings, supervisions = [], []
        kept_silent = 0
        for task, result in zip(tasks, results):
            if not usable(result):
                check(result)
                continue
            kept_silent += bool(result["silent"])
            row = by_id[task.id]
            rel = os.path.relpath(task.path, self.cv_dir)
            recording = Recording(id=task.id, path=Path(rel).as_posix(), sample_rate_hz=result["sample_rate_hz"],
                                  num_samples=result["num_samples"])
            recordings.append(recording)
            supervisions.append(Supervision(
                id=task.id, recording_id=task.id, start_s=0.0, duration_s=recording.duration_s, text=row.sentence,
                language=self.language, speaker=row.client_id, gender=normalize_gender(row.gender),
                custom={"sentence_id": row.sentence_id, **({"silent": True} if result["silent"] else {})}))
        order = sorted(range(len(recordings)), key=lambda i: recordings[i].id)
        recordings = [recordings[i] for i in order]
        supervisions = [supervisions[i] for i in order]
        folder = self.stage_dir("ingest")
        write_manifest(folder / "recordings.jsonl.gz", recordings)
        write_manifest(folder / "supervisions.jsonl.gz", supervisions,
                       validate=lambda s: validate_supervisions(s, recordings))
        speakers = {s.speaker for s in supervisions}
        return section.finish(len(rows) + len(row_problems), len(supervisions), speakers=len(speakers),
                              silent_kept=kept_silent,
                              hours=round(sum(r.duration_s for r in recordings) / 3600, 4), source=tsv.name)

    def stage_normalize(self) -> dict:
        from corpus.mswc.normalize import normalize_supervisions

        section = _Section("normalize", self.config.on_error)
        supervisions = list(read_manifest(self.stage_dir("ingest") / "supervisions.jsonl.gz", Supervision))
        result = normalize_supervisions(supervisions, self.language, self.config)
        for item, reason, detail in result.problems:
            section.problem(item, reason, detail)
        write_manifest(self.stage_dir("normalize") / "supervisions.jsonl.gz", result.supervisions)
        atomic_write_text(self.lang_dir / "alphabet.json",
                          json.dumps(result.alphabet, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        words = Counter(w for s in result.supervisions for w in s.text.split())
        return section.finish(len(supervisions), len(result.supervisions), alphabet=result.alphabet["characters"],
                              words=sum(words.values()), distinct_words=len(words),
                              words_outside_alphabet={"occurrences": sum(result.excluded_words.values()),
                                                      "distinct": len(result.excluded_words)})

    def stage_align(self) -> dict:
        from corpus.mswc.align_stage import (AlignerTask, TextGridTask, align_fold, aligner_align,
                                             confirm_mismatches, textgrid_align)
        from corpus.mswc.normalize import text_rules

        section = _Section("align", self.config.on_error)
        supervisions = list(read_manifest(self.stage_dir("normalize") / "supervisions.jsonl.gz", Supervision))
        recordings = {r.id: r for r in read_manifest(self.stage_dir("ingest") / "recordings.jsonl.gz", Recording)}
        extra: dict[str, Any] = {"aligner": self.config.aligner}
        if self.config.aligner == "textgrid":
            folder = Path(self.config.textgrids)
            if not folder.is_dir():
                raise BuildError(f"--textgrids {folder}: no such folder")
            index: dict[str, str] = {}
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() == ".textgrid" and path.is_file():
                    index.setdefault(path.stem, str(path.resolve()))
            rules = text_rules(self.language, self.config)
            tasks = [TextGridTask(id=s.id, textgrid=index.get(s.id), words=tuple(s.text.split()), rules=rules)
                     for s in supervisions]
            func = textgrid_align
        else:
            models = self.train_aligners(supervisions, recordings)
            tasks = [AlignerTask(id=s.id, audio_path=str(self.cv_dir / recordings[s.recording_id].path),
                                 words=tuple(s.text.split()), model_dir=str(models[align_fold(s.id, len(models))]))
                     for s in supervisions]
            func = aligner_align
            extra["aligner_models"] = len(models)

        def check(result: dict) -> None:
            if not result["ok"]:
                section.problem(result["id"], result["reason"], result["detail"])

        results = self.run_items("align", "align", func, tasks, key=lambda t: t.id, unit="sentence",
                                 check=check)
        groups = {t.id: align_fold(t.id, extra.get("aligner_models", 1)) for t in tasks}
        mismatches = confirm_mismatches(results, groups, self.config.mismatch_outlier_z)
        alignments = []
        mismatched_kept = 0
        extra["flags_not_confirmed"] = sum(r["ok"] and r["mismatch"] and mismatches[r["id"]] is None for r in results)
        for result in results:
            if not result["ok"]:
                check(result)
                continue
            alignment = Alignment(**result["alignment"])
            if mismatches[result["id"]] is not None:
                if not self.config.keep_mismatched:
                    section.problem(result["id"], "transcript_mismatch", mismatches[result["id"]])
                    continue
                mismatched_kept += 1
            if alignment.score < self.config.min_alignment_score:
                section.problem(result["id"], "low_alignment_score",
                                f"{alignment.score:.3f} < {self.config.min_alignment_score}")
                continue
            alignments.append(alignment)
        alignments.sort(key=lambda a: a.id)
        write_manifest(self.stage_dir("align") / "alignments.jsonl.gz", alignments)
        return section.finish(len(supervisions), len(alignments), mismatched_kept=mismatched_kept, **extra)

    def train_aligners(self, supervisions: list[Supervision], recordings: dict[str, Recording]) -> list[Path]:
        from corpus.mswc.align_stage import AlignerUnavailable, train_fold_aligners

        try:
            models, seconds = train_fold_aligners(
                supervisions, {rid: str(self.cv_dir / r.path) for rid, r in recordings.items()},
                language=self.language, cache=self.work / "aligner-models", config=self.config, jobs=self.jobs,
                progress=self.progress)
        except AlignerUnavailable as error:
            raise BuildError(str(error)) from None
        if seconds:
            self.timings["align_training"] = {"seconds": round(seconds, 3), "items": len(supervisions)}
        return models

    def stage_extract(self) -> dict:
        from corpus.mswc.extract import extract_recording, plan_extraction

        section = _Section("extract", self.config.on_error)
        alignments = list(read_jsonl(self.stage_dir("align") / "alignments.jsonl.gz"))
        recordings = {r.id: r for r in read_manifest(self.stage_dir("ingest") / "recordings.jsonl.gz", Recording)}
        supervisions = {s.id: s for s in read_manifest(self.stage_dir("ingest") / "supervisions.jsonl.gz",
                                                       Supervision)}
        paths = {rid: str(self.cv_dir / r.path) for rid, r in recordings.items()}
        plan = plan_extraction(alignments, paths, str(self.lang_dir.resolve()), self.config)
        atomic_write_text(self.stage_dir("extract") / "keywords.json", json.dumps(
            {"keywords": plan.keywords, "folders": plan.folders}, ensure_ascii=False, indent=1, sort_keys=True) + "\n")

        def check(result: dict) -> None:
            if not result["ok"]:
                section.problem(result["id"], result["reason"], result["detail"])
            for error in result["errors"]:
                section.problem(error["link"], error["reason"], error["detail"])

        results = self.run_items("extract", "extract", extract_recording, plan.tasks, key=lambda t: t.id,
                                 unit="clip", check=check, weight=lambda t: len(t.occurrences))
        clips = []
        for result in results:
            check(result)
            sup = supervisions[result["id"]]
            for clip in result["clips"]:
                clips.append({"link": clip["link"], "word": clip["word"], "recording_id": sup.recording_id,
                              "speaker": sup.speaker, "gender": sup.gender, "span_s": clip["span_s"],
                              "word_s": clip["word_s"]})
        clips.sort(key=lambda c: c["link"])
        write_jsonl(self.stage_dir("extract") / "clips.jsonl.gz", clips)
        planned = sum(len(t.occurrences) for t in plan.tasks)
        not_keywords = {reason: {"occurrences": sum(c.values()), "distinct": len(c)}
                        for reason, c in sorted(plan.word_counts.items())}
        return section.finish(planned, len(clips), sentences=len(plan.tasks), keywords=len(plan.keywords),
                              timed_words=plan.occurrences, words_not_extracted=not_keywords)

    def stage_score(self) -> dict:
        from corpus.formats.mswc import write_scores
        from corpus.mswc.score import EmbedTask, ScoreTask, embed_clip, score_keyword

        section = _Section("score", self.config.on_error)
        scores_path = self.lang_dir / f"{self.language}_scores.csv"
        clips = list(read_jsonl(self.stage_dir("extract") / "clips.jsonl.gz"))
        if not self.config.score:
            scores_path.unlink(missing_ok=True)
            return section.finish(len(clips), 0, skipped=True)
        clips_dir = self.lang_dir / "clips"
        tasks = [EmbedTask(link=c["link"], path=str(clips_dir / c["link"]), embedding=self.config.embedding)
                 for c in clips]

        def check(result: dict) -> None:
            if not result["ok"]:
                section.problem(result["link"], result["reason"], result["detail"])

        results = self.run_items("score", "embed", embed_clip, tasks, key=lambda t: t.link, unit="clip",
                                 check=check)
        by_word: dict[str, list[tuple[str, str]]] = {}
        for clip, result in zip(clips, results):
            if not result["ok"]:
                check(result)
                continue
            by_word.setdefault(clip["word"], []).append((clip["link"], result["vector"]))
        score_tasks = [ScoreTask(word=word, links=tuple(l for l, _ in items), vectors=tuple(v for _, v in items),
                                 k=self.config.kmeans_k, sample=self.config.kmeans_sample, seed=self.config.seed)
                       for word, items in sorted(by_word.items())]
        scored = []
        for result in self.engine.map(score_keyword, score_tasks, desc=f"{self.language} k-means", unit="word",
                                      progress=self.progress):
            scored.extend((link, result["word"], score) for link, score in result["scores"])
        write_scores(self.lang_dir, self.language, scored)
        return section.finish(len(clips), len(scored), keywords=len(score_tasks), embedding=self.config.embedding)

    def stage_split(self) -> dict:
        from corpus.formats.mswc import read_scores, write_metadata, write_splits
        from corpus.mswc.plots import plot_keyword_frequency
        from corpus.mswc.split import assign_splits, balance_report, language_name, outlier_links

        section = _Section("split", self.config.on_error)
        clips = list(read_jsonl(self.stage_dir("extract") / "clips.jsonl.gz"))
        folders = json.loads((self.stage_dir("extract") / "keywords.json").read_text(encoding="utf-8"))["folders"]
        scores_path = self.lang_dir / f"{self.language}_scores.csv"
        scores = read_scores(scores_path) if self.config.score and scores_path.exists() else {}
        dropped = outlier_links(scores, self.config.drop_outliers)
        rows = assign_splits(clips, seed=self.config.seed, shares=self.config.shares, dropped=dropped)
        write_splits(self.lang_dir, self.language, rows)
        name = language_name(self.language, self.config.language_name)
        entry = write_metadata(self.lang_dir, self.language, name, rows, folders, self.config.version)
        plot_keyword_frequency(entry["wordcounts"], self.lang_dir / "keyword_frequency.png",
                               title=f"{name} ({self.language})")
        sets = Counter(r.set for r in rows)
        return section.finish(len(clips), sum(r.valid for r in rows), sets=dict(sorted(sets.items())),
                              outliers_marked_invalid=len(dropped), keywords=entry["number_of_words"],
                              speakers=len({r.speaker for r in rows}), gender_balance=balance_report(rows))

    def stage_validate(self) -> dict:
        from corpus.mswc.validate import validate_release

        section = _Section("validate", "skip")
        problems, counts = validate_release(self.lang_dir, self.language, engine=self.engine,
                                            wav=self.config.write_wav, progress=self.progress)
        for p in problems:
            section.problem(p["item"], p["reason"], p["detail"])
        bad_clips = {p["item"] for p in problems if p["reason"] in ("bad_duration", "unreadable_clip", "bad_format")}
        return section.finish(counts["rows"], counts["checked"] - len(bad_clips), valid=not problems,
                              clips_on_disk=counts["clips"])


def summary_table(report: dict, timings: dict | None = None) -> str:
    """The per-stage table printed at the end of a build."""
    timings = timings or {}
    lines = [f"{'stage':<10} {'in':>8} {'kept':>8} {'dropped':>8}  {'time s':>7} {'items/s':>8}  top reasons"]
    for stage, section in report.get("stages", {}).items():
        dropped = section.get("dropped", {})
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        timing = timings.get(stage)
        seconds = f"{timing['seconds']:7.1f}" if timing else "   done"
        rate = f"{timing['items'] / timing['seconds']:8.1f}" if timing and timing["seconds"] > 0 else " " * 8
        lines.append(f"{stage:<10} {section.get('in', 0):>8} {section.get('kept', 0):>8} "
                     f"{sum(dropped.values()):>8}  {seconds} {rate}  {reasons}")
    if "validate" in report.get("stages", {}):
        lines.append("release is " + ("VALID" if report.get("valid") else "NOT VALID: see report.json"))
    return "\n".join(lines)


def read_report(lang_dir: str | os.PathLike[str]) -> dict:
    return json.loads((Path(lang_dir) / "report.json").read_text(encoding="utf-8"))


def read_clip_records(lang_dir: str | os.PathLike[str]) -> list[dict]:
    """The extraction records: per clip its link, word, recording, speaker, gender, and the recording span
    that went into the clip (`span_s`) and the aligned word (`word_s`), in seconds."""
    return list(read_jsonl(Path(lang_dir) / ".work" / "extract" / "clips.jsonl.gz"))


def build_mswc(cv_dir: str | os.PathLike[str], language: str, out: str | os.PathLike[str],
               config: BuildConfig = BuildConfig(), *, engine: str = "local", spark_master: str = "local[2]",
               jobs: int | None = None, from_stage: str | None = None, to_stage: str | None = None,
               progress: bool = True) -> Path:
    """Build (or resume building) the MSWC-layout release of `language` from a Common Voice folder.

    `cv_dir`: a Common Voice language folder (holding validated.tsv), a `cv-corpus-*` folder, or their
    parent. Returns `<out>/<language>`. Raises BuildError (and subclasses) on what cannot be built.
    """
    for name, stage in (("from_stage", from_stage), ("to_stage", to_stage)):
        if stage is not None and stage not in STAGES:
            raise BuildError(f"{name} must be one of {', '.join(STAGES)}, got {stage!r}")
    if engine not in ("local", "spark"):
        raise BuildError(f"engine must be local or spark, got {engine!r}")
    build = _Build(Path(cv_dir), language, Path(out), config, engine=engine, spark_master=spark_master, jobs=jobs,
                   progress=progress)
    try:
        build.run(from_stage, to_stage)
    finally:
        build.close()
        if progress:
            print(summary_table({"stages": build.sections,
                                 "valid": build.sections.get("validate", {}).get("valid")}, build.timings),
                  file=sys.stdout, flush=True)
    validation = build.sections.get("validate")
    if validation is not None and not validation.get("valid", False):
        raise ValidationFailed(f"{build.lang_dir}: the release failed validation ({len(validation['problems'])} "
                               "problem(s), see report.json)", validation["problems"])
    return build.lang_dir
