"""Boundary refinement below the 10 ms frame, after Viterbi.

1. Score crossover (`crossovers`): where the best path changes state between frames t-1 and t, the
   boundary moves within +-half a frame to the zero crossing of score(right) - score(left), linearly
   interpolated between the two frame centres.
2. Pause edges (`trim_pause_edges`): the annotation convention excludes pauses from words, including
   the silent closure of a stop that begins a word after a pause (TIMIT, Buckeye; and our synthetic
   truth). An HMM unit for a stop, trained mostly where the closure belongs to it (between words),
   also claims closure-like silence after a pause. So where a word borders a pause, its edge moves
   inwards to where the signal rises above the pause's noise floor, measured on 5 ms frames of the
   pre-emphasized signal: floor = median level of the frames the path put in silence, threshold =
   floor + 20% of the floor-to-speech-peak range (3-10 dB). Edges move
   by at most `max_shift_s` (50 ms: a closure's length) and never outwards; an edge where two words
   touch is left alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crossovers", "energy_db", "trim_pause_edges", "ENERGY_HOP_S"]

ENERGY_HOP = 80  # samples at 16 kHz: 5 ms
ENERGY_HOP_S = 0.005


def crossovers(path: np.ndarray, cls: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """[T+1] boundary position (in frames) before each frame t: t, or where the path changes state between
    frames t-1 and t, the zero crossing of score(right) - score(left) between the two frame centres."""
    T = len(path)
    out = np.arange(T + 1, dtype=np.float64)
    edge = np.flatnonzero(np.diff(path)) + 1
    if edge.size == 0:
        return out
    left, right = cls[path[edge - 1]], cls[path[edge]]
    a = scores[edge - 1, right] - scores[edge - 1, left]  # < 0 before the change
    b = scores[edge, right] - scores[edge, left]          # > 0 after it
    ok = (a < 0) & (b > 0)
    cross = (edge - 0.5) + np.where(ok, -a / np.where(ok, b - a, 1.0), 0.5)
    out[edge] = np.clip(cross, edge - 0.5, edge + 0.5)
    return out


def energy_db(samples: np.ndarray) -> np.ndarray:
    """Level in dB of each 5 ms frame of the pre-emphasized signal."""
    x = np.asarray(samples, np.float32)
    n = len(x) // ENERGY_HOP
    if n == 0:
        return np.zeros(0, np.float32)
    emphasized = np.empty(n * ENERGY_HOP, np.float32)
    emphasized[0] = x[0]
    emphasized[1:] = x[1:n * ENERGY_HOP] - 0.97 * x[:n * ENERGY_HOP - 1]
    power = np.square(emphasized).reshape(n, ENERGY_HOP).mean(axis=1)
    return (10.0 * np.log10(power + 1e-12)).astype(np.float32)


def trim_pause_edges(spans: list[list[float]], pause_before: list[bool], pause_after: list[bool],
                     level: np.ndarray, silent: np.ndarray, *, max_shift_s: float = 0.05, min_word_s: float = 0.04,
                     pad_s: float = 0.0) -> None:
    """Move word edges that border a pause inwards to the signal's rise/fall; `spans` ([start, end] in
    seconds from the item's start) are changed in place. `silent` marks the 5 ms frames the path put in
    silence."""
    if level.size < 4 or not spans:
        return
    quiet = level[silent[:level.size]] if silent.size else level[:0]
    floor = float(np.median(quiet)) if quiet.size >= 10 else float(np.percentile(level, 10))
    peak = float(np.percentile(level[~silent[:level.size]], 95)) if np.any(~silent[:level.size]) \
        else float(level.max())
    threshold = floor + float(np.clip(0.2 * (peak - floor), 3.0, 10.0))
    loud = level > threshold
    pair = loud[:-1] & loud[1:]  # two loud frames in a row: not a click
    step = ENERGY_HOP_S
    for k, (start, end) in enumerate(spans):
        if pause_before[k]:
            first = int(np.ceil(start / step - 1e-6))
            last = int(min(start + max_shift_s, end - min_word_s) / step)
            if last > first:
                hits = np.flatnonzero(pair[first:min(last, pair.size)])
                if hits.size:
                    spans[k][0] = max(start, (first + int(hits[0])) * step - pad_s)
        if pause_after[k]:
            stop = int(np.floor(end / step + 1e-6))  # frames [.., stop) lie inside the word
            low = int(np.ceil(max(end - max_shift_s, spans[k][0] + min_word_s) / step))
            if stop - 1 > low:
                window = pair[low:min(stop - 1, pair.size)]
                hits = np.flatnonzero(window)
                if hits.size:
                    spans[k][1] = min(end, (low + int(hits[-1]) + 2) * step + pad_s)
