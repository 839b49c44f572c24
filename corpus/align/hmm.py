"""HMM topology and Viterbi decoding (numba), for one utterance or a batch of them.

Classes. Each unit (grapheme or phone) has `states_per_unit` left-to-right states; silence has
`silence_states`. Class c of the frame scorer is state c % S of unit c // S; silence classes come last.

Utterance graph. A forced alignment walks a chain of positions:
    [sil] w1.u1.s1 ... w1.uK.sS [sil] w2.u1.s1 ... [sil]
Each position loops on itself or moves to the next; every silence block is optional (a skip arc
jumps from the end of a word to the start of the next), so pauses are placed where the audio has
them. Entering an inter-word silence costs `silence_penalty` (log domain), which keeps a stop's
closure inside its word instead of turning it into a pause. Leading and trailing silences are free.

Free loop. The unconstrained decode that the mismatch score compares against: any unit may follow
any unit (or silence) with a switch penalty. Only its score is needed, so it keeps no back pointers.

All kernels are numba-compiled (cached on disk), take a [T, C] score matrix of log-likelihoods and
run in O(T x positions); batches run in one compiled call over concatenated arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["Topology", "Graph", "build_graph", "viterbi", "viterbi_batch", "free_loop_score", "concat_graphs"]

NEG = -1.0e30


@dataclass(frozen=True)
class Topology:
    n_units: int
    states_per_unit: int
    silence_states: int
    loop_lp: np.ndarray  # [C] log P(stay) per class
    exit_lp: np.ndarray  # [C] log P(leave) per class
    silence_penalty: float = -4.0
    switch_penalty: float = -4.0

    @property
    def n_classes(self) -> int:
        return self.n_units * self.states_per_unit + self.silence_states

    @property
    def silence_first(self) -> int:
        return self.n_units * self.states_per_unit

    def unit_of_class(self) -> np.ndarray:
        """[C] unit index per class, n_units for silence."""
        units = np.repeat(np.arange(self.n_units), self.states_per_unit)
        return np.concatenate([units, np.full(self.silence_states, self.n_units)]).astype(np.int32)

    @staticmethod
    def uniform(n_units: int, states_per_unit: int, silence_states: int, *, stay: float = 0.7,
                silence_penalty: float = -4.0, switch_penalty: float = -4.0) -> "Topology":
        c = n_units * states_per_unit + silence_states
        return Topology(n_units, states_per_unit, silence_states, np.full(c, np.log(stay), np.float32),
                        np.full(c, np.log(1 - stay), np.float32), silence_penalty, switch_penalty)

    def with_durations(self, mean_frames: np.ndarray) -> "Topology":
        """Loop/exit probabilities from mean state durations (frames per visit), floored to stay sane."""
        d = np.clip(np.asarray(mean_frames, np.float64), 1.05, 50.0)
        stay = 1.0 - 1.0 / d
        return Topology(self.n_units, self.states_per_unit, self.silence_states, np.log(stay).astype(np.float32),
                        np.log1p(-stay).astype(np.float32), self.silence_penalty, self.switch_penalty)


@dataclass(frozen=True)
class Graph:
    """One utterance's chain of positions."""

    cls: np.ndarray        # [N] class per position
    word: np.ndarray       # [N] word index per position, -1 for silence
    unit_pos: np.ndarray   # [N] index of the unit among all units of the utterance, -1 for silence
    loop_lp: np.ndarray    # [N]
    next_lp: np.ndarray    # [N] log-prob of entering j from j-1
    skip_from: np.ndarray  # [N] position a skip arc comes from, -1 if none
    skip_lp: np.ndarray    # [N]
    start_ok: np.ndarray   # [N] bool
    end_ok: np.ndarray     # [N] bool
    n_words: int
    min_frames: int        # frames the shortest path through the graph needs

    @property
    def size(self) -> int:
        return len(self.cls)


