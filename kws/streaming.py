"""Streaming detection: a 1-s window of features every `stride_frames` frames (20 ms), a classifier per
window, then TFLite Micro's RecognizeCommands (micro_speech `recognize_commands.cc`) over the scores.

`RecognizeCommands` is the algorithm the firmware runs, written out explicitly with the same integer
semantics, for parity tests against the C port:

    per result (scores: one integer 0..255 per class = int8 softmax output + 128, time in ms):
    1. a time earlier than the oldest queued result is an error; push (time, scores);
    2. drop queued results older than time - average_window_ms (strictly older);
    3. if fewer than minimum_count results are queued, or they span less than average_window_ms / 4
       (integer division): no decision (score 0, not new; the label reported is the previous top label);
    4. average[i] = (sum of scores[i] over the queue) // count   (integer division);
    5. top = first class with the largest average (0 if all averages are 0);
    6. time_since_last = "infinite" if the previous top label is labels[0] (silence) or there was none,
       else time - previous_top_time;
    7. new command iff average[top] > detection_threshold and (top != previous top or
       time_since_last > suppression_ms); then previous top := top, previous_top_time := time.

Defaults are TFLM's: 1000 ms average window, threshold 200, suppression 1500 ms, minimum count 3.
Unlike TFLM's fixed 50-entry queue (which silently drops results when full), the queue holds every
result inside the window: a C port must size it as average_window_ms / (stride_frames * 20 ms) + 1
(51 at the defaults). Silence and unknown can win (they take part in suppression, as in TFLM); only
`report_labels` are reported as detections.

The parameters are saved as `streaming.json` next to each model, and the firmware reads the same file
(through the generated C header). `scores_from_probabilities` maps float probabilities to the int8
model's output scale (1/256) so float and int8 models feed RecognizeCommands the same way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from export.model_folder import StreamingConfig, load_streaming, save_streaming
from kws.features import FeatureStream

__all__ = [
    "StreamingConfig", "RecognizeCommands", "Result", "Detection", "window_end_frames", "sliding_windows",
    "scores_from_probabilities", "averaged_scores", "decide", "detections_from_scores", "StreamingDetector",
    "save_streaming", "load_streaming", "DEPLOY_STRIDE_FRAMES",
]

INT32_MAX = 2 ** 31 - 1

# The stride stored with the models `kws train` and `kws closed-set` write (streaming.json), and the one the
# benchmarks evaluate: a window every 8 frames (160 ms), 6 results in RecognizeCommands' 1-s average (>= its
# minimum count of 3). micro_speech classified as often as the board allowed; Edge Impulse's continuous mode
# runs 4 windows a second. At 20 ms a Cortex-M4 at 64 MHz would need ~3x the cycles it has (bench/firmware.py).
DEPLOY_STRIDE_FRAMES = 8


@dataclass(frozen=True)
class Result:
    label_index: int
    score: int
    is_new: bool


@dataclass(frozen=True)
class Detection:
    label: str
    time_ms: int
    score: int


class RecognizeCommands:
    """TFLM's RecognizeCommands over integer scores (see the module docstring for the exact rules)."""

    def __init__(self, config: StreamingConfig) -> None:
        self.config = config
        self.num_classes = len(config.labels)
        self._queue: deque[tuple[int, np.ndarray]] = deque()
        self.previous_top = 0
        self.previous_top_time: int | None = None

    def process(self, scores: Sequence[int], time_ms: int) -> Result:
        config = self.config
        scores = np.asarray(scores, dtype=np.int64)
        if scores.shape != (self.num_classes,):
            raise ValueError(f"expected {self.num_classes} scores, got shape {scores.shape}")
        if scores.min() < 0 or scores.max() > 255:
            raise ValueError("scores must lie in 0..255 (int8 output + 128)")
        if self._queue and time_ms < self._queue[0][0]:
            raise ValueError(f"results must come in increasing time order ({time_ms} < {self._queue[0][0]})")
        self._queue.append((int(time_ms), scores))
        limit = time_ms - config.average_window_ms
        while self._queue and self._queue[0][0] < limit:
            self._queue.popleft()
        count = len(self._queue)
        span = time_ms - self._queue[0][0]
        if count < config.minimum_count or span < config.average_window_ms // 4:
            return Result(self.previous_top, 0, False)
        total = np.zeros(self.num_classes, np.int64)
        for _, queued in self._queue:
            total += queued
        average = total // count
        top, top_score = 0, 0
        for i in range(self.num_classes):
            if average[i] > top_score:
                top, top_score = i, int(average[i])
        if self.previous_top == 0 or self.previous_top_time is None:
            since = INT32_MAX
        else:
            since = time_ms - self.previous_top_time
        if top_score > config.detection_threshold and (top != self.previous_top or since > config.suppression_ms):
            self.previous_top, self.previous_top_time = top, int(time_ms)
            return Result(top, top_score, True)
        return Result(top, top_score, False)


