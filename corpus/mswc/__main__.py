"""`python -m corpus.mswc build ...`: the same command as `python -m corpus mswc build ...`."""

from __future__ import annotations

import sys

from corpus.cli import run_cli
from corpus.mswc.cli import register_commands


def main(argv: list[str] | None = None) -> int:
    return run_cli("python -m corpus.mswc", "Build MSWC-layout keyword datasets from Common Voice.",
                   [register_commands], argv)


if __name__ == "__main__":
    sys.exit(main())
