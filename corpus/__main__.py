"""`python -m corpus COMMAND`: build speech datasets (synthetic corpora, downloads, alignment, MSWC)."""

from __future__ import annotations

import importlib
import sys

from corpus.cli import run_cli

# Each module exposes register(subparsers); the order here is the order of `--help`.
_COMMAND_MODULES = (
    "corpus.demo.common_voice",
    "corpus.demo.librispeech",
    "corpus.demo.internet_archive",
    "corpus.demo.mswc",
    "corpus.download",
    "corpus.align.cli",
    "corpus.mswc.cli",
    "corpus.peoples_speech.cli",
)

_DESCRIPTION = """\
Build speech datasets from found speech.

  synth-cv / synth-librispeech / synth-ia / synth-mswc
        write synthetic corpora (espeak-ng speech with exact word timings) in the real layouts
  download
        fetch LibriSpeech parts and MSWC languages (resumable, checksummed)
  align train / run / long
        forced aligner trained on the corpus itself (TextGrid, CTM, JSONL out; MFA backend optional)
  mswc build
        Common Voice language folder -> MSWC keyword clips, splits, scores (local pool or Spark)

Run `python -m corpus COMMAND --help` for each command's options and an example.
"""


def main(argv: list[str] | None = None) -> int:
    registrars = [importlib.import_module(name).register for name in _COMMAND_MODULES]
    return run_cli("python -m corpus", _DESCRIPTION, registrars, argv)


if __name__ == "__main__":
    sys.exit(main())