def build_graph(words_units: list[tuple[int, ...]], topo: Topology, *, edge_silence: bool = True,
                filler: bool = False) -> Graph:
    """The forced-alignment chain for a sequence of words given as unit indices. With `filler`, the pause
    positions use classes n_classes + k (k < silence_states) instead of the silence classes: the caller
    appends those score columns (a filler: silence, or any speech at a cost)."""
    S, L = topo.states_per_unit, topo.silence_states
    sil = np.arange(topo.n_classes, topo.n_classes + L) if filler else np.arange(topo.silence_first,
                                                                                  topo.silence_first + L)
    cls: list[int] = []
    word: list[int] = []
    unit_pos: list[int] = []
    sil_block: list[bool] = []
    unit_counter = 0
    for w, units in enumerate(words_units):
        if w > 0 or edge_silence:
            cls += sil.tolist(); word += [-1] * L; unit_pos += [-1] * L; sil_block += [True] * L
        for u in units:
            cls += range(u * S, u * S + S); word += [w] * S; unit_pos += [unit_counter] * S
            sil_block += [False] * S
            unit_counter += 1
    if edge_silence:
        cls += sil.tolist(); word += [-1] * L; unit_pos += [-1] * L; sil_block += [True] * L
    n = len(cls)
    cls_a = np.asarray(cls, np.int32)
    word_a = np.asarray(word, np.int32)
    is_sil = np.asarray(sil_block, bool)
    base = np.where(cls_a >= topo.n_classes, cls_a - L, cls_a)  # a filler state moves like its silence state
    loop = topo.loop_lp[base].astype(np.float32)
    nxt = np.full(n, NEG, np.float32)
    nxt[1:] = topo.exit_lp[base[:-1]]
    skip_from = np.full(n, -1, np.int32)
    skip_lp = np.full(n, NEG, np.float32)
    start_ok = np.zeros(n, bool)
    end_ok = np.zeros(n, bool)
    start_ok[0] = True
    end_ok[-1] = True
    # positions where a silence block starts / a word starts
    block_start = np.flatnonzero(np.diff(np.concatenate([[-2], word_a])) != 0)
    for b in block_start:
        if not is_sil[b]:
            continue
        end = b
        while end < n and is_sil[end]:
            end += 1
        if b == 0:  # leading silence is optional: may start right at the first word
            if end < n:
                start_ok[end] = True
            continue
        if end == n:  # trailing silence is optional
            end_ok[b - 1] = True
            continue
        nxt[b] += topo.silence_penalty  # entering an inter-word pause
        skip_from[end] = b - 1
        skip_lp[end] = topo.exit_lp[base[b - 1]]
    n_units_total = sum(len(u) for u in words_units)
    return Graph(cls=cls_a, word=word_a, unit_pos=np.asarray(unit_pos, np.int32), loop_lp=loop, next_lp=nxt,
                 skip_from=skip_from, skip_lp=skip_lp, start_ok=start_ok, end_ok=end_ok,
                 n_words=len(words_units), min_frames=n_units_total * S)


@numba.njit(cache=True, nogil=True)
def _viterbi(scores, cls, loop_lp, next_lp, skip_from, skip_lp, start_ok, end_ok, path):
    T = scores.shape[0]
    N = cls.shape[0]
    delta = np.full(N, NEG)
    new = np.empty(N)
    back = np.empty((T, N), np.int8)
    for j in range(N):
        if start_ok[j]:
            delta[j] = scores[0, cls[j]]
    for t in range(1, T):
        for j in range(N):
            best = delta[j] + loop_lp[j]
            arg = 0
            if j > 0:
                v = delta[j - 1] + next_lp[j]
                if v > best:
                    best = v
                    arg = 1
            s = skip_from[j]
            if s >= 0:
                v = delta[s] + skip_lp[j]
                if v > best:
                    best = v
                    arg = 2
            new[j] = best + scores[t, cls[j]]
            back[t, j] = arg
        for j in range(N):
            delta[j] = new[j]
    best = NEG
    j_end = -1
    for j in range(N):
        if end_ok[j] and delta[j] > best:
            best = delta[j]
            j_end = j
    if j_end < 0:
        return NEG
    j = j_end
    for t in range(T - 1, -1, -1):
        path[t] = j
        a = back[t, j]
        if a == 1:
            j -= 1
        elif a == 2:
            j = skip_from[j]
    return best


def viterbi(scores: np.ndarray, graph: Graph) -> tuple[float, np.ndarray]:
    """Best path (position per frame) and its log score; score is -inf when no path fits."""
    path = np.zeros(len(scores), np.int32)
    if len(scores) == 0 or len(scores) < graph.min_frames:
        return float("-inf"), path
    best = _viterbi(np.ascontiguousarray(scores, np.float32), graph.cls, graph.loop_lp, graph.next_lp,
                    graph.skip_from, graph.skip_lp, graph.start_ok, graph.end_ok, path)
    return (float(best) if best > NEG / 2 else float("-inf")), path


