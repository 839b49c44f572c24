"""Stage 3, align: the whole transcript against the whole audio, with an aligner trained on the corpus itself.

1. Caption timing (`estimate_timing`, per document): captions are shifted, drift and jitter, so their
   times are only hints. A speech-activity track (10 ms frames louder than the document's noise floor)
   is matched against the caption cues: the offset (-4..4 s) and drift (-1.5..1.5 %) that put the most
   activity inside cues and the least outside win (grid search on cumulative sums, linear in cues).
2. Training (`training_items`): a cue with words, mapped through that estimate and widened by
   `train_pad_s`, is one training utterance of `corpus.align.train_aligner` (the same grapheme aligner
   the MSWC builder uses). By default it adapts the language's synthetic head start to these cues by
   a short EM (`corpus.align.adapt`; the head start is built once per language from espeak-ng speech
   and cached) on a fixed budget of audio (`adapt_max_s`): the documents take turns, each giving its
   most confident cue next (`cue_confidence`: speech inside the mapped span, quiet just outside), so the
   adaptation costs the same for an hour or a thousand hours and hears every document's voices.
   `aligner_init="flat"` trains from a flat start on every cue instead. No outside model.
3. Alignment (`align_document`, per document): `corpus.align.long_audio.align_long_samples`
   (windows of `window_s`, words skippable, a garbage path for untranscribed sound). The caption times
   are not used here: the text is anchored to the audio window by window.

Mismatched documents are dropped in bounded time. A document first aligns only its first `probe_s`
seconds with the words its captions put there (+ 10 s slack); when fewer than `min_matched_share` of
those words are matched (aligned with confidence >= `min_word_confidence`), the document is dropped as
`transcript_mismatch` after that probe. Otherwise the whole document is aligned and the same test is
applied to all its words. The bound, per document of D seconds of audio with W words:
  - work: the probe runs at most ceil(min(D, probe_s) / commit_s) + ceil(W_probe / K) + 1 windows and
    the full pass at most ceil(D / commit_s) + ceil(W / K) + 1 (K = words a window may take, 160 at
    30 s), each window O(window frames x window words): linear in D and W, never quadratic;
  - time: a mismatched document costs at most the alignment of min(D, probe_s) seconds; a matched one at
    most 2x the alignment of its own audio (probe + full pass; 1x when D <= 1.5 probe_s, which skips the probe).
With the head start the builder aligns once. With `aligner_init="flat"` it runs two passes (pass 1 with
the cue-trained aligner, pass 2 with one retrained on pass 1's reliable utterances), so over the whole
stage the bounds double (4x for a matched document).
`timeouts` counts documents whose window count broke that bound or whose wall time exceeded
`timeout_s_per_audio_s` x D; it is measured, not enforced, so that output never depends on machine load.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from corpus.align.types import AlignItem
from corpus.audio import read_blocks
from corpus.configs import stable_hash

__all__ = ["TimingTask", "estimate_timing", "fit_caption_timing", "credible_timing", "training_items", "AlignTask", "align_document",
           "window_bound", "words_per_window"]

FRAME_S = 0.01
_RATE = 16000


@dataclass(frozen=True, kw_only=True)
class TimingTask:
    id: str
    audio_path: str
    cues: tuple[tuple[float, float], ...]  # spans of the cues that carry words


def activity_track(audio_path: str) -> np.ndarray:
    """[frames] bool: 10 ms frames louder than the document's noise floor by a margin (read block by block)."""
    levels = []
    hop = int(FRAME_S * _RATE)
    for _, block in read_blocks(audio_path, block_s=60.0, sample_rate_hz=_RATE):
        n = len(block) // hop
        frames = block[: n * hop].reshape(n, hop)
        levels.append(10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10))
    level = np.concatenate(levels) if levels else np.zeros(0)
    if level.size == 0:
        return np.zeros(0, bool)
    floor, peak = np.percentile(level, 5), np.percentile(level, 95)
    return level > max(floor + 10.0, floor + 0.35 * (peak - floor))


