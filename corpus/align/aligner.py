"""Forced alignment of batches of utterances with a trained model: the inference half of `corpus.align`.

For a batch: decode each item's audio (its span of the recording), normalized log-mel frames, one MLP
pass over all frames of the batch, one numba Viterbi call over all utterance graphs, one free-loop
call for the mismatch reference. Per utterance this gives word and grapheme intervals, a per-word
confidence (mean over the word's frames of the aligned unit's posterior relative to the best unit's)
and a per-utterance log score: (forced-path score - free-loop score) per speech frame, plus twice the
log of the mean word confidence. A transcript that matches the audio scores near 0; one that does not
falls far below (both terms drop: the frames fit worse and the words' units lose to other units). The
model stores the flag threshold calibrated on held-out training utterances; `Alignment.score` is a
logistic of the distance to it (0.5 at the threshold), and `custom["mismatch"]` is the flag.

Boundaries are refined below the 10 ms frame (`boundaries`): at each change of state on the best path
the boundary moves to the crossover of the two states' frame scores (at most half a frame), and word
edges that border a pause move inwards to the signal's rise or fall above the pause's noise floor.

Bad input never raises: an item comes back with `error` set (empty transcript, characters never seen
in training, audio too short for the transcript, no speech in the audio, undecodable or non-finite
audio, or wild boundaries: a word stretched over more than 2 s, 0.3 s per unit for long words, which
happens only when the transcript and the audio disagree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from corpus.align.boundaries import crossovers, energy_db, trim_pause_edges
from corpus.align.features import FRAME_S, SAMPLE_RATE_HZ, frame_count
from corpus.align.hmm import Graph, Topology, build_graph, free_loop_score, viterbi_batch
from corpus.align.lexicon import LexiconError, spell, spelled_by_letters
from corpus.align.model import AcousticModel
from corpus.align.types import AlignItem, AlignResult
from corpus.audio import AudioError, check_finite, load_audio
from corpus.manifest import AlignedWord, Alignment

__all__ = ["Prepared", "prepare", "prepare_samples", "decode_prepared", "align_batch", "word_units", "with_filler",
           "FILLER_LP"]

_WILD_WORD_S = 2.0   # a word aligned longer than this (or _WILD_UNIT_S per unit) is a failed item
_WILD_UNIT_S = 0.3
_SILENT_PEAK = 1e-4  # below -80 dBFS at its loudest: digital silence or a dead microphone
FILLER_LP = -4.0     # per-frame cost of untranscribed speech in a pause (decode_prepared(filler=True)), as in long mode


@dataclass
class Prepared:
    item: AlignItem
    feats: np.ndarray | None = None
    units: list[tuple[int, ...]] | None = None
    error: str | None = None
    num_samples: int = 0
    energy: np.ndarray | None = None  # 5 ms levels for pause-edge trimming


def word_units(model: AcousticModel, words: Sequence[str]) -> list[tuple[int, ...]]:
    """Unit indices of each word; raises LexiconError (empty transcript, unseen characters)."""
    if not words or not any(w.strip() for w in words):
        raise LexiconError("empty transcript: nothing to align")
    return [spell(model.lexicon, w, model.language) for w in words]


def prepare_samples(item: AlignItem, samples: np.ndarray, model: AcousticModel) -> Prepared:
    """Features and units of an item whose 16 kHz samples are already in memory."""
    try:
        units = word_units(model, item.words)
    except LexiconError as error:
        return Prepared(item, error=str(error))
    samples = np.asarray(samples, np.float32).reshape(-1)
    try:
        check_finite(samples, item.audio_path)
    except AudioError as error:
        return Prepared(item, error=f"non-finite audio: {error}")
    if samples.size < SAMPLE_RATE_HZ // 50:
        return Prepared(item, error=f"audio too short ({samples.size / SAMPLE_RATE_HZ:.3f} s)")
    need = sum(len(u) for u in units) * model.topology.states_per_unit
    frames = frame_count(samples.size)
    if frames < need:
        return Prepared(item, error=f"audio too short for the transcript: {frames * FRAME_S:.2f} s, the "
                                    f"{sum(len(u) for u in units)} units need at least {need * FRAME_S:.2f} s")
    peak = float(np.abs(samples).max())
    if peak < _SILENT_PEAK:
        return Prepared(item, error=f"no speech in the audio: silence only (peak amplitude {peak:.1e})")
    return Prepared(item, feats=model.features(samples), units=units, num_samples=int(samples.size),
                    energy=energy_db(samples))


def prepare(item: AlignItem, model: AcousticModel) -> Prepared:
    """Decode the item's audio span and compute its features; problems become `error`."""
    try:
        word_units(model, item.words)
    except LexiconError as error:
        return Prepared(item, error=str(error))
    try:
        samples = load_audio(item.audio_path, sample_rate_hz=SAMPLE_RATE_HZ, start_s=item.start_s,
                             duration_s=item.duration_s)
    except AudioError as error:
        kind = type(error).__name__
        return Prepared(item, error=f"{'non-finite audio' if kind == 'NonFiniteAudio' else 'audio'}: {error}")
    except Exception as error:  # a decoder failure we did not foresee must not stop a batch
        return Prepared(item, error=f"audio: {item.audio_path}: {type(error).__name__}: {error}")
    return prepare_samples(item, samples, model)


