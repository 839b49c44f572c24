"""Shared plumbing for bench/ scripts: `--quick`, timing, and the output contract.

Every benchmark prints a one-line human summary, then its figures as one JSON object on the last line
(also saved to bench/results/<name>.json), so CI logs and READMEs can quote the exact line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

RESULTS = Path(__file__).resolve().parent / "results"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="same code paths on smaller data (<= 5 min on 2 cores)")
    p.add_argument("--work", default=None, help="folder for generated data (default: a fresh temp folder)")
    p.add_argument("--seed", type=int, default=0)
    return p


@contextmanager
def timed(figures: dict[str, Any], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    figures[key] = round(time.perf_counter() - start, 3)


def machine() -> dict[str, Any]:
    return {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(), "machine": platform.machine()}


def emit(name: str, figures: dict[str, Any], summary: str) -> None:
    figures = {"bench": name, **figures, "machine": machine()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(summary)
    print(json.dumps(figures, sort_keys=True))
