"""The MSWC builder's errors (typed; the CLI turns them into messages and exit codes)."""

from __future__ import annotations

from corpus.stages import StageError, StageStopped

__all__ = ["BuildError", "BuildStopped", "ValidationFailed"]


class BuildError(StageError):
    """The build cannot go on (bad arguments, a missing earlier stage, an engine that cannot start)."""


class BuildStopped(BuildError, StageStopped):
    """on_error='stop' and an item was bad."""


class ValidationFailed(BuildError):
    """The written release failed validation; `problems` lists why (also in report.json)."""

    def __init__(self, message: str, problems: list[dict]) -> None:
        super().__init__(message)
        self.problems = problems
