"""Stage 4, segment: a document's aligned words -> utterances of 1-15 s, cut at word boundaries in pauses.

Rules (the People's Speech's, made exact):
- an utterance never contains a transcript word the aligner did not place (skipped words, words of an
  unknown alphabet): the run of words is cut there, so no untranscribed speech sits inside an utterance;
- an utterance never spans a pause longer than `max_gap_s` (3 s) nor a stretch of untranscribed sound
  the aligner reported (music, speech missing from the captions);
- inside a run, while the rest is longer than `max_utterance_s`, the cut goes at the longest pause
  among the word boundaries that keep the first piece within `max_utterance_s` (ties: the later one);
- a word the aligner placed badly is left out like a skipped one: confidence under `min_word_score`, or
  longer than `max_word_s` + 0.1 s per letter, or than `max_stretch` x the document's median seconds
  per letter + 0.1 s (a word stretched over the pause or music next to it);
- but a run of such badly placed words whose transcript neighbours on both sides are reliably placed, with
  no more time between those neighbours than the words could take, stays inside (`bridge`): the text
  of that span is exact, only the words' own edges are unsure and they never bound an utterance;
- a word only the stretch rule would leave out, touching a transcript neighbour on one side
  (`lengthened_touch_s`), is a phrase-final lengthening, not a misplacement: its far edge is clipped
  to the stretch limit and it stays;
- unsure edges are trimmed (`trim_unsure_edges`): where the transcript word just before an utterance
  (or just after it) was skipped or left out as badly placed, its true place is unknown and may touch
  the edge, so the edge word is trimmed off; then first and last words aligned with less than
  `edge_word_score` are trimmed too; a side whose neighbour is unsure gets no padding (the trimmed word's
  own time is suspect too: a short word misplaced 2 s away was inside the padding);
- both confidence floors are relative to the document (`typical_score`): when the median confidence of
  its words is under `typical_score`, they scale by (median / typical_score)^2. An aligner adapted mostly
  on other voices places a real voice's words correctly with confidences around 0.3-0.5, and absolute
  floors cut such a document into fragments too short to keep; wrong text gets as low a median, and
  longer utterances of it are what the grader needs to reject it (`grade`);
- pieces shorter than `min_utterance_s` are dropped and counted.

Utterance times are the first word's start and the last word's end; the audio written for it extends
by `pad_s` on each side, at most half the pause to the neighbouring aligned word, never past the
recording. The alignment score of an utterance is its words' mean confidence (and the minimum).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

__all__ = ["SegmentParams", "segment_document", "Utterance"]


@dataclass(frozen=True, kw_only=True)
class SegmentParams:
    max_utterance_s: float = 15.0
    min_utterance_s: float = 1.0
    max_gap_s: float = 3.0
    pad_s: float = 0.15
    min_word_score: float = 0.0   # a word aligned with less confidence is left out and ends the utterance
    max_word_s: float = 0.0       # > 0: a word longer than max_word_s + 0.1 s per letter is left out too
    max_stretch: float = 0.0      # > 0: and one longer than this x the document's median seconds per letter
    edge_word_score: float = 0.0  # an utterance's first and last words need at least this confidence (else trimmed)
    trim_unsure_edges: bool = False  # an edge word whose transcript neighbour is not reliably placed is trimmed
    typical_score: float = 0.0    # > 0: a document whose median word confidence is lower scales both floors down
    bridge: bool = False          # unreliable words between reliable transcript neighbours stay inside (_bridged)
    lengthened_touch_s: float = 0.0  # > 0: a word only too slow, this close to a neighbour, is clipped, not left out


@dataclass(frozen=True, kw_only=True)
class Utterance:
    id: str
    document: str
    start_s: float          # first word's start
    end_s: float            # last word's end
    audio_start_s: float    # with padding
    audio_end_s: float
    text: str
    words: int
    score: float            # mean word confidence
    min_word_score: float
    first_word: int = -1    # transcript index of the first and last word
    last_word: int = -1


def _runs(words: Sequence[Sequence[Any]], unaligned_audio: Sequence[Sequence[float]], max_gap_s: float
          ) -> list[tuple[int, int]]:
    """[first, last] word ranges with no skipped transcript word, long pause or untranscribed sound between."""
    runs, first = [], 0
    for k in range(1, len(words) + 1):
        if k < len(words):
            prev, cur = words[k - 1], words[k]
            gap_lo, gap_hi = prev[3], cur[2]
            broken = (cur[0] != prev[0] + 1 or gap_hi - gap_lo > max_gap_s
                      or any(a < gap_hi and b > gap_lo for a, b in unaligned_audio))
            if not broken:
                continue
        runs.append((first, k - 1))
        first = k
    return runs


def _split(words: Sequence[Sequence[Any]], first: int, last: int, max_s: float) -> list[tuple[int, int]]:
    pieces = []
    while first <= last and words[last][3] - words[first][2] > max_s:
        candidates = [k for k in range(first, last) if words[k][3] - words[first][2] <= max_s]
        if not candidates:  # a single word longer than max_s: it becomes its own (dropped) piece
            pieces.append((first, first))
            first += 1
            continue
        cut = max(candidates, key=lambda k: (round(words[k + 1][2] - words[k][3], 4), k))
        pieces.append((first, cut))
        first = cut + 1
    if first <= last:
        pieces.append((first, last))
    return pieces


def _unplaced(index: int, placed: set[int], last_index: int) -> bool:
    """Transcript word `index` exists (as far as the alignment shows) but was not reliably placed."""
    return 0 <= index <= last_index and index not in placed


def relative_floors(scores: Sequence[float], params: SegmentParams) -> SegmentParams:
    """`params` with the confidence floors scaled to a document whose words score `scores` (see above)."""
    if params.typical_score <= 0 or not scores:
        return params
    median = sorted(scores)[len(scores) // 2]
    scale = min(1.0, median / params.typical_score) ** 2
    if scale >= 1.0:
        return params
    return replace(params, min_word_score=round(params.min_word_score * scale, 4),
                   edge_word_score=round(params.edge_word_score * scale, 4))


def _reliable(word: Sequence[Any], params: SegmentParams, per_letter_s: float) -> bool:
    if float(word[4]) < params.min_word_score:
        return False
    duration = float(word[3]) - float(word[2])
    # (+ 1 ms: the times of a clipped word are rounded)
    if params.max_stretch and duration > params.max_stretch * per_letter_s * len(word[1]) + 0.1 + 1e-3:
        return False  # far slower than this document's speech: stretched over a pause or a jingle
    return not params.max_word_s or duration <= params.max_word_s + 0.1 * len(word[1])


def _plausible_s(word: Sequence[Any], params: SegmentParams, per_letter_s: float) -> float:
    return params.max_stretch * per_letter_s * len(str(word[1])) + 0.1


def _clip_lengthened(words: Sequence[Sequence[Any]], params: SegmentParams, per_letter_s: float) -> list:
    """Words that only the stretch rule would leave out, confidently aligned, touching a transcript neighbour
    on one side (within `lengthened_touch_s`), get their other edge clipped to the stretch limit instead.
    A phrase-final word on real voices is 1.5-2x longer than the speaker's median ("one", "man" before a
    pause) and is placed right against the word before it; a word the aligner misplaced into a pause
    floats there seconds away from its neighbours. Clipped, the lengthened word passes the stretch rule
    and its utterance keeps it, ending no later than the word plausibly does (the padding covers the rest)."""
    if not params.max_stretch:
        return list(words)
    out = []
    for k, word in enumerate(words):
        start, end = float(word[2]), float(word[3])
        limit = _plausible_s(word, params, per_letter_s)
        long_s = params.max_word_s + 0.1 * len(str(word[1])) if params.max_word_s else float("inf")
        if end - start <= limit or end - start > long_s or float(word[4]) < params.min_word_score:
            out.append(word)
            continue
        touch = params.lengthened_touch_s
        before = k > 0 and int(words[k - 1][0]) == int(word[0]) - 1 and start - float(words[k - 1][3]) <= touch
        after = k + 1 < len(words) and int(words[k + 1][0]) == int(word[0]) + 1 \
            and float(words[k + 1][2]) - end <= touch
        if before and not after:
            word = [*word[:3], round(start + limit, 4), *word[4:]]
        elif after and not before:
            word = [*word[:2], round(end - limit, 4), *word[3:]]
        out.append(word)
    return out


def _bridged(words: Sequence[Sequence[Any]], reliable: Sequence[bool], params: SegmentParams) -> set[int]:
    """Positions of unreliable words kept inside an utterance: a run of them with reliably placed transcript
    neighbours right before and after (no skipped word between), and no more time between those neighbours
    than the run's words could take (`max_word_s` + 0.1 s per letter each). Their place is pinned by the
    neighbours and the span is too short to hide untranscribed sound, so the text of the span is exact;
    only the word's own edges are unsure, and those never bound an utterance. On real voices most such
    words are short function words aligned correctly with low confidence ("of", "the": 0.0-0.1), and
    cutting there broke correct sentences into pieces too short to keep."""
    out: set[int] = set()
    k = 0
    while k < len(words):
        if reliable[k]:
            k += 1
            continue
        end = k
        while end < len(words) and not reliable[end]:
            end += 1
        # words[k:end] unreliable; neighbours words[k - 1] and words[end]
        if 0 < k and end < len(words):
            prev, nxt = words[k - 1], words[end]
            indices = [int(w[0]) for w in words[k - 1:end + 1]]
            contiguous = all(b == a + 1 for a, b in zip(indices, indices[1:]))
            room_s = sum(params.max_word_s + 0.1 * len(str(w[1])) for w in words[k:end])
            if contiguous and float(nxt[2]) - float(prev[3]) <= room_s:
                out.update(range(k, end))
        k = end
    return out


def segment_document(doc_id: str, words: Sequence[Sequence[Any]], unaligned_audio: Sequence[Sequence[float]],
                     duration_s: float, params: SegmentParams) -> tuple[list[Utterance], dict[str, int]]:
    """Utterances of one document and counts of what was dropped.

    `words`: [transcript index, text, start_s, end_s, score] in time order (align_document's output).
    """
    params = relative_floors([float(w[4]) for w in words], params)
    rates = sorted((float(w[3]) - float(w[2])) / max(1, len(w[1])) for w in words)
    per_letter_s = rates[len(rates) // 2] if rates else 0.1
    words = _clip_lengthened(words, params, per_letter_s) if params.lengthened_touch_s > 0 else list(words)
    position = {id(w): k for k, w in enumerate(words)}  # padding stops at any aligned word, kept or not
    everything = list(words)
    reliable = [_reliable(w, params, per_letter_s) for w in words]
    bridged = _bridged(words, reliable, params) if params.bridge else set()
    kept = [w for k, w in enumerate(words) if reliable[k] or k in bridged]
    counts = {"too_short": 0, "too_long": 0, "unreliable_words": len(words) - len(kept), "edge_words_trimmed": 0,
              "unreliable_words_bridged": len(bridged)}
    inner_only = {id(words[k]) for k in bridged}  # kept inside an utterance, never at its edge
    words = kept
    placed = {int(w[0]) for w in kept}
    last_index = max((int(w[0]) for w in everything), default=-1)
    utterances: list[Utterance] = []
    for first, last in _runs(words, unaligned_audio, params.max_gap_s):
        for a, b in _split(words, first, last, params.max_utterance_s):
            # unsure edges: where the transcript neighbour was not placed (or placed badly), it may sit right
            # against the edge word, so the edge word goes and its audio becomes the margin; then the edge
            # words themselves must be confident
            a0, b0 = a, b
            if params.trim_unsure_edges and _unplaced(int(words[a][0]) - 1, placed, last_index):
                a += 1
                counts["edge_words_trimmed"] += 1
            if params.trim_unsure_edges and b >= a and _unplaced(int(words[b][0]) + 1, placed, last_index):
                b -= 1
                counts["edge_words_trimmed"] += 1
            while a <= b and (float(words[a][4]) < params.edge_word_score or id(words[a]) in inner_only):
                a += 1
                counts["edge_words_trimmed"] += 1
            while b >= a and (float(words[b][4]) < params.edge_word_score or id(words[b]) in inner_only):
                b -= 1
                counts["edge_words_trimmed"] += 1
            if a > b:
                continue
            # a side whose transcript neighbour is unsure (trimmed, left out, skipped) gets no padding: that
            # word may sit right against the edge whatever time the aligner gave it
            unsure_lo = params.trim_unsure_edges and (a > a0 or _unplaced(int(words[a][0]) - 1, placed, last_index))
            unsure_hi = params.trim_unsure_edges and (b < b0 or _unplaced(int(words[b][0]) + 1, placed, last_index))
            start, end = float(words[a][2]), float(words[b][3])
            if end - start < params.min_utterance_s:
                counts["too_short"] += 1
                continue
            if end - start > params.max_utterance_s:
                counts["too_long"] += 1
                continue
            ia, ib = position[id(words[a])], position[id(words[b])]
            before = float(everything[ia - 1][3]) if ia > 0 else None
            after = float(everything[ib + 1][2]) if ib + 1 < len(everything) else None
            pad_lo = 0.0 if unsure_lo else min(params.pad_s, max(0.0, (start - before) / 2)) if before is not None \
                else min(params.pad_s, start)
            pad_hi = 0.0 if unsure_hi else min(params.pad_s, max(0.0, (after - end) / 2)) if after is not None \
                else min(params.pad_s, max(0.0, duration_s - end))
            scores = [float(w[4]) for w in words[a:b + 1]]
            utterances.append(Utterance(
                id=f"{doc_id}-{len(utterances):05d}", document=doc_id, start_s=round(start, 4), end_s=round(end, 4),
                audio_start_s=round(start - pad_lo, 4), audio_end_s=round(end + pad_hi, 4),
                text=" ".join(str(w[1]) for w in words[a:b + 1]), words=b - a + 1,
                score=round(sum(scores) / len(scores), 4), min_word_score=round(min(scores), 4),
                first_word=int(words[a][0]), last_word=int(words[b][0])))
    return utterances, counts


@dataclass(frozen=True, kw_only=True)
class RefineTask:
    id: str                                              # document id
    audio_path: str
    model_dir: str
    utterances: tuple[tuple[str, float, float, str], ...]  # (id, window_start_s, window_end_s, text)
    pad_s: float


def refine_document(task: RefineTask) -> dict[str, Any]:
    """Forced alignment of each utterance's words inside its window (the long alignment's anchors give the
    window; `corpus.align`'s utterance aligner gives sub-frame word edges and a mismatch flag), so a word
    the windowed long alignment stretched over a neighbouring pause or jingle gets its true edges back.
    {"id", "utterances": [{"id", "ok", "start_s", "end_s", "audio_start_s", "audio_end_s", "detail"}]}."""
    from corpus.align.aligner import align_batch
    from corpus.align.model import load_model
    from corpus.align.types import AlignItem

    out: dict[str, Any] = {"id": task.id, "utterances": []}
    try:
        model = load_model(task.model_dir)
        items = [AlignItem(id=uid, audio_path=task.audio_path, words=tuple(text.split()), start_s=lo,
                           duration_s=round(hi - lo, 4)) for uid, lo, hi, text in task.utterances]
        results = align_batch(model, items)
    except Exception as error:  # noqa: BLE001 - the whole document's refinement failed: reported per utterance
        out["utterances"] = [{"id": u[0], "ok": False, "detail": f"{type(error).__name__}: {error}"}
                             for u in task.utterances]
        return out
    for (uid, lo, hi, _), result in zip(task.utterances, results):
        alignment = result.alignment
        if alignment is None or not alignment.words:
            out["utterances"].append({"id": uid, "ok": False, "detail": str(result.error or "no words")})
            continue
        if dict(alignment.custom).get("mismatch"):
            out["utterances"].append({"id": uid, "ok": False, "detail": "forced alignment flags a mismatch"})
            continue
        start, end = alignment.words[0].start_s, alignment.words[-1].end_s
        out["utterances"].append({"id": uid, "ok": True, "start_s": round(start, 4), "end_s": round(end, 4),
                                  "audio_start_s": round(max(lo, start - task.pad_s), 4),
                                  "audio_end_s": round(min(hi, end + task.pad_s), 4), "detail": ""})
    return out
