"""Cutting 1-second keyword clips out of sentences: one definition for the MSWC builder and the demos.

A word shorter than the clip is cut exactly to its aligned span, faded in and out (so the cut makes
no click and no half-phone of a neighbour sticks out), and zero-padded equally on both sides. A
longer word gets a window around its midpoint, shifted to stay inside the recording. The result always
has exactly `round(clip_s * sample_rate_hz)` samples.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cut_keyword_clip", "clip_span_s"]


def clip_span_s(start_s: float, end_s: float, recording_s: float, *, clip_s: float = 1.0) -> tuple[float, float]:
    """The [start, end) of the recording that goes into the clip (before padding)."""
    if end_s <= start_s:
        raise ValueError(f"empty word span {start_s:.3f}-{end_s:.3f} s")
    if end_s - start_s <= clip_s:
        return max(0.0, start_s), min(recording_s, end_s)
    middle = (start_s + end_s) / 2
    first = min(max(0.0, middle - clip_s / 2), max(0.0, recording_s - clip_s))
    return first, min(recording_s, first + clip_s)


def cut_keyword_clip(samples: np.ndarray, sample_rate_hz: int, start_s: float, end_s: float, *,
                     clip_s: float = 1.0, fade_s: float = 0.025) -> np.ndarray:
    """A float32 clip of exactly clip_s seconds holding the word at [start_s, end_s)."""
    length = int(round(clip_s * sample_rate_hz))
    first_s, last_s = clip_span_s(start_s, end_s, len(samples) / sample_rate_hz, clip_s=clip_s)
    first, last = int(round(first_s * sample_rate_hz)), int(round(last_s * sample_rate_hz))
    piece = np.asarray(samples[first:last], dtype=np.float32)[:length].copy()
    if piece.size == 0:
        raise ValueError(f"word span {start_s:.3f}-{end_s:.3f} s lies outside the recording")
    fade = min(int(round(fade_s * sample_rate_hz)), piece.size // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
    clip = np.zeros(length, np.float32)
    offset = (length - piece.size) // 2
    clip[offset:offset + piece.size] = piece
    return clip