def fit_caption_timing(active: np.ndarray, cues: Sequence[tuple[float, float]], *, max_offset_s: float = 4.0,
                       max_drift: float = 0.015, edge_s: float = 0.4) -> tuple[float, float, float]:
    """(offset_s, drift, score) with caption_time = offset_s + true_time * (1 + drift), best for `active`.

    Score: activity just after each mapped cue start minus activity just before it (speech onsets; cue
    ends are less reliable, captioners keep text on screen a while after speech stops), plus the
    centred activity inside the cues. Grid: offsets every 20 ms, 31 drifts.
    """
    if active.size == 0 or not cues:
        return 0.0, 0.0, 0.0
    centred = active.astype(np.float64) - active.mean()
    cum = np.concatenate([[0.0], np.cumsum(centred)])
    starts = np.array([c[0] for c in cues])
    ends = np.array([c[1] for c in cues])
    edge = int(round(edge_s / FRAME_S))
    best = (-np.inf, 0.0, 0.0)
    offsets = np.arange(-max_offset_s, max_offset_s + 1e-9, 0.02)

    def at(times: np.ndarray) -> np.ndarray:
        return cum[np.clip(np.round(times / FRAME_S).astype(np.int64), 0, len(active))]

    for drift in np.linspace(-max_drift, max_drift, 31):
        s = (starts[None, :] - offsets[:, None]) / (1 + drift)
        e = (ends[None, :] - offsets[:, None]) / (1 + drift)
        inside = at(e) - at(s)
        onset = (at(s + edge_s) - at(s)) - (at(s) - at(s - edge_s))
        score = (inside + 2.0 * onset).sum(axis=1)
        k = int(np.argmax(score))
        if score[k] > best[0] + 1e-9:
            best = (float(score[k]), float(offsets[k]), float(drift))
    score, offset, drift = best
    del edge
    return round(offset, 3), round(drift, 5), round(score * FRAME_S / max(1e-9, float(np.sum(ends - starts))), 4)


def cue_confidence(active: np.ndarray, cues: Sequence[tuple[float, float]], offset_s: float, drift: float, *,
                   margin_s: float = 0.3) -> tuple[float, ...]:
    """Per cue, how well its span (mapped through the timing estimate) holds one stretch of speech: the
    share of active frames inside it minus the share in `margin_s` just outside each edge. A cue that
    covers its speech and is bounded by quiet scores near 1; one cut mid-speech, shifted onto music or
    over silence scores low. Ranks the cues the aligner adapts on (`training_items`)."""
    if active.size == 0:
        return tuple(0.0 for _ in cues)
    cum = np.concatenate([[0.0], np.cumsum(active.astype(np.float64))])
    margin = max(1, int(round(margin_s / FRAME_S)))

    def mean(a: int, b: int) -> float:
        a, b = max(0, min(a, len(active))), max(0, min(b, len(active)))
        return float(cum[b] - cum[a]) / (b - a) if b > a else 0.0

    out = []
    for start, end in cues:
        a = int(round((start - offset_s) / (1 + drift) / FRAME_S))
        b = int(round((end - offset_s) / (1 + drift) / FRAME_S))
        outside = (mean(a - margin, a) + mean(b, b + margin)) / 2
        out.append(round(mean(a, b) - outside, 3))
    return tuple(out)


def estimate_timing(task: TimingTask) -> dict[str, Any]:
    try:
        active = activity_track(task.audio_path)
    except Exception as error:  # noqa: BLE001 - reported per document
        return {"id": task.id, "ok": False, "detail": f"{type(error).__name__}: {error}"}
    offset, drift, score = fit_caption_timing(active, task.cues)
    return {"id": task.id, "ok": True, "offset_s": offset, "drift": drift, "fit": score,
            "cue_confidence": cue_confidence(active, task.cues, offset, drift)}


