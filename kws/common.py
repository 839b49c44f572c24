"""Class labels every keyword model shares (Speech Commands / TFLM micro_speech names; defined with the
model folder format in `export.model_folder`, which the firmware generators read too).

Config <-> JSON, hashes and seeding live in the neutral `corpus.configs`, used by every package.
"""

from __future__ import annotations

from export.model_folder import SILENCE, UNKNOWN  # index 0 and 1 of every model's labels

__all__ = ["SILENCE", "UNKNOWN"]
