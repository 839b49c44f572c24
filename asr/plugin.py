"""The recognizer as a plain function, for other packages that load it by name at run time
(the People's Speech builder's `--recognizer asr:DIR`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["load_recognizer"]


def load_recognizer(model_dir: str) -> Callable[[np.ndarray, int], str]:
    """float32 mono audio and its sample rate in Hz -> LibriSpeech-normalized text (greedy decoding)."""
    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()
    from asr.recognizer import Recognizer

    recognizer = Recognizer.load(model_dir)

    def recognize(samples: np.ndarray, sample_rate_hz: int) -> str:
        return recognizer.transcribe(np.asarray(samples, np.float32), int(sample_rate_hz))

    return recognize