def credible_timing(documents: Sequence[dict[str, Any]], *, max_offset_s: float = 4.0, max_drift: float = 0.015,
                    min_relative_fit: float = 0.5) -> list[dict[str, Any]]:
    """Documents whose caption-timing estimate can be trusted for training: not at the edge of the search
    grid, and a fit of at least `min_relative_fit` of the median fit (captions whose estimate went astray,
    e.g. onto music, fit poorly). At least one document always remains."""
    fits = np.array([d.get("fit", 0.0) for d in documents], np.float64)
    if fits.size == 0:
        return []
    floor = min_relative_fit * float(np.median(fits))
    kept = [d for d, f in zip(documents, fits) if f >= floor and abs(d["offset_s"]) < max_offset_s - 1e-6
            and abs(d["drift"]) < max_drift - 1e-6]
    return kept or [documents[int(np.argmax(fits))]]


def training_items(documents: Sequence[dict[str, Any]], *, pad_s: float, max_items: int, seed: int,
                   max_seconds: float = 0.0) -> list[AlignItem]:
    """One AlignItem per cue with words, times mapped through each document's caption-timing estimate.

    `documents`: {"id", "audio_path", "duration_s", "cues", "words", "word_cue", "offset_s", "drift", "fit",
    "cue_confidence" (optional, one per cue with words, in cue order)}; only those `credible_timing` keeps
    train. `max_seconds` > 0 caps the audio (what adapting the head start costs, whatever the corpus size):
    the documents take turns (every voice gets its share), each giving its next most confident cue, until
    the cap. Past `max_items`, a hash of (seed, item id) picks which cues train. The same on every run.
    """
    per_doc: list[list[tuple[float, AlignItem]]] = []
    for doc in credible_timing(documents):
        by_cue: dict[int, list[str]] = {}
        for word, cue in zip(doc["words"], doc["word_cue"]):
            by_cue.setdefault(cue, []).append(word)
        confidence = doc.get("cue_confidence") or ()
        ranked = []
        for k, (cue, words) in enumerate(sorted(by_cue.items())):
            start, end = doc["cues"][cue][0], doc["cues"][cue][1]
            start = (start - doc["offset_s"]) / (1 + doc["drift"]) - pad_s
            end = (end - doc["offset_s"]) / (1 + doc["drift"]) + pad_s
            start, end = max(0.0, start), min(doc["duration_s"], end)
            if end - start < 0.5:
                continue
            item = AlignItem(id=f"{doc['id']}#{cue:05d}", audio_path=doc["audio_path"], words=tuple(words),
                             start_s=round(start, 3), duration_s=round(end - start, 3))
            ranked.append((confidence[k] if k < len(confidence) else 0.0, item))
        ranked.sort(key=lambda ci: (-ci[0], ci[1].id))
        per_doc.append(ranked)
    if max_seconds > 0:
        items, total, turn = [], 0.0, 0
        while total < max_seconds and any(turn < len(r) for r in per_doc):
            for ranked in per_doc:
                if turn < len(ranked) and total < max_seconds:
                    items.append(ranked[turn][1])
                    total += ranked[turn][1].duration_s
            turn += 1
    else:
        items = [item for ranked in per_doc for _, item in ranked]
    if len(items) > max_items:
        items = sorted(items, key=lambda it: stable_hash(seed, it.id))[:max_items]
    return sorted(items, key=lambda it: it.id)


@dataclass(frozen=True, kw_only=True)
class AlignTask:
    id: str
    audio_path: str
    duration_s: float
    words: tuple[str, ...]
    word_hint_s: tuple[float, ...]  # caption-estimated start of each word's cue (for the probe only)
    model_dir: str
    window_s: float
    commit_s: float
    probe_s: float
    min_word_confidence: float
    min_matched_share: float
    timeout_s_per_audio_s: float
    garbage_lp: float = -4.0
    word_skip_lp: float = -12.0


def words_per_window(window_s: float) -> int:
    from corpus.align.long_audio import LongAudioConfig

    return int(window_s * LongAudioConfig().words_per_s_max) + 10