@numba.njit(cache=True, nogil=True)
def _viterbi_batch(scores, frame_off, cls, loop_lp, next_lp, skip_from, skip_lp, start_ok, end_ok, pos_off,
                   best, path):
    for b in range(frame_off.shape[0] - 1):
        f0, f1 = frame_off[b], frame_off[b + 1]
        p0, p1 = pos_off[b], pos_off[b + 1]
        if f1 - f0 < 1:
            best[b] = NEG
            continue
        sf = skip_from[p0:p1].copy()
        for j in range(sf.shape[0]):
            if sf[j] >= 0:
                sf[j] -= p0
        best[b] = _viterbi(scores[f0:f1], cls[p0:p1], loop_lp[p0:p1], next_lp[p0:p1], sf, skip_lp[p0:p1],
                           start_ok[p0:p1], end_ok[p0:p1], path[f0:f1])


def concat_graphs(graphs: list[Graph]) -> tuple[np.ndarray, ...]:
    sizes = np.array([g.size for g in graphs], np.int64)
    pos_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    skip = np.concatenate([np.where(g.skip_from >= 0, g.skip_from + o, -1) for g, o in zip(graphs, pos_off)])
    return (np.concatenate([g.cls for g in graphs]), np.concatenate([g.loop_lp for g in graphs]),
            np.concatenate([g.next_lp for g in graphs]), skip.astype(np.int32),
            np.concatenate([g.skip_lp for g in graphs]), np.concatenate([g.start_ok for g in graphs]),
            np.concatenate([g.end_ok for g in graphs]), pos_off)


def viterbi_batch(scores: np.ndarray, frame_off: np.ndarray, graphs: list[Graph]) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi of many utterances in one call: scores [sum T, C], frame_off [B+1] -> (best [B], path [sum T]).

    An utterance with fewer frames than its graph needs gets -inf and a zero path.
    """
    cls, loop, nxt, skip, skip_lp, start_ok, end_ok, pos_off = concat_graphs(graphs)
    best = np.full(len(graphs), NEG)
    path = np.zeros(len(scores), np.int32)
    frame_off = np.asarray(frame_off, np.int64)
    if len(graphs):
        _viterbi_batch(np.ascontiguousarray(scores, np.float32), frame_off, cls, loop, nxt, skip, skip_lp, start_ok,
                       end_ok, pos_off, best, path)
    lengths = np.diff(frame_off)
    too_short = np.array([lengths[i] < g.min_frames for i, g in enumerate(graphs)], bool)
    best[too_short | (best < NEG / 2)] = -np.inf
    return best, path


@numba.njit(cache=True, nogil=True)
def _free_loop(scores, n_units, S, L, loop_lp, exit_lp, switch_lp, frame_off, out):
    C = scores.shape[1]
    delta = np.empty(C)
    new = np.empty(C)
    for b in range(frame_off.shape[0] - 1):
        f0, f1 = frame_off[b], frame_off[b + 1]
        if f1 <= f0:
            out[b] = NEG
            continue
        for c in range(C):
            delta[c] = NEG
        for u in range(n_units):
            delta[u * S] = scores[f0, u * S]
        delta[n_units * S] = scores[f0, n_units * S]
        for t in range(f0 + 1, f1):
            best_end = NEG
            for u in range(n_units):
                c = u * S + S - 1
                v = delta[c] + exit_lp[c]
                if v > best_end:
                    best_end = v
            c = n_units * S + L - 1
            v = delta[c] + exit_lp[c]
            if v > best_end:
                best_end = v
            enter = best_end + switch_lp
            for c in range(C):
                best = delta[c] + loop_lp[c]
                first = c < n_units * S and c % S == 0 or c == n_units * S
                if first:
                    if enter > best:
                        best = enter
                elif c > 0:
                    v = delta[c - 1] + exit_lp[c - 1]
                    if v > best:
                        best = v
                new[c] = best + scores[t, c]
            for c in range(C):
                delta[c] = new[c]
        best = NEG
        for u in range(n_units):
            if delta[u * S + S - 1] > best:
                best = delta[u * S + S - 1]
        if delta[n_units * S + L - 1] > best:
            best = delta[n_units * S + L - 1]
        out[b] = best


def free_loop_score(scores: np.ndarray, frame_off: np.ndarray, topo: Topology) -> np.ndarray:
    """[B] best log score of an unconstrained unit loop (any unit after any unit, or silence)."""
    out = np.full(len(frame_off) - 1, NEG)
    _free_loop(np.ascontiguousarray(scores, np.float32), topo.n_units, topo.states_per_unit, topo.silence_states,
               topo.loop_lp.astype(np.float64), topo.exit_lp.astype(np.float64), float(topo.switch_penalty),
               np.asarray(frame_off, np.int64), out)
    return out
