"""`python -m asr COMMAND`: the Conformer-CTC recognizer (train, eval, wer, transcribe, export)."""

from __future__ import annotations

import sys

from corpus.cli import run_cli

from asr.cli import register_all

_DESCRIPTION = """\
Conformer-CTC speech recognizer. (Data: `python -m corpus download librispeech`, `synth-librispeech`.)

  train        train a model folder (resumes from its last checkpoint)
  eval         WER of a model on LibriSpeech test-clean or any source (wer.json, .pra, PNG)
  wer          score hypothesis transcripts against references (sclite's counts)
  transcribe   transcribe audio files of any length
  export       float16 / int8 TFLite with their WER next to the Keras model's
"""


def main(argv: list[str] | None = None) -> int:
    return run_cli("python -m asr", _DESCRIPTION, [register_all], argv)


if __name__ == "__main__":
    sys.exit(main())