def window_bound(duration_s: float, words: int, window_s: float, commit_s: float) -> int:
    """Most windows a long alignment of `words` over `duration_s` may take (see the module docstring)."""
    return math.ceil(duration_s / commit_s) + math.ceil(words / words_per_window(window_s)) + 1


def _blocks(audio_path: str, limit_s: float | None):
    for first, block in read_blocks(audio_path, block_s=20.0, sample_rate_hz=_RATE):
        if limit_s is not None:
            room = int(limit_s * _RATE) - first
            if room <= 0:
                return
            block = block[:room]
        yield first, block


def _matched(result, min_conf: float) -> int:
    return sum(w.score >= min_conf for w in result.alignment.words)


def align_document(task: AlignTask) -> dict[str, Any]:
    """Long alignment of one document with the mismatch probe; a plain dict (see `corpus.peoples_speech.segment`)."""
    from corpus.align.long_audio import LongAudioConfig, align_long_samples
    from corpus.align.model import load_model

    out: dict[str, Any] = {"id": task.id, "ok": False, "reason": "", "detail": "", "windows": 0, "seconds": 0.0,
                           "probe": None, "timeout": False}
    started = time.perf_counter()
    config = LongAudioConfig(window_s=task.window_s, commit_s=task.commit_s, garbage_lp=task.garbage_lp,
                             word_skip_lp=task.word_skip_lp)
    bound = window_bound(task.duration_s, len(task.words), task.window_s, task.commit_s)
    try:
        model = load_model(task.model_dir)
        if task.duration_s > 1.5 * task.probe_s:
            n = sum(h < task.probe_s + 10.0 for h in task.word_hint_s)
            probe = align_long_samples(_blocks(task.audio_path, task.probe_s), task.words[:n], model,
                                       item_id=task.id, config=config)
            matched = _matched(probe, task.min_word_confidence)
            out["windows"] += probe.windows
            bound += window_bound(min(task.duration_s, task.probe_s), n, task.window_s, task.commit_s)
            out["probe"] = {"words": n, "matched": matched, "seconds": round(time.perf_counter() - started, 3)}
            if n and matched < task.min_matched_share * n:
                out.update(reason="transcript_mismatch", detail=f"probe of the first {task.probe_s:.0f} s: "
                           f"{matched} of {n} words matched (< {task.min_matched_share:.0%})")
                return _finish(out, started, task, bound)
        result = align_long_samples(_blocks(task.audio_path, None), task.words, model, item_id=task.id,
                                    config=config)
    except Exception as error:  # noqa: BLE001 - one document's failure is reported, not fatal
        out.update(reason="align_error", detail=f"{type(error).__name__}: {error}")
        return _finish(out, started, task, bound)
    out["windows"] += result.windows
    matched = _matched(result, task.min_word_confidence)
    out["matched"] = matched
    if not task.words or matched < task.min_matched_share * len(task.words):
        out.update(reason="transcript_mismatch",
                   detail=f"{matched} of {len(task.words)} words matched (< {task.min_matched_share:.0%})")
        return _finish(out, started, task, bound)
    out.update(ok=True, words=[[i, w.text, w.start_s, round(w.end_s, 4), w.score]
                               for i, w in zip(result.word_indices, result.alignment.words)],
               unaligned_words=[i for i, _ in result.unaligned_words],
               unaligned_audio=[list(span) for span in result.unaligned_audio],
               errors=list(result.errors[:20]))
    return _finish(out, started, task, bound)


def _finish(out: dict[str, Any], started: float, task: AlignTask, bound: int) -> dict[str, Any]:
    seconds = time.perf_counter() - started
    out["seconds"] = round(seconds, 3)  # wall time: reported in timings, never written into the dataset
    out["window_bound"] = bound
    out["timeout"] = bool(out["windows"] > bound or seconds > task.timeout_s_per_audio_s * task.duration_s)
    return out
