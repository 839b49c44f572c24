"""`python -m export COMMAND`: int8 TFLite export, parity checks, C arrays."""

from __future__ import annotations

import importlib
import sys

from corpus.cli import run_cli

_COMMAND_MODULES: tuple[str, ...] = ("export.cli", "export.firmware")

_DESCRIPTION = """\
Deployment of trained models: int8 post-training quantization, LiteRT parity checks,
C arrays for microcontrollers.
"""


def main(argv: list[str] | None = None) -> int:
    registrars = [importlib.import_module(name).register for name in _COMMAND_MODULES]
    return run_cli("python -m export", _DESCRIPTION, registrars, argv)


if __name__ == "__main__":
    sys.exit(main())
