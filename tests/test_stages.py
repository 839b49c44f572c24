"""The generic stage runner (`corpus.stages`): typed manifests, fingerprints, resume without duplicates,
on_error skip|stop, --from-stage/--to-stage, report and timings. A tiny two-stage builder, in process."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from corpus.manifest import read_jsonl
from corpus.stages import (Context, ItemStage, Manifest, Problem, StageError, StageOutput, StageRunner, StageStopped,
                           WholeStage, summary_table)


@dataclass(frozen=True, kw_only=True)
class Config:
    words: tuple[str, ...]
    min_len: int = 3
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class Word:
    id: str
    text: str
    calls: str  # a file each call appends to (to count calls across runs)


@dataclass(frozen=True, kw_only=True)
class Measured:
    id: str
    length: int = 0
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Ranked:
    id: str
    rank: int


def measure(word: Word) -> Measured:
    with open(word.calls, "a", encoding="utf-8") as log:
        log.write(word.id + "\n")
    if os.environ.get("TEST_STAGES_CRASH_AT") == word.id:
        raise RuntimeError("killed")
    if not word.text.isalpha():
        return Measured(id=word.id, problems=(Problem(item=word.id, reason="not_a_word", detail=repr(word.text)),))
    return Measured(id=word.id, length=len(word.text))


def _plan(ctx: Context) -> list[Word]:
    return [Word(id=f"w{i:02d}", text=t, calls=str(ctx.out_dir / "calls.txt")) for i, t in enumerate(ctx.config.words)]


def _collect(ctx: Context, tasks: list[Word], results: list[Measured]) -> StageOutput:
    kept = []
    for result in results:
        if result.problems:
            continue
        if result.length < ctx.config.min_len:
            ctx.problem(result.id, "too_short", f"{result.length} < {ctx.config.min_len}")
            continue
        kept.append(result)
    return StageOutput(count_in=len(tasks), kept=len(kept), manifests={"measured": kept},
                       report={"longest": max((r.length for r in kept), default=0)})


def _rank(ctx: Context) -> StageOutput:
    measured = ctx.read("measure", "measured")
    assert all(isinstance(m, Measured) for m in measured)
    order = sorted(measured, key=lambda m: (-m.length, m.id))
    ranked = [Ranked(id=m.id, rank=i + ctx.config.seed) for i, m in enumerate(order)]
    return StageOutput(count_in=len(measured), kept=len(ranked), manifests={"ranked": ranked})


STAGES = (
    ItemStage(name="measure", fields=("words", "min_len"), outputs=(Manifest("measured", Measured),), task=Word,
              result=Measured, func=measure, plan=_plan, collect=_collect, unit="word"),
    WholeStage(name="rank", fields=("seed",), outputs=(Manifest("ranked", Ranked),), run=_rank),
)
WORDS = ("akawuka", "corona", "x1", "senyiga", "ab", "masiki", "okugema")


def _run(out: Path, config: Config, **kwargs) -> tuple[StageRunner, dict]:
    runner = StageRunner(STAGES, out_dir=out, config=config, engine="local", jobs=1, progress=False,
                         header={"name": "demo"}, **kwargs)
    try:
        return runner, runner.run()
    finally:
        runner.close()


def _calls(out: Path) -> list[str]:
    path = out / "calls.txt"
    return path.read_text().split() if path.exists() else []


def _release(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("calls.txt", "timings.json")}


def test_typed_manifests_report_and_skip_on_rerun(tmp_path):
    config = Config(words=WORDS)
    runner, report = _run(tmp_path, config)
    assert report["name"] == "demo" and list(report["stages"]) == ["measure", "rank"]
    measure_section = report["stages"]["measure"]
    assert (measure_section["in"], measure_section["kept"], measure_section["longest"]) == (7, 5, 7)
    assert measure_section["dropped"] == {"not_a_word": 1, "too_short": 1}
    assert {(p["item"], p["reason"]) for p in measure_section["problems"]} == {("w02", "not_a_word"), ("w04", "too_short")}
    ranked = list(read_jsonl(tmp_path / ".work" / "rank" / "ranked.jsonl.gz"))
    assert [r["id"] for r in ranked][:3] == ["w00", "w03", "w06"] and ranked[0]["rank"] == 0
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert set(json.loads((tmp_path / ".work" / "timings.json").read_text())) == {"measure", "rank"}
    assert json.loads((tmp_path / "build_config.json").read_text())["words"] == list(WORDS)
    assert "too_short 1" in summary_table(report, runner.timings)
    calls = _calls(tmp_path)
    assert len(calls) == len(WORDS)

    # a rerun with the same config and input does nothing
    runner, again = _run(tmp_path, config)
    assert again == report and runner.timings == {} and _calls(tmp_path) == calls

    # a field of the second stage reruns only that stage
    runner, _ = _run(tmp_path, dataclasses.replace(config, seed=10))
    assert set(runner.timings) == {"rank"} and _calls(tmp_path) == calls
    assert next(read_jsonl(tmp_path / ".work" / "rank" / "ranked.jsonl.gz"))["rank"] == 10

    # a field of the first reruns both
    runner, changed = _run(tmp_path, dataclasses.replace(config, min_len=7))
    assert set(runner.timings) == {"measure", "rank"} and changed["stages"]["measure"]["kept"] == 3


def test_a_killed_stage_resumes_without_redoing_or_duplicating_items(tmp_path, monkeypatch):
    config = Config(words=WORDS)
    _run(tmp_path / "whole", config)
    monkeypatch.setenv("TEST_STAGES_CRASH_AT", "w04")
    with pytest.raises(RuntimeError, match="killed"):
        _run(tmp_path / "killed", config)
    assert _calls(tmp_path / "killed") == ["w00", "w01", "w02", "w03", "w04"]
    monkeypatch.delenv("TEST_STAGES_CRASH_AT")
    _run(tmp_path / "killed", config)
    assert _calls(tmp_path / "killed") == ["w00", "w01", "w02", "w03", "w04", "w04", "w05", "w06"]
    log = (tmp_path / "killed" / ".work" / "measure" / "measure.checkpoint.jsonl").read_text().splitlines()
    assert len(log) == len(WORDS) == len({json.loads(line)["key"] for line in log})
    assert _release(tmp_path / "killed") == _release(tmp_path / "whole")


def test_on_error_stop_names_the_first_bad_item(tmp_path):
    with pytest.raises(StageStopped, match=r"measure: w02: not_a_word"):
        _run(tmp_path, Config(words=WORDS), on_error="stop")
    assert _calls(tmp_path) == ["w00", "w01", "w02"]  # stopped as the bad item arrived
    with pytest.raises(StageStopped, match=r"w02: not_a_word"):  # a rerun stops at the same item
        _run(tmp_path, Config(words=WORDS), on_error="stop")


def test_from_and_to_stage(tmp_path):
    config = Config(words=WORDS)
    runner = StageRunner(STAGES, out_dir=tmp_path, config=config, jobs=1, progress=False)
    with pytest.raises(StageError, match="has not run"):
        runner.run(from_stage="rank")
    report = runner.run(to_stage="measure")
    assert list(report["stages"]) == ["measure"]
    report = runner.run(from_stage="rank")
    assert list(report["stages"]) == ["measure", "rank"]
    runner.timings.clear()
    runner.run(from_stage="measure")
    assert set(runner.timings) == {"measure", "rank"}
    with pytest.raises(StageError, match="comes after"):
        runner.run(from_stage="rank", to_stage="measure")
    with pytest.raises(StageError, match="must be one of"):
        runner.run(to_stage="nope")
    with pytest.raises(StageError, match="on_error"):
        StageRunner(STAGES, out_dir=tmp_path, config=config, on_error="maybe")


def test_same_result_on_a_process_pool(tmp_path):
    config = Config(words=WORDS)
    _run(tmp_path / "one", config)
    runner = StageRunner(STAGES, out_dir=tmp_path / "two", config=config, engine="local", jobs=2, progress=False,
                         header={"name": "demo"})
    try:
        runner.run()
    finally:
        runner.close()
    assert _release(tmp_path / "two") == _release(tmp_path / "one")


def test_the_mswc_builder_is_a_declaration_on_the_runner():
    from corpus.mswc.config import STAGE_FIELDS, STAGES
    from corpus.mswc.pipeline import mswc_stages

    stages = mswc_stages()
    assert tuple(s.name for s in stages) == STAGES
    assert all(s.fields == STAGE_FIELDS[s.name] for s in stages)
    assert [s.name for s in stages if isinstance(s, ItemStage)] == ["ingest", "align", "extract", "score"]
    assert all(m.type is not dict for s in stages for m in s.outputs)  # typed manifests between stages
