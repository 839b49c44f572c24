"""Class labels every keyword model shares (Speech Commands / TFLM micro_speech names).

Config <-> JSON, hashes and seeding live in the neutral `corpus.configs`, used by every package.
"""

from __future__ import annotations

__all__ = ["SILENCE", "UNKNOWN"]

SILENCE = "_silence_"  # index 0 of every model's labels (RecognizeCommands relies on it)
UNKNOWN = "_unknown_"  # index 1
