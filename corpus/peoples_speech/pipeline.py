"""The People's Speech builder: stages, resume, report.

    OUT/  audio/ <subset>/ shards/ credits.csv     the dataset (see `corpus.peoples_speech.write`)
          report.json  build_config.json  dedup.json  cer_histogram.png  utterance_lengths.png
          caption_offsets.png
          .work/<stage>/                             manifests, checkpoints, done markers, the aligner

Stages: ingest -> normalize -> align -> segment -> grade -> dedup -> split -> write. Each writes its
manifest (JSONL.gz, atomic) and a done marker holding its fingerprint (hash of the config, the input
listing and the previous stage's fingerprint) and its report section; a rerun skips finished stages.
Per-document work (ingest, caption timing, alignment, grading, FLAC writing) runs on the engine (local
pool or Spark) and is logged to a `CheckpointLog` as results arrive, so a killed build loses at most the
documents in flight and a rerun ends byte-identical to an uninterrupted run, on either engine.

This driver is a thin local one, shaped like the generic stage runner the foundations issue brings
(`corpus.stages`); the stage bodies are plain functions of manifests, so moving them onto it is mechanical.
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

from corpus.configs import content_hash, json_text
from corpus.fsutil import atomic_write_text
from corpus.manifest import CheckpointLog, read_jsonl, write_jsonl
from corpus.peoples_speech.config import STAGES, BuildConfig, subset_name

__all__ = ["build_peoples_speech", "BuildError", "BuildStopped", "summary_table"]

log = logging.getLogger("corpus.peoples_speech")


class BuildError(RuntimeError):
    """The build cannot go on (bad arguments, no usable document, an engine that cannot start)."""


class BuildStopped(BuildError):
    """on_error='stop' and an item was bad."""


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, sort_keys=True))


class _Section:
    def __init__(self, stage: str, on_error: str) -> None:
        self.stage, self.on_error = stage, on_error
        self.problems: list[dict] = []

    def problem(self, item: str, reason: str, detail: str = "", *, hours: float = 0.0) -> None:
        self.problems.append({"item": item, "reason": reason, "detail": detail, "hours": round(hours, 5)})
        if self.on_error == "stop":
            raise BuildStopped(f"{self.stage}: {item}: {reason}: {detail} (on_error=stop; use --on-error skip to "
                               "report bad items and go on)")

    def finish(self, count_in: int, kept: int, **extra: Any) -> dict:
        dropped = Counter(p["reason"] for p in self.problems)
        hours = Counter()
        for p in self.problems:
            hours[p["reason"]] += p["hours"]
        return _canonical({"in": count_in, "kept": kept, "dropped": dict(dropped),
                           "dropped_hours": {k: round(v, 4) for k, v in hours.items()},
                           "problems": sorted(self.problems, key=lambda p: (p["item"], p["reason"])), **extra})


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 4)


class _Build:
    def __init__(self, items_dir: Path, out: Path, config: BuildConfig, *, engine: str, spark_master: str,
                 jobs: int | None, progress: bool) -> None:
        self.items_dir, self.out, self.config = items_dir, out, config
        self.work = out / ".work"
        self.engine_name, self.spark_master, self.jobs, self.progress = engine, spark_master, jobs, progress
        self._engine = None
        self.sections: dict[str, dict] = {}
        self.timings: dict[str, Any] = {}
        self.training_sizes: dict[str, int] = {}

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

    def stage_dir(self, stage: str) -> Path:
        return self.work / stage

    def read(self, stage: str, name: str) -> list[dict]:
        return list(read_jsonl(self.stage_dir(stage) / name))

    def listing(self) -> list:
        """Names and sizes of every file under the item folders: what the ingest fingerprint covers."""
        rows = []
        for folder in sorted(p for p in self.items_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    rows.append([folder.name, path.name, path.stat().st_size])
        return rows

    def run_items(self, stage: str, func: Callable, tasks: list, *, unit: str, name: str = "checkpoint",
                  check: Callable[[dict], None] | None = None) -> list[dict]:
        """func over tasks (each with an `id`) on the engine, in order, resuming from the stage's checkpoint log."""
        path = self.stage_dir(stage) / f"{name}.jsonl"
        with CheckpointLog(path) as done:
            todo = [t for t in tasks if t.id not in done]
            if todo:
                bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=stage, unit=unit, leave=False,
                           dynamic_ncols=True, disable=not self.progress)
                try:
                    for task, result in zip(todo, self.engine.map(func, todo, desc=stage, unit=unit, progress=False)):
                        result = _canonical(result)
                        done.append(task.id, result)
                        bar.update(1)
                        if check is not None and self.config.on_error == "stop":
                            check(result)
                finally:
                    bar.close()
            return [done.get(t.id)["value"] for t in tasks]

    def sweep_temporaries(self) -> None:
        for root, _, files in os.walk(self.out):
            for name in files:
                if name.startswith(".") and ".tmp" in name:
                    Path(root, name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ the run
    def run(self) -> None:
        if not self.items_dir.is_dir():
            raise BuildError(f"--items {self.items_dir}: no such folder")
        self.out.mkdir(parents=True, exist_ok=True)
        self.sweep_temporaries()
        atomic_write_text(self.out / "build_config.json", self.config.to_json())
        previous = content_hash({"listing": self.listing(), "items": str(self.items_dir.resolve()), "format": 1})
        for stage in STAGES:
            fingerprint = content_hash({"stage": stage, "config": self.config, "previous": previous})
            previous = fingerprint
            folder = self.stage_dir(stage)
            marker_path = folder / "done.json"
            if marker_path.exists():
                marker = json.loads(marker_path.read_text(encoding="utf-8"))
                if marker.get("fingerprint") == fingerprint:
                    self.sections[stage] = marker["report"]
                    continue
            stamp = folder / "fingerprint"
            if not (stamp.exists() and stamp.read_text(encoding="utf-8").strip() == fingerprint):
                shutil.rmtree(folder, ignore_errors=True)  # other input or config: this stage starts over
                for later in STAGES[STAGES.index(stage):]:
                    (self.stage_dir(later) / "done.json").unlink(missing_ok=True)
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_text(stamp, fingerprint + "\n")
            started = time.perf_counter()
            log.info("%s", stage)
            section = getattr(self, f"stage_{stage}")()
            self.timings[stage] = round(time.perf_counter() - started, 3)
            self.sections[stage] = section
            atomic_write_text(marker_path, json.dumps({"stage": stage, "fingerprint": fingerprint, "report": section},
                                                      ensure_ascii=False, sort_keys=True, indent=1) + "\n")
            self.write_report()
        self.write_report()

    def write_report(self) -> None:
        report = {"language": self.config.language, "stages": {s: self.sections[s] for s in STAGES
                                                               if s in self.sections}}
        if "align" in self.sections:
            report["timeouts"] = self.sections["align"].get("timeouts", 0)
        if "write" in self.sections:
            report["subsets"] = self.sections["write"].get("subsets", {})
        atomic_write_text(self.out / "report.json", json_text(report))
        atomic_write_text(self.work / "timings.json", json_text(self.timings))

    # ------------------------------------------------------------------ stages
    def stage_ingest(self) -> dict:
        from corpus.peoples_speech.ingest import IngestTask, ingest_item

        section = _Section("ingest", self.config.on_error)
        folders = sorted(p for p in self.items_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        tasks = [_Task(id=f.name, payload=IngestTask(item_dir=str(f), language=self.config.language,
                                                     min_words_per_audio_min=self.config.min_words_per_audio_min,
                                                     min_audio_s=self.config.min_audio_s)) for f in folders]

        def check(result: dict) -> None:
            for p in result["problems"]:
                section.problem(p["item"], p["reason"], p["detail"])

        results = self.run_items("ingest", _run_task(ingest_item), tasks, unit="item", check=check)
        documents = []
        for result in results:
            check(result)
            documents.extend(result["documents"])
        documents.sort(key=lambda d: d["id"])
        if not documents:
            self.sections["ingest"] = section.finish(len(folders), 0)
            self.write_report()
            raise BuildError(f"{self.items_dir}: no usable document (see {self.out / 'report.json'})")
        write_jsonl(self.stage_dir("ingest") / "documents.jsonl.gz", documents)
        return section.finish(len(folders), len(documents), items_kept=len({d["item"] for d in documents}),
                              hours=_hours(sum(d["duration_s"] for d in documents)),
                              licenses=dict(Counter(d["license"] for d in documents)))

    def stage_normalize(self) -> dict:
        from corpus.peoples_speech.normalize import normalize_document

        section = _Section("normalize", self.config.on_error)
        documents = self.read("ingest", "documents.jsonl.gz")
        out, totals = [], Counter()
        for doc in documents:
            result = normalize_document(doc["cues"], self.config.language)
            totals.update(result["counts"])
            if not result["words"]:
                section.problem(doc["id"], "no_speech_text", "the captions hold only annotations or unusable cues",
                                hours=doc["duration_s"] / 3600)
                continue
            out.append({"id": doc["id"], **result})
        write_jsonl(self.stage_dir("normalize") / "words.jsonl.gz", out)
        return section.finish(len(documents), len(out), **{k: int(v) for k, v in sorted(totals.items())})

    def stage_align(self) -> dict:
        from corpus.peoples_speech.align_stage import TimingTask, align_document, estimate_timing

        section = _Section("align", self.config.on_error)
        documents = {d["id"]: d for d in self.read("ingest", "documents.jsonl.gz")}
        normalized = self.read("normalize", "words.jsonl.gz")
        timing_tasks = [TimingTask(id=n["id"], audio_path=documents[n["id"]]["audio_path"],
                                   cues=tuple(tuple(documents[n["id"]]["cues"][c][:2])
                                              for c in sorted(set(n["word_cue"])))) for n in normalized]
        timings = {r["id"]: r for r in self.run_items("align", estimate_timing, timing_tasks, unit="doc", name="timing")}
        first = self.train_aligner("aligner-pass1", lambda: self.cue_items(normalized, documents, timings))
        tasks1 = self.align_tasks(normalized, documents, timings, first)
        pass1 = self.run_items("align", align_document, tasks1, unit="doc", name="pass1")
        second = self.aligned_items(pass1, documents)
        # pass 2 retrains on what pass 1 aligned reliably; too little of it (a tiny corpus): keep pass 1's model
        if len(second) >= 40:
            model_dir = self.train_aligner("aligner", lambda: second)
        else:
            model_dir = self.stage_dir("align") / "aligner"
            if not (model_dir / "model.json").exists():
                shutil.rmtree(model_dir, ignore_errors=True)
                shutil.copytree(first, model_dir)
        tasks = self.align_tasks(normalized, documents, timings, model_dir)

        def check(result: dict) -> None:
            if not result["ok"]:
                section.problem(result["id"], result["reason"], result["detail"],
                                hours=documents[result["id"]]["duration_s"] / 3600)

        results = self.run_items("align", align_document, tasks, unit="doc", check=check)
        kept, seconds = [], {}
        for result in results:
            seconds[result["id"]] = result["seconds"]
            check(result) if not result["ok"] else kept.append(
                {k: result[k] for k in ("id", "words", "unaligned_words", "unaligned_audio", "windows", "matched")}
                | {"timing": {k: timings[result["id"]].get(k) for k in ("offset_s", "drift", "fit")}})
        write_jsonl(self.stage_dir("align") / "alignments.jsonl.gz", kept)
        self.timings["align_documents_s"] = seconds
        timeouts = sum(bool(r["timeout"]) for r in results)
        return section.finish(len(normalized), len(kept), timeouts=timeouts,
                              windows=sum(r["windows"] for r in results),
                              window_bound=sum(r["window_bound"] for r in results),
                              probes_stopped=sum(bool(r["probe"]) and not r["ok"] and r["reason"] == "transcript_mismatch"
                                                 for r in results),
                              hours=_hours(sum(documents[k["id"]]["duration_s"] for k in kept)),
                              aligner_passes=2 if len(second) >= 40 else 1,
                              aligner=json.loads((model_dir / "model.json").read_text(encoding="utf-8"))["summary"])

    def align_tasks(self, normalized: list[dict], documents: dict[str, dict], timings: dict[str, dict],
                    model_dir: Path) -> list:
        from corpus.peoples_speech.align_stage import AlignTask

        tasks = []
        for n in normalized:
            doc, timing = documents[n["id"]], timings[n["id"]]
            offset, drift = (timing["offset_s"], timing["drift"]) if timing["ok"] else (0.0, 0.0)
            hints = tuple(round((doc["cues"][c][0] - offset) / (1 + drift), 3) for c in n["word_cue"])
            tasks.append(AlignTask(id=n["id"], audio_path=doc["audio_path"], duration_s=doc["duration_s"],
                                   words=tuple(n["words"]), word_hint_s=hints, model_dir=str(model_dir),
                                   window_s=self.config.window_s, commit_s=self.config.commit_s,
                                   probe_s=self.config.probe_s, min_word_confidence=self.config.min_word_confidence,
                                   min_matched_share=self.config.min_matched_share,
                                   timeout_s_per_audio_s=self.config.timeout_s_per_audio_s,
                                   garbage_lp=self.config.garbage_lp, word_skip_lp=self.config.word_skip_lp))
        return tasks

    def cue_items(self, normalized: list[dict], documents: dict[str, dict], timings: dict[str, dict]) -> list:
        """Pass 1: caption cues, mapped through each document's timing estimate."""
        from corpus.peoples_speech.align_stage import training_items

        docs = [{**documents[n["id"]], **n, "offset_s": timings[n["id"]].get("offset_s", 0.0),
                 "drift": timings[n["id"]].get("drift", 0.0), "fit": timings[n["id"]].get("fit", 0.0)}
                for n in normalized]
        return training_items(docs, pad_s=self.config.train_pad_s, max_items=self.config.train_max_utterances,
                              seed=self.config.seed)

    def aligned_items(self, pass1: list[dict], documents: dict[str, dict]) -> list:
        """Pass 2: the reliable utterances pass 1 found in documents it matched (exact spans, exact words)."""
        from corpus.align.types import AlignItem
        from corpus.configs import stable_hash
        from corpus.peoples_speech.segment import SegmentParams, segment_document

        params = SegmentParams(max_utterance_s=self.config.max_utterance_s, min_utterance_s=1.0,
                               max_gap_s=self.config.max_gap_s, pad_s=self.config.pad_s,
                               min_word_score=self.config.min_word_score, max_word_s=self.config.max_word_s)
        items = []
        for result in pass1:
            if not result["ok"]:
                continue
            doc = documents[result["id"]]
            utterances, _ = segment_document(result["id"], result["words"], result["unaligned_audio"],
                                             doc["duration_s"], params)
            items += [AlignItem(id=u.id, audio_path=doc["audio_path"], words=tuple(u.text.split()),
                                start_s=u.audio_start_s, duration_s=round(u.audio_end_s - u.audio_start_s, 4))
                      for u in utterances]
        if len(items) > self.config.train_max_utterances:
            items = sorted(sorted(items, key=lambda it: stable_hash(self.config.seed, it.id))
                           [:self.config.train_max_utterances], key=lambda it: it.id)
        return items

    def train_aligner(self, name: str, make_items: Callable[[], list]) -> Path:
        from corpus.align import train_aligner
        from corpus.align.types import AlignerConfig

        model_dir = self.stage_dir("align") / name
        if (model_dir / "model.json").exists():
            return model_dir
        items = make_items()
        self.training_sizes[name] = len(items)
        config = AlignerConfig(gmm_mixtures=self.config.train_gmm_mixtures, mlp_rounds=self.config.train_mlp_rounds,
                               mlp_epochs=self.config.train_mlp_epochs,
                               max_train_utterances=self.config.train_max_utterances, seed=self.config.seed)
        tmp = self.stage_dir("align") / f"{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.perf_counter()
        try:
            train_aligner(items, language=self.config.language, out_dir=tmp, config=config, jobs=self.jobs,
                          progress=self.progress)
        except Exception as error:  # noqa: BLE001 - no aligner, no build
            raise BuildError(f"training the aligner ({name}) on {len(items)} utterances failed: {error}") from None
        os.replace(tmp, model_dir)
        self.timings[f"{name}_training_s"] = round(time.perf_counter() - started, 3)
        self.timings["align_training_s"] = round(self.timings.get("align_training_s", 0.0) +
                                                 time.perf_counter() - started, 3)
        return model_dir

    def stage_segment(self) -> dict:
        from dataclasses import replace

        from corpus.peoples_speech.segment import RefineTask, SegmentParams, refine_document, segment_document

        section = _Section("segment", self.config.on_error)
        documents = {d["id"]: d for d in self.read("ingest", "documents.jsonl.gz")}
        # windows: the long alignment's utterances with a wide margin (at most half the pause to a neighbour)
        params = SegmentParams(max_utterance_s=self.config.max_utterance_s,
                               min_utterance_s=self.config.min_utterance_s, max_gap_s=self.config.max_gap_s,
                               pad_s=0.5, min_word_score=self.config.min_word_score,
                               max_word_s=self.config.max_word_s)
        alignments = self.read("align", "alignments.jsonl.gz")
        candidates, counts = [], Counter()
        for a in alignments:
            utterances, dropped = segment_document(a["id"], a["words"], a["unaligned_audio"],
                                                   documents[a["id"]]["duration_s"], params)
            counts.update(dropped)
            candidates.extend(utterances)
        by_doc: dict[str, list] = {}
        for u in candidates:
            by_doc.setdefault(u.document, []).append(u)
        tasks = [RefineTask(id=d, audio_path=documents[d]["audio_path"],
                            model_dir=str(self.stage_dir("align") / "aligner"),
                            utterances=tuple((u.id, u.audio_start_s, u.audio_end_s, u.text) for u in us),
                            pad_s=self.config.pad_s) for d, us in sorted(by_doc.items())]
        refined = {}
        if not self.config.refine:
            tasks = []
            refined = {u.id: {"ok": True, "start_s": u.start_s, "end_s": u.end_s,
                              "audio_start_s": round(max(u.audio_start_s, u.start_s - self.config.pad_s), 4),
                              "audio_end_s": round(min(u.audio_end_s, u.end_s + self.config.pad_s), 4)}
                       for u in candidates}
        for result in self.run_items("segment", refine_document, tasks, unit="doc"):
            refined.update({r["id"]: r for r in result["utterances"]})
        rows = []
        for u in candidates:
            r = refined[u.id]
            if not r["ok"]:
                counts["refine_failed"] += 1
                continue
            if r["end_s"] - r["start_s"] < self.config.min_utterance_s:
                counts["too_short"] += 1
                continue
            rows.append(replace(u, start_s=r["start_s"], end_s=r["end_s"], audio_start_s=r["audio_start_s"],
                                audio_end_s=r["audio_end_s"]).__dict__)
        write_jsonl(self.stage_dir("segment") / "utterances.jsonl.gz", rows)
        durations = [r["end_s"] - r["start_s"] for r in rows]
        return section.finish(len(alignments), len(rows), candidates=len(candidates),
                              utterances_dropped=dict(sorted(counts.items())), hours=_hours(sum(durations)),
                              words=sum(r["words"] for r in rows))

    def stage_grade(self) -> dict:
        from corpus.peoples_speech.grade import GradeTask, grade_document

        section = _Section("grade", self.config.on_error)
        documents = {d["id"]: d for d in self.read("ingest", "documents.jsonl.gz")}
        words = {n["id"]: n["words"] for n in self.read("normalize", "words.jsonl.gz")}
        utterances = self.read("segment", "utterances.jsonl.gz")
        by_doc: dict[str, list[dict]] = {}
        for u in utterances:
            by_doc.setdefault(u["document"], []).append(u)
        tasks = [GradeTask(id=doc, audio_path=documents[doc]["audio_path"], document_words=tuple(words[doc]),
                           utterances=tuple((u["id"], u["audio_start_s"], u["audio_end_s"], u["text"]) for u in us),
                           recognizer=self.config.recognizer, model_dir=str(self.stage_dir("align") / "aligner"),
                           clean_max_cer=self.config.clean_max_cer, noisy_max_cer=self.config.noisy_max_cer)
                 for doc, us in sorted(by_doc.items())]

        def check(result: dict) -> None:
            if not result["ok"]:
                section.problem(result["id"], result["reason"], result["detail"])

        grades = {}
        for result in self.run_items("grade", grade_document, tasks, unit="doc", check=check):
            check(result) if not result["ok"] else grades.update({g["id"]: g for g in result["grades"]})
        rows = [{**u, **grades[u["id"]]} for u in utterances if u["id"] in grades]
        write_jsonl(self.stage_dir("grade") / "graded.jsonl.gz", rows)
        tiers = Counter(r["tier"] for r in rows)
        tier_hours = Counter()
        for r in rows:
            tier_hours[r["tier"]] += r["end_s"] - r["start_s"]
        return section.finish(len(utterances), sum(r["tier"] != "dropped" for r in rows), tiers=dict(tiers),
                              tier_hours={k: _hours(v) for k, v in tier_hours.items()},
                              recognizer=self.config.recognizer)

    def stage_dedup(self) -> dict:
        from corpus.peoples_speech.dedup import duplicate_groups, lsh_pairs, minhash, shingles

        section = _Section("dedup", self.config.on_error)
        documents = {d["id"]: d for d in self.read("ingest", "documents.jsonl.gz")}
        words = {n["id"]: n["words"] for n in self.read("normalize", "words.jsonl.gz")}
        graded = self.read("grade", "graded.jsonl.gz")
        aligned_s = Counter()
        for r in graded:
            if r["tier"] != "dropped":
                aligned_s[r["document"]] += r["end_s"] - r["start_s"]
        candidates = sorted(aligned_s)
        signatures = {d: minhash(shingles(words[d], self.config.shingle_words), self.config.minhash_permutations,
                                 self.config.seed) for d in candidates}
        pairs = lsh_pairs(signatures, self.config.lsh_bands, self.config.dedup_threshold)
        meta = {d: {"id": d, "license": documents[d]["license"], "aligned_s": round(aligned_s[d], 3)}
                for d in candidates}
        groups = duplicate_groups(pairs, meta)
        from corpus.peoples_speech.split import split_of

        dropped = {}
        cross = []
        for group in groups:
            keep = group[0]
            for other in group[1:]:
                dropped[other] = keep
                section.problem(other, "duplicate", f"near-duplicate of {keep}", hours=aligned_s[other] / 3600)
            licenses = {documents[d]["license"] for d in group}
            splits = {split_of(documents[d]["item"], self.config.seed, self.config.shares) for d in group}
            if len(licenses) > 1 or len(splits) > 1:
                cross.append({"group": group, "licenses": sorted(licenses), "splits": sorted(splits)})
        atomic_write_text(self.out / "dedup.json", json_text({"pairs": pairs, "groups": groups,
                                                              "dropped": dropped, "cross_license_or_split": cross}))
        write_jsonl(self.stage_dir("dedup") / "dropped.jsonl.gz",
                    [{"id": d, "duplicate_of": k} for d, k in sorted(dropped.items())])
        return section.finish(len(candidates), len(candidates) - len(dropped), pairs=len(pairs), groups=len(groups),
                              cross_license_or_split=len(cross))

    def stage_split(self) -> dict:
        from corpus.peoples_speech.split import split_of

        section = _Section("split", self.config.on_error)
        documents = {d["id"]: d for d in self.read("ingest", "documents.jsonl.gz")}
        dropped = {r["id"] for r in self.read("dedup", "dropped.jsonl.gz")}
        graded = self.read("grade", "graded.jsonl.gz")
        rows = []
        for r in graded:
            if r["tier"] == "dropped" or r["document"] in dropped:
                continue
            doc = documents[r["document"]]
            split = split_of(doc["item"], self.config.seed, self.config.shares)
            rows.append({**r, "item": doc["item"], "license": doc["license"], "license_url": doc["license_url"],
                         "split": split, "subset": subset_name(r["tier"], doc["license"]),
                         "audio_filepath": f"audio/{split}/{doc['item']}/{r['id']}.flac"})
        write_jsonl(self.stage_dir("split") / "rows.jsonl.gz", rows)
        return section.finish(len(graded), len(rows), splits=dict(Counter(r["split"] for r in rows)),
                              documents={s: len({r["document"] for r in rows if r["split"] == s})
                                         for s in ("train", "dev", "test")})

    def stage_write(self) -> dict:
        from corpus.peoples_speech import plots
        from corpus.peoples_speech.config import SUBSETS
        from corpus.peoples_speech.write import (FlacTask, write_credits, write_flacs, write_lhotse, write_nemo,
                                                 write_parquet, write_shards)

        section = _Section("write", self.config.on_error)
        documents = {d["id"]: d for d in self.read("ingest", "documents.jsonl.gz")}
        rows = self.read("split", "rows.jsonl.gz")
        for name in ("audio", "shards", *SUBSETS):
            shutil.rmtree(self.out / name, ignore_errors=True) if not (self.stage_dir("write") /
                                                                       "checkpoint.jsonl").exists() else None
        by_doc: dict[str, list[dict]] = {}
        for r in rows:
            by_doc.setdefault(r["document"], []).append(r)
        tasks = [FlacTask(id=d, audio_path=documents[d]["audio_path"], out_root=str(self.out.resolve()),
                          utterances=tuple((r["id"], r["audio_start_s"], r["audio_end_s"], r["audio_filepath"])
                                           for r in rs)) for d, rs in sorted(by_doc.items())]

        def check(result: dict) -> None:
            if not result["ok"]:
                section.problem(result["id"], "write_error", result["detail"])

        samples = {}
        for result in self.run_items("write", write_flacs, tasks, unit="doc", check=check):
            check(result) if not result["ok"] else samples.update(result["files"])
        rows = [{**r, "num_samples": samples[r["id"]], "duration_s": round(samples[r["id"]] / 16000, 4)}
                for r in rows if r["id"] in samples]
        subsets: dict[str, dict] = {}
        for subset in SUBSETS:
            for split in ("train", "dev", "test"):
                chosen = sorted((r for r in rows if r["subset"] == subset and r["split"] == split),
                                key=lambda r: r["id"])
                if not chosen:
                    continue
                folder = self.out / subset / split
                write_nemo(folder / "nemo_manifest.jsonl", chosen)
                write_lhotse(folder, chosen, self.config.language)
                write_parquet(folder / "data.parquet", chosen, self.out)
                if self.config.shard_bytes > 0:
                    write_shards(self.out / "shards" / subset, split, chosen, self.out, self.config.shard_bytes)
                subsets.setdefault(subset, {})[split] = {"utterances": len(chosen),
                                                         "hours": _hours(sum(r["duration_s"] for r in chosen))}
        write_credits(self.out / "credits.csv", [documents[d] for d in sorted({r["document"] for r in rows})])
        graded = self.read("grade", "graded.jsonl.gz")
        plots.plot_cer([g["cer"] for g in graded], self.config.clean_max_cer, self.config.noisy_max_cer,
                       self.out / "cer_histogram.png")
        plots.plot_lengths([r["end_s"] - r["start_s"] for r in rows], self.out / "utterance_lengths.png")
        self.plot_offsets(documents, graded)
        return section.finish(len(rows), len(rows), subsets=subsets, hours=_hours(sum(r["duration_s"] for r in rows)),
                              items_credited=len({r["item"] for r in rows}))

    def plot_offsets(self, documents: dict[str, dict], graded: list[dict]) -> None:
        from corpus.peoples_speech import plots

        words = {n["id"]: n for n in self.read("normalize", "words.jsonl.gz")}
        alignments = {a["id"]: a for a in self.read("align", "alignments.jsonl.gz")}
        offsets = []
        for a in alignments.values():
            cue_of = words[a["id"]]["word_cue"]
            cues = documents[a["id"]]["cues"]
            first_of_cue: dict[int, float] = {}
            for index, _, start, _, _ in a["words"]:
                first_of_cue.setdefault(cue_of[index], start)
            offsets += [cues[c][0] - s for c, s in first_of_cue.items()]
        truth = []
        truth_file = self.items_dir / "synthetic_truth.jsonl.gz"
        if truth_file.exists():
            for record in read_jsonl(truth_file):
                if record["identifier"] in alignments:
                    truth.append((record["captions"]["offset_s"],
                                  alignments[record["identifier"]]["timing"]["offset_s"]))
        plots.plot_caption_offsets(offsets, self.out / "caption_offsets.png", truth=truth)


class _Task:
    """A picklable (id, payload) pair for stages whose task type has no `id` of its own."""

    def __init__(self, *, id: str, payload: Any) -> None:
        self.id, self.payload = id, payload


class _run_task:
    def __init__(self, func: Callable) -> None:
        self.func = func

    def __call__(self, task: _Task) -> Any:
        return self.func(task.payload)


def summary_table(report: dict, timings: dict | None = None) -> str:
    timings = timings or {}
    lines = [f"{'stage':<10} {'in':>7} {'kept':>7} {'dropped':>8}  {'time s':>7}  top reasons"]
    for stage, section in report.get("stages", {}).items():
        dropped = section.get("dropped", {})
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        seconds = f"{timings[stage]:7.1f}" if stage in timings else "   done"
        lines.append(f"{stage:<10} {section.get('in', 0):>7} {section.get('kept', 0):>7} "
                     f"{sum(dropped.values()):>8}  {seconds}  {reasons}")
    return "\n".join(lines)


def build_peoples_speech(items: str | os.PathLike[str], out: str | os.PathLike[str],
                         config: BuildConfig = BuildConfig(), *, engine: str = "local", spark_master: str = "local[2]",
                         jobs: int | None = None, progress: bool = True) -> Path:
    """Build (or resume) the dataset from Internet Archive item folders under `items`; returns `out`."""
    if engine not in ("local", "spark"):
        raise BuildError(f"engine must be local or spark, got {engine!r}")
    build = _Build(Path(items), Path(out), config, engine=engine, spark_master=spark_master, jobs=jobs,
                   progress=progress)
    try:
        build.run()
    finally:
        build.close()
        if progress:
            print(summary_table({"stages": build.sections}, build.timings), file=sys.stdout, flush=True)
    return Path(out)
