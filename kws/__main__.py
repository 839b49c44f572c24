"""`python -m kws COMMAND`: keyword spotting."""

from __future__ import annotations

import importlib
import sys

from corpus.cli import run_cli

_COMMAND_MODULES: tuple[str, ...] = ("kws.train", "kws.detect", "kws.cli", "kws.monitor")

_DESCRIPTION = """\
Keyword spotting from MSWC-layout data: features, embedding, few-shot and closed-set training,
streaming detection, evaluation and int8 export.
"""


def main(argv: list[str] | None = None) -> int:
    registrars = [importlib.import_module(name).register for name in _COMMAND_MODULES]
    return run_cli("python -m kws", _DESCRIPTION, registrars, argv)


if __name__ == "__main__":
    sys.exit(main())