def _spans(labels: np.ndarray, count: int) -> np.ndarray:
    """[count, 2] first frame and end frame (exclusive) of each label 0..count-1 along the path; (0, 0) if absent.
    Labels are contiguous along a left-to-right path."""
    out = np.zeros((count, 2), np.int64)
    frames = np.flatnonzero(labels >= 0)
    if frames.size:
        values = labels[frames]
        starts = np.flatnonzero(np.concatenate([[True], np.diff(values) != 0]))
        ends = np.concatenate([starts[1:], [len(values)]]) - 1
        out[values[starts], 0] = frames[starts]
        out[values[starts], 1] = frames[ends] + 1
    return out


def _timed(text: str, start: float, end: float, score: float) -> AlignedWord:
    """Times rounded to 0.1 ms so that a word's end and the next word's start stay equal after rounding."""
    start_r, end_r = round(start, 4), round(max(end, start), 4)
    return AlignedWord(text=text, start_s=start_r, duration_s=round(end_r - start_r, 4), score=round(score, 4))


def _build(model: AcousticModel, prepared: Prepared, graph: Graph, path: np.ndarray, scores: np.ndarray,
           logp: np.ndarray, forced: float, free: float) -> AlignResult:
    item, units = prepared.item, prepared.units
    topo = model.topology
    T = len(path)
    filled = graph.cls[path] >= topo.n_classes  # frames on a filler position (decode_prepared(filler=True))
    cls = np.where(filled, graph.cls[path] - topo.silence_states, graph.cls[path])
    silence = cls >= topo.silence_first
    post = np.exp(logp)
    silence_post = post[:, topo.silence_first:].sum(axis=1)
    speech_frames = int(np.count_nonzero(silence_post < 0.5))
    min_frames = graph.min_frames
    if speech_frames < max(5, 0.25 * min_frames):
        return AlignResult(id=item.id, alignment=None,
                           error=f"no speech in the audio (silence or noise only: {speech_frames} of {T} frames "
                                 f"sound like speech, the transcript needs >= {min_frames})")
    # per-frame confidence of the aligned unit against the best unit
    unit_of_class = topo.unit_of_class()
    membership = np.zeros((topo.n_classes, topo.n_units + 1), np.float32)
    membership[np.arange(topo.n_classes), unit_of_class] = 1.0
    unit_post = post @ membership
    aligned_unit = unit_of_class[cls]
    frame_conf = unit_post[np.arange(T), aligned_unit] / np.maximum(unit_post.max(axis=1), 1e-12)
    offset = item.start_s
    edge_pos = crossovers(path, graph.cls, scores) * FRAME_S  # [T+1] boundary time before each frame
    conf_sum = np.concatenate([[0.0], np.cumsum(frame_conf, dtype=np.float64)])
    word_spans = _spans(graph.word[path], len(item.words))
    flat_units = [(w, u) for w, word in enumerate(units) for u in word]
    unit_spans = _spans(graph.unit_pos[path], len(flat_units))
    present = [w for w in range(len(item.words)) if word_spans[w, 1] > 0]
    seconds = [[float(edge_pos[word_spans[w, 0]]), float(edge_pos[word_spans[w, 1]])] for w in present]
    if model.config.pause_edge_max_s > 0 and prepared.energy is not None:
        pause_before = [word_spans[w, 0] == 0 or bool(silence[word_spans[w, 0] - 1]) for w in present]
        pause_after = [word_spans[w, 1] == T or bool(silence[word_spans[w, 1]]) for w in present]
        trim_pause_edges(seconds, pause_before, pause_after, prepared.energy, np.repeat(silence, 2),
                         max_shift_s=model.config.pause_edge_max_s)
    bounds = dict(zip(present, seconds))
    for w, (lo, hi) in bounds.items():
        limit = max(_WILD_WORD_S, _WILD_UNIT_S * len(units[w]))
        if hi - lo > limit:  # no word lasts this long: the transcript and the audio disagree here
            return AlignResult(id=item.id, alignment=None,
                               error=f"wild boundaries: word {w} {item.words[w]!r} would span {hi - lo:.2f} s "
                                     f"(at {lo + offset:.2f} s; a word of {len(units[w])} units stays under "
                                     f"{limit:.2f} s): the transcript does not match the audio there")
    words, unit_items, word_confs = [], [], []
    for w in present:
        first, last = word_spans[w]
        conf = float((conf_sum[last] - conf_sum[first]) / (last - first))
        word_confs.append(conf)
        words.append(_timed(item.words[w], bounds[w][0] + offset, bounds[w][1] + offset, conf))
    names = model.lexicon.units
    for k, (w, u) in enumerate(flat_units):
        first, last = unit_spans[k]
        if last == 0 or w not in bounds:
            continue
        lo, hi = bounds[w]
        start = min(max(float(edge_pos[first]), lo), hi)
        end = min(max(float(edge_pos[last]), start), hi)
        unit_items.append(_timed(names[u], start + offset, end + offset,
                                 float((conf_sum[last] - conf_sum[first]) / (last - first))))
    speech = max(int(np.count_nonzero(~silence)), 1)
    frame_ratio = (forced - free) / speech if math.isfinite(forced) else -1e9
    mean_conf = max(float(np.mean(word_confs)) if word_confs else 0.0, 1e-3)
    log_score = frame_ratio + 2.0 * math.log(mean_conf)
    cal = model.calibration
    threshold, scale = cal.get("threshold", -1.0), max(cal.get("scale", 0.2), 1e-3)
    z = float(np.clip((log_score - threshold) / scale, -50, 50))
    score = 1.0 / (1.0 + math.exp(-z))
    by_letters = spelled_by_letters(model.lexicon, item.words, model.language)  # espeak gave nothing usable
    alignment = Alignment(
        id=item.id, recording_id=item.id, words=tuple(words), units=tuple(unit_items), score=round(score, 4),
        custom={"mismatch": bool(log_score < threshold), "log_score": round(float(log_score), 4),
                "frame_log_ratio": round(float(frame_ratio), 4),
                "min_word_score": round(min(word_confs), 4) if word_confs else 0.0,
                "speech_frames": speech_frames, "frames": T,
                "duration_s": round(offset + prepared.num_samples / SAMPLE_RATE_HZ, 4),
                **({"spelled_by_letters": by_letters} if by_letters else {}),
                **({"filler_speech_s": round(float(np.count_nonzero(filled & (silence_post < 0.5))) * FRAME_S, 3)}
                   if graph.cls.max() >= topo.n_classes else {})})
    return AlignResult(id=item.id, alignment=alignment)


