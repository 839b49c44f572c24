"""`python -m asr COMMAND`: data for the Conformer-CTC recognizer (LibriSpeech download and synthetic trees).

The recognizer itself (training, `make eval-wer` on test-clean) arrives with its own issue.
"""

from __future__ import annotations

import sys

from corpus.cli import run_cli
from corpus.demo import librispeech
from corpus import download

_DESCRIPTION = """\
Data for the Conformer-CTC recognizer.

  download librispeech   fetch a LibriSpeech part (resumable, MD5-checked), e.g. --part test-clean
  synth-librispeech      write a synthetic LibriSpeech split with exact word times (for tests and demos)
"""


def main(argv: list[str] | None = None) -> int:
    return run_cli("python -m asr", _DESCRIPTION, [download.register, librispeech.register], argv)


if __name__ == "__main__":
    sys.exit(main())
