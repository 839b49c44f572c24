"""The runner of `corpus.stages`: fingerprints, resume, on_error, progress, timings and the report."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from tqdm import tqdm

from corpus.configs import content_hash, from_jsonable, json_text, to_jsonable
from corpus.engines import Engine, EngineError, make_engine
from corpus.fsutil import atomic_write_text
from corpus.manifest import CheckpointLog, read_jsonl, write_jsonl
from corpus.stages.declare import (ON_ERROR, ItemStage, Problem, Stage, StageError, StageOutput, StageStopped,
                                   WholeStage, canonical_json)

__all__ = ["Context", "StageRunner", "summary_table", "builder_run"]

log = logging.getLogger("corpus.stages")

T = TypeVar("T")
R = TypeVar("R")


def _result_problems(ctx: "Context", stage: ItemStage, result: Any) -> Iterable[Problem]:
    if stage.problems is not None:
        return stage.problems(ctx, result)
    return getattr(result, "problems", ()) or ()


class Context:
    """What a stage function sees: the config and source, folders, engine, earlier manifests, its report."""

    def __init__(self, runner: "StageRunner", stage: Stage) -> None:
        self.runner = runner
        self.stage = stage
        self.config = runner.config
        self.source = runner.source
        self.out_dir = runner.out_dir
        self.work_dir = runner.work_dir
        self.folder = runner.work_dir / stage.name
        self.progress = runner.progress
        self.jobs = runner.jobs
        self.on_error = runner.on_error if stage.stop_on_error else "skip"
        self.problems: list[Problem] = []
        self.notes: dict[str, Any] = {}  # what an ItemStage's plan hands to its collect (same run)

    @property
    def engine(self) -> Engine:
        return self.runner.engine

    def problem(self, item: str, reason: str, detail: str = "") -> None:
        """Report a bad item; with on_error=stop, stop the run here."""
        self.problems.append(Problem(item=item, reason=reason, detail=detail))
        if self.on_error == "stop":
            raise StageStopped(f"{self.stage.name}: {item}: {reason}: {detail} (on_error=stop; use --on-error "
                               "skip to report and skip bad items)")

    def read(self, stage: str, manifest: str) -> list:
        """An earlier stage's manifest, as its declared type."""
        return self.runner.read(stage, manifest)

    def add_timing(self, name: str, seconds: float, items: int) -> None:
        """An extra line in timings.json (e.g. model training inside a stage)."""
        self.runner.timings[name] = {"seconds": round(seconds, 3), "items": items}

    def map(self, func: Callable[[T], R], items: Sequence[T], *, desc: str = "", unit: str = "item") -> list[R]:
        """func over items on the engine, in order, not checkpointed (cheap or global work)."""
        label = f"{self.runner.label} {desc or self.stage.name}".strip()
        return list(self.engine.map(func, items, desc=label, unit=unit, progress=self.progress))

    def map_items(self, func: Callable[[T], R], tasks: Sequence[T], *, result: type, key: Callable[[T], str],
                  name: str = "", unit: str = "item", weight: Callable[[T], int] | None = None,
                  check: Callable[[R], Iterable[Problem]] | None = None) -> list[R]:
        """Typed results of `func` over `tasks` in task order, resuming from (and recording to) the
        stage's checkpoint log `<name>.checkpoint.jsonl`. With on_error=stop, `check` sees each new
        result as it arrives, so the first bad item stops the run (it is logged first: a rerun stops
        at the same item)."""
        name = name or self.stage.name
        weigh = weight or (lambda task: 1)
        with CheckpointLog(self.folder / f"{name}.checkpoint.jsonl") as done:
            todo = [task for task in tasks if key(task) not in done]
            if todo:
                total = sum(weigh(t) for t in tasks)
                bar = tqdm(total=total, initial=total - sum(weigh(t) for t in todo), unit=unit, leave=False,
                           desc=f"{self.runner.label} {name}".strip(), dynamic_ncols=True, disable=not self.progress)
                try:
                    for task, value in zip(todo, self.engine.map(func, todo, desc=name, unit=unit, progress=False)):
                        done.append(key(task), to_jsonable(value))
                        bar.update(weigh(task))
                        if check is not None and self.on_error == "stop":
                            for p in check(from_jsonable(result, done.get(key(task))["value"])):
                                self.problem(p.item, p.reason, p.detail)
                finally:
                    bar.close()
            # fresh and resumed results both go through JSON, so they are the same either way
            return [from_jsonable(result, done.get(key(task))["value"]) for task in tasks]


