"""Shared CLI plumbing: every module with subcommands exposes `register(subparsers)`.

A subcommand sets `func` (called with the parsed args, returns an exit code) via `set_defaults`.
Errors that are the user's (bad input, missing files) are raised as `UserError` and printed as one
clear line, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Iterable

__all__ = ["UserError", "run_cli", "positive_int", "share", "add_run_options"]


class UserError(Exception):
    """An error the user can fix; printed as 'error: ...' with exit code 2."""


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text}")
    return value


def add_run_options(parser: argparse.ArgumentParser, *, jobs: bool = True, quiet: bool = True, seed: bool = True,
                    seed_help: str = "same seed, same data -> same output (default: %(default)s)") -> None:
    """The one option vocabulary of every package's commands: `--jobs` (positive, default all cores),
    `--quiet` (no progress bars) and `--seed`."""
    if jobs:
        parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                            help="worker processes (default: all cores)")
    if quiet:
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help=seed_help)


def run_cli(prog: str, description: str, registrars: Iterable[Callable[[argparse._SubParsersAction], None]],
            argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(title="subcommands", metavar="COMMAND")
    for register in registrars:
        register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
