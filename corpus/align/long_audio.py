"""Long-audio alignment: minutes to hours of audio with one long transcript (the People's Speech case).

Windowed, anchored alignment with bounded memory. The audio is streamed block by block
(`corpus.audio.read_blocks`); only the current window's samples and frames are held. In each window
(`window_s`, 30 s by default) the next words of the transcript, more than the window can hold, are
aligned with a graph built for found speech:

    F w1 F w2 F ... wK F

- F is a filler position between words whose frame score is max(silence, best unit + `garbage_lp`):
  it takes pauses for free and untranscribed audio (speech, music) at a cost per frame, so audio
  absent from the transcript does not drag the neighbouring words over it;
- every word can be skipped (F -> F at `word_skip_lp`), so transcript words absent from the audio do
  not pull the alignment out of place;
- the path may start at the window's first frame and end anywhere, since the window cuts the
  transcript and the audio at arbitrary points.

Words ending within the first `commit_s` seconds of the window are committed (aligned, or skipped and
reported); the next window starts at the end of the last committed word. A window where nothing is
committed (a long untranscribed stretch) advances by `commit_s`. The result lists the aligned words
with confidences, the transcript words that were not found, and the stretches of audio that hold
sound not in the transcript.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from corpus.align.features import FRAME_S, HOP, SAMPLE_RATE_HZ
from corpus.align.hmm import NEG, Graph, viterbi
from corpus.align.lexicon import LexiconError, spell
from corpus.align.model import AcousticModel, load_model
from corpus.audio import read_blocks
from corpus.manifest import AlignedWord, Alignment

__all__ = ["LongAudioConfig", "LongAlignment", "align_long", "align_long_samples"]


@dataclass(frozen=True, kw_only=True)
class LongAudioConfig:
    window_s: float = 30.0
    commit_s: float = 20.0
    garbage_lp: float = -4.0          # per-frame cost of explaining a frame as untranscribed sound
    filler_enter_lp: float = -3.0     # cost of a pause/filler between two words
    word_skip_lp: float = -30.0       # cost of a transcript word absent from the audio (real speech: -12 skipped
                                      # 6% of the words it should have aligned, mostly short function words)
    words_per_s_max: float = 5.0      # transcript words a window may need (fast speech)
    min_unaligned_audio_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.commit_s < self.window_s:
            raise ValueError("need 0 < commit_s < window_s")


@dataclass(frozen=True)
class LongAlignment:
    alignment: Alignment
    unaligned_words: tuple[tuple[int, str], ...]        # (index in transcript, word) not found in the audio
    unaligned_audio: tuple[tuple[float, float], ...]    # (start_s, end_s) of sound not in the transcript
    duration_s: float
    windows: int
    word_indices: tuple[int, ...] = ()                   # transcript index of each aligned word
    errors: tuple[str, ...] = field(default=())         # words refused by the lexicon, etc.

    def to_json(self) -> dict:
        return {"id": self.alignment.id, "duration_s": round(self.duration_s, 3), "windows": self.windows,
                "words": [{"index": i, "text": w.text, "start_s": w.start_s, "end_s": round(w.end_s, 4),
                           "score": w.score} for i, w in zip(self.word_indices, self.alignment.words)],
                "unaligned_words": [{"index": i, "text": t} for i, t in self.unaligned_words],
                "unaligned_audio": [{"start_s": a, "end_s": b} for a, b in self.unaligned_audio],
                "errors": list(self.errors)}


def _long_graph(units: list[tuple[int, ...]], model: AcousticModel, filler: int, config: LongAudioConfig) -> Graph:
    topo = model.topology
    S = topo.states_per_unit
    cls, word, unit_pos, is_filler = [filler], [-1], [-1], [True]
    counter = 0
    for w, word_units in enumerate(units):
        for u in word_units:
            cls += range(u * S, u * S + S)
            word += [w] * S
            unit_pos += [counter] * S
            is_filler += [False] * S
            counter += 1
        cls.append(filler); word.append(-1); unit_pos.append(-1); is_filler.append(True)
    n = len(cls)
    cls_a = np.asarray(cls, np.int32)
    filler_a = np.asarray(is_filler)
    ext_loop = np.concatenate([topo.loop_lp, [np.log(0.95)]]).astype(np.float32)
    ext_exit = np.concatenate([topo.exit_lp, [np.log(0.05)]]).astype(np.float32)
    loop = ext_loop[cls_a]
    nxt = np.full(n, NEG, np.float32)
    nxt[1:] = ext_exit[cls_a[:-1]]
    nxt[1:][filler_a[1:]] += config.filler_enter_lp
    skip_from = np.full(n, -1, np.int32)
    skip_lp = np.full(n, NEG, np.float32)
    fillers = np.flatnonzero(filler_a)
    for prev_f, f in zip(fillers[:-1], fillers[1:]):
        skip_from[f] = prev_f  # skip the word between two fillers
        skip_lp[f] = config.word_skip_lp
        if f + 1 < n:  # the next word may follow this word directly, without a filler frame
            skip_from[f + 1] = f - 1
            skip_lp[f + 1] = ext_exit[cls_a[f - 1]]
    start_ok = np.zeros(n, bool)
    start_ok[0] = True
    if n > 1:
        start_ok[1] = True
    end_ok = np.ones(n, bool)
    return Graph(cls=cls_a, word=np.asarray(word, np.int32), unit_pos=np.asarray(unit_pos, np.int32), loop_lp=loop,
                 next_lp=nxt, skip_from=skip_from, skip_lp=skip_lp, start_ok=start_ok, end_ok=end_ok,
                 n_words=len(units), min_frames=1)


class _Stream:
    """A rolling buffer over `read_blocks` (or an in-memory array): window(start, length) in samples."""

    def __init__(self, blocks: Iterator[tuple[int, np.ndarray]]) -> None:
        self.blocks = blocks
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start = 0
        self.exhausted = False

    def window(self, start: int, length: int) -> tuple[np.ndarray, bool]:
        """Samples [start, start+length) (fewer at the end) and whether they reach the end of the audio."""
        if start > self.buffer_start:  # drop what no window will need again
            drop = min(start - self.buffer_start, len(self.buffer))
            self.buffer = self.buffer[drop:]
            self.buffer_start += drop
        while not self.exhausted and self.buffer_start + len(self.buffer) < start + length:
            try:
                _, block = next(self.blocks)
                self.buffer = np.concatenate([self.buffer, block])
            except StopIteration:
                self.exhausted = True
        lo = start - self.buffer_start
        out = self.buffer[lo:lo + length]
        return out, self.exhausted and self.buffer_start + len(self.buffer) <= start + length


def _words_and_units(model: AcousticModel, words: Sequence[str]) -> tuple[list[int], list[tuple[int, ...]], list[str]]:
    keep, units, errors = [], [], []
    for i, word in enumerate(words):
        try:
            units.append(spell(model.lexicon, word, model.language))
            keep.append(i)
        except LexiconError as error:
            errors.append(f"word {i}: {error}")
    return keep, units, errors


def align_long_samples(blocks: Iterator[tuple[int, np.ndarray]], words: Sequence[str], model: AcousticModel, *,
                       item_id: str = "recording", config: LongAudioConfig | None = None,
                       progress: bool = False) -> LongAlignment:
    """Align `words` to audio given as (first_sample, block) pairs of 16 kHz samples."""
    from tqdm import tqdm

    config = config or LongAudioConfig()
    bar = tqdm(desc="align long", unit="word", total=len(words), disable=not progress, leave=False,
               dynamic_ncols=True)
    keep, units, errors = _words_and_units(model, words)
    stream = _Stream(blocks)
    win = int(config.window_s * SAMPLE_RATE_HZ)
    commit_frames = int(config.commit_s / FRAME_S)
    topo = model.topology
    filler = topo.n_classes
    cursor = 0       # sample where the current window starts
    next_word = 0    # index into keep/units
    aligned: list[AlignedWord] = []
    aligned_index: list[int] = []
    kept = set(keep)
    unaligned_words: list[tuple[int, str]] = [(i, words[i]) for i in range(len(words)) if i not in kept]
    unaligned_audio: list[tuple[float, float]] = []
    windows = 0
    total_samples = 0
    while True:
        samples, at_end = stream.window(cursor, win)
        total_samples = max(total_samples, cursor + len(samples))
        if len(samples) < HOP or next_word >= len(units):
            break
        windows += 1
        if not np.all(np.isfinite(samples)):
            samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        feats = model.features(samples)
        scores, logp = model.scores(feats)
        sil = scores[:, topo.silence_first:].max(axis=1)
        speechy = scores.max(axis=1) + config.garbage_lp
        ext = np.concatenate([scores, np.maximum(sil, speechy)[:, None]], axis=1)
        k_max = int(config.window_s * config.words_per_s_max) + 10
        chunk = units[next_word:next_word + k_max]
        graph = _long_graph(chunk, model, filler, config)
        best, path = viterbi(ext, graph)
        T = len(feats)
        limit = T if at_end else commit_frames
        base_s = cursor / SAMPLE_RATE_HZ
        word_of = graph.word[path]
        fill_of = graph.cls[path] == filler
        # frame where the path enters each filler position: the time of a skipped word
        positions_seen = np.full(graph.size, -1, np.int64)
        firsts = np.flatnonzero(np.concatenate([[True], np.diff(path) != 0]))
        positions_seen[path[firsts]] = firsts
        fillers = np.flatnonzero(graph.cls == filler)
        committed_end = None
        done = 0
        last_pos = int(path[-1]) if math.isfinite(best) else -1
        for w in range(len(chunk)):
            frames = np.flatnonzero(word_of == w)
            if frames.size:
                first, last = int(frames[0]), int(frames[-1]) + 1
                if last > limit:
                    break
                post = np.exp(logp[first:last])
                unit_cls = graph.cls[path[first:last]]
                conf = float(np.mean(post[np.arange(last - first), unit_cls]
                                     / np.maximum(post.max(axis=1), 1e-12)))
                aligned.append(AlignedWord(text=words[keep[next_word + w]], start_s=round(base_s + first * FRAME_S, 4),
                                           duration_s=round((last - first) * FRAME_S, 4), score=round(conf, 4)))
                aligned_index.append(keep[next_word + w])
                committed_end = last
            else:
                f_after = fillers[w + 1]
                entered = positions_seen[f_after]
                if entered < 0 or f_after > last_pos or entered > limit:
                    break  # the path never got past this word in this window
                unaligned_words.append((keep[next_word + w], words[keep[next_word + w]]))
                committed_end = int(entered)
            done = w + 1
        region = committed_end if committed_end is not None else (T if at_end else commit_frames)
        garbage = fill_of[:region] & (speechy[:region] > sil[:region])
        for a, b in _runs(garbage):
            if (b - a) * FRAME_S >= config.min_unaligned_audio_s:
                unaligned_audio.append((round(base_s + a * FRAME_S, 3), round(base_s + b * FRAME_S, 3)))
        next_word += done
        bar.update(done)
        if at_end:
            break
        cursor += max(region, 1) * HOP
    bar.close()
    for w in range(next_word, len(units)):
        unaligned_words.append((keep[w], words[keep[w]]))
    duration = total_samples / SAMPLE_RATE_HZ
    alignment = Alignment(id=item_id, recording_id=item_id, words=tuple(aligned),
                          score=round(len(aligned) / max(1, len(words)), 4),
                          custom={"unaligned_words": len(unaligned_words), "unaligned_audio_s":
                                  round(sum(b - a for a, b in unaligned_audio), 3)})
    return LongAlignment(alignment=alignment, unaligned_words=tuple(sorted(unaligned_words)),
                         unaligned_audio=tuple(_merge(unaligned_audio)), duration_s=duration, windows=windows,
                         word_indices=tuple(aligned_index), errors=tuple(errors))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if mask.size == 0:
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 0.05:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def align_long(audio_path: str | os.PathLike[str], words: Sequence[str], model_dir: str | os.PathLike[str], *,
               item_id: str | None = None, config: LongAudioConfig | None = None,
               block_s: float = 20.0, progress: bool = False) -> LongAlignment:
    """Align a long transcript to a long recording read block by block (memory bounded by the window)."""
    model = load_model(model_dir)
    blocks = read_blocks(audio_path, block_s=block_s, sample_rate_hz=SAMPLE_RATE_HZ)
    name = item_id if item_id is not None else os.path.splitext(os.path.basename(str(audio_path)))[0]
    return align_long_samples(blocks, words, model, item_id=name, config=config, progress=progress)