class StageRunner:
    """Runs declared stages into `out_dir` (work files under `out_dir/.work/`).

    `engine`: "local" | "spark" (made on first use with `jobs`, `spark_master`, `spark_conf`, closed
    by `close`), or an Engine the caller owns. `source`: what the builder reads besides its config (input
    folder, language; stage functions see it as `ctx.source`). `header`: the first fields of report.json;
    `summary(sections)`: fields added after the stages (e.g. {"valid": ...}); `fingerprint_extra`:
    JSON data every stage's fingerprint includes (e.g. the language); `config_file`: the config is
    saved under this name in `out_dir` at the start of a run.
    """

    def __init__(self, stages: Sequence[Stage], *, out_dir: Path, config: Any, source: Any = None,
                 engine: str | Engine = "local",
                 jobs: int | None = None, spark_master: str = "local[2]", spark_conf: Mapping[str, str] | None = None,
                 on_error: str = "skip", progress: bool = True, label: str = "", header: Mapping[str, Any] = (),
                 summary: Callable[[dict], dict] | None = None, fingerprint_extra: Any = None,
                 config_file: str = "build_config.json", work_name: str = ".work") -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise StageError(f"stage names must be unique, got {names}")
        if on_error not in ON_ERROR:
            raise StageError(f"on_error must be skip or stop, got {on_error!r}")
        self.stages = tuple(stages)
        self.names = tuple(names)
        self.out_dir = Path(out_dir)
        self.work_dir = self.out_dir / work_name
        self.config = config
        self.source = source
        self.jobs = jobs
        self.on_error = on_error
        self.progress = progress
        self.label = label
        self.header = dict(header)
        self.summary = summary
        self.fingerprint_extra = fingerprint_extra
        self.config_file = config_file
        self._engine_spec = engine
        self._engine: Engine | None = None if isinstance(engine, str) else engine
        self._spark = {"spark_master": spark_master, "spark_conf": dict(spark_conf or {})}
        self.sections: dict[str, dict] = {}
        self.timings: dict[str, dict] = {}

    # ------------------------------------------------------------------ plumbing
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = make_engine(str(self._engine_spec), jobs=self.jobs, **self._spark)
            except EngineError as error:
                raise StageError(str(error)) from None
        return self._engine

    def close(self) -> None:
        """Stop the engine the runner made (an engine passed in is the caller's to close)."""
        if self._engine is not None and isinstance(self._engine_spec, str):
            self._engine.close()
            self._engine = None

    def stage(self, name: str) -> Stage:
        return self.stages[self.names.index(name)]

    def manifest_path(self, stage: str, manifest: str) -> Path:
        return self.work_dir / stage / f"{manifest}.jsonl.gz"

    def read(self, stage: str, manifest: str) -> list:
        declared = {m.name: m for m in self.stage(stage).outputs}
        if manifest not in declared:
            raise StageError(f"stage {stage} declares no manifest {manifest!r}")
        kind = declared[manifest].type
        return [from_jsonable(kind, record) for record in read_jsonl(self.manifest_path(stage, manifest))]

    def _write(self, stage: Stage, output: StageOutput) -> None:
        for manifest in stage.outputs:
            if manifest.name not in output.manifests:
                raise StageError(f"stage {stage.name} did not return its manifest {manifest.name!r}")
            items = output.manifests[manifest.name]
            seen: set[str] = set()
            for item in items:
                if not isinstance(item, manifest.type):
                    raise StageError(f"stage {stage.name}: {manifest.name} holds a {type(item).__name__}, "
                                     f"not {manifest.type.__name__}")
                key = getattr(item, manifest.key)
                if key in seen:
                    raise StageError(f"stage {stage.name}: {manifest.name} has {key!r} twice")
                seen.add(key)
            write_jsonl(self.manifest_path(stage.name, manifest.name), (to_jsonable(i) for i in items))

    def _marker(self, stage: str) -> dict | None:
        path = self.work_dir / stage / "done.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except ValueError:
            return None

    def _fingerprint(self, stage: Stage, previous: str) -> str:
        fields = {name: getattr(self.config, name) for name in stage.fields}
        extra = {"format": 1, "runner": self.fingerprint_extra,
                 "inputs": stage.inputs(Context(self, stage)) if stage.inputs else None}
        return content_hash({"stage": stage.name, "fields": fields, "extra": extra, "previous": previous})

    def _sweep_temporaries(self) -> None:
        """Remove temporary files a killed run left behind (atomic writes name them `.<stem>.*.tmp*`)."""
        for root, _, files in os.walk(self.out_dir):
            for name in files:
                if name.startswith(".") and ".tmp" in name:
                    Path(root, name).unlink(missing_ok=True)

    def _prepare(self, index: int, fingerprint: str, *, fresh: bool) -> None:
        """Wipe a stage's work (and its outputs) unless it is a resume of the same work."""
        stage = self.stages[index]
        folder = self.work_dir / stage.name
        stamp = folder / "fingerprint"
        same = stamp.exists() and stamp.read_text(encoding="utf-8").strip() == fingerprint
        if same and not fresh:
            (folder / "done.json").unlink(missing_ok=True)
            return
        if folder.exists():
            shutil.rmtree(folder)
        for path in stage.caches if fresh else ():
            shutil.rmtree(self.out_dir / path, ignore_errors=True)
        for later in self.names[index:]:  # later stages' markers are stale now
            (self.work_dir / later / "done.json").unlink(missing_ok=True)
        for path in stage.clears:
            target = self.out_dir / path
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, fingerprint + "\n")

    # ------------------------------------------------------------------ the run
    def run(self, from_stage: str | None = None, to_stage: str | None = None) -> dict:
        """Run (or resume) the stages up to `to_stage`; redo from `from_stage`. Returns the report."""
        for option, name in (("from_stage", from_stage), ("to_stage", to_stage)):
            if name is not None and name not in self.names:
                raise StageError(f"{option} must be one of {', '.join(self.names)}, got {name!r}")
        first = self.names.index(from_stage) if from_stage else 0
        last = self.names.index(to_stage) if to_stage else len(self.names) - 1
        if first > last:
            raise StageError(f"--from-stage {from_stage} comes after --to-stage {to_stage}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_temporaries()
        if self.config_file:
            atomic_write_text(self.out_dir / self.config_file, json_text(self.config))
        previous = ""
        for index, stage in enumerate(self.stages[: last + 1]):
            fingerprint = previous = self._fingerprint(stage, previous)
            marker = self._marker(stage.name)
            finished = marker is not None and marker.get("fingerprint") == fingerprint
            if index < first:
                if not finished:
                    raise StageError(f"--from-stage {from_stage}: stage {stage.name} has not run with this input "
                                     f"and config; start from {stage.name} (or leave out --from-stage)")
                self.sections[stage.name] = canonical_json(marker["report"])
                continue
            if finished and from_stage is None:
                log.info("%s: %s already done", self.label, stage.name)
                self.sections[stage.name] = canonical_json(marker["report"])
                continue
            self._prepare(index, fingerprint, fresh=from_stage is not None)
            started = time.perf_counter()
            log.info("%s: %s", self.label, stage.name)
            section = self._run_stage(stage)
            self.timings[stage.name] = {"seconds": round(time.perf_counter() - started, 3), "items": section["in"]}
            self.sections[stage.name] = section
            if stage.done_when is None or stage.done_when(section):
                atomic_write_text(self.work_dir / stage.name / "done.json", json.dumps(
                    {"stage": stage.name, "fingerprint": fingerprint, "report": section}, ensure_ascii=False,
                    sort_keys=True, indent=1) + "\n")
            self.write_report()
        self.write_report()
        return self.report()

    def _run_stage(self, stage: Stage) -> dict:
        ctx = Context(self, stage)
        if isinstance(stage, ItemStage):
            tasks = stage.plan(ctx)
            key = stage.key or (lambda task: task.id)
            results = ctx.map_items(stage.func, tasks, result=stage.result, key=key, name=stage.checkpoint,
                                    unit=stage.unit, weight=stage.weight,
                                    check=lambda r: _result_problems(ctx, stage, r))
            for result in results:
                for p in _result_problems(ctx, stage, result):
                    ctx.problem(p.item, p.reason, p.detail)
            output = stage.collect(ctx, tasks, results)
        elif isinstance(stage, WholeStage):
            output = stage.run(ctx)
        else:
            raise StageError(f"stage {stage.name}: declare it as an ItemStage or a WholeStage")
        self._write(stage, output)
        dropped = Counter(p.reason for p in ctx.problems)
        section = {**output.report, "in": output.count_in, "kept": output.kept,
                   "dropped": dict(sorted(dropped.items())),
                   "problems": sorted(({"item": p.item, "reason": p.reason, "detail": p.detail} for p in ctx.problems),
                                      key=lambda p: (p["item"], p["reason"], p["detail"]))}
        return canonical_json(section)

    def report(self) -> dict:
        report = {**self.header, "stages": {s: self.sections[s] for s in self.names if s in self.sections}}
        if self.summary is not None:
            report.update(self.summary(self.sections))
        return report

    def write_report(self) -> None:
        atomic_write_text(self.out_dir / "report.json", json.dumps(self.report(), ensure_ascii=False, indent=1) + "\n")
        atomic_write_text(self.work_dir / "timings.json", json.dumps(self.timings, indent=1, sort_keys=True) + "\n")


def summary_table(report: dict, timings: dict | None = None) -> str:
    """The per-stage table printed at the end of a run."""
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
    if "valid" in report:
        lines.append("release is " + ("VALID" if report.get("valid") else "NOT VALID: see report.json"))
    return "\n".join(lines)


@contextmanager
def builder_run(runner: StageRunner, *, progress: bool, failed: type[Exception],
                stopped: type[Exception]) -> Iterator[StageRunner]:
    """Run a builder's stages inside this block: stage errors become the builder's own types (`stopped` for
    on_error='stop', `failed` otherwise; a `failed` raised in the block passes as it is), and whatever
    happens the runner is closed and, with `progress`, the summary table is printed."""
    try:
        yield runner
    except failed:
        raise
    except StageStopped as error:
        raise stopped(str(error)) from None
    except StageError as error:
        raise failed(str(error)) from None
    finally:
        runner.close()
        if progress:
            print(summary_table(runner.report(), runner.timings), file=sys.stdout, flush=True)
