"""The declarations of `corpus.stages`: stages, their typed manifests, per-item outcomes and problems."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, TypeVar

from corpus.configs import to_jsonable

if TYPE_CHECKING:
    from corpus.stages.runner import Context

__all__ = ["Problem", "Outcome", "Manifest", "StageOutput", "Stage", "ItemStage", "WholeStage", "StageError",
           "StageStopped", "canonical_json", "ON_ERROR"]

T = TypeVar("T")
R = TypeVar("R")
ON_ERROR = ("skip", "stop")


class StageError(RuntimeError):
    """The run cannot go on (bad stage names, a missing earlier stage, an engine that cannot start)."""


class StageStopped(StageError):
    """on_error='stop' and an item was bad; the message names the stage, the item and the reason."""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A bad item: its id (or file:line), a short machine-readable reason, and a human detail."""

    item: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A base for per-item results: the item's id (a sentence id, a clip link), and when `ok` is False
    why (`reason`, `detail`). Subclasses add what the item produced; `problems` is what the runner
    reports (override it to add more, e.g. per-part errors)."""

    id: str
    ok: bool = False
    reason: str = ""
    detail: str = ""

    @property
    def problems(self) -> tuple[Problem, ...]:
        return () if self.ok else (Problem(item=self.id, reason=self.reason, detail=self.detail),)


@dataclass(frozen=True)
class Manifest:
    """A typed manifest a stage writes: `<work>/<stage>/<name>.jsonl.gz`, items of `type`, unique by `key`."""

    name: str
    type: type
    key: str = "id"


@dataclass
class StageOutput:
    """What a stage hands back: items in and kept, its manifests by name, and extra report fields."""

    count_in: int
    kept: int
    manifests: dict[str, list] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def canonical_json(value: Any) -> Any:
    """JSON data with every object's keys sorted, so a section reads the same fresh or from a marker."""
    value = json.loads(json.dumps(to_jsonable(value), ensure_ascii=False))

    def sort(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: sort(item[k]) for k in sorted(item)}
        if isinstance(item, list):
            return [sort(v) for v in item]
        return item

    return sort(value)


@dataclass(frozen=True, kw_only=True)
class Stage:
    """What every stage declares. `inputs(ctx)`: JSON data naming external inputs (e.g. a source file's
    hash) that invalidate the stage besides its config `fields`. `clears`: paths under the output
    folder that belong to this stage (wiped when it reruns); `caches`: paths wiped only when the user
    redoes the stage with --from-stage. `done_when(section)`: whether the stage counts as finished
    (validation: only when valid). `stop_on_error=False`: report problems even with on_error=stop."""

    name: str
    fields: tuple[str, ...] = ()
    outputs: tuple[Manifest, ...] = ()
    inputs: Callable[["Context"], Any] | None = None
    clears: tuple[str, ...] = ()
    caches: tuple[str, ...] = ()
    done_when: Callable[[dict], bool] | None = None
    stop_on_error: bool = True


@dataclass(frozen=True, kw_only=True)
class WholeStage(Stage):
    """A global stage: `run(ctx) -> StageOutput` on the driver."""

    run: Callable[["Context"], StageOutput]


@dataclass(frozen=True, kw_only=True)
class ItemStage(Stage, Generic[T, R]):
    """A per-item stage: plan tasks, run `func` on each (checkpointed), collect typed results.

    `key(task)`: the task's unique id (default `task.id`); `weight(task)`: its share of the progress bar
    (default 1); `checkpoint`: the checkpoint log's name (default the stage's name).
    """

    task: type
    result: type
    func: Callable[[T], R]
    plan: Callable[["Context"], list[T]]
    collect: Callable[["Context", list[T], list[R]], StageOutput]
    problems: Callable[["Context", R], Iterable[Problem]] | None = None
    key: Callable[[T], str] | None = None
    weight: Callable[[T], int] | None = None
    unit: str = "item"
    checkpoint: str = ""