# ------------------------------------------------------------------------------- batch (offline) form

def window_end_frames(num_frames: int, config: StreamingConfig) -> np.ndarray:
    first = config.window_frames - 1
    if num_frames <= first:
        return np.zeros(0, np.int64)
    return np.arange(first, num_frames, config.stride_frames, dtype=np.int64)


def sliding_windows(features: np.ndarray, config: StreamingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Views [n, window_frames, channels] of every window and their end frames (no copy)."""
    ends = window_end_frames(len(features), config)
    if len(ends) == 0:
        return np.zeros((0, config.window_frames, features.shape[1]), features.dtype), ends
    view = np.lib.stride_tricks.sliding_window_view(features, config.window_frames, axis=0)  # [n, C, W]
    return view[ends - (config.window_frames - 1)].transpose(0, 2, 1), ends


def scores_from_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """float probabilities -> the int8 softmax output (scale 1/256, zero point -128) + 128, as int."""
    return np.clip(np.round(np.asarray(probabilities, np.float64) * 256.0), 0, 255).astype(np.int64)


def averaged_scores(scores: np.ndarray, times_ms: np.ndarray, config: StreamingConfig
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-5 for every result at once: (top index, top score, decision possible) per result."""
    scores = np.asarray(scores, np.int64)
    times = np.asarray(times_ms, np.int64)
    if len(times) and np.any(np.diff(times) < 0):
        raise ValueError("results must come in increasing time order")
    first = np.searchsorted(times, times - config.average_window_ms, side="left")
    cumulative = np.concatenate([np.zeros((1, scores.shape[1]), np.int64), np.cumsum(scores, axis=0)])
    index = np.arange(len(times))
    count = index - first + 1
    average = (cumulative[index + 1] - cumulative[first]) // count[:, None]
    valid = (count >= config.minimum_count) & (times - times[first] >= config.average_window_ms // 4)
    top = np.argmax(average, axis=1) if len(times) else np.zeros(0, np.int64)
    top_score = average[index, top] if len(times) else np.zeros(0, np.int64)
    return top.astype(np.int64), top_score.astype(np.int64), valid


def _decide_python(top: np.ndarray, top_score: np.ndarray, valid: np.ndarray, times: np.ndarray, threshold: int,
                   suppression_ms: int) -> np.ndarray:
    new = np.zeros(len(top), np.bool_)
    previous, previous_time, has_previous = 0, 0, False
    for i in range(len(top)):
        if not valid[i] or top_score[i] <= threshold:
            continue
        since = INT32_MAX if (previous == 0 or not has_previous) else times[i] - previous_time
        if top[i] != previous or since > suppression_ms:
            previous, previous_time, has_previous = top[i], times[i], True
            new[i] = True
    return new


try:  # numba makes threshold sweeps over hours of results fast; the rules are the same function
    import numba

    _decide_fast = numba.njit(cache=False)(_decide_python)
except Exception:  # pragma: no cover
    _decide_fast = _decide_python


def decide(top: np.ndarray, top_score: np.ndarray, valid: np.ndarray, times_ms: np.ndarray, config: StreamingConfig,
           *, threshold: int | None = None) -> np.ndarray:
    """Steps 6-7: which results are new commands, at `threshold` (default: the config's)."""
    threshold = config.detection_threshold if threshold is None else int(threshold)
    return _decide_fast(np.asarray(top, np.int64), np.asarray(top_score, np.int64), np.asarray(valid, np.bool_),
                        np.asarray(times_ms, np.int64), threshold, int(config.suppression_ms))


def detections_from_scores(scores: np.ndarray, times_ms: np.ndarray, config: StreamingConfig, *,
                           threshold: int | None = None) -> list[Detection]:
    top, top_score, valid = averaged_scores(scores, times_ms, config)
    new = decide(top, top_score, valid, times_ms, config, threshold=threshold)
    reported = set(config.reported)
    return [Detection(config.labels[top[i]], int(times_ms[i]), int(top_score[i]))
            for i in np.flatnonzero(new) if config.labels[top[i]] in reported]


# ---------------------------------------------------------------------------------- streaming (online)

Scorer = Callable[[np.ndarray], np.ndarray]  # int8 windows [n, frames, channels] -> int scores [n, classes]


class StreamingDetector:
    """Online form: audio (or feature frames) in, detections out, with bounded memory.

    Frames go into a buffer of the last `window_frames`; every `stride_frames`-th frame completes a
    window that is scored and fed to `RecognizeCommands`. Equals `detections_from_scores` over
    `sliding_windows` of the same frames (a test), however the input is cut into pushes.
    """

    def __init__(self, scorer: Scorer, config: StreamingConfig, *, history_s: float = 10.0,
                 batch_windows: int = 256) -> None:
        self.scorer, self.config = scorer, config
        self.frontend_stream = FeatureStream(config.frontend, history_s=history_s)
        self.recognizer = RecognizeCommands(config)
        self._frames = np.zeros((0, config.frontend.channels), np.int8)
        self._frames_seen = 0  # absolute index of the next frame
        self.batch_windows = batch_windows
        self.results: list[tuple[int, np.ndarray]] = []  # (time_ms, scores) when keep_results
        self.keep_results = False

    def push_audio(self, samples: np.ndarray) -> list[Detection]:
        return self.push_features(self.frontend_stream.push(samples))

    def push_features(self, frames: np.ndarray) -> list[Detection]:
        config = self.config
        frames = np.asarray(frames, np.int8)
        if len(frames) == 0:
            return []
        start = self._frames_seen - len(self._frames)  # absolute index of _frames[0]
        buffer = np.concatenate([self._frames, frames])
        self._frames_seen += len(frames)
        previous_seen, last = self._frames_seen - len(frames), config.window_frames - 1
        k = max(0, -(-(previous_seen - last) // config.stride_frames))  # first window ending in this push
        ends = np.arange(last + k * config.stride_frames, self._frames_seen, config.stride_frames, dtype=np.int64)
        detections: list[Detection] = []
        reported = set(config.reported)
        for first in range(0, len(ends), self.batch_windows):
            chunk = ends[first:first + self.batch_windows]
            windows = np.stack([buffer[e - start - config.window_frames + 1: e - start + 1] for e in chunk])
            scores = np.asarray(self.scorer(windows), np.int64)
            for end, row in zip(chunk, scores):
                time_ms = int(config.window_time_ms(int(end)))
                if self.keep_results:
                    self.results.append((time_ms, row))
                result = self.recognizer.process(row, time_ms)
                label = config.labels[result.label_index]
                if result.is_new and label in reported:
                    detections.append(Detection(label, time_ms, result.score))
        self._frames = buffer[-(config.window_frames - 1):] if config.window_frames > 1 else buffer[:0]
        return detections
