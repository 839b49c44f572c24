"""The resumable, typed stage runner every dataset builder declares its stages to.

A builder is a tuple of stages run in order. Each stage has a name, the config fields that invalidate
it, and the typed manifests it writes (`Manifest`: a name and a frozen dataclass, saved as
`<work>/<stage>/<name>.jsonl.gz`). Two kinds:

- `ItemStage`: `plan(ctx)` makes the stage's tasks (frozen dataclasses) on the driver from earlier
  manifests; `func(task) -> result` is a pure, top-level per-item function run on the engine (a local
  process pool or Spark, `corpus.engines`); `collect(ctx, tasks, results)` turns the typed results into
  the stage's manifests. Results are logged to a checkpoint as they arrive, so a killed run redoes at
  most the items in flight and never duplicates one.
- `WholeStage`: `run(ctx)` for global work (training a model, k-means over a keyword, a split, a
  validation); it may still map per-item work with `ctx.map_items` (checkpointed) or `ctx.map`.

The runner owns the rest: fingerprints (a hash of the stage's config fields, its external inputs and
the previous stage's fingerprint), skipping finished stages, resuming unfinished ones, `--from-stage`
and `--to-stage`, `on_error` (`skip`: each bad item is reported with its id and reason and left out;
`stop`: the first one raises `StageStopped`), progress bars (tqdm; off with `progress=False`), per-stage
seconds (`<work>/timings.json`) and `report.json` (per stage: in, kept, dropped by reason, problems).

Example (a builder measuring loudness, keeping the loud clips, then ranking them):

    @dataclass(frozen=True, kw_only=True)
    class Clip:                                          # a task: what one worker call needs
        id: str
        path: str

    @dataclass(frozen=True, kw_only=True)
    class Level(Outcome):                                # a result: id, ok, reason, detail + its data
        db: float = 0.0

    def measure(clip: Clip) -> Level:                    # top level and pure: runs on pool or Spark workers
        try:
            return Level(id=clip.id, ok=True, db=peak_db(clip.path))
        except AudioError as error:
            return Level(id=clip.id, reason="unreadable_audio", detail=str(error))

    def plan(ctx: Context) -> list[Clip]:                # on the driver
        return [Clip(id=p.stem, path=str(p)) for p in sorted(Path(ctx.source).glob("*.wav"))]

    def keep(ctx: Context, tasks: list[Clip], levels: list[Level]) -> StageOutput:
        loud = [r for r in levels if r.ok and r.db > ctx.config.min_db]   # failures: reported by the runner
        return StageOutput(count_in=len(tasks), kept=len(loud), manifests={"levels": loud})

    def rank(ctx: Context) -> StageOutput:               # a whole-manifest stage
        levels = ctx.read("measure", "levels")           # a list of Level
        ...

    STAGES = (ItemStage(name="measure", fields=("min_db",), outputs=(Manifest("levels", Level),),
                        task=Clip, result=Level, func=measure, plan=plan, collect=keep, unit="clip"),
              WholeStage(name="rank", fields=("seed",), outputs=(Manifest("ranked", Ranked),), run=rank))
    runner = StageRunner(STAGES, out_dir=Path("out"), config=config, source="data/wav", engine="local",
                         jobs=4, on_error="skip", progress=True)
    try:
        report = runner.run()                            # or run(from_stage="rank"), run(to_stage="measure")
    finally:
        runner.close()

A result reports its problems through its `problems` (an `Outcome` reports one when not ok; override
to add more), or the stage's `problems(ctx, result)` when keeping an item depends on the config.
`corpus.mswc.pipeline.mswc_stages` is a full builder declared this way; `tests/test_stages.py` a tiny one.
"""


from corpus.stages.declare import (ON_ERROR, ItemStage, Manifest, Outcome, Problem, Stage, StageError, StageOutput,
                                   StageStopped, WholeStage, canonical_json)
from corpus.stages.runner import Context, StageRunner, builder_run, summary_table

__all__ = ["builder_run", "Problem", "Outcome", "Manifest", "StageOutput", "Stage", "ItemStage", "WholeStage", "Context", "StageRunner",
           "StageError", "StageStopped", "summary_table", "canonical_json", "ON_ERROR"]