def with_filler(scores: np.ndarray, topo: Topology) -> np.ndarray:
    """Scores plus one filler column per silence state: that state's score, or the best unit's + FILLER_LP
    (the classes `build_graph(..., filler=True)` puts in pauses)."""
    silence = scores[:, topo.silence_first:]
    speech = scores[:, :topo.silence_first].max(axis=1, keepdims=True) + FILLER_LP
    return np.concatenate([scores, np.maximum(silence, speech)], axis=1)


def decode_prepared(model: AcousticModel, prepared: Sequence[Prepared], *, filler: bool = False
                    ) -> list[AlignResult]:
    """Align prepared items in one batch; failed preparations pass their error through.

    `filler`: pauses between words (and at the edges) may also hold untranscribed speech (hesitations, a word
    missing from the transcript) at FILLER_LP a frame, so it does not stretch the neighbouring words; reported
    as `custom["filler_speech_s"]`. The mismatch score is calibrated without it: a wrong transcript scores
    higher with a filler."""
    results: list[AlignResult | None] = [None] * len(prepared)
    ok = [i for i, p in enumerate(prepared) if p.error is None]
    for i, p in enumerate(prepared):
        if p.error is not None:
            results[i] = AlignResult(id=p.item.id, alignment=None, error=p.error)
    if ok:
        feats = [prepared[i].feats for i in ok]
        offsets = np.concatenate([[0], np.cumsum([len(f) for f in feats])]).astype(np.int64)
        scores, logp = model.scores(np.concatenate(feats), offsets=offsets)
        graphs = [build_graph(prepared[i].units, model.topology, filler=filler) for i in ok]
        free = free_loop_score(scores, offsets, model.topology)
        if filler:
            scores = with_filler(scores, model.topology)
        best, path = viterbi_batch(scores, offsets, graphs)
        for k, i in enumerate(ok):
            a, b = offsets[k], offsets[k + 1]
            item = prepared[i].item
            if not math.isfinite(best[k]):
                results[i] = AlignResult(id=item.id, alignment=None,
                                         error="no alignment fits: the audio is too short for the transcript")
                continue
            try:
                results[i] = _build(model, prepared[i], graphs[k], path[a:b], scores[a:b], logp[a:b], float(best[k]),
                                    float(free[k]))
            except ValueError as error:  # e.g. a manifest invariant; report, don't crash the batch
                results[i] = AlignResult(id=item.id, alignment=None, error=f"alignment failed: {error}")
    return [r for r in results if r is not None]


def align_batch(model: AcousticModel, items: Sequence[AlignItem], *, filler: bool = False) -> list[AlignResult]:
    return decode_prepared(model, [prepare(item, model) for item in items], filler=filler)
