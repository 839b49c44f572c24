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

__all__ = ["UserError", "run_cli", "positive_int", "share"]


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
